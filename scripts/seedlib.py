"""Seeding jobs the way the upstream parts write them (shared by scripts, demo and tests)."""
import shutil
import uuid
from pathlib import Path

from PIL import Image
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.engine.queries import Q

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_IMAGES = sorted((ROOT / "assets" / "samples").glob("*.png"))
DEFAULT_AD_COPY = "Fresh roasted coffee, made slowly for you. Visit us today!"

# The image part (seed 003) flips each variant to img_gen running, generates, then marks it done.
IMG_GEN_RUNNING = Q["img_gen_running"]
IMG_GEN_DONE = Q["img_gen_done"]


def register_image(db: Session, src: Path, assets_dir: Path, tenant_id: str, job_id: str) -> str:
    """Copy an image into the assets directory and insert its image_assets row."""
    rel = f"uploads/{job_id}/{uuid.uuid4().hex[:8]}_{src.name}"
    dest = Path(assets_dir) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    with Image.open(dest) as img:
        width, height = img.size
    return db.execute(text(Q["seed_image_asset"]),
                      {"url": f"/assets/{rel}", "w": width, "h": height, "tenant": tenant_id, "job": job_id}).scalar_one()


def create_job(db: Session, assets_dir: Path, tenant_id: str = "ye_pipeline_test_tenant", variants_count: int = 3,
               image_paths: list[Path] | None = None, ad_copy_eng: str | None = DEFAULT_AD_COPY,
               desc_kor: str = "갓 볶은 원두로 내린 핸드드립 커피", one_image: bool = False) -> tuple[str, list[str]]:
    """A job at user_img_input (done) with its variants; the text part's rows too when ad_copy_eng is given."""
    images = [Path(p) for p in (image_paths or SAMPLE_IMAGES)]
    db.execute(text(Q["seed_tenant"]), {"t": tenant_id})
    store_id = db.execute(text(Q["seed_store"])).scalar_one()
    tone_id = db.execute(text(Q["seed_tone_style"])).scalar_one()
    job_id = str(db.execute(text(Q["seed_job"]), {"t": tenant_id, "s": store_id}).scalar_one())
    assets = [register_image(db, images[0 if one_image else i % len(images)], assets_dir, tenant_id, job_id)
              for i in range(1 if one_image else variants_count)]
    db.execute(text(Q["seed_job_inputs"]), {"j": job_id, "a": assets[0], "tone": tone_id, "d": desc_kor})
    variant_ids = [str(db.execute(text(Q["seed_variant"]), {"j": job_id, "a": assets[0 if one_image else i], "o": i + 1})
                       .scalar_one()) for i in range(variants_count)]
    if ad_copy_eng is not None:
        add_text_part(db, job_id, ad_copy_eng)
    db.commit()
    return job_id, variant_ids


def add_text_part(db: Session, job_id: str, ad_copy_eng: str) -> None:
    """The text part's rows: kor_to_eng and ad_copy_eng, both done."""
    for stage in ("kor_to_eng", "ad_copy_eng"):
        db.execute(text(Q["seed_text_part"]), {"j": job_id, "stage": stage, "copy": ad_copy_eng})


def simulate_image_part(db: Session, job_id: str) -> list[str]:
    """Seed 003's statements for each variant: img_gen running, then img_gen done (starts the pipeline)."""
    variants = [str(r[0]) for r in db.execute(text(Q["job_variant_ids"]), {"j": job_id})]
    for variant_id in variants:
        db.execute(text(IMG_GEN_RUNNING), {"job_variants_id": variant_id})
        db.commit()
        db.execute(text(IMG_GEN_DONE), {"job_variants_id": variant_id})
        db.commit()
    return variants


def start_job(db: Session, assets_dir: Path, **options) -> tuple[str, list[str]]:
    """create_job, then the image part marks every variant img_gen done: the pipeline starts."""
    job_id, variant_ids = create_job(db, assets_dir, **options)
    simulate_image_part(db, job_id)
    return job_id, variant_ids
