"""The engine's recovery and bookkeeping calls: the sweeper's scans, queue gauges, replicas, priorities, liveness."""
from typing import NamedTuple
from uuid import UUID

from services.engine.pipeline import Level
from services.engine.queries import Q
from services.engine.store import Conn


class Stalled(NamedTuple):
    """A row to dispatch again: (step, done) whose next stage never started, or a failed one whose retry is due."""
    job_id: UUID
    job_variants_id: UUID | None  # None: a job-level row
    tenant_id: str | None
    current_step: str
    status: str


class QueueDepth(NamedTuple):
    """Rows waiting at one (level, step, status) of one tenant, and the oldest one's wait in seconds."""
    level: Level
    step: str
    status: str
    tenant_id: str | None
    n: int
    oldest: float | None


async def try_sweep_lock(conn: Conn, *, lock_id: int) -> bool:
    """This replica sweeps this round (a transaction-level advisory lock); False: another one does."""
    return await conn.fetchval(Q["try_sweep_lock"], lock_id)


async def expire_leases(conn: Conn, *, level: str, stages: list[str], max_retries: int, max_crashes: int,
                        retry_base_seconds: float, retry_max_seconds: float) -> list[UUID]:
    """Fail every running row of `stages` past its lease (retry with backoff, or for good); their job ids."""
    query = "expire_variant_leases" if level == "variant" else "expire_job_leases"
    rows = await conn.fetch(Q[query], max_retries, stages, max_crashes, retry_base_seconds, retry_max_seconds)
    return [r["job_id"] for r in rows]


async def unadvanced_jobs(conn: Conn, *, advanced_steps: list[str], variant_stages: list[str]) -> list[UUID]:
    """Jobs whose variants have all finished but which were not advanced (a crash in between)."""
    return [r["job_id"] for r in await conn.fetch(Q["unadvanced_jobs"], advanced_steps, variant_stages)]


async def stalled_variants(conn: Conn, *, grace_seconds: float, afters: list[str], stages: list[str]) -> list[Stalled]:
    """Variants to dispatch again, due retries first, in fair order between tenants (at most 500)."""
    rows = await conn.fetch(Q["stalled_variants"], grace_seconds, afters, stages)
    return [Stalled(r["job_id"], r["job_variants_id"], r["tenant_id"], r["current_step"], r["status"]) for r in rows]


async def stalled_jobs(conn: Conn, *, grace_seconds: float, afters: list[str], stages: list[str]) -> list[Stalled]:
    """The job-level stalled_variants."""
    rows = await conn.fetch(Q["stalled_jobs"], grace_seconds, afters, stages)
    return [Stalled(r["job_id"], None, r["tenant_id"], r["current_step"], r["status"]) for r in rows]


async def waiting_report(conn: Conn, *, warn_seconds: float, variant_stages: list[str]) -> dict[str, int]:
    """{start_gate, held_upstream}: waiting that never ends by itself, older than `warn_seconds`."""
    return dict(await conn.fetchrow(Q["waiting_report"], warn_seconds, variant_stages))


async def waiting_counts(conn: Conn, *, steps: list[str]) -> list[tuple[str, str, int]]:
    """(current_step, status, n) of the unfinished variants at these steps."""
    return [(r["current_step"], r["status"], r["n"]) for r in await conn.fetch(Q["waiting_counts"], steps)]


async def queue_depths(conn: Conn, *, variant_afters: list[str], variant_stages: list[str], job_afters: list[str],
                       job_stages: list[str]) -> list[QueueDepth]:
    """Rows waiting for each stage per tenant (the step they wait at; the caller maps it to the next stage)."""
    rows = await conn.fetch(Q["queue_depths"], variant_afters, variant_stages, job_afters, job_stages)
    return [QueueDepth(r["level"], r["step"], r["status"], r["tenant_id"], r["n"], r["oldest"]) for r in rows]


async def oldest_pending(conn: Conn, *, steps: list[str], timeout: float | None = None) -> float | None:
    """Seconds since the oldest running or not-yet-continued variant of these steps changed (/healthz lag)."""
    return await conn.fetchval(Q["oldest_pending"], steps, timeout=timeout)


async def urgent_jobs(conn: Conn, *, job_ids: list[UUID], timeout: float | None = None) -> set[UUID]:
    """Which of these jobs are marked urgent."""
    return {r["job_id"] for r in await conn.fetch(Q["urgent_jobs"], job_ids, timeout=timeout)}


async def replica_heartbeat(conn: Conn, *, instance_id: str, worker: str, stages: list[str]) -> None:
    """This replica is alive now and serves `stages` (replicas dead for an hour are forgotten on the way)."""
    await conn.execute(Q["replica_heartbeat"], instance_id, worker, stages)


async def replica_forget(conn: Conn, *, instance_id: str, timeout: float | None = None) -> None:
    """This replica leaves the registry."""
    await conn.execute(Q["replica_forget"], instance_id, timeout=timeout)


async def unserved_stages(conn: Conn, *, stages: list[str], live_seconds: float) -> list[str]:
    """The stages that no replica with a heartbeat in the last `live_seconds` serves."""
    return [r["stage"] for r in await conn.fetch(Q["unserved_stages"], stages, live_seconds)]


async def ping(conn: Conn, *, timeout: float | None = None) -> None:
    """A round trip: the connection is alive."""
    await conn.fetchval(Q["ping"], timeout=timeout)
