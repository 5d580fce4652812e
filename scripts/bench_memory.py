"""Memory: RSS of one app process with every default model loaded, across N real 3-variant jobs."""
import argparse
import asyncio
import sys
import time
from pathlib import Path

import psutil
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts import seedlib  # noqa: E402
from scripts.bench_engine import fresh_database  # noqa: E402
from services.testing import AppProcess, free_port, session_for  # noqa: E402


def main() -> None:
    """Run N jobs in batches of 5 and print RSS after each batch."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--jobs", type=int, default=50)
    args = parser.parse_args()
    url = asyncio.run(fresh_database(args.admin_url, "adpipe_memory"))
    assets = Path("/tmp/adpipe_memory_assets")
    app = AppProcess(url, free_port(), assets, module="main", log_level="WARNING").start(wait=180)
    proc = psutil.Process(app.proc.pid)
    db = session_for(url)
    rss = lambda: proc.memory_info().rss / 2**20  # noqa: E731
    print(f"models loaded, idle: {rss():.0f} MiB")
    samples, done, started = [], 0, time.monotonic()
    try:
        while done < args.jobs:
            batch = [seedlib.create_job(db, assets)[0] for _ in range(min(5, args.jobs - done))]
            for job_id in batch:
                seedlib.simulate_image_part(db, job_id)
            done += len(batch)
            while db.execute(text("SELECT count(*) FROM jobs WHERE current_step = 'instagram_feed_gen' "
                                  "AND status = 'done'")).scalar() < done:
                db.rollback()
                time.sleep(0.2)
            samples.append(rss())
            print(f"after {done:3d} jobs: {samples[-1]:.0f} MiB  ({time.monotonic() - started:.0f} s)", flush=True)
    finally:
        app.stop()
    half = len(samples) // 2
    print(f"growth over the second half ({half * 5} -> {len(samples) * 5} jobs): {samples[-1] - samples[half - 1]:+.0f} MiB")


if __name__ == "__main__":
    main()
