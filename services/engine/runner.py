"""Running one stage: claim the row, do the work off the event loop, commit results and state."""
import asyncio
import logging
import os
import random
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import asyncpg

from config import Settings
from services.engine import store
from services.engine.fairqueue import FairSlots
from services.engine.jobstate import advance_job_if_finished
from services.engine.pipeline import BY_NAME, FIRST_VARIANT_STAGE, JOB_ADVANCED_STEPS, LAST_VARIANT_STAGE, Stage, concurrency
from services.engine.stage_types import (
    CONNECTION_ERRORS,
    Draining,
    Released,
    StageContext,
    StageHandler,
    StageTimeout,
    clean_error,
)
from services.engine.workers import WorkerAborted, WorkerCrashed, WorkerKilled, WorkerPool
from services.errors import ClaimLost, InputError, NotFound, RunRevoked, claim_refusal, relative_paths
from services.ops import metrics

log = logging.getLogger(__name__)
WORKER = f"{socket.gethostname()}:{os.getpid()}"


class StageRunner:
    """Claim, run, finish or fail: the one helper every stage endpoint goes through."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, handlers: dict[str, StageHandler],
                 on_retry_scheduled=None, workers: WorkerPool | None = None):
        self.pool = pool
        self.settings = settings
        self.handlers = handlers
        self.on_retry_scheduled = on_retry_scheduled  # callback(ctx, delay): dispatch the retry when due
        self.workers = workers  # handlers with a process_group run there; the others in threads
        self.draining = False
        self.served = settings.served_stages  # SERVE_STAGES
        # run_token -> (ctx, released, revoked): `revoked` stops the work when the row is no longer ours
        self._active: dict[UUID, tuple[StageContext, asyncio.Event, asyncio.Event]] = {}
        self._heartbeat: asyncio.Task | None = None
        # Sent requests wait for a slot here: a stage's concurrency per tenant, twice it in all, fair order (issue 26).
        self._slots = {s.name: FairSlots(concurrency(s, settings)) for s in BY_NAME.values()}
        # Job stages wait on an LLM for minutes at worst: their own threads, so they can never starve the
        # CPU-bound variant stages of the default pool (cores + 4 threads: more only adds GIL contention).
        job_slots = sum(self._slots[s.name].total for s in BY_NAME.values() if s.level == "job")
        self._pools = {"variant": None, "job": ThreadPoolExecutor(job_slots, thread_name_prefix="job-stage")}
        # Handlers that mostly wait on a server (a served VLM) get a thread per slot of their own too.
        self._pools.update({name: ThreadPoolExecutor(self._slots[name].total, thread_name_prefix=name)
                            for name, h in handlers.items() if h.io_bound})

    async def run(self, stage_name: str, request: dict) -> dict:
        """Run `stage_name` for the row named in `request`; raises NotFound or ClaimLost."""
        stage = BY_NAME[stage_name]
        if stage_name not in self.served:  # SERVE_STAGES: never claim another replica's stage
            raise ClaimLost(f"{stage_name} is not served by this replica (SERVE_STAGES={self.settings.serve_stages})")
        # Wait for a slot before claiming, so the lease only covers real work.
        async with self._slots[stage_name].hold(request.get("tenant_id")):
            if self.draining:
                raise Draining("shutting down: not claiming new stages")
            ctx = await self._claim(stage, request)
            started = time.perf_counter()
            released, revoked = asyncio.Event(), asyncio.Event()
            self._active[ctx.run_token] = (ctx, released, revoked)
            self._start_heartbeat()
            try:
                result = await self._work(ctx, released, revoked)
            except (ClaimLost, Released) as exc:
                kind = "revoked" if isinstance(exc, RunRevoked) else "lost" if isinstance(exc, ClaimLost) else "released"
                metrics.STAGE_RUNS.labels(stage_name, kind).inc()
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is stored, none escapes
                return await self._fail(ctx, exc)
            finally:
                self._active.pop(ctx.run_token, None)
                metrics.STAGE_SECONDS.labels(stage_name).observe(time.perf_counter() - started)
        metrics.STAGE_RUNS.labels(stage_name, "done").inc()
        return {"status": "done", "attempt": ctx.attempt, "run_token": str(ctx.run_token), "result": result}

    async def _claim(self, stage: Stage, request: dict) -> StageContext:
        lease = self.settings.lease_seconds  # short: the heartbeat extends it while the stage runs
        job_id, variant_id, tenant = request.get("job_id"), request.get("job_variants_id"), request.get("tenant_id")
        async with self.pool.acquire() as conn:
            # One statement claims; only a lost claim pays for finding out why (404 or 409).
            if stage.level == "variant":
                if stage.needs_overlay_id and request.get("overlay_id"):
                    await self._check_overlay(conn, variant_id, request["overlay_id"])
                # A caller's ids (overlay's proposal_id): 404 before the claim, not a failure.
                await self.handlers[stage.name].check_request(conn, request)
                first = stage.name == FIRST_VARIANT_STAGE
                args = dict(variant_id=variant_id, job_id=job_id, stage=stage.name, after=stage.after, lease_seconds=lease,
                            start_gate=first, worker=WORKER, tenant_id=tenant, settle_seconds=self.settings.start_settle_seconds)
                if first:  # the claim and the job's (vlm_analyze, running) commit together
                    async with conn.transaction():
                        row = await store.claim_variant(conn, **args)
                        if row:
                            await store.mark_job_started(conn, job_id=job_id, advanced_steps=list(JOB_ADVANCED_STEPS))
                else:  # one statement: no BEGIN/COMMIT round trips
                    row = await store.claim_variant(conn, **args)
                state = None if row else await store.variant_state(conn, variant_id=variant_id)
                if not row and (state is None or state["job_id"] != job_id):
                    raise NotFound(f"variant {variant_id} of job {job_id} not found")
            else:
                row = await store.claim_job(conn, job_id=job_id, stage=stage.name, after=stage.after,
                                            lease_seconds=lease, worker=WORKER, tenant_id=tenant)
                state = None if row else await store.job_state(conn, job_id=job_id)
                if not row and state is None:
                    raise NotFound(f"job {job_id} not found")
        if row is None:
            if tenant is not None and tenant != state["tenant_id"]:
                raise NotFound(f"job {job_id} not found for tenant {tenant}")
            gate = stage.name != FIRST_VARIANT_STAGE or state["text_ready"]
            raise ClaimLost(claim_refusal(stage.name, stage.after, state, state["now"], gate,
                                          self.settings.start_settle_seconds))
        return StageContext(stage, job_id, variant_id, row.tenant_id, row.run_token, row.attempt, request)

    @staticmethod
    async def _check_overlay(conn, variant_id: UUID, overlay_id: UUID) -> None:
        """Before claiming: a caller's overlay_id must be the variant's latest overlay (else 404/409)."""
        if await store.latest_overlay(conn, variant_id=variant_id) == overlay_id:
            return
        owned = await store.variant_owns_overlay(conn, overlay_id=overlay_id, variant_id=variant_id)
        if not owned:
            raise NotFound(f"overlay {overlay_id} not found for variant {variant_id}")
        raise ClaimLost(f"overlay {overlay_id} is not the variant's latest overlay")

    async def _work(self, ctx: StageContext, released: asyncio.Event, revoked: asyncio.Event) -> dict:
        handler = self.handlers[ctx.stage.name]
        async with self.pool.acquire() as conn:
            inputs = await handler.load(conn, ctx)
        # The stage's own time limit (the stage table's timeout), separate from the lease. In a worker
        # process it is a hard limit (the process is killed); a thread can only be abandoned.
        limit = ctx.stage.timeout_seconds * self.settings.stage_timeout_scale
        group = handler.process_group if self.workers else None
        if group:  # a revoked run (cancelled) kills its worker process: the stage stops at once
            work = asyncio.ensure_future(self.workers.call(group, ctx.stage.name, inputs, limit, abort=revoked,
                                                           tenant=ctx.tenant_id))
        else:
            work = asyncio.ensure_future(asyncio.wait_for(asyncio.get_running_loop().run_in_executor(
                self._pools.get(ctx.stage.name, self._pools[ctx.stage.level]), handler.run, inputs), timeout=limit))
        release, revoke = asyncio.ensure_future(released.wait()), asyncio.ensure_future(revoked.wait())
        await asyncio.wait({work, release, revoke}, return_when=asyncio.FIRST_COMPLETED)
        release.cancel()
        revoke.cancel()
        if revoked.is_set() and not released.is_set() and (
                not work.done() or isinstance(work.exception(), (WorkerAborted, WorkerCrashed))):
            # A thread cannot be stopped: its result is dropped (the run token refuses its commit anyway).
            work.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise RunRevoked(f"{ctx.stage.name}: the run was cancelled or taken over; stopped, nothing written")
        if not work.done():  # released on shutdown: the row is already back at (previous, done)
            work.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise Released(f"{ctx.stage.name}: released on shutdown; another replica takes it")
        try:
            output = work.result()
        except TimeoutError:
            raise StageTimeout(f"{ctx.stage.name} took longer than {limit:.0f} s (abandoned)") from None

        async def commit(conn):
            if ctx.stage.level == "variant":
                finished = await store.finish_variant(conn, variant_id=ctx.job_variants_id, run_token=ctx.run_token,
                                                      stage=ctx.stage.name)
            else:
                finished = await store.finish_job(conn, job_id=ctx.job_id, run_token=ctx.run_token, stage=ctx.stage.name)
            if finished is None:  # the lease expired and the sweeper took the row back
                raise ClaimLost(f"{ctx.stage.name}: lease lost before commit; results discarded")
            summary = await handler.save(conn, ctx, output)
            if ctx.stage.name == LAST_VARIANT_STAGE:
                await advance_job_if_finished(conn, ctx.job_id)
            return summary
        summary = await self._in_transaction(commit)
        log.info("stage done", extra=self._log_ids(ctx))
        return summary

    async def _in_transaction(self, work, attempts: int = 6):
        """Run work(conn) in a transaction, retrying while the database is unreachable (a restart
        takes seconds; the alternative is waiting out the lease). Safe: the run token makes it idempotent."""
        for attempt in range(attempts):
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    return await work(conn)
            except CONNECTION_ERRORS as exc:
                if attempt == attempts - 1:
                    raise
                log.warning("database unreachable (%r); retrying the commit", exc)
                metrics.COMMIT_RETRIES.inc()
                await asyncio.sleep(min(0.25 * 2 ** attempt, 4.0))

    def retry_delay(self, ctx: StageContext, exc: Exception) -> float | None:
        """Seconds until the next attempt, or None when the failure is final."""
        if isinstance(exc, InputError) or not getattr(exc, "retryable", True) or ctx.attempt > self.settings.max_retries:
            return None
        backoff = min(self.settings.retry_base_seconds * 2 ** (ctx.attempt - 1), self.settings.retry_max_seconds)
        return backoff * random.uniform(0.8, 1.2)  # jitter: retries of a batch do not align

    async def _fail(self, ctx: StageContext, exc: Exception) -> dict:
        error = clean_error(relative_paths(f"{type(exc).__name__}: {exc}", self.settings.assets_dir))
        crashed = getattr(exc, "crashed", False)
        delay = self.retry_delay(ctx, exc)
        log.warning("stage failed: %s (retry in %s s)", error[:300], None if delay is None else round(delay, 2),
                    extra=self._log_ids(ctx), exc_info=not isinstance(exc, (InputError, WorkerCrashed, WorkerKilled)))

        async def save_failure(conn, error: str):
            nonlocal delay
            await store.close_run(conn, run_token=ctx.run_token, status="crashed" if crashed else "failed", error=error)
            if crashed and delay is not None:  # a poison input must not take down one worker after another
                crashes = await store.count_crashes(conn, job_id=ctx.job_id, variant_id=ctx.job_variants_id, stage=ctx.stage.name)
                if crashes >= self.settings.max_crashes:
                    delay, error = None, clean_error(f"failed for good: {crashes} runs killed their worker "
                                                     f"(MAX_CRASHES {self.settings.max_crashes}); last: {error}")
            if ctx.stage.level == "variant":
                failed = await store.fail_variant(conn, variant_id=ctx.job_variants_id, run_token=ctx.run_token,
                                                  stage=ctx.stage.name, error=error, retry_in=delay)
            else:
                failed = await store.fail_job(conn, job_id=ctx.job_id, run_token=ctx.run_token, stage=ctx.stage.name,
                                              error=error, retry_in=delay)
            if failed is None:
                raise ClaimLost(f"{ctx.stage.name}: lease lost before the failure was stored")
            if ctx.stage.level == "variant" and delay is None:
                await advance_job_if_finished(conn, ctx.job_id)  # a dead variant may finish the job
            return error
        # The failure must be stored: a text the database refuses is stored in a plainer form instead.
        texts = [error, error.encode("ascii", "backslashreplace").decode("ascii")[:500],
                 f"{type(exc).__name__} (its error text could not be stored)"]
        for i, text in enumerate(texts):
            try:
                error = await self._in_transaction(lambda conn, text=text: save_failure(conn, text))
                break
            except asyncpg.PostgresError as db_error:
                if isinstance(db_error, CONNECTION_ERRORS) or i == len(texts) - 1:
                    raise
                log.error("storing the failure failed (%r); storing a plainer text", db_error, extra=self._log_ids(ctx))
        metrics.STAGE_RUNS.labels(ctx.stage.name, "crashed" if crashed else "failed").inc()
        if delay is not None:
            metrics.STAGE_RETRIES.labels(ctx.stage.name).inc()
            if self.on_retry_scheduled:
                self.on_retry_scheduled(ctx, delay)
        return {"status": "failed", "attempt": ctx.attempt, "run_token": str(ctx.run_token), "error": error,
                "retry_in_seconds": delay}

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.ensure_future(self._beat())

    async def _beat(self) -> None:
        """Extend the lease of every run of this process, in one statement, every HEARTBEAT_SECONDS."""
        while self._active:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            tokens = list(self._active)
            if not tokens:
                continue
            try:
                held = await store.extend_leases(self.pool, run_tokens=tokens, lease_seconds=self.settings.lease_seconds,
                                                 timeout=5)
            except Exception as exc:  # noqa: BLE001 - the next beat tries again; the lease has room for it
                log.warning("heartbeat failed: %r", exc)
                continue
            # A run whose row is no longer its own (cancelled by another replica or the CLI): stop it now.
            self.revoke(set(tokens) - held)

    def revoke(self, tokens) -> int:
        """Stop the runs of these tokens that this process holds (cancel); returns how many it held."""
        held = 0
        for token in tokens:
            entry = self._active.get(token)
            if entry is not None:
                entry[2].set()
                held += 1
                log.info("run revoked: stopping its work", extra=self._log_ids(entry[0]))
        return held

    def begin_drain(self) -> None:
        """Shutdown began: claim nothing more; release what is still running before the grace period ends."""
        if self.draining:
            return
        self.draining = True
        grace = self.settings.shutdown_grace_seconds
        release_after = max(0.0, grace - min(5.0, grace / 4))  # leave time to release and close before the end
        log.warning("draining: %d stages running; releasing the unfinished in %.1f s", len(self._active), release_after)
        asyncio.get_running_loop().call_later(release_after, lambda: asyncio.ensure_future(self.release_all()))

    async def release_all(self) -> int:
        """Put every run still going back to its previous state (no attempt used) for another replica."""
        self.draining = True
        released = 0
        for token, (ctx, event, _revoked) in list(self._active.items()):
            row_id = ctx.job_variants_id if ctx.stage.level == "variant" else ctx.job_id
            try:
                if await store.release_run(self.pool, level=ctx.stage.level, row_id=row_id, run_token=token,
                                           stage=ctx.stage.name, after=ctx.stage.after, timeout=5):
                    released += 1
                    log.warning("released on shutdown", extra=self._log_ids(ctx))
            except Exception as exc:  # noqa: BLE001 - the lease expires soon anyway (heartbeats stop)
                log.warning("release failed: %r", exc, extra=self._log_ids(ctx))
            event.set()
        return released

    @staticmethod
    def _log_ids(ctx: StageContext) -> dict:
        return {"stage": ctx.stage.name, "job_id": str(ctx.job_id),
                "job_variants_id": str(ctx.job_variants_id) if ctx.job_variants_id else None,
                "run_token": str(ctx.run_token) if ctx.run_token else None}
