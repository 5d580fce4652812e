"""The operator CLI (scripts/ops.py) against a running service: a cancel from the CLI stops the stage that another
process runs (it sees its lease gone at the next heartbeat), and tail, status and webhook deliveries report it."""
import json
import os
import subprocess
import sys
import time

import httpx

from scripts import seedlib
from test.conftest import free_port
from test.integration.helpers import wait_for
from test.integration.procs import ROOT, AppProcess


def _env(db_url: str) -> dict:
    return {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}


def ops(db_url: str, *args: str) -> tuple[int, object, str]:
    """Run `python scripts/ops.py ARGS`: (exit code, parsed JSON output or None, stderr)."""
    done = subprocess.run([sys.executable, "scripts/ops.py", "--actor", "cli-bob", *args], cwd=ROOT,
                          env=_env(db_url), capture_output=True, text=True, timeout=60)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def test_cli_cancel_stops_a_stage_running_in_another_process(db, db_url, tmp_path):
    app = AppProcess(db_url, free_port(), tmp_path, test_process_stages="planner", test_slow_stage="planner",
                     test_slow_seconds=60, worker_processes=1).start()
    tail = None
    try:
        job_id, _ = seedlib.create_job(db, tmp_path, variants_count=1)
        tail = subprocess.Popen([sys.executable, "scripts/ops.py", "tail", "--job", job_id, "--timeout", "90"],
                                cwd=ROOT, env=_env(db_url), stdout=subprocess.PIPE, text=True)
        assert "listening" in tail.stdout.readline()
        seedlib.simulate_image_part(db, job_id)
        wait_for(lambda: ops(db_url, "status", job_id)[1]["variants"][0]["current_step"] == "planner", 30,
                 interval=0.2, what="planner running")
        before = httpx.get(f"{app.base}/healthz", timeout=10).json()["workers"]["cpu"]
        started = time.monotonic()
        code, out, err = ops(db_url, "cancel", job_id, "--reason", "duplicate order")
        assert code == 0 and out["cancelled"] is True and out["runs_stopped"] == 1, (code, out, err)

        def killed():
            cpu = httpx.get(f"{app.base}/healthz", timeout=10).json()["workers"]["cpu"]
            return cpu if cpu["restarts"] == before["restarts"] + 1 else None
        cpu = wait_for(killed, 30, interval=0.1, what="the app stopped the cancelled stage's worker")
        assert "revoked" in cpu["last_restart"] and time.monotonic() - started < 15, cpu

        assert ops(db_url, "cancel", job_id)[1]["already_cancelled"] is True
        code, _, err = ops(db_url, "retry", job_id)
        assert code == 1 and "409" in err and "cancelled" in err
        assert ops(db_url, "rerun", "00000000-0000-0000-0000-000000000000", "--from", "planner")[0] == 3
        assert ops(db_url, "select", job_id, "00000000-0000-0000-0000-000000000000")[0] == 3
        detail = ops(db_url, "status", job_id)[1]
        assert detail["outcome"] == "cancelled" and detail["actions"][0]["actor"] == "cli-bob", detail
        assert detail["actions"][0]["via"] == "cli"
        listed = ops(db_url, "status", "--finished", "true", "--outcome", "cancelled")[1]
        assert [j["job_id"] for j in listed] == [job_id]
        assert ops(db_url, "replay", "--dry-run")[1]["matched"] == 0  # cancelled jobs never replay
        (delivery,) = ops(db_url, "webhook", "deliveries", "--job", job_id)[1]
        assert delivery["outcome"] == "cancelled" and delivery["state"] == "pending"  # no WEBHOOK_URL here

        lines: list[dict] = []

        def finished_line():
            lines.append(json.loads(tail.stdout.readline()))
            return any(line["channel"] == "job_finished" for line in lines)
        wait_for(finished_line, 30, interval=0, what="tail printed job_finished")
        event = next(line for line in lines if line["channel"] == "job_finished")
        assert event["outcome"] == "cancelled" and event["delivery_id"] == delivery["delivery_id"]
        assert event["reason"] == "duplicate order"
    finally:
        if tail:
            tail.kill()
        app.stop()
