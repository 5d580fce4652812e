"""The scripts' database calls for seeding and following jobs (db/scripts.sql; SQLAlchemy text(), `:name`
parameters): the upstream parts' inserts, the image part's stand-in, the monitor's and the listener check's reads.

Benchmarks, the chaos run and the history seeding have theirs in store_bench.py.
"""
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.engine.queries import Q

# Seed 003's two statements (`:job_variants_id`), run as the image part runs them; tests run them too.
IMG_GEN_RUNNING = Q["img_gen_running"]
IMG_GEN_DONE = Q["img_gen_done"]


def img_gen(db: Session, *, variant_id: str, status: str) -> None:
    """The image part's statement for one variant: img_gen `running` (it generates) or `done` (it is ready)."""
    db.execute(text({"running": IMG_GEN_RUNNING, "done": IMG_GEN_DONE}[status]), {"job_variants_id": variant_id})


def insert_image_asset(db: Session, *, url: str, width: int, height: int, tenant_id: str, job_id: str) -> Any:
    """A generated image's image_assets row; its id."""
    return db.execute(text(Q["seed_image_asset"]),
                      {"url": url, "w": width, "h": height, "tenant": tenant_id, "job": job_id}).scalar_one()


def insert_tenant(db: Session, *, tenant_id: str) -> None:
    """The tenant, if it is new."""
    db.execute(text(Q["seed_tenant"]), {"t": tenant_id})


def insert_store(db: Session) -> Any:
    """The sample store; its id."""
    return db.execute(text(Q["seed_store"])).scalar_one()


def insert_tone_style(db: Session) -> Any:
    """The sample tone; its id."""
    return db.execute(text(Q["seed_tone_style"])).scalar_one()


def insert_job(db: Session, *, tenant_id: str, store_id: Any) -> str:
    """A job at (user_img_input, done); its id."""
    return str(db.execute(text(Q["seed_job"]), {"t": tenant_id, "s": store_id}).scalar_one())


def insert_job_inputs(db: Session, *, job_id: str, image_asset_id: Any, tone_style_id: Any, desc_kor: str) -> None:
    """The owner's inputs of the job."""
    db.execute(text(Q["seed_job_inputs"]), {"j": job_id, "a": image_asset_id, "tone": tone_style_id, "d": desc_kor})


def insert_variant(db: Session, *, job_id: str, image_asset_id: Any, creation_order: int) -> str:
    """A variant at (user_img_input, done); its id."""
    return str(db.execute(text(Q["seed_variant"]), {"j": job_id, "a": image_asset_id, "o": creation_order})
               .scalar_one())


def insert_text_part(db: Session, *, job_id: str, stage: str, ad_copy_eng: str) -> None:
    """One of the text part's rows (kor_to_eng, ad_copy_eng), done."""
    db.execute(text(Q["seed_text_part"]), {"j": job_id, "stage": stage, "copy": ad_copy_eng})


def variant_ids(db: Session, *, job_id: str) -> list[str]:
    """The job's variants in creation order."""
    return [str(r[0]) for r in db.execute(text(Q["job_variant_ids"]), {"j": job_id})]


def pending_image_part(db: Session, *, job_id: str | None, tenant_id: str | None) -> list[tuple[str, str]]:
    """(job_id, variant_id) of the variants the image part has to process (optionally one job's or tenant's)."""
    return [(str(r[1]), str(r[0])) for r in db.execute(text(Q["pending_image_part"]),
                                                       {"job_id": job_id, "tenant": tenant_id})]


def job_exists(db: Session, *, job_id: str) -> bool:
    """Whether the job exists."""
    return db.execute(text(Q["job_exists"]), {"j": job_id}).first() is not None


def count_variants(db: Session, *, job_id: str) -> int:
    """How many variants the job has."""
    return db.execute(text(Q["count_job_variants"]), {"j": job_id}).scalar()


def job_step_state(db: Session, *, job_id: str) -> tuple | None:
    """(current_step, status, next_retry_at) of the job; None: no such job."""
    row = db.execute(text(Q["job_step_state"]), {"j": job_id}).first()
    return tuple(row) if row is not None else None


def monitor_job(db: Session, *, job_id: str) -> dict | None:
    """The job row the monitor shows (monitor_job's columns); None: no such job."""
    row = db.execute(text(Q["monitor_job"]), {"j": job_id}).mappings().first()
    return dict(row) if row is not None else None


def monitor_variants(db: Session, *, job_id: str) -> list[dict]:
    """The job's variants as the monitor shows them (monitor_variants' columns)."""
    return [dict(r) for r in db.execute(text(Q["monitor_variants"]), {"j": job_id}).mappings()]


def monitor_texts(db: Session, *, job_id: str) -> dict[str, Any]:
    """The job's latest copy of each generation stage, by stage (monitor_texts' columns)."""
    return {r["generation_stage"]: r for r in db.execute(text(Q["monitor_texts"]), {"j": job_id}).mappings()}


def monitor_feed(db: Session, *, job_id: str) -> dict | None:
    """The job's post (instagram_ad_copy, hashtags); None before it is written."""
    row = db.execute(text(Q["monitor_feed"]), {"j": job_id}).mappings().first()
    return dict(row) if row is not None else None


def trigger_enabled(db: Session, *, name: str) -> bool | None:
    """Whether the trigger is enabled; None: it does not exist."""
    row = db.execute(text(Q["trigger_state"]), {"name": name}).first()
    return None if row is None else row[1] != "D"


def variant_step(db: Session, *, variant_id: str) -> tuple[str, str]:
    """(current_step, status) of the variant."""
    return tuple(db.execute(text(Q["variant_step"]), {"v": variant_id}).one())  # type: ignore[return-value]


def ping(db: Session) -> None:
    """A round trip: the database answers."""
    db.execute(text(Q["ping"]))
