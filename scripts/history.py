"""Finished-job history in bulk, and timing the sweeper's and /healthz's queries against it (bench, tests)."""
import statistics
import time

import asyncpg

from config import Settings
from scripts import store_bench


async def seed_history(conn: asyncpg.Connection, jobs: int, variants_per_job: int = 3, batch: int = 100_000) -> None:
    """`jobs` finished jobs with their finished variants (triggers off: no NOTIFY storm), then ANALYZE."""
    await store_bench.seed_history(conn, jobs=jobs, variants_per_job=variants_per_job, batch=batch)


def sweep_queries(settings: Settings) -> dict[str, tuple[str, tuple]]:
    """Every query of one sweep and of /healthz, with the arguments the service passes."""
    return store_bench.sweep_statements(settings)


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
    return statistics.median(times), await store_bench.explain(conn, sql=sql, args=args)
