"""Periodic recovery: lost notifications, dead workers, due retries, jobs that did not advance."""
import asyncio
import logging
import zlib

import asyncpg

from config import Settings
from services.engine import store_sweep as store
from services.engine.dispatch import Dispatcher
from services.engine.jobstate import advance_job_if_finished
from services.engine.pipeline import BY_NAME, JOB_ADVANCED_STEPS, STAGES, VARIANT_STEPS, next_stage
from services.ops import metrics

log = logging.getLogger(__name__)
_SWEEP_LOCK = 7_300_002  # one replica runs a sweep's scans at a time; the others skip that round
_VARIANT_AFTER = [s.after for s in STAGES if s.level == "variant"]
_VARIANT_STAGES = [s.name for s in STAGES if s.level == "variant"]
_JOB_AFTER = [s.after for s in STAGES if s.level == "job"]
_JOB_STAGES = [s.name for s in STAGES if s.level == "job"]


async def sweep_once(pool: asyncpg.Pool, dispatcher: Dispatcher, settings: Settings) -> dict:
    """One recovery pass; returns what it found (for logs and tests)."""
    found = {"expired": 0, "variants": 0, "jobs": 0, "advanced": 0}
    async with pool.acquire() as conn, conn.transaction():
        # Every scan runs under the lock: one replica sweeps a round, the others skip it (the lock ends
        # with the transaction, so a replica that dies mid-sweep holds nothing).
        if not await store.try_sweep_lock(conn, lock_id=_lock_key(settings)):
            return found
        expired: list = []
        for level, stages in (("variant", _VARIANT_STAGES), ("job", _JOB_STAGES)):
            expired += await store.expire_leases(conn, level=level, stages=stages, max_retries=settings.max_retries,
                                                 max_crashes=settings.max_crashes,
                                                 retry_base_seconds=settings.retry_base_seconds,
                                                 retry_max_seconds=settings.retry_max_seconds)
        found["expired"] = len(expired)
        for job_id in set(expired) | set(await store.unadvanced_jobs(
                conn, advanced_steps=list(JOB_ADVANCED_STEPS), variant_stages=_VARIANT_STAGES)):
            async with conn.transaction():  # a savepoint: one job's failure does not undo the others
                if await advance_job_if_finished(conn, job_id):
                    found["advanced"] += 1
        variants = await store.stalled_variants(conn, grace_seconds=settings.sweep_grace_seconds,
                                                afters=_VARIANT_AFTER, stages=_VARIANT_STAGES)
        jobs = await store.stalled_jobs(conn, grace_seconds=settings.sweep_grace_seconds, afters=_JOB_AFTER, stages=_JOB_STAGES)
        await _count_waiting(conn)
        await count_queues(conn)
        await waiting_report(conn, settings)
    for row in variants:
        stage = BY_NAME[row.current_step] if row.status == "failed" else next_stage("variant", row.current_step)
        dispatcher.submit(stage, row.job_id, row.job_variants_id, row.tenant_id, first=row.status == "failed")
    for row in jobs:
        stage = BY_NAME[row.current_step] if row.status == "failed" else next_stage("job", row.current_step)
        dispatcher.submit(stage, row.job_id, None, row.tenant_id, first=row.status == "failed")
    found["variants"], found["jobs"] = len(variants), len(jobs)
    for kind, count in found.items():
        if count:
            metrics.SWEEPER_RECOVERED.labels(kind).inc(count)
    if any(found.values()):
        # Seed 001's wording, so `docker logs ... | grep "뒤처진 variants 복구"` finds every recovery.
        retries = sum(r.status == "failed" for r in [*variants, *jobs])
        log.info("뒤처진 variants 복구: re-dispatched %d variant(s) and %d job(s) (%d of them due retries), "
                 "expired %d lease(s), advanced %d job(s)", found["variants"], found["jobs"], retries,
                 found["expired"], found["advanced"])
    return found


def _lock_key(settings: Settings) -> int:
    """SERVE_STAGES: replicas of one role share a sweep lock; another role sweeps (and dispatches) its own stages."""
    served = settings.served_stages
    if served == frozenset(BY_NAME):
        return _SWEEP_LOCK
    return _SWEEP_LOCK + 1 + zlib.crc32(",".join(sorted(served)).encode()) % 1_000_000


async def waiting_report(conn, settings: Settings) -> dict:
    """Waiting that does not end by itself (start gate, jobs held upstream); also sets the gauges."""
    row = await store.waiting_report(conn, warn_seconds=settings.start_gate_warn_seconds, variant_stages=_VARIANT_STAGES)
    metrics.WAITING_START_GATE.set(row["start_gate"])
    metrics.JOBS_HELD_UPSTREAM.set(row["held_upstream"])
    return row


async def _count_waiting(conn: asyncpg.Connection) -> None:
    # Finished variants (iou_eval, done) are not waiting for anything and would only grow.
    rows = await store.waiting_counts(conn, steps=list(VARIANT_STEPS))
    metrics.ROWS_WAITING.clear()
    for step, status, n in rows:
        metrics.ROWS_WAITING.labels(step, status).set(n)


async def count_queues(conn: asyncpg.Connection) -> dict:
    """Rows waiting for each stage per tenant, and the oldest one's wait (/metrics; issue 26)."""
    rows = await store.queue_depths(conn, variant_afters=_VARIANT_AFTER, variant_stages=_VARIANT_STAGES,
                                    job_afters=_JOB_AFTER, job_stages=_JOB_STAGES)
    queues: dict[tuple[str, str], list] = {}
    for row in rows:
        stage = BY_NAME[row.step] if row.status == "failed" else next_stage(row.level, row.step)
        if stage is None:
            continue
        entry = queues.setdefault((stage.name, row.tenant_id or ""), [0, 0.0])
        entry[0] += row.n
        entry[1] = max(entry[1], float(row.oldest or 0.0))
    metrics.QUEUE_DEPTH.clear()
    metrics.QUEUE_OLDEST.clear()
    for (stage_name, tenant), (n, oldest) in queues.items():
        metrics.QUEUE_DEPTH.labels(stage_name, tenant).set(n)
        metrics.QUEUE_OLDEST.labels(stage_name, tenant).set(oldest)
    return queues


class Sweeper:
    """Runs sweep_once every few seconds until stopped."""

    def __init__(self, pool: asyncpg.Pool, dispatcher: Dispatcher, settings: Settings):
        self.pool, self.dispatcher, self.settings = pool, dispatcher, settings
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        """Start the periodic loop."""
        self._task = asyncio.create_task(self._loop(), name="sweeper")

    def wake(self) -> None:
        """Sweep now (after the listener reconnects, to catch what it missed)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop the loop."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.sweep_interval_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await sweep_once(self.pool, self.dispatcher, self.settings)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("sweep skipped: %r", exc)  # database down: try again next round
            except Exception:
                log.exception("sweep failed")
