"""Stage roles: this replica's row in service_replicas, and the stages no live replica serves."""
import asyncio
import logging

import asyncpg

from config import Settings
from services.engine import store_sweep as store
from services.engine.pipeline import STAGES

log = logging.getLogger(__name__)


class Replicas:
    """Says every HEARTBEAT_SECONDS that this process is alive and which stages (SERVE_STAGES) it serves."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, instance_id: str, worker: str):
        self.pool, self.settings, self.instance_id, self.worker = pool, settings, instance_id, worker
        self.stages = [s.name for s in STAGES if s.name in settings.served_stages]
        self._task: asyncio.Task | None = None

    async def beat(self) -> None:
        """Record this replica as alive now."""
        await store.replica_heartbeat(self.pool, instance_id=self.instance_id, worker=self.worker, stages=self.stages)

    def start(self) -> None:
        """Beat in the background until stopped."""
        async def loop():
            while True:
                await asyncio.sleep(self.settings.heartbeat_seconds)
                try:
                    await self.beat()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("replica heartbeat skipped: %r", exc)  # database down: the next one
        self._task = asyncio.create_task(loop(), name="replica-heartbeat")

    async def stop(self) -> None:
        """Stop beating and leave the registry (draining: this replica serves nothing more)."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await store.replica_forget(self.pool, instance_id=self.instance_id, timeout=5)
        except Exception as exc:  # noqa: BLE001 - gone either way: the row expires after LEASE_SECONDS
            log.warning("replica not unregistered: %r", exc)


async def unserved_stages(conn, live_seconds: float) -> dict[str, str]:
    """{stage: why it waits} for each stage that no replica with a heartbeat in the last `live_seconds` serves."""
    unserved = await store.unserved_stages(conn, stages=[s.name for s in STAGES], live_seconds=live_seconds)
    return {stage: f"no live replica serves {stage} (SERVE_STAGES)" for stage in unserved}
