"""LISTEN on the state channels with a dedicated connection that heals itself."""
import asyncio
import logging
import random
import time
from typing import Callable, Literal
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ValidationError

from services import metrics

log = logging.getLogger(__name__)
APPLICATION_NAME = "adpipe-listener"
CHANNELS = {"job_variant_state_changed": "variant", "job_state_changed": "job"}


class StateEvent(BaseModel):
    """A NOTIFY payload from the triggers in db/init/03_triggers.sql."""

    type: Literal["variant_state", "job_state", "text_ready"]
    job_id: UUID
    job_variants_id: UUID | None = None
    tenant_id: str | None = None
    current_step: str | None = None
    status: str | None = None


class Listener:
    """Receives state changes and hands them to `on_event(level, event, received_at)`."""

    def __init__(self, url: str, on_event: Callable, on_connect: Callable | None = None,
                 liveness_seconds: float = 5.0, max_backoff: float = 30.0):
        self.url = url
        self.on_event = on_event
        self.on_connect = on_connect  # called after every (re)connect: catch up on what was missed
        self.liveness_seconds = liveness_seconds
        self.max_backoff = max_backoff
        self.connected = False
        self.connects = 0
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        """Run the listen loop in the background."""
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
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError) as exc:
                log.warning("listener connection lost: %r", exc)
            except Exception:  # noqa: BLE001 - the listener must outlive any bug
                log.exception("listener loop error")
            self.connected = False
            metrics.LISTENER_CONNECTED.set(0)
            if self._stopping.is_set():
                break
            self._attempt += 1
            # Exponential backoff with full jitter, so replicas do not reconnect in lockstep.
            delay = random.uniform(0, min(self.max_backoff, 0.1 * 2 ** self._attempt))
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            except asyncio.TimeoutError:
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
            log.info("listening on %s", ", ".join(CHANNELS))
            if self.on_connect:
                self.on_connect()
            while not self._stopping.is_set() and not lost.is_set():
                done, pending = await asyncio.wait(
                    [asyncio.ensure_future(self._stopping.wait()), asyncio.ensure_future(lost.wait())],
                    timeout=self.liveness_seconds, return_when=asyncio.FIRST_COMPLETED)
                for fut in pending:
                    fut.cancel()
                if not done:  # quiet period: prove the connection is still alive
                    await conn.fetchval("SELECT 1", timeout=self.liveness_seconds)
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
        try:
            self.on_event(CHANNELS[channel], event, received)
        except Exception:  # noqa: BLE001 - a handler error never kills the listener
            log.exception("handler failed for %r", payload[:200])


async def _close_quietly(conn: asyncpg.Connection) -> None:
    if conn.is_closed():
        return
    try:
        await asyncio.wait_for(conn.close(), timeout=5)
    except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone either way
        conn.terminate()
