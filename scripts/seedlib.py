"""Seeding jobs the way the upstream parts write them (shared by scripts, demo and tests)."""
import shutil
import uuid
from pathlib import Path

from PIL import Image
from sqlalchemy.orm import Session

from scripts import store
from scripts.store import IMG_GEN_DONE, IMG_GEN_RUNNING  # noqa: F401 - the tests run seed 003's statements

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_IMAGES = sorted((ROOT / "assets" / "samples").glob("*.png"))
DEFAULT_AD_COPY = "Fresh roasted coffee, made slowly for you. Visit us today!"



def register_image(db: Session, src: Path, assets_dir: Path, tenant_id: str, job_id: str) -> str:
    """Copy an image into the assets directory and insert its image_assets row."""
    rel = f"uploads/{job_id}/{uuid.uuid4().hex[:8]}_{src.name}"
    dest = Path(assets_dir) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    with Image.open(dest) as img:
        width, height = img.size
    return store.insert_image_asset(db, url=f"/assets/{rel}", width=width, height=height, tenant_id=tenant_id, job_id=job_id)


def create_job(db: Session, assets_dir: Path, tenant_id: str = "ye_pipeline_test_tenant", variants_count: int = 3,
               image_paths: list[Path] | None = None, ad_copy_eng: str | None = DEFAULT_AD_COPY,
               desc_kor: str = "갓 볶은 원두로 내린 핸드드립 커피", one_image: bool = False) -> tuple[str, list[str]]:
    """A job at user_img_input (done) with its variants; the text part's rows too when ad_copy_eng is given."""
    images = [Path(p) for p in (image_paths or SAMPLE_IMAGES)]
    store.insert_tenant(db, tenant_id=tenant_id)
    store_id = store.insert_store(db)
    tone_id = store.insert_tone_style(db)
    job_id = store.insert_job(db, tenant_id=tenant_id, store_id=store_id)
    assets = [register_image(db, images[0 if one_image else i % len(images)], assets_dir, tenant_id, job_id)
              for i in range(1 if one_image else variants_count)]
    store.insert_job_inputs(db, job_id=job_id, image_asset_id=assets[0], tone_style_id=tone_id, desc_kor=desc_kor)
    variant_ids = [store.insert_variant(db, job_id=job_id, image_asset_id=assets[0 if one_image else i], creation_order=i + 1)
                   for i in range(variants_count)]
    if ad_copy_eng is not None:
        add_text_part(db, job_id, ad_copy_eng)
    db.commit()
    return job_id, variant_ids


def add_text_part(db: Session, job_id: str, ad_copy_eng: str) -> None:
    """The text part's rows: kor_to_eng and ad_copy_eng, both done."""
    for stage in ("kor_to_eng", "ad_copy_eng"):
        store.insert_text_part(db, job_id=job_id, stage=stage, ad_copy_eng=ad_copy_eng)


def simulate_image_part(db: Session, job_id: str) -> list[str]:
    """Seed 003's statements for each variant: img_gen running, then img_gen done (starts the pipeline)."""
    variants = store.variant_ids(db, job_id=job_id)
    for variant_id in variants:
        store.img_gen(db, variant_id=variant_id, status="running")
        db.commit()
        store.img_gen(db, variant_id=variant_id, status="done")
        db.commit()
    return variants


def start_job(db: Session, assets_dir: Path, **options) -> tuple[str, list[str]]:
    """create_job, then the image part marks every variant img_gen done: the pipeline starts."""
    job_id, variant_ids = create_job(db, assets_dir, **options)
    simulate_image_part(db, job_id)
    return job_id, variant_ids
