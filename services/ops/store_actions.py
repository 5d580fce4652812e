"""The operator actions' database calls (cancel, re-run, select, retry; SQL: db/actions.sql, db/views.sql).

The job and variant rows come back as is (asyncpg records): the actions read a handful of their columns
and quote them in their refusals, so the record is the documented row of the query named in each docstring.
"""
from typing import NamedTuple
from uuid import UUID

from services.engine.queries import Q
from services.engine.store import Conn, Row


class Cancelled(NamedTuple):
    """A row cancelled: its revoked run token (None when nothing ran) and whether a running stage was stopped."""
    run_token: UUID | None
    stopped: bool


async def record_action(conn: Conn, *, job_id: UUID, variant_id: UUID | None, action: str, params: dict, actor: str,
                        via: str, result: dict) -> tuple[UUID, object]:
    """One operator_actions row: (action_id, created_at)."""
    row = await conn.fetchrow(Q["record_action"], job_id, variant_id, action, params, actor, via, result)
    return row["action_id"], row["created_at"]


async def lock_job(conn: Conn, *, job_id: UUID) -> Row | None:
    """The job row under FOR NO KEY UPDATE (action_lock_job: job_id, tenant_id, current_step, status,
    next_retry_at, cancelled_at, outcome); None: no such job."""
    return await conn.fetchrow(Q["action_lock_job"], job_id)


async def variants(conn: Conn, *, job_id: UUID) -> list[Row]:
    """The job's variants (action_variants: job_variants_id, creation_order, current_step, status,
    next_retry_at, cancelled_at, selected) in creation order."""
    return await conn.fetch(Q["action_variants"], job_id)


async def cancel_variants(conn: Conn, *, job_id: UUID, variant_id: UUID | None, reason: str) -> list[Cancelled]:
    """Cancel one variant, or (variant_id None) every unfinished one of the job."""
    return [Cancelled(r["run_token"], r["stopped"]) for r in await conn.fetch(Q["cancel_variants"], job_id, variant_id,
                                                                              reason)]


async def cancel_job(conn: Conn, *, job_id: UUID, reason: str) -> list[Cancelled]:
    """Cancel the job row itself (final for the upstream parts too)."""
    return [Cancelled(r["run_token"], r["stopped"]) for r in await conn.fetch(Q["cancel_job"], job_id, reason)]


async def rewind_variants(conn: Conn, *, variant_ids: list[UUID], to_step: str) -> None:
    """These variants back to (to_step, done): the trigger's NOTIFY starts the next step."""
    await conn.fetch(Q["rewind_variants"], variant_ids, to_step)


async def reopen_job(conn: Conn, *, job_id: UUID) -> None:
    """The job back to its variant phase (it is advanced, selects and posts again)."""
    await conn.execute(Q["reopen_job"], job_id)


async def rewind_job(conn: Conn, *, job_id: UUID, to_step: str) -> UUID | None:
    """The job back to (to_step, done); None when it is running or cancelled."""
    return await conn.fetchval(Q["rewind_job"], job_id, to_step)


async def requeue_variants(conn: Conn, *, job_id: UUID, stages: list[str]) -> list[UUID]:
    """Failed variants of the job at these stages retry now; their ids."""
    return [r["job_variants_id"] for r in await conn.fetch(Q["requeue_variants"], job_id, stages)]


async def requeue_job(conn: Conn, *, job_id: UUID, steps: list[str], variants_requeued: bool) -> UUID | None:
    """A failed job at these steps retries now (back to the variant phase only if a variant runs again)."""
    return await conn.fetchval(Q["requeue_job"], job_id, steps, variants_requeued)


async def replay_count(conn: Conn, *, tenant_id: str | None, step: str | None, since: object, until: object) -> int:
    """Jobs failed for good that match the bulk replay's filter."""
    return await conn.fetchval(Q["replay_count"], tenant_id, step, since, until)


async def replay_candidates(conn: Conn, *, tenant_id: str | None, step: str | None, since: object, until: object,
                            limit: int) -> list[Row]:
    """The first `limit` of them (replay_candidates' columns), as is."""
    return await conn.fetch(Q["replay_candidates"], tenant_id, step, since, until, limit)
