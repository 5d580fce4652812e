"""Job-level bookkeeping: advance a job exactly once when all of its variants have finished."""
import logging
from uuid import UUID

import asyncpg

from services.engine import store
from services.engine.pipeline import JOB_ADVANCED_STEPS
from services.engine.selection import select_best_variant

log = logging.getLogger(__name__)


async def advance_job_if_finished(conn: asyncpg.Connection, job_id: UUID) -> str | None:
    """Inside a transaction: move the job to (iou_eval, done|failed) once; return the new status."""
    # The row lock serialises variants finishing at the same instant: the second one waits here,
    # then its tally (a new statement under READ COMMITTED) sees the first one's commit.
    job = await store.lock_job(conn, job_id=job_id)
    if job is None or job.current_step in JOB_ADVANCED_STEPS or job.cancelled_at is not None:
        return None  # a cancelled job stays cancelled (services/ops/actions.py)
    tally = await store.variant_tally(conn, job_id=job_id)
    if tally.total == 0 or tally.done + tally.dead < tally.total:
        return None
    if tally.done == 0:
        await store.advance_job(conn, job_id=job_id, status="failed", error="every variant failed")
        log.warning("job %s failed: every variant failed", job_id)
        return "failed"
    await select_best_variant(conn, job_id)
    await store.advance_job(conn, job_id=job_id, status="done", error=None)
    log.info("job %s advanced to (iou_eval, done)", job_id)
    return "done"
