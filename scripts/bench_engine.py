"""Engine benchmark with no-op stages: dispatch latency, transitions/s, and PgQueuer on the same database."""
import argparse
import asyncio
import statistics
import time
from datetime import timedelta
from pathlib import Path

import asyncpg

from scripts import seedlib, store_bench
from services.ops.noop_app import EXECUTIONS_DDL
from services.ops.testing import AppProcess, close_session, free_port, fresh_database, session_for


def _wait_finished(db, n: int, poll: float) -> None:
    while store_bench.count(db, what="finished_jobs") < n:
        db.rollback()
        time.sleep(poll)


def run_engine(url: str, jobs: int, variants: int, latency_jobs: int, assets: Path, processes: int) -> dict:
    """Latency: single-variant jobs one after another (nothing queues). Throughput: all jobs at once."""
    db = session_for(url)
    apps = [AppProcess(url, free_port(), assets, log_level="WARNING", sweep_interval_seconds=2, sweep_grace_seconds=3).start()
            for _ in range(processes)]  # production sweeper settings
    try:
        for i in range(latency_jobs):
            job_id = seedlib.create_job(db, assets, variants_count=1, one_image=True)[0]
            seedlib.simulate_image_part(db, job_id)
            _wait_finished(db, i + 1, 0.005)
        latencies = store_bench.transition_latencies(db)
        store_bench.truncate_stage_runs(db)
        db.commit()
        job_ids = [seedlib.create_job(db, assets, variants_count=variants, one_image=True)[0] for _ in range(jobs)]
        for job_id in job_ids:
            seedlib.simulate_image_part(db, job_id)
        _wait_finished(db, latency_jobs + jobs, 0.25)  # slow polling: the machine's 2 cores are the engine's
        wall = store_bench.wall_seconds(db)  # on the database clock: first claim to last commit
    finally:
        for app in apps:
            app.stop()
    runs = store_bench.count(db, what="done_runs")
    loaded = store_bench.transition_latencies(db)
    close_session(db)
    return {"wall_s": float(wall), "runs": runs, "latencies": latencies, "loaded": loaded}


async def run_pgqueuer(url: str, n: int) -> float:
    """PgQueuer's own no-op throughput (jobs/s) on the same server, drained by one worker."""
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.qm import QueueManager
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    conn = await asyncpg.connect(url)
    queries = Queries(AsyncpgDriver(conn))
    await queries.install()
    await queries.enqueue(["noop"] * n, [None] * n, [0] * n)
    qm = QueueManager(queries)

    @qm.entrypoint("noop")
    async def noop(job):
        return None
    started = time.perf_counter()
    await qm.run(mode=QueueExecutionMode.drain, batch_size=10, dequeue_timeout=timedelta(seconds=1))
    elapsed = time.perf_counter() - started
    await conn.close()
    return n / elapsed


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--latency-jobs", type=int, default=120, help="sequential 1-variant jobs (9 transitions each)")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--pgqueuer-jobs", type=int, default=3000)
    args = parser.parse_args(argv)
    url = asyncio.run(fresh_database(args.admin_url, "adpipe_bench", EXECUTIONS_DDL))
    assets = Path("/tmp/adpipe_bench_assets")
    result = run_engine(url, args.jobs, args.variants, args.latency_jobs, assets, args.processes)
    tps = result["runs"] / result["wall_s"]
    print(f"engine, {args.processes} app process(es), no-op stages:")
    for name, lat in (("idle", result["latencies"]), ("under load", result["loaded"])):
        q = statistics.quantiles(lat, n=100)
        print(f"  commit -> next claim, {name}: {len(lat)} transitions, p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms")
    print(f"  throughput: {args.jobs} jobs x {args.variants} variants, {result['runs']} stage runs in "
          f"{result['wall_s']:.2f} s = {tps:.0f} transitions/s")
    pgq = asyncio.run(run_pgqueuer(url, args.pgqueuer_jobs))
    print(f"pgqueuer: {pgq:.0f} no-op jobs/s (one worker, drain mode, same server)")
    print(f"ratio engine transitions/s : pgqueuer jobs/s = {tps / pgq:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
