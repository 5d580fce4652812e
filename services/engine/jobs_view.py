"""Read models of jobs for the API and the dashboard (one query set, two presentations)."""
from uuid import UUID

import asyncpg

from services.engine.pipeline import JOB_ADVANCED_STEPS, STAGES, stage_progress

_JOB = """
SELECT job_id, tenant_id, current_step, status, retry_count, last_error, next_retry_at, created_at, updated_at
FROM jobs WHERE job_id = $1
"""
_VARIANTS = """
SELECT v.job_variants_id, v.creation_order, v.current_step, v.status, v.retry_count, v.last_error, v.next_retry_at,
       v.selected, v.img_asset_id, src.image_url, v.overlaid_img_asset_id, ov.image_url AS overlaid_image_url,
       o.overlay_id, v.created_at, v.updated_at
FROM jobs_variants v
LEFT JOIN image_assets src ON src.image_asset_id = v.img_asset_id
LEFT JOIN image_assets ov ON ov.image_asset_id = v.overlaid_img_asset_id
LEFT JOIN LATERAL (SELECT overlay_id FROM overlay_layouts WHERE job_variants_id = v.job_variants_id
                   ORDER BY created_at DESC, pk DESC LIMIT 1) o ON TRUE
WHERE v.job_id = $1 ORDER BY v.creation_order, v.created_at
"""
_EVALS = "SELECT overlay_id, evaluation_type, metrics FROM evaluations WHERE overlay_id = ANY($1::uuid[])"
_RUNS = """
SELECT job_variants_id, step, attempt, status, error, worker, started_at, finished_at,
       EXTRACT(EPOCH FROM finished_at - started_at) * 1000 AS duration_ms
FROM stage_runs WHERE job_id = $1 ORDER BY started_at, run_id
"""
_TEXTS = """
SELECT DISTINCT ON (generation_stage) generation_stage, ad_copy_eng, refined_ad_copy_eng, ad_copy_kor
FROM txt_ad_copy_generations WHERE job_id = $1 AND status = 'done'
ORDER BY generation_stage, created_at DESC, pk DESC
"""
_FEED = """
SELECT instagram_feed_id, instagram_ad_copy, hashtags, ad_copy_kor, refined_ad_copy_eng, tone_style,
       product_description, used_temperature, used_max_tokens, latency_ms, overlay_id, created_at,
       (SELECT provider FROM llm_traces t WHERE t.llm_trace_id = f.llm_trace_id) AS provider
FROM instagram_feeds f WHERE job_id = $1
"""
_LIST = """
WITH recent AS (  -- the LIMIT applies to jobs first, so the aggregate touches only their variants
    SELECT job_id, tenant_id, current_step, status, created_at, updated_at FROM jobs
    WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR status = $2)
    ORDER BY created_at DESC LIMIT $3)
SELECT j.job_id, j.tenant_id, j.current_step, j.status, j.created_at, j.updated_at,
       count(v.*) AS variants,
       count(v.*) FILTER (WHERE v.current_step = 'iou_eval' AND v.status = 'done'
                          OR v.status = 'failed' AND v.next_retry_at IS NULL) AS variants_finished,
       coalesce(json_agg(json_build_array(v.current_step, v.status)) FILTER (WHERE v.job_variants_id IS NOT NULL),
                '[]') AS states
FROM recent j LEFT JOIN jobs_variants v USING (job_id)
GROUP BY j.job_id, j.tenant_id, j.current_step, j.status, j.created_at, j.updated_at
ORDER BY j.created_at DESC
"""


def job_progress(job_step: str | None, job_status: str | None, variant_states: list) -> float:
    """0..1: the mean variant progress, then the two job stages take the last tenth."""
    if job_step == "instagram_feed_gen" and job_status == "done":
        return 1.0
    if job_step in JOB_ADVANCED_STEPS:
        return 0.9 + (0.05 if job_step == "instagram_feed_gen" else 0.0)
    if not variant_states:
        return 0.0
    return 0.9 * sum(stage_progress(step, status) for step, status in variant_states) / len(variant_states)


async def list_jobs(pool: asyncpg.Pool, tenant_id: str | None, status: str | None, limit: int) -> list[dict]:
    """Recent jobs, newest first, optionally for one tenant or status."""
    rows = await pool.fetch(_LIST, tenant_id, status, limit)
    return [{**{k: r[k] for k in r.keys() if k != "states"},
             "progress": job_progress(r["current_step"], r["status"], r["states"])} for r in rows]


async def job_detail(pool: asyncpg.Pool, job_id: UUID) -> dict | None:
    """Everything known about one job, or None."""
    async with pool.acquire() as conn:
        job = await conn.fetchrow(_JOB, job_id)
        if job is None:
            return None
        variants = [dict(r) for r in await conn.fetch(_VARIANTS, job_id)]
        overlay_ids = [v["overlay_id"] for v in variants if v["overlay_id"]]
        evals = await conn.fetch(_EVALS, overlay_ids)
        runs = [dict(r) for r in await conn.fetch(_RUNS, job_id)]
        texts = {r["generation_stage"]: r for r in await conn.fetch(_TEXTS, job_id)}
        feed = await conn.fetchrow(_FEED, job_id)
    by_overlay: dict = {}
    for e in evals:
        by_overlay.setdefault(e["overlay_id"], {})[e["evaluation_type"]] = e["metrics"]
    ours = {s.name for s in STAGES if s.level == "variant"}
    for v in variants:
        v["waiting_for"] = _waiting_for(v, ours, "ad_copy_eng" in texts)
        v["evaluations"] = by_overlay.get(v["overlay_id"], {})
        v["timeline"] = [r for r in runs if r["job_variants_id"] == v["job_variants_id"]]
    detail = dict(job)
    detail.update(
        variants=variants,
        timeline=[r for r in runs if r["job_variants_id"] is None],
        progress=job_progress(job["current_step"], job["status"], [(v["current_step"], v["status"]) for v in variants]),
        ad_copy_eng=(texts.get("ad_copy_eng") or {}).get("ad_copy_eng"),
        refined_ad_copy_eng=(texts.get("refined_ad_copy") or {}).get("refined_ad_copy_eng"),
        ad_copy_kor=(texts.get("eng_to_kor") or {}).get("ad_copy_kor"),
        instagram_feed=dict(feed) if feed else None,
    )
    return detail


def _waiting_for(variant: dict, ours: set, has_copy: bool) -> str | None:
    """What a variant waits for that this service does not produce: the English copy, or an upstream step."""
    step, status = variant["current_step"], variant["status"]
    if step == "img_gen" and status == "done":
        return None if has_copy else "ad_copy_eng"
    return None if step in ours else (step or "img_gen")
