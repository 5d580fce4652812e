"""The engine's run protocol as named database calls: claim, finish, fail, release, leases, the job's advance.

Every database call of the engine goes through a store module (this one, store_sweep, store_views,
store_schema); the SQL stays in db/*.sql (loaded into `Q`). Each function takes the connection (or the
pool, where no transaction is needed) and keyword arguments named after what they mean, so a call reads
`claim_job(conn, job_id=..., stage=..., ...)` instead of nine positional `$n`.
"""
from typing import Any, NamedTuple
from uuid import UUID

from services.engine.queries import Q

# asyncpg ships no type information: a connection or a pool (both have fetch/fetchrow/fetchval/execute).
Conn = Any
# A row read by column name (asyncpg.Record), returned as is where the caller hands it on unchanged.
Row = Any


class Claim(NamedTuple):
    """A won claim: the run's token, its attempt number (1 = first) and the job's tenant."""
    run_token: UUID
    attempt: int
    tenant_id: str | None


async def claim_variant(conn: Conn, *, variant_id: UUID, job_id: UUID, stage: str, after: str, lease_seconds: float,
                        start_gate: bool, worker: str, tenant_id: str | None, settle_seconds: float) -> Claim | None:
    """(after, done) or a due (stage, failed) -> (stage, running) with a new run token and lease; None: not claimable.

    `start_gate`: the first variant stage also waits for the job's English copy and for a row inserted done
    to settle `settle_seconds`; `tenant_id` (not None) must own the job."""
    row = await conn.fetchrow(Q["claim_variant"], variant_id, stage, after, lease_seconds, start_gate, worker, job_id,
                              tenant_id, settle_seconds)
    return Claim(row["run_token"], row["attempt"], row["tenant_id"]) if row else None


async def claim_job(conn: Conn, *, job_id: UUID, stage: str, after: str, lease_seconds: float, worker: str,
                    tenant_id: str | None) -> Claim | None:
    """The job-level claim (the first job stage also needs every variant finished); None: not claimable."""
    row = await conn.fetchrow(Q["claim_job"], job_id, stage, after, lease_seconds, worker, tenant_id)
    return Claim(row["run_token"], row["attempt"], row["tenant_id"]) if row else None


async def mark_job_started(conn: Conn, *, job_id: UUID, advanced_steps: list[str]) -> None:
    """The job shows (vlm_analyze, running) once its first variant starts (unless already past the variants)."""
    await conn.execute(Q["mark_job_started"], job_id, advanced_steps)


async def variant_state(conn: Conn, *, variant_id: UUID) -> Row | None:
    """Why a claim was refused: job_id, current_step, status, next_retry_at, tenant_id, now, created_at,
    untouched, text_ready (the row as is, for services.errors.claim_refusal); None: no such variant."""
    return await conn.fetchrow(Q["variant_state"], variant_id)


async def job_state(conn: Conn, *, job_id: UUID) -> Row | None:
    """job_id, tenant_id, current_step, status, next_retry_at, now (the row as is); None: no such job."""
    return await conn.fetchrow(Q["job_state"], job_id)


async def latest_overlay(conn: Conn, *, variant_id: UUID, timeout: float | None = None) -> UUID | None:
    """The variant's newest overlay_id (the one the evaluations judge), None before the overlay stage."""
    return await conn.fetchval(Q["latest_overlay"], variant_id, timeout=timeout)


async def variant_owns_overlay(conn: Conn, *, overlay_id: UUID, variant_id: UUID) -> bool:
    """Whether this overlay is one of the variant's (an older one: 409; another variant's: 404)."""
    return bool(await conn.fetchval(Q["overlay_of_variant"], overlay_id, variant_id))


async def finish_variant(conn: Conn, *, variant_id: UUID, run_token: UUID, stage: str) -> UUID | None:
    """(stage, running) -> done and its run closed, only while `run_token` holds the row; the job_id, else None."""
    return await conn.fetchval(Q["finish_variant"], variant_id, run_token, stage)


async def finish_job(conn: Conn, *, job_id: UUID, run_token: UUID, stage: str) -> UUID | None:
    """The job-level finish_variant."""
    return await conn.fetchval(Q["finish_job"], job_id, run_token, stage)


async def close_run(conn: Conn, *, run_token: UUID, status: str, error: str | None) -> None:
    """The stage run ends as `status` (failed, crashed) with its error text."""
    await conn.execute(Q["close_run"], run_token, status, error)


async def count_crashes(conn: Conn, *, job_id: UUID, variant_id: UUID | None, stage: str) -> int:
    """Runs of this row (variant_id None: the job) and step that lost their worker."""
    return await conn.fetchval(Q["count_crashes"], job_id, variant_id, stage)


async def fail_variant(conn: Conn, *, variant_id: UUID, run_token: UUID, stage: str, error: str,
                       retry_in: float | None) -> UUID | None:
    """(stage, failed), retried after `retry_in` s (None: for good), while `run_token` holds it; the job_id, else None."""
    return await conn.fetchval(Q["fail_variant"], variant_id, run_token, error, retry_in, stage)


async def fail_job(conn: Conn, *, job_id: UUID, run_token: UUID, stage: str, error: str,
                   retry_in: float | None) -> UUID | None:
    """The job-level fail_variant."""
    return await conn.fetchval(Q["fail_job"], job_id, run_token, error, retry_in, stage)


async def extend_leases(conn: Conn, *, run_tokens: list[UUID], lease_seconds: float,
                        timeout: float | None = None) -> set[UUID]:
    """Heartbeat: extend every listed run's lease; returns the tokens that still hold their row."""
    return {r["run_token"] for r in await conn.fetch(Q["extend_leases"], run_tokens, lease_seconds, timeout=timeout)}


async def release_run(conn: Conn, *, level: str, row_id: UUID, run_token: UUID, stage: str, after: str,
                      timeout: float | None = None) -> bool:
    """Shutdown: the row (a variant or a job, by `level`) back to its state before the claim, no attempt used."""
    query = "release_variant" if level == "variant" else "release_job"
    return await conn.fetchval(Q[query], row_id, run_token, stage, after, timeout=timeout) is not None


class JobLock(NamedTuple):
    """The job row as locked before its advance."""
    current_step: str | None
    status: str | None
    cancelled_at: Any


class Tally(NamedTuple):
    """The job's variants: how many, how many done at the last step, how many failed for good."""
    total: int
    done: int
    dead: int


async def lock_job(conn: Conn, *, job_id: UUID) -> JobLock | None:
    """FOR NO KEY UPDATE on the job row (serialises variants finishing together); None: no such job."""
    row = await conn.fetchrow(Q["lock_job"], job_id)
    return JobLock(row["current_step"], row["status"], row["cancelled_at"]) if row else None


async def variant_tally(conn: Conn, *, job_id: UUID) -> Tally:
    """Count the job's variants by outcome."""
    row = await conn.fetchrow(Q["variant_tally"], job_id)
    return Tally(row["total"], row["done"], row["dead"])


async def advance_job(conn: Conn, *, job_id: UUID, status: str, error: str | None) -> None:
    """The job to (iou_eval, status): every variant has finished."""
    await conn.execute(Q["advance_job"], job_id, status, error)


class VariantEvaluation(NamedTuple):
    """One evaluation of a finished variant's latest overlay (evaluation_type None: it has none)."""
    job_variants_id: UUID
    creation_order: int
    evaluation_type: str | None
    metrics: Any


async def finished_variants_evaluations(conn: Conn, *, job_id: UUID) -> list[VariantEvaluation]:
    """The job's finished variants, each with the evaluations of its latest overlay (one row per evaluation)."""
    return [VariantEvaluation(r["job_variants_id"], r["creation_order"], r["evaluation_type"], r["metrics"])
            for r in await conn.fetch(Q["finished_variants_evaluations"], job_id)]


async def mark_selected_variant(conn: Conn, *, job_id: UUID, variant_id: UUID) -> None:
    """Exactly one variant of the job is `selected`."""
    await conn.execute(Q["mark_selected_variant"], job_id, variant_id)
