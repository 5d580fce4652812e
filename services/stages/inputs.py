"""Reading a stage's inputs from the database: images, copy, detections, proposals, overlays."""
from pathlib import Path
from uuid import UUID

import asyncpg

from services.errors import InputError
from services.imaging.imageio import resolve_asset_path
from services.stages import store


async def variant_image_path(conn: asyncpg.Connection, variant_id: UUID, assets_dir: Path) -> tuple[UUID, Path]:
    """The variant's own generated image (never job_inputs'): (asset id, safe path)."""
    asset_id = await store.variant_image_asset_id(conn, variant_id=variant_id)
    if asset_id is None:
        raise InputError("variant has no img_asset_id: the image part did not attach an image")
    url = await store.image_url(conn, image_asset_id=asset_id)
    if url is None:
        raise InputError(f"image asset {asset_id} does not exist")
    return asset_id, resolve_asset_path(url, assets_dir)


async def english_copy(conn: asyncpg.Connection, job_id: UUID, refined: bool = True) -> str:
    """The copy to use: the latest refined copy when present (and wanted), else ad_copy_eng."""
    if refined:
        text = await store.latest_refined_copy(conn, job_id=job_id)
        if text:
            return text
    text = await store.latest_english_copy(conn, job_id=job_id)
    if not text or not text.strip():
        raise InputError("no English ad copy (txt_ad_copy_generations ad_copy_eng, done) for this job")
    return text.strip()


async def variant_detections(conn: asyncpg.Connection, variant_id: UUID) -> list[dict]:
    """Detections yolo_detect stored for this variant."""
    rows = await store.variant_detections(conn, variant_id=variant_id)
    return [{"box": [float(v) for v in r.box], "label": r.label, "score": float(r.score or 0),
             "detection_id": str(r.detection_id)} for r in rows]


async def latest_proposal(conn: asyncpg.Connection, variant_id: UUID) -> dict:
    """The planner's latest proposal for this variant."""
    row = await store.latest_proposal(conn, variant_id=variant_id)
    if row is None or not row["layout"] or not row["layout"].get("candidates"):
        raise InputError("no planner proposal for this variant")
    return dict(row)  # a plain dict: the inputs travel to a worker process


async def variant_proposal(conn: asyncpg.Connection, variant_id: UUID,
                           proposal_id: UUID) -> tuple[asyncpg.Record, int] | None:
    """A caller's proposal_id: (planner row, candidate index); candidate 0 carries the row's own id."""
    row = await store.variant_proposal(conn, variant_id=variant_id, proposal_id=proposal_id)
    return (row, row["idx"]) if row else None


async def variant_overlay(conn: asyncpg.Connection, variant_id: UUID, overlay_id: UUID | None,
                          assets_dir: Path) -> dict:
    """The overlay to evaluate (the requested one, which must belong to the variant, or the latest)."""
    row = await store.variant_overlay(conn, variant_id=variant_id, overlay_id=overlay_id)
    if row is None:
        raise InputError(f"overlay {overlay_id or '(latest)'} not found for this variant")
    return {"overlay_id": row["overlay_id"], "layout": row["layout"],
            "path": resolve_asset_path(row["image_url"], assets_dir)}


async def upsert_evaluation(conn: asyncpg.Connection, job_id: UUID, overlay_id: UUID, kind: str, metrics: dict) -> UUID:
    """One evaluation per (overlay, type): a re-run replaces it; returns its evaluation_id."""
    return await store.upsert_evaluation(conn, job_id=job_id, overlay_id=overlay_id, kind=kind, metrics=metrics)
