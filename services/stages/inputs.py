"""Reading a stage's inputs from the database: images, copy, detections, proposals, overlays."""
from pathlib import Path
from uuid import UUID

import asyncpg

from services.errors import InputError
from services.imaging.imageio import resolve_asset_path

_ASSET = "SELECT image_asset_id, image_url FROM image_assets WHERE image_asset_id = $1"


async def variant_image_path(conn: asyncpg.Connection, variant_id: UUID, assets_dir: Path) -> tuple[UUID, Path]:
    """The variant's own generated image (never job_inputs'): (asset id, safe path)."""
    asset_id = await conn.fetchval("SELECT img_asset_id FROM jobs_variants WHERE job_variants_id = $1", variant_id)
    if asset_id is None:
        raise InputError("variant has no img_asset_id: the image part did not attach an image")
    row = await conn.fetchrow(_ASSET, asset_id)
    if row is None:
        raise InputError(f"image asset {asset_id} does not exist")
    return asset_id, resolve_asset_path(row["image_url"], assets_dir)


async def english_copy(conn: asyncpg.Connection, job_id: UUID, refined: bool = True) -> str:
    """The copy to use: the latest refined copy when present (and wanted), else ad_copy_eng."""
    if refined:
        text = await conn.fetchval(
            "SELECT refined_ad_copy_eng FROM txt_ad_copy_generations WHERE job_id = $1 AND generation_stage = "
            "'refined_ad_copy' AND status = 'done' AND refined_ad_copy_eng <> '' ORDER BY created_at DESC, pk DESC LIMIT 1",
            job_id)
        if text:
            return text
    text = await conn.fetchval(
        "SELECT ad_copy_eng FROM txt_ad_copy_generations WHERE job_id = $1 AND generation_stage = 'ad_copy_eng' "
        "AND status = 'done' ORDER BY created_at DESC, pk DESC LIMIT 1", job_id)
    if not text or not text.strip():
        raise InputError("no English ad copy (txt_ad_copy_generations ad_copy_eng, done) for this job")
    return text.strip()


async def variant_detections(conn: asyncpg.Connection, variant_id: UUID) -> list[dict]:
    """Detections yolo_detect stored for this variant."""
    rows = await conn.fetch("SELECT detection_id, box, label, score FROM detections WHERE job_variants_id = $1 "
                            "ORDER BY pk", variant_id)
    return [{"box": [float(v) for v in r["box"]], "label": r["label"], "score": float(r["score"] or 0),
             "detection_id": str(r["detection_id"])} for r in rows]


async def latest_proposal(conn: asyncpg.Connection, variant_id: UUID) -> dict:
    """The planner's latest proposal for this variant."""
    row = await conn.fetchrow("SELECT proposal_id, layout FROM planner_proposals WHERE job_variants_id = $1 "
                              "ORDER BY created_at DESC, pk DESC LIMIT 1", variant_id)
    if row is None or not row["layout"] or not row["layout"].get("candidates"):
        raise InputError("no planner proposal for this variant")
    return dict(row)  # a plain dict: the inputs travel to a worker process


async def variant_proposal(conn: asyncpg.Connection, variant_id: UUID,
                           proposal_id: UUID) -> tuple[asyncpg.Record, int] | None:
    """A caller's proposal_id: (planner row, candidate index); candidate 0 carries the row's own id."""
    row = await conn.fetchrow("""
        SELECT p.proposal_id, p.layout, c.ord - 1 AS idx FROM planner_proposals p
        CROSS JOIN LATERAL jsonb_array_elements(p.layout -> 'candidates') WITH ORDINALITY AS c(cand, ord)
        WHERE p.job_variants_id = $1
          AND (c.cand ->> 'proposal_id' = $2::uuid::text OR (c.ord = 1 AND p.proposal_id = $2::uuid))
        ORDER BY p.created_at DESC, p.pk DESC LIMIT 1""", variant_id, proposal_id)
    return (row, row["idx"]) if row else None


async def variant_overlay(conn: asyncpg.Connection, variant_id: UUID, overlay_id: UUID | None,
                          assets_dir: Path) -> dict:
    """The overlay to evaluate (the requested one, which must belong to the variant, or the latest)."""
    row = await conn.fetchrow("""
        SELECT o.overlay_id, o.layout, a.image_url FROM overlay_layouts o
        JOIN renders r ON r.overlay_id = o.overlay_id JOIN image_assets a ON a.image_asset_id = r.image_asset_id
        WHERE o.job_variants_id = $1 AND ($2::uuid IS NULL OR o.overlay_id = $2)
        ORDER BY o.created_at DESC, o.pk DESC LIMIT 1""", variant_id, overlay_id)
    if row is None:
        raise InputError(f"overlay {overlay_id or '(latest)'} not found for this variant")
    return {"overlay_id": row["overlay_id"], "layout": row["layout"],
            "path": resolve_asset_path(row["image_url"], assets_dir)}


async def upsert_evaluation(conn: asyncpg.Connection, job_id: UUID, overlay_id: UUID, kind: str, metrics: dict) -> UUID:
    """One evaluation per (overlay, type): a re-run replaces it; returns its evaluation_id."""
    return await conn.fetchval("""
        INSERT INTO evaluations (job_id, overlay_id, evaluation_type, metrics) VALUES ($1, $2, $3, $4)
        ON CONFLICT (overlay_id, evaluation_type, dedup_slot) DO UPDATE SET metrics = EXCLUDED.metrics,
            updated_at = CURRENT_TIMESTAMP RETURNING evaluation_id""", job_id, overlay_id, kind, metrics)
