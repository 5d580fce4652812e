"""Memory: RSS of one app process with every default model loaded, across N real 3-variant jobs."""
import argparse
import asyncio
import time
from pathlib import Path

import httpx
import psutil

from scripts import seedlib, store_bench
from services.ops.testing import AppProcess, free_port, fresh_database, session_for


def main(argv: list[str] | None = None) -> int:
    """Run N jobs, K at a time, and print RSS every 5 finished jobs and the sustained throughput."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--in-flight", type=int, default=10, help="jobs kept running: one starts as one finishes")
    args = parser.parse_args(argv)
    url = asyncio.run(fresh_database(args.admin_url, "adpipe_memory"))
    assets = Path("/tmp/adpipe_memory_assets")
    app = AppProcess(url, free_port(), assets, module="main", log_level="WARNING").start(wait=180)
    proc = psutil.Process(app.proc.pid)
    db = session_for(url)
    health = httpx.get(f"{app.base}/healthz", timeout=5).json()
    groups = {pid: group for group, g in health.get("workers", {}).items() for pid in g["pids"]}
    def processes() -> list[tuple[str, psutil.Process]]:  # the app and its workers, named by worker group
        return [(f"app {proc.pid}", proc)] + [(f"{groups.get(c.pid, c.name())} {c.pid}", c)
                                              for c in proc.children(recursive=True)]
    def per_process(measure) -> dict:  # measure(process) for each process still alive
        out = {}
        for name, p in processes():
            try:
                out[name] = measure(p)
            except psutil.NoSuchProcess:
                pass
        return out
    split = lambda: per_process(lambda p: p.memory_info().rss / 2**20)  # noqa: E731 - RSS, MiB
    cpu_seconds = lambda: per_process(lambda p: sum(p.cpu_times()[:2]))  # noqa: E731 - user + system so far
    rss = lambda: sum(split().values())  # noqa: E731
    print(f"models loaded, idle: {rss():.0f} MiB total: " + ", ".join(f"{k} {v:.0f}" for k, v in split().items()))
    cpu_idle = cpu_seconds()
    samples, seeded, done, started = [], 0, 0, time.monotonic()
    full_from = full_until = None  # the window in which K jobs were always in flight
    def seed(count: int) -> None:
        nonlocal seeded
        for _ in range(min(count, args.jobs - seeded)):
            job_id = seedlib.create_job(db, assets)[0]
            seedlib.simulate_image_part(db, job_id)
            seeded += 1
    try:
        seed(args.in_flight)
        while done < args.jobs:
            time.sleep(0.2)
            now_done = store_bench.count(db, what="finished_jobs")
            db.rollback()
            if now_done == done:
                continue
            if full_from is None:
                full_from, done_at_start = time.monotonic(), now_done
            if seeded < args.jobs:
                full_until, done_at_end = time.monotonic(), now_done
            seed(now_done - done)
            for mark in range(done // 5 + 1, now_done // 5 + 1):
                samples.append(rss())
                print(f"after {mark * 5:3d} jobs: {samples[-1]:.0f} MiB  ({time.monotonic() - started:.0f} s)", flush=True)
            done = now_done
        elapsed = time.monotonic() - started
        print(f"after {done} jobs: " + ", ".join(f"{k} {v:.0f}" for k, v in split().items()) + " MiB")
        used = {k: v - cpu_idle.get(k, 0.0) for k, v in cpu_seconds().items()}
        print(f"CPU over the run: {sum(used.values()):.0f} s = {sum(used.values()) / done:.2f} s per job; "
              + ", ".join(f"{k} {v:.0f} s ({v / elapsed:.0%} of a core)" for k, v in used.items()))
    finally:
        app.stop()
    half = len(samples) // 2
    print(f"growth over the second half ({half * 5} -> {len(samples) * 5} jobs): "
          f"{samples[-1] - samples[half - 1]:+.0f} MiB")
    print(f"throughput: {done} jobs in {elapsed:.0f} s = {done / elapsed * 60:.0f} jobs/min overall, start and drain "
          f"included (one app process, {args.in_flight} in flight)")
    if full_until and full_until > full_from:
        rate = (done_at_end - done_at_start) / (full_until - full_from) * 60
        print(f"sustained: {done_at_end - done_at_start} jobs finished in {full_until - full_from:.0f} s while "
              f"{args.in_flight} were in flight = {rate:.0f} jobs/min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
