"""Shared rate limit: N requests/min across 2 replicas against a local fake provider (chat-completions shape)."""
import argparse
import asyncio
import time
from pathlib import Path

from scripts import seedlib, store_bench
from services.ops.fake_provider import FakeProvider
from services.ops.noop_app import EXECUTIONS_DDL
from services.ops.testing import AppProcess, close_session, free_port, fresh_database, session_for


def main(argv: list[str] | None = None) -> int:
    """Print the requests the provider saw, the most in any window, its 429s and the failed rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rpm", type=int, default=60)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--jobs", type=int, default=40, help="each makes 2 calls (the two job stages)")
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args(argv)
    url = asyncio.run(fresh_database(args.admin_url, "adpipe_rate_limit", EXECUTIONS_DDL))  # the no-op app records runs
    assets = Path("/tmp/adpipe_rate_limit_assets")
    # The fake provider enforces the same limit: it answers 429 to a request over it.
    provider = FakeProvider(free_port(), limit=args.rpm, window=args.window, delay=0.05)
    env = dict(test_llm_stages="ad_copy_gen_kor,instagram_feed_gen", openai_base_url=provider.base_url,
               openai_api_key="bench", openai_rpm=args.rpm, rate_limit_window_seconds=args.window,
               log_level="ERROR", worker_processes=0)
    apps = [AppProcess(url, free_port(), assets, **env).start() for _ in range(args.replicas)]
    db = session_for(url)
    try:
        jobs = [seedlib.create_job(db, assets, tenant_id=f"t{i % 3}", variants_count=1, one_image=True)[0]
                for i in range(args.jobs)]
        started = time.monotonic()
        for job in jobs:
            seedlib.simulate_image_part(db, job)
        while store_bench.count(db, what="finished_jobs") < args.jobs:
            db.rollback()
            if time.monotonic() - started > 30 * args.window:
                raise RuntimeError("jobs did not finish")
            time.sleep(0.5)
        wall = time.monotonic() - started
        failed = store_bench.count(db, what="failed_rows")
        retried = store_bench.count(db, what="retried_runs")
    finally:
        for app in apps:
            app.stop()
        provider.close()
        close_session(db)
    print(f"{args.replicas} replicas, limit {args.rpm} requests per {args.window:g} s, {args.jobs} jobs = "
          f"{len(provider.arrivals)} requests in {wall:.0f} s")
    print(f"most requests the provider saw in any {args.window:g} s: {provider.most_in_any_window(args.window)} "
          f"(limit {args.rpm}); 429s it had to send: {provider.throttled}; failed rows: {failed}; "
          f"retried runs: {retried}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
