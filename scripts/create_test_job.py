"""Create a test job whose text part is done: kor_to_eng and ad_copy_eng rows, N variants at user_img_input (done).

With --start the image part is simulated too (img_gen running -> done), which starts the pipeline.
"""
import argparse
import asyncio
import json
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from scripts import seedlib

ROOT = seedlib.ROOT


def resolve_images(paths: list[str] | None) -> list[Path]:
    """Image files to use: the given paths (relative to the cwd, then to the repo root) or assets/samples."""
    if not paths:
        if not seedlib.SAMPLE_IMAGES:
            raise SystemExit("error: no sample images in assets/samples; pass --image-paths")
        return list(seedlib.SAMPLE_IMAGES)
    found = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_file() and not path.is_absolute() and (ROOT / path).is_file():
            path = ROOT / path
        if not path.is_file():
            raise SystemExit(f"error: image file not found: {raw}")
        try:
            with Image.open(path) as img:
                img.verify()
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise SystemExit(f"error: not a readable image: {raw} ({exc})") from exc
        found.append(path.resolve())
    return found


def ensure_schema() -> None:
    """Apply the pending db/migrations (a no-op when there are none)."""
    import asyncpg

    import database

    async def apply():
        conn = await asyncpg.connect(database.database_url())
        try:
            await database.apply_schema(conn)
        finally:
            await conn.close()
    asyncio.run(apply())


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Create a test job with the text part done (kor_to_eng, ad_copy_eng) and N variants at "
                    "user_img_input (done). Uses DATABASE_URL (or the embedded server) and ASSETS_DIR.")
    parser.add_argument("--variants-count", type=positive_int, default=3, help="variants to create (default 3)")
    parser.add_argument("--tenant-id", default="ye_pipeline_test_tenant", help="tenant (created if missing)")
    parser.add_argument("--image-paths", nargs="+", metavar="PATH",
                        help="images for the variants, used in turn (default: assets/samples/*.png)")
    parser.add_argument("--ad-copy", default=seedlib.DEFAULT_AD_COPY, help="English ad copy of the text part")
    parser.add_argument("--desc-kor", default="갓 볶은 원두로 내린 핸드드립 커피", help="Korean product description")
    parser.add_argument("--start", action="store_true",
                        help="also simulate the image part (img_gen running -> done): the pipeline starts")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.ad_copy.strip():
        raise SystemExit("error: --ad-copy must not be empty")
    images = resolve_images(args.image_paths)

    from config import get_settings
    from database import SessionLocal

    ensure_schema()
    db = SessionLocal()
    try:
        job_id, variant_ids = seedlib.create_job(
            db, get_settings().assets_dir, tenant_id=args.tenant_id, variants_count=args.variants_count,
            image_paths=images, ad_copy_eng=args.ad_copy.strip(), desc_kor=args.desc_kor)
        if args.start:
            seedlib.simulate_image_part(db, job_id)
    finally:
        db.close()

    if args.json:
        print(json.dumps({"job_id": job_id, "variant_ids": variant_ids, "tenant_id": args.tenant_id,
                          "started": args.start}))
    else:
        print(f"job_id: {job_id}")
        for i, variant_id in enumerate(variant_ids, 1):
            print(f"variant {i}: {variant_id}")
        state = "img_gen (done): the pipeline is starting" if args.start else \
            "user_img_input (done): run scripts/simulate_image_part.py --job-id " + job_id
        print(f"state: {state}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
