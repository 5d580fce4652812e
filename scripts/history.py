"""Finished-job history in bulk, and timing the sweeper's and /healthz's queries against it (bench, tests)."""
import statistics
import time

import asyncpg

from config import Settings
from services.engine.pipeline import BY_NAME, JOB_ADVANCED_STEPS, STAGES, VARIANT_STEPS
from services.engine.queries import Q

_VARIANT_AFTER = [s.after for s in STAGES if s.level == "variant"]
_VARIANT_STAGES = [s.name for s in STAGES if s.level == "variant"]
_JOB_AFTER = [s.after for s in STAGES if s.level == "job"]
_JOB_STAGES = [s.name for s in STAGES if s.level == "job"]


async def seed_history(conn: asyncpg.Connection, jobs: int, variants_per_job: int = 3, batch: int = 100_000) -> None:
    """`jobs` finished jobs with their finished variants (triggers off: no NOTIFY storm), then ANALYZE."""
    await conn.execute(Q["history_tenant"])
    await conn.execute(Q["triggers_off"])
    try:
        for start in range(0, jobs, batch):
            n = min(batch, jobs - start)
            await conn.execute(Q["seed_finished_history"], n, variants_per_job)
    finally:
        await conn.execute(Q["triggers_on"])
    await conn.execute(Q["analyze_jobs"])
    await conn.execute(Q["analyze_variants"])


def sweep_queries(settings: Settings) -> dict[str, tuple[str, tuple]]:
    """Every query of one sweep and of /healthz, with the arguments the service passes."""
    backoff = (settings.max_crashes, settings.retry_base_seconds, settings.retry_max_seconds)
    return {
        "expire_variant_leases": (Q["expire_variant_leases"], (settings.max_retries, _VARIANT_STAGES, *backoff)),
        "expire_job_leases": (Q["expire_job_leases"], (settings.max_retries, _JOB_STAGES, *backoff)),
        "unadvanced_jobs": (Q["unadvanced_jobs"], (list(JOB_ADVANCED_STEPS), _VARIANT_STAGES)),
        "stalled_variants": (Q["stalled_variants"], (settings.sweep_grace_seconds, _VARIANT_AFTER, _VARIANT_STAGES)),
        "stalled_jobs": (Q["stalled_jobs"], (settings.sweep_grace_seconds, _JOB_AFTER, _JOB_STAGES)),
        "waiting_counts": (Q["waiting_counts"], (list(VARIANT_STEPS),)),
        "oldest_pending (/healthz)": (Q["oldest_pending"], ([s for s in BY_NAME] + ["img_gen"],)),
        "queue_depths": (Q["queue_depths"], (_VARIANT_AFTER, _VARIANT_STAGES, _JOB_AFTER, _JOB_STAGES)),  # issue 26
    }


async def time_query(conn: asyncpg.Connection, sql: str, args: tuple, runs: int = 15) -> tuple[float, str]:
    """Median milliseconds of `runs` executions (rolled back: the UPDATEs change nothing) and the plan."""
    statement = await conn.prepare(sql)
    times = []
    for _ in range(runs):
        tx = conn.transaction()
        await tx.start()
        started = time.perf_counter()
        await statement.fetch(*args)
        times.append((time.perf_counter() - started) * 1000)
        await tx.rollback()
    plan = "\n".join(r[0] for r in await conn.fetch(f"{Q['explain_prefix']} {sql}", *args))
    return statistics.median(times), plan
