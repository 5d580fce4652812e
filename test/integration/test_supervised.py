"""Supervised execution: a stage that hangs, spins holding the GIL or crashes its process is stopped at its
hard limit, its worker replaced, and retried; the other variants never notice."""
import re

import httpx
import pytest
from sqlalchemy import text

from scripts import seedlib
from test.conftest import free_port
from test.integration.helpers import job_finished, job_state, wait_for
from test.integration.procs import AppProcess


def _rows(db, sql, **params):
    db.rollback()
    return db.execute(text(sql), params).all()


def _app(db_url, tmp_path, victim: str, how: str, **env) -> AppProcess:
    # planner's time limit: 60 s x 0.05 = 3 s, a hard limit in a worker process of the "cpu" group
    values = dict(test_process_stages="planner,overlay", test_misbehave_stage="planner", test_misbehave=how,
                  test_misbehave_row=victim, stage_timeout_scale=0.05, worker_processes=2, max_retries=3)
    return AppProcess(db_url, free_port(), tmp_path, **{**values, **env}).start()


@pytest.mark.slow
@pytest.mark.parametrize("how, reason", [
    ("hang", r"killed after \d+ s \(hard limit 3 s\)"),
    ("busy", r"killed after \d+ s \(hard limit 3 s\)"),
    ("abort", r"worker crashed: signal 6 \(SIGABRT\)"),
])
def test_misbehaving_stage_is_stopped_and_retried(db, db_url, tmp_path, how, reason):
    job_id, variants = seedlib.create_job(db, tmp_path, variants_count=3, one_image=True)
    victim = variants[0]
    app = _app(db_url, tmp_path, victim, how)
    try:
        seedlib.simulate_image_part(db, job_id)
        wait_for(lambda: job_finished(db, job_id), 90, interval=0.2, what="the job finished after the retry")

        def replaced():
            workers = httpx.get(f"http://127.0.0.1:{app.port}/healthz", timeout=10).json()["workers"]
            return workers if workers["cpu"]["alive"] == 2 else None
        cpu = wait_for(replaced, 60, interval=0.2, what="the replacement worker is up")["cpu"]
    finally:
        app.stop()
    runs = _rows(db, "SELECT status, attempt, error FROM stage_runs WHERE job_variants_id = :v AND step = 'planner' "
                     "ORDER BY run_id", v=victim)
    assert [(r[0], r[1]) for r in runs] == [("crashed" if how == "abort" else "failed", 1), ("done", 2)], runs
    assert re.search(reason, runs[0][2]), runs[0][2]
    # The other variants never noticed: every one of their stages ran once and succeeded.
    others = _rows(db, "SELECT step, status, attempt FROM stage_runs WHERE job_variants_id = ANY(CAST(:v AS uuid[]))",
                   v=variants[1:])
    assert others and all(r[1] == "done" and r[2] == 1 for r in others), others
    assert cpu["restarts"] == 1, cpu
    assert re.search(reason, cpu["last_restart"]) and cpu["last_restart"].startswith("planner"), cpu


@pytest.mark.slow
def test_worker_killing_input_fails_for_good_after_max_crashes(db, db_url, tmp_path):
    job_id, variants = seedlib.create_job(db, tmp_path, variants_count=2, one_image=True)
    victim = variants[0]
    app = _app(db_url, tmp_path, victim, "abort", test_misbehave_attempts=99, max_crashes=2, max_retries=5,
               retry_base_seconds=1)
    try:
        seedlib.simulate_image_part(db, job_id)
        wait_for(lambda: job_state(db, job_id) == ("instagram_feed_gen", "done"), 90, interval=0.2,
                 what="the job finished with the other variant")
    finally:
        app.stop()
    runs = _rows(db, "SELECT status, started_at, finished_at FROM stage_runs WHERE job_variants_id = :v "
                     "AND step = 'planner' ORDER BY run_id", v=victim)
    assert [r[0] for r in runs] == ["crashed", "crashed"], runs  # MAX_CRASHES=2: no third run
    gap = (runs[1][1] - runs[0][2]).total_seconds()
    assert gap >= 0.8, gap  # backoff (1 s x jitter 0.8-1.2) between the crashes, not an immediate retry
    (row,) = _rows(db, "SELECT status, next_retry_at, last_error FROM jobs_variants WHERE job_variants_id = :v",
                   v=victim)
    assert row[0] == "failed" and row[1] is None
    assert row[2].startswith("failed for good: 2 runs killed their worker (MAX_CRASHES 2)"), row[2]
