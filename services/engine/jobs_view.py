"""Read models of jobs for the API and the dashboard (one query set, two presentations)."""
from uuid import UUID

import asyncpg

from services.engine import store_views
from services.engine.pipeline import BY_NAME, JOB_ADVANCED_STEPS, STAGES, Level, next_stage, stage_progress
from services.engine.replicas import unserved_stages


def job_progress(job_step: str | None, job_status: str | None, variant_states: list) -> float:
    """0..1: the mean variant progress, then the two job stages take the last tenth."""
    if job_step == "instagram_feed_gen" and job_status == "done":
        return 1.0
    if job_step in JOB_ADVANCED_STEPS:
        return 0.9 + (0.05 if job_step == "instagram_feed_gen" else 0.0)
    if not variant_states:
        return 0.0
    return 0.9 * sum(stage_progress(step, status) for step, status in variant_states) / len(variant_states)


async def list_jobs(pool: asyncpg.Pool, tenant_id: str | None, status: str | None, limit: int,
                    finished: bool | None = None, outcome: str | None = None) -> list[dict]:
    """Recent jobs, newest first, optionally for one tenant, status, finished flag or outcome."""
    rows = await store_views.recent_jobs(pool, tenant_id=tenant_id, status=status, limit=limit, finished=finished,
                                         outcome=outcome)
    return [{**{k: r[k] for k in r.keys() if k != "states"}, "finished": r["outcome"] is not None,
             "progress": job_progress(r["current_step"], r["status"], r["states"])} for r in rows]


async def job_detail(pool: asyncpg.Pool, job_id: UUID, live_seconds: float = 10.0) -> dict | None:
    """Everything known about one job, or None; `live_seconds`: a replica's heartbeat age that still counts."""
    async with pool.acquire() as conn:
        rows = await store_views.job_rows(conn, job_id=job_id)
        if rows is None:
            return None
        unserved = await unserved_stages(conn, live_seconds)
    job, variants, evals, renders, runs, texts, feed, actions = rows[:8]
    usage = job_usage(rows.llm_usage, rows.vlm_usage)
    by_overlay: dict = {}
    for e in evals:
        by_overlay.setdefault(e["overlay_id"], {})[e["evaluation_type"]] = e["metrics"]
    ours = {s.name for s in STAGES if s.level == "variant"}
    for v in variants:
        v["waiting_for"] = _waiting_for(v, ours, "ad_copy_eng" in texts)
        v["waiting_reason"] = _REASONS.get(v["waiting_for"], f"upstream step {v['waiting_for']} has not finished") \
            if v["waiting_for"] else None
        _waiting_for_replica(v, "variant", unserved)
        v["evaluations"] = by_overlay.get(v["overlay_id"], {})
        v["formats"] = [{"format": r["format"], "render_id": r["render_id"], "image_url": r["image_url"],
                         "width": r["width"], "height": r["height"], "checks": r["checks"]}
                        for r in renders if r["overlay_id"] == v["overlay_id"] and r["format"] != "original"]
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
        finished=job["outcome"] is not None,
        actions=actions,  # operator actions (cancel, rerun, select, retry, replay): who, when, what
        usage=usage,
        waiting_for=None, waiting_reason=None,
    )
    _waiting_for_replica(detail, "job", unserved)
    return detail


def job_usage(llm_rows: list, vlm_row) -> dict:
    """A job's LLM tokens and cost (USD, from each trace's llm_models prices), per model and in total, and the
    tokens a served VLM reported (not priced: no price is configured for the VLM)."""
    models = [{"provider": r["provider"], "model_name": r["model_name"], "calls": r["calls"],
               "prompt_tokens": r["prompt_tokens"], "completion_tokens": r["completion_tokens"],
               "total_tokens": r["total_tokens"], "prompt_token_cost_per_1m": r["prompt_token_cost_per_1m"],
               "completion_token_cost_per_1m": r["completion_token_cost_per_1m"],
               "cost_usd": None if r["priced_calls"] < r["calls"] else round(float(r["cost_usd"] or 0), 8)}
              for r in llm_rows]
    total = {k: sum(m[k] for m in models) for k in ("calls", "prompt_tokens", "completion_tokens", "total_tokens")}
    priced = all(m["cost_usd"] is not None for m in models)
    return {"llm": {**total, "cost_usd": round(sum(m["cost_usd"] or 0 for m in models), 8) if priced else None,
                    "by_model": models},
            "vlm": dict(vlm_row) if vlm_row else None,
            "total_tokens": total["total_tokens"] + (vlm_row["total_tokens"] if vlm_row else 0),
            "cost_usd": round(sum(m["cost_usd"] or 0 for m in models), 8) if priced else None}


def _waiting_for(variant: dict, ours: set, has_copy: bool) -> str | None:
    """What a variant waits for that this service does not produce: the English copy, or an upstream step."""
    step, status = variant["current_step"], variant["status"]
    if step == "img_gen" and status == "done":
        return None if has_copy else "ad_copy_eng"
    return None if step in ours else (step or "img_gen")


_REASONS = {"ad_copy_eng": "the text part has not written the English copy"}


def _waiting_for_replica(row: dict, level: Level, unserved: dict[str, str]) -> None:
    """SERVE_STAGES: a row whose next stage (or due retry) no live replica serves waits for one."""
    if row.get("waiting_for"):
        return
    step, status = row["current_step"], row["status"]
    stage = next_stage(level, step) if status == "done" else (
        BY_NAME.get(step or "") if status == "failed" and row["next_retry_at"] is not None else None)
    if stage is not None and stage.name in unserved:
        row["waiting_for"], row["waiting_reason"] = stage.name, unserved[stage.name]
