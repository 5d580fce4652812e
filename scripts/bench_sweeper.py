"""Sweeper and /healthz queries on a large finished history (default 1M jobs / 3M variants): each query's
median time and one full sweep. Creates and drops its own database on the given server."""
import argparse
import asyncio
import os
import statistics
import time
import uuid

import asyncpg

import database
from config import Settings
from scripts.history import seed_history, sweep_queries, time_query
from services.engine.dispatch import Dispatcher
from services.engine.sweeper import sweep_once
from services.ops import store as ops_store


class _NoDispatch(Dispatcher):
    """The sweep finds nothing to send in a finished history; count it if it does."""

    def __init__(self):  # no pool, no HTTP client: nothing is ever posted
        self.submitted = 0

    def submit(self, *args, **kwargs):
        self.submitted += 1


async def run(args) -> None:
    """Seed the history, time each query and one full sweep, drop the database."""
    name = f"bench_sweeper_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.server)
    await ops_store.create_database(admin, name=name)
    url = args.server.rsplit("/", 1)[0] + "/" + name
    try:
        conn = await asyncpg.connect(url)
        await database.apply_schema(conn)
        started = time.perf_counter()
        await seed_history(conn, args.jobs, args.variants)
        print(f"history: {args.jobs:,} finished jobs / {args.jobs * args.variants:,} variants "
              f"(seeded in {time.perf_counter() - started:.0f} s)")
        # pydantic-settings' own init argument; mypy sees it only with the pydantic plugin, which is not enabled
        settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
        for label, (sql, params) in sweep_queries(settings).items():
            ms, plan = await time_query(conn, sql, params, runs=args.runs)
            print(f"{label:28s} {ms:7.2f} ms median of {args.runs}   (goal <= 5 ms)")
        await conn.close()
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2, init=database.init_connection)
        dispatcher, sweeps = _NoDispatch(), []
        for _ in range(args.runs):
            started = time.perf_counter()
            await sweep_once(pool, dispatcher, settings)
            sweeps.append((time.perf_counter() - started) * 1000)
        await pool.close()
        print(f"{'one full sweep':28s} {statistics.median(sweeps):7.2f} ms median of {args.runs} "
              f"(dispatched {dispatcher.submitted})")
    finally:
        await ops_store.drop_database(admin, name=name)
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="a PostgreSQL URL whose user may create databases")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--variants", type=int, default=3, help="variants per job")
    parser.add_argument("--runs", type=int, default=15)
    asyncio.run(run(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
