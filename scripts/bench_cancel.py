"""How fast a cancel stops a running stage: a no-op app whose planner runs 60 s in a worker process; each round
cancels it (through the API, answered by the same process, or through the CLI's code, on the database) and
times until the worker process is killed and replaced. Creates and drops its own database."""
import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

import database
from scripts import seedlib
from services.ops import actions
from services.ops import store as ops_store
from services.ops.store import EXECUTIONS_DDL
from services.ops.testing import AppProcess, close_session, free_port, fresh_database, session_for


def _cpu(app: AppProcess) -> dict:
    return httpx.get(f"{app.base}/healthz", timeout=10).json()["workers"]["cpu"]


def _restarts(app: AppProcess) -> int:
    return _cpu(app)["restarts"]


def _wait(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(0.02)


async def _cli_cancel(url: str, job_id: str) -> None:
    conn = await asyncpg.connect(url)
    await database.init_connection(conn)
    try:
        await actions.cancel(conn, uuid.UUID(job_id), actions.Actor("bench", "cli"))
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", default=os.environ.get("TEST_DATABASE_URL",
                                                           "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    name = f"bench_cancel_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(fresh_database(args.server, name, EXECUTIONS_DDL))  # the no-op app counts runs
    tmp = Path(tempfile.mkdtemp())
    app = AppProcess(url, free_port(), tmp, test_process_stages="planner", test_slow_stage="planner",
                     test_slow_seconds=60, worker_processes=1).start()
    db = session_for(url)
    timings: dict[str, list[float]] = {"api": [], "cli": []}
    try:
        for _ in range(args.rounds):
            for door in timings:
                _wait(lambda: _cpu(app)["alive"] == 1)  # the last round's killed process is replaced
                job_id, _ = seedlib.start_job(db, tmp, variants_count=1)
                _wait(lambda job_id=job_id: httpx.get(f"{app.base}/api/yh/jobs/{job_id}", timeout=10).json()
                      ["variants"][0]["current_step"] == "planner")
                before = _restarts(app)
                started = time.perf_counter()
                if door == "api":
                    httpx.post(f"{app.base}/api/yh/jobs/{job_id}/cancel", json={}, timeout=30).raise_for_status()
                else:
                    asyncio.run(_cli_cancel(url, job_id))
                _wait(lambda before=before: _restarts(app) > before)
                timings[door].append(time.perf_counter() - started)
        for door, values in timings.items():
            print(f"cancel via {door}: stage stopped (worker killed) in {statistics.median(values):.2f} s median, "
                  f"max {max(values):.2f} s of {len(values)} (HEARTBEAT_SECONDS 3, stage 60 s)")
    finally:
        app.stop()
        close_session(db)

        async def drop():
            admin = await asyncpg.connect(args.server)
            await ops_store.drop_database(admin, name=name)
            await admin.close()
        asyncio.run(drop())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
