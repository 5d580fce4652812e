"""The engine under faults: several processes, killed connections and workers, races, retries."""
import asyncio
import time

import httpx
import pytest
from sqlalchemy import text

from scripts import seedlib
from services.engine import jobstate
from services.engine import runner as runner_module
from services.engine.pipeline import STAGES
from services.engine.stage_types import StageHandler
from test.conftest import app_settings, free_port
from test.integration.helpers import executions, job_finished, job_state, listener_pids, wait_for
from test.integration.procs import AppProcess

VARIANT_STAGES = [s.name for s in STAGES if s.level == "variant"]


def _seed_jobs(db, assets_dir, n: int, variants: int = 3) -> list[str]:
    jobs = []
    for _ in range(n):
        job_id, _ = seedlib.create_job(db, assets_dir, variants_count=variants, one_image=True)
        jobs.append(job_id)
    return jobs


def _all_finished(db, jobs) -> bool:
    db.rollback()
    done = db.execute(text("SELECT count(*) FROM jobs WHERE job_id = ANY(CAST(:ids AS uuid[])) "
                           "AND current_step = 'instagram_feed_gen' AND status = 'done'"), {"ids": jobs}).scalar()
    return done == len(jobs)


@pytest.mark.slow
def test_three_processes_run_every_stage_exactly_once(db, db_url, tmp_path):
    procs = [AppProcess(db_url, free_port(), tmp_path).start() for _ in range(3)]
    try:
        jobs = _seed_jobs(db, tmp_path, 50)
        for job_id in jobs:
            seedlib.simulate_image_part(db, job_id)
        wait_for(lambda: _all_finished(db, jobs), 180, interval=0.5, what="50 jobs finished")
    finally:
        for p in procs:
            p.stop()
    runs = executions(db)
    assert len([r for r in runs if r[0] in VARIANT_STAGES]) == 50 * 3 * len(VARIANT_STAGES)
    assert max(n for _, _, n in runs) == 1, [r for r in runs if r[2] > 1]
    pids = db.execute(text("SELECT count(DISTINCT pid) FROM test_executions")).scalar()
    assert pids == 3  # the work really was shared


@pytest.mark.slow
def test_killed_worker_lease_expires_and_stage_reruns(db, db_url, tmp_path):
    # planner sleeps 3 s; its lease is 60 s x 0.1 = 6 s (time limit 5.4 s); the worker is SIGKILLed mid-stage.
    env = dict(test_slow_stage="planner", test_slow_seconds=3, stage_timeout_scale=0.1)
    victim = AppProcess(db_url, free_port(), tmp_path, **env).start()
    job_id, (variant,) = seedlib.start_job(db, tmp_path, variants_count=1)
    wait_for(lambda: db.rollback() or db.execute(text(
        "SELECT 1 FROM test_executions WHERE stage = 'planner'")).first(), 20, what="planner started")
    victim.kill()
    killed_at = time.monotonic()
    rescuer = AppProcess(db_url, free_port(), tmp_path, **env).start()
    try:
        wait_for(lambda: job_finished(db, job_id), 60, what="job finished after the kill")
    finally:
        rescuer.stop()
    recovery = time.monotonic() - killed_at
    planner_runs = db.execute(text("SELECT status, error FROM stage_runs WHERE step = 'planner' ORDER BY run_id")).all()
    assert [r[0] for r in planner_runs] == ["lost", "done"], planner_runs
    assert recovery < 30


@pytest.mark.slow
def test_stage_past_its_time_limit_fails_and_frees_its_slot(db, db_url, tmp_path):
    # planner sleeps 3 s; lease 60 s x 0.04 = 2.4 s, time limit 90 % of it: every attempt times out.
    # No sweeper: it would expire the lease 0.24 s after the time limit and could beat the runner to the
    # row under load; retries come from the runner's own schedule.
    app = AppProcess(db_url, free_port(), tmp_path, test_slow_stage="planner", test_slow_seconds=3,
                     stage_timeout_scale=0.04, max_retries=1, enable_sweeper="false").start()
    try:
        job_id, variants = seedlib.start_job(db, tmp_path, variants_count=2)
        wait_for(lambda: job_state(db, job_id) == ("iou_eval", "failed"), 60, what="job failed")
    finally:
        app.stop()
    rows = db.execute(text("SELECT current_step, status, retry_count, last_error FROM jobs_variants "
                           "WHERE job_id = :j"), {"j": job_id}).all()
    assert all(r[:3] == ("planner", "failed", 1) and "StageTimeout" in r[3] for r in rows), rows
    # Both variants ran both attempts although planner has 2 slots per process: timed-out work let go of them.
    assert db.execute(text("SELECT count(*) FROM test_executions WHERE stage = 'planner'")).scalar() == 4


@pytest.mark.slow
def test_always_failing_stage_ends_failed_after_max_retries(db, db_url, tmp_path):
    app = AppProcess(db_url, free_port(), tmp_path, test_fail_stage="overlay", max_retries=2).start()
    try:
        job_id, (variant,) = seedlib.start_job(db, tmp_path, variants_count=1)
        wait_for(lambda: job_state(db, job_id) == ("iou_eval", "failed"), 30, what="job failed")
    finally:
        app.stop()
    row = db.execute(text("SELECT current_step, status, retry_count, last_error, next_retry_at FROM jobs_variants "
                          "WHERE job_variants_id = :v"), {"v": variant}).one()
    assert row[:3] == ("overlay", "failed", 2)
    assert "always fails" in row[3] and row[4] is None
    assert db.execute(text("SELECT count(*) FROM test_executions WHERE stage = 'overlay'")).scalar() == 3


@pytest.mark.slow
def test_manual_retry_reruns_what_failed_for_good(db, db_url, tmp_path):
    broken = AppProcess(db_url, free_port(), tmp_path, test_fail_stage="planner", max_retries=0).start()
    try:
        job_id, variants = seedlib.start_job(db, tmp_path, variants_count=2)
        wait_for(lambda: job_state(db, job_id) == ("iou_eval", "failed"), 30, what="job failed for good")
    finally:
        broken.stop()
    fixed = AppProcess(db_url, free_port(), tmp_path).start()
    try:
        base = f"http://127.0.0.1:{fixed.port}"
        assert httpx.post(f"{base}/api/yh/jobs/00000000-0000-0000-0000-000000000000/retry", json={}).status_code == 404
        answer = httpx.post(f"{base}/api/yh/jobs/{job_id}/retry", json={}).json()
        assert answer == {"job_id": job_id, "variants_requeued": 2, "job_requeued": True}
        wait_for(lambda: job_finished(db, job_id), 30, what="job finished after the manual retry")
    finally:
        fixed.stop()
    planner_runs = db.execute(text("SELECT status, count(*) FROM stage_runs WHERE step = 'planner' GROUP BY 1 "
                                   "ORDER BY 1")).all()
    assert planner_runs == [("done", 2), ("failed", 2)]


@pytest.mark.slow
def test_listener_killed_and_missed_notifications_recovered(db, db_url, tmp_path):
    # Jobs seeded while no app runs: their NOTIFYs went nowhere; the sweeper must find them.
    early = _seed_jobs(db, tmp_path, 3)
    for job_id in early:
        seedlib.simulate_image_part(db, job_id)
    app = AppProcess(db_url, free_port(), tmp_path).start()
    try:
        late = _seed_jobs(db, tmp_path, 5)
        killed = set()
        for i, job_id in enumerate(late):
            seedlib.simulate_image_part(db, job_id)
            if i % 2 == 0:  # kill the LISTEN connection mid-run (found by its application_name)
                # Once it is back: each kill cuts a fresh connection (no sleep, whatever the load).
                pids = wait_for(lambda: listener_pids(db) - killed, 20, what="a listener connection")
                killed |= pids
                assert all(db.execute(text("SELECT pg_terminate_backend(:p)"), {"p": p}).scalar() for p in pids)
                db.commit()
        assert len(killed) == 3  # three different connections were cut
        wait_for(lambda: _all_finished(db, early + late), 60, interval=0.3, what="every job finished")
    finally:
        app.stop()
    assert max(n for _, _, n in executions(db)) == 1


class _BarrierHandler(StageHandler):
    """iou_eval whose commit waits until both variants are inside their finishing transaction."""

    def __init__(self, barrier):
        self.barrier = barrier

    async def load(self, conn, ctx):
        return None

    def run(self, inputs):
        return None

    async def save(self, conn, ctx, output):
        # Like the real evaluation stages: a row referencing the job (a KEY SHARE lock on it) first.
        await conn.execute("INSERT INTO evaluations (job_id, evaluation_type, metrics) VALUES ($1, 'iou', '{}')",
                           ctx.job_id)
        await asyncio.wait_for(self.barrier.wait(), 10)
        return {}


async def test_two_variants_finishing_together_advance_the_job_once(db, db_url, tmp_path, monkeypatch):
    from database import create_pool

    settings = app_settings(db_url, tmp_path)
    calls: list[str | None] = []
    real_advance = jobstate.advance_job_if_finished

    async def counting_advance(conn, job_id):
        result = await real_advance(conn, job_id)
        calls.append(result)
        return result
    monkeypatch.setattr(runner_module, "advance_job_if_finished", counting_advance)
    pool = await create_pool(db_url)
    try:
        for trial in range(200):
            barrier = asyncio.Barrier(2)
            runner = runner_module.StageRunner(pool, settings, {"iou_eval": _BarrierHandler(barrier)})
            job_id, variants = await asyncio.to_thread(seedlib.create_job, db, tmp_path, variants_count=2, one_image=True)
            await pool.execute("UPDATE jobs_variants SET current_step = 'readability_eval', status = 'done' "
                               "WHERE job_id = $1", job_id)
            calls.clear()
            outcomes = await asyncio.gather(*(runner.run("iou_eval", {"job_id": _uuid(job_id), "job_variants_id": _uuid(v)})
                                              for v in variants))
            assert [o["status"] for o in outcomes] == ["done", "done"]
            assert calls.count("done") == 1, (trial, calls)
            assert await pool.fetchval("SELECT current_step || ':' || status FROM jobs WHERE job_id = $1",
                                       _uuid(job_id)) == "iou_eval:done"
    finally:
        await pool.close()


def _uuid(value: str):
    import uuid
    return uuid.UUID(value)
