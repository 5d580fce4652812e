"""Heartbeat leases, drain on SIGTERM, and failures that are always stored (real app processes)."""
import signal
import subprocess
import time

import httpx
import pytest
from sqlalchemy import text

from scripts import seedlib
from test.conftest import app_settings, free_port, serve
from test.integration.helpers import job_finished, job_state, wait_for
from test.integration.procs import AppProcess


def _rows(db, sql, **params):
    db.rollback()
    return db.execute(text(sql), params).all()


def _pid_running(db, stage: str, count: int = 1):
    rows = _rows(db, "SELECT pid FROM test_executions WHERE stage = :s ORDER BY id", s=stage)
    return [r[0] for r in rows] if len(rows) >= count else None


@pytest.mark.slow
def test_sigkill_mid_stage_reruns_on_the_survivor_within_two_leases(db, db_url, tmp_path):
    # planner takes 12 s, three times its 4 s lease: only the heartbeat keeps it; the stage's own limit is 60 s.
    env = dict(test_slow_stage="planner", test_slow_seconds=12, lease_seconds=4, heartbeat_seconds=1)
    procs = [AppProcess(db_url, free_port(), tmp_path, **env).start() for _ in range(2)]
    try:
        job_id, _ = seedlib.start_job(db, tmp_path, variants_count=1)
        (pid,) = wait_for(lambda: _pid_running(db, "planner"), 30, what="planner started")
        victim = next(p for p in procs if p.proc.pid == pid)
        survivor = next(p for p in procs if p is not victim)
        time.sleep(1.5)  # let a heartbeat or two pass: the lease must outlive its first 4 s only through them
        victim.kill()
        killed_at = _rows(db, "SELECT clock_timestamp()")[0][0]
        wait_for(lambda: _pid_running(db, "planner", 2), 30, what="planner re-ran")
        wait_for(lambda: job_finished(db, job_id), 60, what="job finished on the survivor")
    finally:
        for p in procs:
            p.stop()
    runs = _rows(db, "SELECT r.status, e.pid, e.at FROM stage_runs r JOIN test_executions e USING (run_token) "
                     "WHERE r.step = 'planner' ORDER BY r.run_id")
    assert [r[0] for r in runs] == ["lost", "done"], runs  # the 12 s re-run kept its 4 s lease throughout
    assert runs[1][1] == survivor.proc.pid
    assert (runs[1][2] - killed_at).total_seconds() < 2 * 4, (runs[1][2] - killed_at)


@pytest.mark.slow
def test_sigterm_drains_releases_and_another_process_finishes(db, db_url, tmp_path):
    grace = 4
    env = dict(test_slow_stage="planner", test_slow_seconds=60, test_process_stages="planner", worker_processes=2,
               shutdown_grace_seconds=grace)
    first = AppProcess(db_url, free_port(), tmp_path, **env).start()
    job_id, variants = seedlib.start_job(db, tmp_path, variants_count=2)
    wait_for(lambda: _pid_running(db, "planner", 2), 30, what="both planners running")
    first.proc.send_signal(signal.SIGTERM)
    stopped_at = _rows(db, "SELECT clock_timestamp()")[0][0]
    started = time.monotonic()
    try:
        first.proc.wait(grace + 5)  # the grace period, plus the interpreter's own exit
    except subprocess.TimeoutExpired:
        first.kill()
        raise AssertionError("the process did not exit within its grace period")
    assert time.monotonic() - started < grace + 5
    worker = f"%:{first.proc.pid}"
    late = _rows(db, "SELECT step FROM stage_runs WHERE worker LIKE :w AND started_at > :t", w=worker, t=stopped_at)
    assert late == [], late  # nothing claimed after SIGTERM
    assert sorted(_rows(db, "SELECT current_step, status FROM jobs_variants WHERE job_id = :j", j=job_id)) == \
        [("yolo_detect", "done")] * 2  # released back to (previous, done), not left running
    second = AppProcess(db_url, free_port(), tmp_path).start()
    try:
        wait_for(lambda: job_finished(db, job_id), 60, what="the other process finished the job")
    finally:
        second.stop()
    runs = _rows(db, "SELECT status, attempt FROM stage_runs WHERE step = 'planner' ORDER BY run_id")
    assert runs == [("released", 1), ("released", 1), ("done", 1), ("done", 1)], runs  # no attempt used


def test_draining_process_answers_503_with_retry_after(db_url, tmp_path):
    from main import create_app
    from test.engine_app import counting_handlers

    settings = app_settings(db_url, tmp_path, enable_job_state_listener=False, enable_sweeper=False)
    app = create_app(settings, handlers_factory=counting_handlers)
    with serve(app, settings.port):
        app.state.runner.draining = True  # what SIGTERM sets first (tested with a real signal above)
        body = {"job_id": "00000000-0000-0000-0000-000000000001", "job_variants_id": "00000000-0000-0000-0000-000000000002"}
        answer = httpx.post(f"http://127.0.0.1:{settings.port}/api/yh/planner", json=body, timeout=10)
        health = httpx.get(f"http://127.0.0.1:{settings.port}/healthz", timeout=10)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1", answer.text
    assert health.status_code == 503 and health.json()["draining"] is True


def test_hostile_error_text_is_stored_cleaned(db, db_url, tmp_path, monkeypatch):
    from main import create_app
    from test.engine_app import counting_handlers

    monkeypatch.setenv("TEST_FAIL_STAGE", "overlay")
    monkeypatch.setenv("TEST_FAIL_TEXT", "hostile")
    settings = app_settings(db_url, tmp_path, enable_job_state_listener=False, enable_sweeper=False, max_retries=0)
    job_id, (variant,) = seedlib.create_job(db, tmp_path, variants_count=1)
    db.execute(text("UPDATE jobs_variants SET current_step = 'planner', status = 'done' WHERE job_variants_id = :v"),
               {"v": variant})
    db.commit()
    with serve(create_app(settings, handlers_factory=counting_handlers), settings.port):
        answer = httpx.post(f"http://127.0.0.1:{settings.port}/api/yh/overlay",
                            json={"job_id": job_id, "job_variants_id": variant}, timeout=30)
    assert answer.status_code == 200 and answer.json()["status"] == "failed", answer.text[:300]
    ((step, status, error, run_status, run_error),) = _rows(
        db, "SELECT v.current_step, v.status, v.last_error, r.status, r.error FROM jobs_variants v "
            "JOIN stage_runs r USING (job_variants_id) WHERE v.job_variants_id = :v", v=variant)
    assert (step, status, run_status) == ("overlay", "failed", "failed")
    assert error == run_error and error.startswith("RuntimeError: overlay always fails (test)\\0 nul \\ud800")
    assert len(error) <= 2000 and error.endswith("(truncated)")
    assert job_state(db, job_id)[1] != "running"
