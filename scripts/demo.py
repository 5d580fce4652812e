"""Demo: start PostgreSQL (embedded unless DATABASE_URL is set) and the service, run one 3-variant job."""
import argparse
import os
import signal
import subprocess
import sys
import time

import httpx

import database
from config import get_settings
from scripts import seedlib


def start_service(url: str, port: int) -> subprocess.Popen:
    """`python main.py` (binds HOST/PORT from the settings) in a child process, on the same database; waits for /healthz."""
    env = {**os.environ, "DATABASE_URL": url, "HOST": "127.0.0.1", "PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "main.py"], cwd=seedlib.ROOT, env=env)
    deadline = time.monotonic() + 120  # first start loads the OCR model
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with code {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit("the service did not become healthy in 120 s")


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--exit", action="store_true", help="stop once the job is finished (default: keep serving)")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    from rich.console import Console

    from scripts.monitor_job import watch

    console = Console()
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops everything cleanly, like Ctrl+C
    settings = get_settings()
    url = database.database_url(settings)
    console.print(f"[bold]database[/] {'external' if settings.database_url else 'embedded: ' + str(settings.pgdata_dir)}")
    service = start_service(url, args.port)
    base = f"http://127.0.0.1:{args.port}"
    try:
        os.environ["DATABASE_URL"] = url  # the scripts' SessionLocal uses the same server
        db = database.SessionLocal()
        job_id, variants = seedlib.create_job(db, settings.assets_dir, tenant_id="demo_tenant", variants_count=3)
        console.print(f"[bold]job[/] {job_id} with {len(variants)} variants; text part done; starting the image part")
        started = time.monotonic()
        seedlib.simulate_image_part(db, job_id)
        db.close()
        code = watch(job_id, args.timeout, console)
        console.print(f"\nfinished in {time.monotonic() - started:.1f} s")
        console.print(f"[bold]dashboard[/] {base}/dashboard/jobs/{job_id}")
        console.print(f"[bold]job API[/]   {base}/api/yh/jobs/{job_id}")
        if code != 0 or args.exit:
            return code
        console.print("serving; press Ctrl+C to stop")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 130
    finally:
        service.terminate()
        try:
            service.wait(30)
        except subprocess.TimeoutExpired:
            service.kill()
        if not settings.database_url and database._embedded is not None:
            database._embedded.stop()
        console.print("stopped")


if __name__ == "__main__":
    raise SystemExit(main())
