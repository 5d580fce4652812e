"""Memory: RSS of one app process with every default model loaded, across N real 3-variant jobs."""
import argparse
import asyncio
import time
from pathlib import Path

import psutil
from sqlalchemy import text

from scripts import seedlib
from services.engine.queries import Q
from services.ops.testing import AppProcess, free_port, fresh_database, session_for


def main() -> None:
    """Run N jobs in batches of 5 and print RSS after each batch."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=5, help="jobs started together; the next batch waits")
    args = parser.parse_args()
    url = asyncio.run(fresh_database(args.admin_url, "adpipe_memory"))
    assets = Path("/tmp/adpipe_memory_assets")
    app = AppProcess(url, free_port(), assets, module="main", log_level="WARNING").start(wait=180)
    proc = psutil.Process(app.proc.pid)
    db = session_for(url)
    def split() -> dict:  # the app and its worker processes (services/engine/workers.py), MiB each
        parts = {f"app {proc.pid}": proc.memory_info().rss / 2**20}
        for child in proc.children(recursive=True):
            try:
                parts[f"{child.name()} {child.pid}"] = child.memory_info().rss / 2**20
            except psutil.NoSuchProcess:
                pass
        return parts
    rss = lambda: sum(split().values())  # noqa: E731
    print(f"models loaded, idle: {rss():.0f} MiB total: " + ", ".join(f"{k} {v:.0f}" for k, v in split().items()))
    samples, done, started = [], 0, time.monotonic()
    try:
        while done < args.jobs:
            batch = [seedlib.create_job(db, assets)[0] for _ in range(min(args.batch, args.jobs - done))]
            for job_id in batch:
                seedlib.simulate_image_part(db, job_id)
            done += len(batch)
            while db.execute(text(Q["count_finished_jobs"])).scalar() < done:
                db.rollback()
                time.sleep(0.2)
            samples.append(rss())
            print(f"after {done:3d} jobs: {samples[-1]:.0f} MiB  ({time.monotonic() - started:.0f} s)", flush=True)
        elapsed = time.monotonic() - started
        print(f"after {done} jobs: " + ", ".join(f"{k} {v:.0f}" for k, v in split().items()) + " MiB")
    finally:
        app.stop()
    half = len(samples) // 2
    print(f"growth over the second half ({half * args.batch} -> {len(samples) * args.batch} jobs): "
          f"{samples[-1] - samples[half - 1]:+.0f} MiB")
    print(f"throughput: {done} jobs in {elapsed:.0f} s = {done / elapsed * 60:.0f} jobs/min (one app process)")


if __name__ == "__main__":
    main()
