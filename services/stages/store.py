"""The stages' database calls: what a stage reads before its work, and the text stages', traces' and
catalogue's writes (the image stages' writes: store_image.py).

The SQL is db/stages.sql and db/catalog.sql; here each query is a function with keyword arguments, so a
handler's save reads `insert_korean_copy(conn, job_id=..., llm_trace_id=..., ...)` and mypy checks it.
"""
from typing import Any, NamedTuple
from uuid import UUID

from services.engine.queries import Q
from services.engine.store import Conn, Row


class Detection(NamedTuple):
    """A detection yolo_detect stored: its box (x1, y1, x2, y2), label and score."""
    detection_id: UUID
    box: list
    label: str
    score: float | None


async def variant_image_asset_id(conn: Conn, *, variant_id: UUID) -> UUID | None:
    """The variant's own generated image (jobs_variants.img_asset_id)."""
    return await conn.fetchval(Q["variant_image_asset_id"], variant_id)


async def image_url(conn: Conn, *, image_asset_id: UUID) -> str | None:
    """The image_url of an image asset; None: no such asset."""
    row = await conn.fetchrow(Q["image_asset"], image_asset_id)
    return row["image_url"] if row else None


async def latest_refined_copy(conn: Conn, *, job_id: UUID) -> str | None:
    """The job's latest non-empty refined English copy."""
    return await conn.fetchval(Q["latest_refined_copy"], job_id)


async def latest_english_copy(conn: Conn, *, job_id: UUID) -> str | None:
    """The text part's latest ad_copy_eng (done) of the job."""
    return await conn.fetchval(Q["latest_english_copy"], job_id)


async def has_refined_copy(conn: Conn, *, job_id: UUID) -> bool:
    """Whether some variant of the job already wrote a refined copy."""
    return bool(await conn.fetchval(Q["has_refined_copy"], job_id))


async def variant_detections(conn: Conn, *, variant_id: UUID) -> list[Detection]:
    """The variant's detections in the order they were stored."""
    return [Detection(r["detection_id"], r["box"], r["label"], r["score"])
            for r in await conn.fetch(Q["variant_detections"], variant_id)]


async def latest_proposal(conn: Conn, *, variant_id: UUID) -> Row | None:
    """The planner's latest row of the variant (proposal_id, layout), as is."""
    return await conn.fetchrow(Q["latest_proposal"], variant_id)


async def variant_proposal(conn: Conn, *, variant_id: UUID, proposal_id: UUID) -> Row | None:
    """The planner row holding a caller's proposal_id (proposal_id, layout, idx: the candidate's index), as is."""
    return await conn.fetchrow(Q["variant_proposal"], variant_id, proposal_id)


async def variant_overlay(conn: Conn, *, variant_id: UUID, overlay_id: UUID | None) -> Row | None:
    """The overlay to evaluate (overlay_id, layout, image_url of its original render): this one, or the latest."""
    return await conn.fetchrow(Q["variant_overlay"], variant_id, overlay_id)


async def upsert_evaluation(conn: Conn, *, job_id: UUID, overlay_id: UUID, kind: str, metrics: dict) -> UUID:
    """One evaluation per (overlay, type): a re-run replaces it; its evaluation_id."""
    return await conn.fetchval(Q["upsert_evaluation"], job_id, overlay_id, kind, metrics)


async def insert_vlm_trace(conn: Conn, *, operation: str, job_id: UUID, variant_id: UUID, provider: str | None,
                           request: dict, response: dict, latency_ms: float, prompt_id: UUID | None) -> UUID:
    """One vlm_traces row of an `analyze` or `judge` call; its vlm_trace_id."""
    query = {"analyze": "insert_vlm_trace_analyze", "judge": "insert_vlm_trace_judge"}[operation]
    return await conn.fetchval(Q[query], job_id, variant_id, provider, request, response, latency_ms, prompt_id)


async def insert_llm_trace(conn: Conn, *, job_id: UUID, provider: str, tone_style_id: Any, prompt_id: UUID | None,
                           operation: str | None, request: dict, response: dict, latency_ms: float | None,
                           prompt_tokens: int | None, completion_tokens: int | None, total_tokens: int | None,
                           token_usage: Any, llm_model_id: UUID) -> UUID:
    """One llm_traces row per call, with the provider that really ran; its llm_trace_id."""
    return await conn.fetchval(Q["insert_llm_trace"], job_id, provider, tone_style_id, prompt_id, operation, request,
                               response, latency_ms, prompt_tokens, completion_tokens, total_tokens, token_usage,
                               llm_model_id)


async def job_context(conn: Conn, *, job_id: UUID) -> Row | None:
    """desc_kor, desc_eng, tone_style_id, kor_name, eng_name, code, title, body, store_category of the job, as is."""
    return await conn.fetchrow(Q["job_context"], job_id)


async def replace_korean_copy(conn: Conn, *, job_id: UUID, llm_trace_id: UUID, ad_copy_eng: str, ad_copy_kor: str) -> UUID:
    """The job's one Korean copy (a re-run replaces it); its ad_copy_gen_id."""
    await conn.execute(Q["delete_korean_copy"], job_id)
    return await conn.fetchval(Q["insert_korean_copy"], job_id, llm_trace_id, ad_copy_eng, ad_copy_kor)


async def latest_korean_copy(conn: Conn, *, job_id: UUID) -> str | None:
    """The job's latest Korean copy (eng_to_kor, done)."""
    return await conn.fetchval(Q["latest_korean_copy"], job_id)


async def selected_overlay(conn: Conn, *, job_id: UUID) -> UUID | None:
    """The latest overlay of the job's selected variant."""
    return await conn.fetchval(Q["selected_overlay"], job_id)


async def job_tenant(conn: Conn, *, job_id: UUID) -> str | None:
    """The job's tenant."""
    return await conn.fetchval(Q["job_tenant"], job_id)


async def upsert_instagram_feed(conn: Conn, *, job_id: UUID, llm_trace_id: UUID, overlay_id: UUID | None, tenant_id: str,
                                refined_ad_copy_eng: str, ad_copy_kor: str, tone_style: str, product_description: str,
                                gpt_prompt: str, instagram_ad_copy: str, hashtags: list[str], temperature: float,
                                max_tokens: int, latency_ms: float | None) -> UUID:
    """The job's one post (a re-run replaces it); its instagram_feed_id."""
    return await conn.fetchval(Q["upsert_instagram_feed"], job_id, llm_trace_id, overlay_id, tenant_id,
                               refined_ad_copy_eng, ad_copy_kor, tone_style, product_description, gpt_prompt,
                               instagram_ad_copy, hashtags, temperature, max_tokens, latency_ms)


async def insert_prompt_asset(conn: Conn, *, prompt_asset_id: UUID, prompt_type: str, prompt_version: str,
                              prompt: dict) -> None:
    """A vlm_prompt_assets row, unless one with this (content-hash) id exists."""
    await conn.execute(Q["insert_prompt_asset"], prompt_asset_id, prompt_type, prompt_version, prompt)


async def insert_llm_model(conn: Conn, *, llm_model_id: UUID, model_name: str, model_version: str | None, provider: str,
                           default_temperature: float, default_max_tokens: int, prompt_token_cost_per_1m: float,
                           completion_token_cost_per_1m: float, description: str) -> None:
    """An llm_models row, unless one with this (content-hash) id exists."""
    await conn.execute(Q["insert_llm_model"], llm_model_id, model_name, model_version, provider, default_temperature,
                       default_max_tokens, prompt_token_cost_per_1m, completion_token_cost_per_1m, description)
