"""LISTEN on the state channels with a dedicated connection that heals itself."""
import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ValidationError

from services.engine import store_sweep
from services.ops import metrics

log = logging.getLogger(__name__)
APPLICATION_NAME = "adpipe-listener"
CHANNELS = {"job_variant_state_changed": "variant", "job_state_changed": "job"}
# The log lines below are the ones seed 001 tells operators to grep for (docker logs ... | grep "...").


class StateEvent(BaseModel):
    """A NOTIFY payload from the triggers in db/migrations (0003, 0004)."""

    type: Literal["variant_state", "job_state", "text_ready"]
    job_id: UUID
    job_variants_id: UUID | None = None
    tenant_id: str | None = None
    current_step: str | None = None
    status: str | None = None
    img_asset_id: UUID | None = None  # seed 001's payload (0004); older triggers leave them out
    updated_at: datetime | None = None


class Listener:
    """Receives state changes and hands them to `on_event(level, event, received_at)`."""

    def __init__(self, url: str, on_event: Callable, on_connect: Callable | None = None,
                 liveness_seconds: float = 5.0, max_backoff: float = 30.0, reconnect_delay: float = 5.0):
        self.url = url
        self.on_event = on_event
        self.on_connect = on_connect  # called after every (re)connect: catch up on what was missed
        self.liveness_seconds = liveness_seconds
        self.max_backoff = max_backoff
        self.reconnect_delay = reconnect_delay  # JOB_STATE_LISTENER_RECONNECT_DELAY: the first delay
        self.connected = False
        self.connects = 0
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        """Run the listen loop in the background."""
        log.info("Job State Listener 시작...")
        self._task = asyncio.create_task(self._run(), name="state-listener")

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        self._stopping.set()
        if self._task:
            await asyncio.wait([self._task], timeout=10)

    async def _run(self) -> None:
        self._attempt = 0
        while not self._stopping.is_set():
            try:
                await self._listen_once()
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("PostgreSQL 연결 오류 (Job State Listener): %r", exc)
            except Exception:
                log.exception("listener loop error")
            self.connected = False
            metrics.LISTENER_CONNECTED.set(0)
            if self._stopping.is_set():
                break
            self._attempt += 1
            # The first delay as configured, then doubling with jitter (replicas do not reconnect in lockstep).
            delay = min(self.max_backoff, self.reconnect_delay * 2 ** (self._attempt - 1))
            if self._attempt > 1:
                delay *= random.uniform(0.8, 1.2)
            log.info("재연결 시도 %d: %.1f 초 후 (Job State Listener)", self._attempt, delay)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def _listen_once(self) -> None:
        # The name lets operators (and the chaos run) find the listener in pg_stat_activity.
        conn = await asyncpg.connect(self.url, timeout=10, server_settings={"application_name": APPLICATION_NAME})
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        try:
            for channel in CHANNELS:
                await conn.add_listener(channel, self._notify)
            self.connected = True
            self.connects += 1
            self._attempt = 0  # the backoff starts over after every successful LISTEN
            metrics.LISTENER_CONNECTED.set(1)
            if self.connects > 1:
                metrics.LISTENER_RECONNECTS.inc()
            log.info("PostgreSQL 연결 성공 (Job State Listener)")
            log.info("LISTEN 'job_variant_state_changed' 시작 (also job_state_changed)")
            if self.connects == 1:
                log.info("✓ Job State Listener 시작 완료")
            if self.on_connect:
                self.on_connect()
            while not self._stopping.is_set() and not lost.is_set():
                done, pending = await asyncio.wait(
                    [asyncio.ensure_future(self._stopping.wait()), asyncio.ensure_future(lost.wait())],
                    timeout=self.liveness_seconds, return_when=asyncio.FIRST_COMPLETED)
                for fut in pending:
                    fut.cancel()
                if not done:  # quiet period: prove the connection is still alive
                    await store_sweep.ping(conn, timeout=self.liveness_seconds)
            if lost.is_set():
                raise ConnectionError("LISTEN connection terminated")
        finally:
            await _close_quietly(conn)

    def _notify(self, _conn, _pid, channel: str, payload: str) -> None:
        received = time.perf_counter()
        try:
            event = StateEvent.model_validate_json(payload)
        except ValidationError as exc:
            metrics.NOTIFICATIONS.labels(channel, "no").inc()
            log.warning("ignored malformed NOTIFY on %s: %.200r (%r)", channel, payload, exc.errors()[:1])
            return
        metrics.NOTIFICATIONS.labels(channel, "yes").inc()
        if event.job_variants_id:
            log.info("Job Variant 상태 변화 감지: job_variants_id=%s, current_step=%s, status=%s",
                     event.job_variants_id, event.current_step, event.status)
        else:
            log.info("Job 상태 변화 감지: job_id=%s, current_step=%s, status=%s",
                     event.job_id, event.current_step, event.status)
        try:
            self.on_event(CHANNELS[channel], event, received)
        except Exception:
            log.exception("handler failed for %r", payload[:200])


async def _close_quietly(conn: asyncpg.Connection) -> None:
    if conn.is_closed():
        return
    try:
        await asyncio.wait_for(conn.close(), timeout=5)
    except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone either way
        conn.terminate()
