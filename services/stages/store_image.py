"""The image stages' writes: detections and mask, the planner's proposal, the overlay and its renders,
the refined copy (SQL: db/stages.sql)."""
from uuid import UUID

from services.engine.queries import Q
from services.engine.store import Conn


async def lock_job_refinement(conn: Conn, *, job_id: UUID) -> None:
    """A per-job transaction lock: the first variant that needs a refined copy writes it, later ones keep it."""
    await conn.execute(Q["lock_job_refinement"], str(job_id))


async def insert_refined_copy(conn: Conn, *, job_id: UUID, llm_trace_id: UUID, ad_copy_eng: str,
                              refined_ad_copy_eng: str) -> None:
    """The job's refined English copy (txt_ad_copy_generations refined_ad_copy, done)."""
    await conn.execute(Q["insert_refined_copy"], job_id, llm_trace_id, ad_copy_eng, refined_ad_copy_eng)


async def delete_detections(conn: Conn, *, variant_id: UUID) -> None:
    """A re-run's detections replace the earlier ones."""
    await conn.execute(Q["delete_detections"], variant_id)


async def insert_detection(conn: Conn, *, image_asset_id: UUID, job_id: UUID, variant_id: UUID, box: list, label: str,
                           score: float) -> UUID:
    """One detection; its detection_id."""
    return await conn.fetchval(Q["insert_detection"], image_asset_id, job_id, variant_id, box, label, score)


async def insert_image_asset(conn: Conn, *, image_type: str, url: str, width: int, height: int, tenant_id: str | None,
                             job_id: UUID) -> UUID:
    """An image_assets row of a `forbidden_mask` or an `overlaid` image; its image_asset_id."""
    query = {"forbidden_mask": "insert_mask_asset", "overlaid": "insert_overlaid_asset"}[image_type]
    return await conn.fetchval(Q[query], url, width, height, tenant_id, job_id)


async def upsert_yolo_run(conn: Conn, *, job_id: UUID, variant_id: UUID, image_asset_id: UUID, mask_url: str,
                          model_name: str, detection_count: int, latency_ms: float) -> None:
    """The variant's one yolo_runs row (a re-run replaces it)."""
    await conn.execute(Q["upsert_yolo_run"], job_id, variant_id, image_asset_id, mask_url, model_name, detection_count,
                       latency_ms)


async def insert_planner_proposal(conn: Conn, *, proposal_id: UUID, image_asset_id: UUID, variant_id: UUID, prompt: str,
                                  layout: dict, latency_ms: float) -> None:
    """The planner's row: every candidate in `layout`."""
    await conn.execute(Q["insert_planner_proposal"], proposal_id, image_asset_id, variant_id, prompt, layout, latency_ms)


async def insert_overlay_layout(conn: Conn, *, proposal_id: UUID, variant_id: UUID, layout: dict, x_ratio: float,
                                y_ratio: float, width_ratio: float, height_ratio: float, text_margin: str,
                                latency_ms: float) -> UUID:
    """The overlay's layout row; its overlay_id."""
    return await conn.fetchval(Q["insert_overlay_layout"], proposal_id, variant_id, layout, x_ratio, y_ratio,
                               width_ratio, height_ratio, text_margin, latency_ms)


async def insert_render(conn: Conn, *, overlay_id: UUID, image_asset_id: UUID, format: str | None = None) -> UUID:
    """A render of the overlay: the original (format None) or one Instagram format; its render_id."""
    if format is None:
        return await conn.fetchval(Q["insert_render"], overlay_id, image_asset_id)
    return await conn.fetchval(Q["insert_format_render"], overlay_id, image_asset_id, format)


async def set_overlay_formats(conn: Conn, *, overlay_id: UUID, formats: list[dict]) -> None:
    """layout.formats of the overlay: each format's render."""
    await conn.execute(Q["set_overlay_formats"], overlay_id, formats)


async def set_overlaid_asset(conn: Conn, *, variant_id: UUID, image_asset_id: UUID) -> None:
    """jobs_variants.overlaid_img_asset_id: the variant's finished image."""
    await conn.execute(Q["set_overlaid_asset"], variant_id, image_asset_id)
