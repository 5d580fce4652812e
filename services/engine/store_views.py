"""The engine's read-model queries: one job with everything known about it, and the recent jobs.

Rows are returned as is (asyncpg records, or dicts where the caller adds keys): the API and the
dashboard present their columns unchanged, so a record type here would only repeat db/views.sql.
"""
from typing import NamedTuple
from uuid import UUID

from services.engine.queries import Q
from services.engine.store import Conn, Row


class JobRows(NamedTuple):
    """What job_detail reads about one job (columns: db/views.sql, db/actions.sql job_actions, db/catalog.sql usage)."""
    job: Row  # view_job
    variants: list[dict]  # view_variants, as dicts (the view adds waiting_for, evaluations, formats, timeline)
    evaluations: list[Row]  # view_evaluations of the variants' latest overlays
    renders: list[Row]  # view_renders of those overlays
    runs: list[dict]  # view_stage_runs
    texts: dict[str, Row]  # view_texts by generation_stage
    feed: Row | None  # view_feed
    actions: list[dict]  # job_actions
    llm_usage: list[Row]  # view_job_llm_usage, one row per model
    vlm_usage: Row | None  # view_job_vlm_usage


async def job_rows(conn: Conn, *, job_id: UUID) -> JobRows | None:
    """Every row the job view shows, read on one connection; None: no such job."""
    job = await conn.fetchrow(Q["view_job"], job_id)
    if job is None:
        return None
    variants = [dict(r) for r in await conn.fetch(Q["view_variants"], job_id)]
    overlay_ids = [v["overlay_id"] for v in variants if v["overlay_id"]]
    evaluations = await conn.fetch(Q["view_evaluations"], overlay_ids)
    renders = await conn.fetch(Q["view_renders"], overlay_ids)
    runs = [dict(r) for r in await conn.fetch(Q["view_stage_runs"], job_id)]
    texts = {r["generation_stage"]: r for r in await conn.fetch(Q["view_texts"], job_id)}
    feed = await conn.fetchrow(Q["view_feed"], job_id)
    actions = [dict(r) for r in await conn.fetch(Q["job_actions"], job_id)]
    llm_usage = await conn.fetch(Q["view_job_llm_usage"], job_id)
    vlm_usage = await conn.fetchrow(Q["view_job_vlm_usage"], job_id)
    return JobRows(job, variants, evaluations, renders, runs, texts, feed, actions, llm_usage, vlm_usage)


async def recent_jobs(conn: Conn, *, tenant_id: str | None, status: str | None, limit: int, finished: bool | None,
                      outcome: str | None) -> list[Row]:
    """Recent jobs, newest first (view_recent_jobs: each with its variants' (step, status) as `states`)."""
    return await conn.fetch(Q["view_recent_jobs"], tenant_id, status, limit, finished, outcome)
