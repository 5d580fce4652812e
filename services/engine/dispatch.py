"""Sending the next stage's HTTP request when a row reaches (step, done) or a retry is due."""
import asyncio
import logging
import time
from uuid import UUID

import asyncpg
import httpx

from config import Settings
from services.engine import store, store_sweep
from services.engine.fairqueue import FairQueue, parse_weights
from services.engine.pipeline import STAGES, Level, Stage, concurrency, next_stage
from services.ops import metrics
from services.ops.address import SelfAddress

log = logging.getLogger(__name__)


class Dispatcher:
    """Posts stage requests; tracks in-flight ones so shutdown can wait for them."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, client: httpx.AsyncClient | None = None,
                 address: SelfAddress | None = None):
        self.pool = pool
        self.settings = settings
        self.address = address  # None: post to settings.base_url unchecked (tests with their own client)
        headers = {"X-API-Key": settings.api_key} if settings.api_key else {}
        self.client = client or httpx.AsyncClient(base_url=settings.base_url, headers=headers,
                                                  limits=httpx.Limits(max_connections=64))
        self._sleepers: set[asyncio.Task] = set()  # scheduled retries; the sweeper finds them after a restart
        self._inflight: set[tuple[str, UUID]] = set()  # one request per (stage, row) at a time, queued or sent
        # A stage holds its HTTP request open while it works, so more requests than it can run at once
        # only queue; they queue here, as small records in one fair queue per stage (issue 26: round robin
        # between tenants, retries first, urgent jobs first within a tenant), and a fixed number of sender
        # tasks per stage (twice its concurrency) send them. Nothing per queued row but the record: 10,000
        # queued variants cost no task, future or connection each (and not httpx's pool, whose bookkeeping
        # is quadratic in queued requests).
        weights = parse_weights(settings.tenant_weights)
        self._queues = {s.name: FairQueue(weights) for s in STAGES}
        self._ready = {s.name: asyncio.Condition() for s in STAGES}  # a record was queued, or a sender came free
        # Per tenant twice the stage's slots in flight (one running, one waiting in the runner); all tenants
        # together twice that, like the runner's slots: another tenant's record need not wait for a backlog's.
        self.per_tenant = {s.name: 2 * concurrency(s, settings) for s in STAGES}
        self.senders = {name: 2 * n for name, n in self.per_tenant.items()}
        self._workers: list[asyncio.Task] = []
        self._unsorted: list[tuple[Stage, tuple, bool]] = []  # submitted, priority not yet looked up
        self._sorter: asyncio.Task | None = None
        self._sending = 0
        self._closed = False
        self.served = settings.served_stages  # SERVE_STAGES

    def on_state(self, level: Level, job_id: UUID, variant_id: UUID | None, tenant_id: str | None,
                 step: str | None, status: str | None, received: float | None = None) -> None:
        """React to a state change: (step, done) starts the next stage."""
        if status != "done":
            return  # failed rows come back through their scheduled retry or the sweeper
        stage = next_stage(level, step)
        if stage is not None:
            self.submit(stage, job_id, variant_id, tenant_id, received)

    def submit(self, stage: Stage, job_id: UUID, variant_id: UUID | None, tenant_id: str | None,
               received: float | None = None, first: bool = False) -> None:
        """Send `stage` for the row in the background (deduplicated per process); `first`: a retry, sent
        before the rows queued for that stage."""
        if stage.name not in self.served:  # SERVE_STAGES: a replica serving it sends it (its listener, its sweeper)
            return
        key = (stage.name, variant_id or job_id)
        if key in self._inflight or self._closed:
            return
        self._inflight.add(key)
        record = (job_id, variant_id, tenant_id, received or time.perf_counter())
        self._unsorted.append((stage, record, first))
        if self._sorter is None or self._sorter.done():
            self._sorter = asyncio.ensure_future(self._sort())
        if not self._workers:
            self._workers = [asyncio.ensure_future(self._sender(s)) for s in STAGES if s.name in self.served
                             for _ in range(self.senders[s.name])]

    async def _sort(self) -> None:
        """Queue what was submitted, urgent jobs marked: one query per batch (whatever arrived meanwhile)."""
        while self._unsorted:
            await asyncio.sleep(0)  # let a burst of notifications (a sweep, a NOTIFY storm) join this batch
            batch, self._unsorted = self._unsorted, []
            jobs = list({record[0] for _, record, first in batch if not first})
            urgent: set = set()
            if jobs:
                try:
                    urgent = await store_sweep.urgent_jobs(self.pool, job_ids=jobs, timeout=5)
                except Exception as exc:  # noqa: BLE001 - a database hiccup costs the order, not the dispatch
                    log.warning("priority lookup failed (queued as normal): %r", exc)
            for stage, record, first in batch:
                self._queues[stage.name].push(record, record[2], urgent=record[0] in urgent, first=first)
                async with self._ready[stage.name]:
                    self._ready[stage.name].notify()

    async def _sender(self, stage: Stage) -> None:
        """One of the stage's senders: take the next record in fair order, send it, repeat."""
        queue, ready, limit = self._queues[stage.name], self._ready[stage.name], self.per_tenant[stage.name]
        while True:
            async with ready:
                while True:
                    try:
                        job_id, variant_id, tenant_id, received = queue.pop(limit)
                        break
                    except IndexError:  # nothing queued, or only tenants at their share: wait for a change
                        await ready.wait()
            self._sending += 1
            try:
                await self._send(stage, job_id, variant_id, tenant_id, received)
            except Exception:
                log.exception("dispatch %s crashed", stage.name)
            finally:
                self._sending -= 1
                self._inflight.discard((stage.name, variant_id or job_id))
                queue.finished(tenant_id)  # its sender is free: the tenant's share of them counts it no more
                async with ready:
                    ready.notify()  # a sender waiting on this tenant's share may take its next record

    def queue_depths(self) -> dict[str, dict[str, tuple[int, float]]]:
        """{stage: {tenant: (records queued in this process, oldest wait in s)}} (for /metrics)."""
        return {name: q.depth() for name, q in self._queues.items() if len(q)}

    def submit_later(self, delay: float, stage: Stage, job_id: UUID, variant_id: UUID | None,
                     tenant_id: str | None) -> None:
        """Send a retry after `delay` seconds (the sweeper would also find it)."""
        async def later():
            await asyncio.sleep(delay)
            self.submit(stage, job_id, variant_id, tenant_id, first=True)
        task = asyncio.create_task(later())
        self._sleepers.add(task)
        task.add_done_callback(self._sleepers.discard)

    async def _send(self, stage: Stage, job_id: UUID, variant_id: UUID | None, tenant_id: str | None,
                    received: float) -> None:
        body: dict = {"job_id": str(job_id), "tenant_id": tenant_id}
        try:
            if stage.level == "variant":
                body["job_variants_id"] = str(variant_id)
                if stage.needs_overlay_id:
                    overlay_id = await store.latest_overlay(self.pool, variant_id=variant_id)
                    body["overlay_id"] = str(overlay_id) if overlay_id else None
            timeout = stage.timeout_seconds * self.settings.stage_timeout_scale + 30
            base = await self.address.wait_target() if self.address else ""
            if base is None:  # never send the key (or anything) to a target not proven to be this service
                log.warning("dispatch %s held: %s", stage.name, self.address.problem)
                metrics.DISPATCHES.labels(stage.name, "held").inc()
                return  # the row stays put; the sweeper sends it once the target is verified
            response = await self.client.post(base + stage.endpoint, json=body, timeout=timeout)
            metrics.DISPATCHES.labels(stage.name, str(response.status_code)).inc()
            metrics.DISPATCH_LATENCY.labels(stage.name).observe(time.perf_counter() - received)
            target = f"job_variants_id={variant_id}" if variant_id else f"job_id={job_id}"
            ids = {"stage": stage.name, "job_id": str(job_id), "job_variants_id": str(variant_id) if variant_id else None}
            if response.status_code == 200:
                log.info("[TRIGGER] 파이프라인 단계 트리거 성공: %s, next_step=%s", target, stage.name, extra=ids)
            elif response.status_code == 409:  # another worker or writer moved the row first
                log.info("Job Variant 상태가 변경되어 스킵: %s, next_step=%s", target, stage.name, extra=ids)
            if response.status_code >= 500:
                log.error("dispatch %s -> HTTP %s: %s", stage.name, response.status_code, response.text[:300])
            elif response.status_code not in (200, 409):
                log.warning("dispatch %s -> HTTP %s: %s", stage.name, response.status_code, response.text[:300])
        except (httpx.HTTPError, asyncpg.PostgresError, OSError) as exc:
            # Nothing is lost: the row stays at (step, done) or running, and the sweeper retries it.
            metrics.DISPATCHES.labels(stage.name, "error").inc()
            log.warning("dispatch %s for %s failed: %r", stage.name, variant_id or job_id, exc)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for the requests being sent (on shutdown), then close the client; queued records are dropped
        (their rows stay at (step, done): the sweeper of a live replica sends them)."""
        self._closed = True
        for sleeper in list(self._sleepers):
            sleeper.cancel()
        deadline = time.monotonic() + timeout
        while self._sending and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in self._workers + ([self._sorter] if self._sorter else []):
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        await self.client.aclose()
