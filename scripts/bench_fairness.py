"""Fair share: tenant A queues a backlog of jobs, then tenant B queues one; B's time to its post against B alone."""
import argparse
import asyncio
import statistics
import time
from pathlib import Path

from scripts import seedlib, store_bench
from services.ops.testing import AppProcess, close_session, free_port, fresh_database, session_for


def _time_to_post(db, job_id: str, started, timeout: float = 900) -> float:
    """Seconds (database clock) from `started` to the job's instagram_feeds row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.rollback()
        at = store_bench.feed_created_at(db, job_id=job_id)
        if at is not None:
            return (at - started).total_seconds()
        time.sleep(0.05)
    raise RuntimeError(f"job {job_id} got no post in {timeout} s")


def _start(db, job_id: str):
    """The image part's statements for the job; returns the database time they committed."""
    seedlib.simulate_image_part(db, job_id)
    return store_bench.db_now(db)


def main(argv: list[str] | None = None) -> int:
    """Print B's solo time, B's time behind A's backlog, and A's backlog throughput."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--a-jobs", type=int, default=60)
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--solo-runs", type=int, default=3)
    args = parser.parse_args(argv)
    url = asyncio.run(fresh_database(args.admin_url, "adpipe_fairness"))
    assets = Path("/tmp/adpipe_fairness_assets")
    app = AppProcess(url, free_port(), assets, module="main", log_level="WARNING").start(wait=180)
    db = session_for(url)
    try:
        warm = seedlib.create_job(db, assets, tenant_id="warmup", variants_count=args.variants)[0]
        _time_to_post(db, warm, _start(db, warm))  # models loaded, caches warm
        solo = []
        for _ in range(args.solo_runs):
            job = seedlib.create_job(db, assets, tenant_id="shop_b", variants_count=args.variants)[0]
            solo.append(_time_to_post(db, job, _start(db, job)))
        print(f"B alone ({args.variants} variants): " + ", ".join(f"{s:.2f}" for s in solo)
              + f" s; median {statistics.median(solo):.2f} s", flush=True)
        # Seed everything first, so only the image part's statements separate A's backlog from B's job.
        a_jobs = [seedlib.create_job(db, assets, tenant_id="chain_a", variants_count=args.variants)[0]
                  for _ in range(args.a_jobs)]
        b_job = seedlib.create_job(db, assets, tenant_id="shop_b", variants_count=args.variants)[0]
        for job in a_jobs:
            seedlib.simulate_image_part(db, job)
        behind = _time_to_post(db, b_job, _start(db, b_job))
        goal = 3 * statistics.median(solo) + 2
        print(f"B behind A's {args.a_jobs} jobs: {behind:.2f} s = {behind / statistics.median(solo):.1f}x solo "
              f"(goal <= 3x solo + 2 s = {goal:.2f} s: {'met' if behind <= goal else 'NOT met'})", flush=True)
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            db.rollback()
            done, wall_s = store_bench.tenant_finished(db, tenant_id="chain_a")
            if done >= args.a_jobs:
                break
            time.sleep(0.5)
        wall = float(wall_s)
        print(f"A's backlog: {args.a_jobs} jobs in {wall:.1f} s = {args.a_jobs / wall * 60:.1f} jobs/min", flush=True)
    finally:
        app.stop()
        close_session(db)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
