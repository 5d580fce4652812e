"""Bulk replay: every job that failed for good and matches a filter re-runs from its failed step."""
from datetime import datetime

import asyncpg

from services.ops import store_actions as store
from services.ops.actions import ActionError, Actor, retry

MAX_PER_CALL = 200  # one call re-queues at most this many jobs; call again for the rest


async def replay(pool: asyncpg.Pool, actor: Actor, *, tenant_id: str | None = None, step: str | None = None,
                 since: datetime | None = None, until: datetime | None = None, limit: int = 50,
                 dry_run: bool = False) -> dict:
    """Re-queue (or, dry run, only list) up to `limit` jobs failed for good that match; oldest failure first."""
    if not 1 <= limit <= MAX_PER_CALL:
        raise ActionError(422, f"limit must be between 1 and {MAX_PER_CALL}")
    if since and until and since >= until:
        raise ActionError(422, "since must be before until")
    async with pool.acquire() as conn:
        matched = await store.replay_count(conn, tenant_id=tenant_id, step=step, since=since, until=until)
        rows = await store.replay_candidates(conn, tenant_id=tenant_id, step=step, since=since, until=until, limit=limit)
    jobs = [{"job_id": r["job_id"], "tenant_id": r["tenant_id"], "failed_step": r["current_step"],
             "failed_at": r["updated_at"], "last_error": r["last_error"]} for r in rows]
    out = {"dry_run": dry_run, "matched": matched, "limit": limit, "more": matched > len(jobs),
           "filter": {"tenant_id": tenant_id, "step": step, "since": since, "until": until}}
    if dry_run:
        return {**out, "replayed": 0, "jobs": jobs}
    params = {"filter": out["filter"], "bulk": True}
    replayed: list[dict] = []
    for job in jobs:
        async with pool.acquire() as conn:
            # Each job alone, under its row lock: a replica replaying the same filter at once re-queues a
            # job once (the second finds it no longer failed for good and changes nothing).
            outcome = await retry(conn, job["job_id"], actor, action="replay", params=params)
        if outcome["variants_requeued"] or outcome["job_requeued"]:
            replayed.append({**job, **outcome})
    return {**out, "replayed": len(replayed), "jobs": replayed}
