"""Deep queue: 10,000 variants arrive at once (no-op stages); RSS of every process, dispatch p99, another tenant's wait."""
import argparse
import asyncio
import statistics
import time
from pathlib import Path

import httpx
import psutil

from scripts import seedlib, store_bench
from services.ops.noop_app import EXECUTIONS_DDL
from services.ops.testing import AppProcess, close_session, free_port, fresh_database, session_for


def _rss(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            out[pid] = psutil.Process(pid).memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            pass
    return out


def main(argv: list[str] | None = None) -> int:
    """Print RSS per process idle / with the queue deep, transition p50/p99 under it, and B's wait."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--variants", type=int, default=10_000)
    parser.add_argument("--per-job", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60, help="how long to watch the queue drain")
    args = parser.parse_args(argv)
    url = asyncio.run(fresh_database(args.admin_url, "adpipe_deep_queue", EXECUTIONS_DDL))  # the no-op app records runs
    assets = Path("/tmp/adpipe_deep_queue_assets")
    app = AppProcess(url, free_port(), assets, log_level="ERROR", sweep_interval_seconds=2, sweep_grace_seconds=3).start()
    db = session_for(url)
    try:
        proc = psutil.Process(app.proc.pid)
        pids = [proc.pid] + [c.pid for c in proc.children(recursive=True)]
        job, _ = seedlib.create_job(db, assets, tenant_id="chain_a", variants_count=1)  # a store, an image asset
        store, asset = store_bench.job_store_and_asset(db, job_id=job)
        seedlib.simulate_image_part(db, job)
        time.sleep(3)
        idle = _rss(pids)
        print("idle RSS MiB: " + ", ".join(f"{p} {v:.0f}" for p, v in idle.items()), flush=True)
        jobs = args.variants // args.per_job
        store_bench.bulk_jobs(db, tenant_id="chain_a", store_id=store, jobs=jobs, variants_per_job=args.per_job,
                              image_asset_id=asset)
        db.commit()
        for status in ("running", "done"):
            store_bench.bulk_img_gen(db, status=status)
            db.commit()
        started = store_bench.db_now(db)
        t0 = time.monotonic()
        b_job, _ = seedlib.create_job(db, assets, tenant_id="shop_b", variants_count=1)
        b_start = None
        peak: dict[int, float] = {}
        health = []
        while time.monotonic() - t0 < args.seconds:
            if b_start is None and time.monotonic() - t0 > 5:  # B arrives once the 10,000 are queued
                seedlib.simulate_image_part(db, b_job)
                b_start = store_bench.db_now(db)
            for pid, v in _rss(pids).items():
                peak[pid] = max(peak.get(pid, 0.0), v)
            h0 = time.perf_counter()
            httpx.get(f"{app.base}/healthz", timeout=30)
            health.append((time.perf_counter() - h0) * 1000)
            time.sleep(1)
        print(f"{jobs * args.per_job} variants queued at once; peak RSS MiB over {args.seconds:.0f} s: "
              + ", ".join(f"{p} {v:.0f} ({v - idle.get(p, 0):+.0f})" for p, v in peak.items()), flush=True)
        db.rollback()
        ms = store_bench.transition_latencies(db, since=started)
        if ms:
            print(f"transitions under the deep queue (next claim - previous commit): n={len(ms)}, "
                  f"p50 {statistics.median(ms):.1f} ms, p99 {ms[int(0.99 * (len(ms) - 1))]:.1f} ms")
        print(f"/healthz while queued: p50 {statistics.median(health):.0f} ms, max {max(health):.0f} ms")
        print(f"rows failed: {store_bench.count(db, what='failed_rows')}")
        first = store_bench.first_claim(db, job_id=b_job)
        print("B (other tenant, 1 variant) first claim after its img_gen done: "
              + (f"{(first - b_start).total_seconds():.2f} s" if first else f"not within {args.seconds:.0f} s"))
    finally:
        app.stop()
        close_session(db)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
