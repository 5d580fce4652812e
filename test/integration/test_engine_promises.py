"""More of README's "How it works", each claim checked where it could break: the sweeper's lock, the lease
expiry's MAX_CRASHES and job advance, the sweeper advancing a finished job, the job's (vlm_analyze, running),
a retry released on shutdown, a due retry sent ahead of its stage's queue, and the sweep after the listener
reconnects."""
import asyncio
import json
import time
import uuid

import httpx
import pytest
from sqlalchemy import text

from database import create_pool
from main import create_app
from scripts import seedlib
from services.engine.dispatch import Dispatcher
from services.engine.pipeline import BY_NAME
from services.engine.runner import StageRunner
from services.engine.stage_types import Released
from services.engine.sweeper import _SWEEP_LOCK, sweep_once
from test.conftest import app_settings, serve
from test.engine_app import counting_handlers
from test.integration.helpers import listener_pids, wait_for
from test.integration.test_stale_commits import _entered, _Held, _Recorder, _until


async def _job(db, tmp_path, variants: int = 1) -> tuple[uuid.UUID, list[uuid.UUID]]:
    job_id, ids = await asyncio.to_thread(seedlib.create_job, db, tmp_path, variants_count=variants)
    return uuid.UUID(job_id), [uuid.UUID(v) for v in ids]


async def _expired_lease(pool, variant: uuid.UUID, step: str = "planner") -> uuid.UUID:
    """The variant running `step` under a lease that ran out (its process died), with its stage_runs row."""
    token = uuid.uuid4()
    await pool.execute("UPDATE jobs_variants SET current_step = $2, status = 'running', run_token = $3, "
                       "lease_until = clock_timestamp() - interval '1 second' WHERE job_variants_id = $1",
                       variant, step, token)
    await pool.execute("INSERT INTO stage_runs (run_token, job_id, job_variants_id, step, attempt, worker) "
                       "SELECT $2, job_id, job_variants_id, $3, retry_count + 1, 'gone:1' FROM jobs_variants "
                       "WHERE job_variants_id = $1", variant, token, step)
    return token


async def test_a_sweep_round_is_skipped_while_another_replica_holds_the_lock(db, db_url, tmp_path):
    pool = await create_pool(db_url)
    other = await pool.acquire()
    try:
        settings = app_settings(db_url, tmp_path)
        job, (variant,) = await _job(db, tmp_path)
        await _expired_lease(pool, variant)
        tx = other.transaction()
        await tx.start()
        assert await other.fetchval("SELECT pg_try_advisory_xact_lock($1)", _SWEEP_LOCK)  # another replica sweeping
        found = await sweep_once(pool, _Recorder(), settings)
        assert found == {"expired": 0, "variants": 0, "jobs": 0, "advanced": 0}, found
        assert await pool.fetchval("SELECT status FROM jobs_variants WHERE job_variants_id = $1", variant) == "running"
        await tx.rollback()  # that round ended: the next one here does the work
        assert (await sweep_once(pool, _Recorder(), settings))["expired"] == 1
    finally:
        await pool.release(other)
        await pool.close()


async def test_lease_expiry_fails_for_good_after_max_crashes_and_advances_the_job(db, db_url, tmp_path):
    pool = await create_pool(db_url)
    try:
        settings = app_settings(db_url, tmp_path, max_crashes=2, max_retries=5)
        job, (variant,) = await _job(db, tmp_path)
        for _ in range(2):  # two runs, each losing its worker: the second reaches MAX_CRASHES
            await _expired_lease(pool, variant)
            assert (await sweep_once(pool, _Recorder(), settings))["expired"] == 1
        row = await pool.fetchrow("SELECT status, next_retry_at, last_error, retry_count FROM jobs_variants "
                                  "WHERE job_variants_id = $1", variant)
        assert row["status"] == "failed" and row["next_retry_at"] is None, row
        assert row["last_error"].startswith("failed for good: 2 runs lost their worker (MAX_CRASHES 2)"), row
        assert row["retry_count"] == 1  # the first expiry was an ordinary retry, the second none
        # The job's only variant is dead: the same sweep moved the job to (iou_eval, failed).
        assert tuple(await pool.fetchrow("SELECT current_step, status FROM jobs WHERE job_id = $1", job)) == \
            ("iou_eval", "failed")
        assert [r[0] for r in await pool.fetch("SELECT status FROM stage_runs WHERE job_variants_id = $1 "
                                               "ORDER BY run_id", variant)] == ["lost", "lost"]
    finally:
        await pool.close()


async def test_sweeper_advances_a_job_whose_variants_all_finished(db, db_url, tmp_path):
    pool = await create_pool(db_url)
    try:
        job, variants = await _job(db, tmp_path, variants=2)
        # Finished without the job being advanced (as after a writer that moved the variants itself).
        await pool.execute("UPDATE jobs_variants SET current_step = 'iou_eval', status = 'done' WHERE job_id = $1", job)
        await pool.execute("UPDATE jobs SET current_step = 'vlm_analyze', status = 'running' WHERE job_id = $1", job)
        found = await sweep_once(pool, _Recorder(), app_settings(db_url, tmp_path))
        assert found["advanced"] == 1, found
        assert tuple(await pool.fetchrow("SELECT current_step, status FROM jobs WHERE job_id = $1", job)) == \
            ("iou_eval", "done")
        assert await pool.fetchval("SELECT count(*) FROM jobs_variants WHERE job_id = $1 AND selected", job) == 1
    finally:
        await pool.close()


async def test_job_shows_vlm_analyze_running_once_its_first_variant_starts(db, db_url, tmp_path):
    handler = _Held()
    pool = await create_pool(db_url)
    runner = StageRunner(pool, app_settings(db_url, tmp_path, start_settle_seconds=0), {"vlm_analyze": handler})
    try:
        job, (variant, _) = await _job(db, tmp_path, variants=2)
        await pool.execute("UPDATE jobs_variants SET current_step = 'img_gen', status = 'done' WHERE job_id = $1", job)
        assert await pool.fetchval("SELECT current_step FROM jobs WHERE job_id = $1", job) != "vlm_analyze"
        work = asyncio.create_task(runner.run("vlm_analyze", {"job_id": job, "job_variants_id": variant}))
        await _entered(handler, 1)
        assert tuple(await pool.fetchrow("SELECT current_step, status FROM jobs WHERE job_id = $1", job)) == \
            ("vlm_analyze", "running")
        handler.go[1].set()
        assert (await work)["status"] == "done"
    finally:
        handler.go[1].set()
        if runner._heartbeat:
            runner._heartbeat.cancel()
        await pool.close()


async def test_retry_released_on_shutdown_is_due_again_with_no_attempt_used(db, db_url, tmp_path):
    handler = _Held()
    pool = await create_pool(db_url)
    runner = StageRunner(pool, app_settings(db_url, tmp_path), {"planner": handler})
    try:
        job, (variant,) = await _job(db, tmp_path)
        # A retry: planner failed once and is due now.
        await pool.execute("UPDATE jobs_variants SET current_step = 'planner', status = 'failed', retry_count = 1, "
                           "next_retry_at = clock_timestamp() WHERE job_variants_id = $1", variant)
        work = asyncio.create_task(runner.run("planner", {"job_id": job, "job_variants_id": variant}))
        await _entered(handler, 2)
        assert await runner.release_all() == 1
        with pytest.raises(Released):
            await work
        row = await pool.fetchrow("SELECT current_step, status, retry_count, last_error, "
                                  "next_retry_at <= clock_timestamp() AS due FROM jobs_variants "
                                  "WHERE job_variants_id = $1", variant)
        assert tuple(row) == ("planner", "failed", 1, "released on shutdown", True), row
        assert [tuple(r) for r in await pool.fetch("SELECT status, attempt FROM stage_runs WHERE job_variants_id = $1",
                                                   variant)] == [("released", 2)]
    finally:
        handler.go[2].set()
        if runner._heartbeat:
            runner._heartbeat.cancel()
        await pool.close()


def test_listener_reconnect_wakes_the_sweeper(db, db_url, tmp_path):
    # A sweep every 120 s and a 5 s reconnect delay: a NOTIFY sent while the listener is down is found
    # within seconds only because the reconnect wakes the sweeper.
    settings = app_settings(db_url, tmp_path, sweep_interval_seconds=120, sweep_grace_seconds=0,
                            job_state_listener_reconnect_delay=5)
    app = create_app(settings, handlers_factory=counting_handlers)
    with serve(app, settings.port):
        job_id, (variant,) = seedlib.create_job(db, settings.assets_dir, variants_count=1)
        (old,) = wait_for(lambda: listener_pids(db), 20, what="the listener connected")
        connects = app.state.listener.connects
        assert db.execute(text("SELECT pg_terminate_backend(:p)"), {"p": old}).scalar()
        db.commit()
        wait_for(lambda: not app.state.listener.connected, 10, what="the listener noticed its connection is gone")
        # Lost: nobody listens now (the listener waits 5 s before it reconnects).
        db.execute(text("UPDATE jobs_variants SET current_step = 'vlm_analyze', status = 'done' "
                        "WHERE job_variants_id = :v"), {"v": variant})
        db.commit()
        assert app.state.listener.connects == connects  # still down when the NOTIFY went out
        lost_at = time.monotonic()
        wait_for(lambda: db.rollback() or db.execute(text(
            "SELECT 1 FROM stage_runs WHERE job_variants_id = :v AND step = 'yolo_detect'"), {"v": variant}).first(),
            30, what="yolo_detect started after the reconnect (the next timed sweep is 120 s away)")
        print(f"lost NOTIFY recovered {time.monotonic() - lost_at:.2f} s after it was sent")
        assert app.state.listener.connects > connects


async def test_a_due_retry_is_sent_before_the_rows_queued_for_its_stage(db_url, tmp_path):
    # The dispatcher under test; the stage endpoint is a stand-in that records the order and holds each
    # request open (as a busy stage does) until the test lets them all go.
    sent, busy = [], asyncio.Event()

    async def endpoint(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content)["job_variants_id"])
        await busy.wait()
        return httpx.Response(200, json={"status": "done"})
    client = httpx.AsyncClient(transport=httpx.MockTransport(endpoint), base_url="http://engine")
    dispatcher = Dispatcher(None, app_settings(db_url, tmp_path), client=client)
    stage, job = BY_NAME["planner"], uuid.uuid4()
    size = dispatcher.per_tenant[stage.name]  # one tenant's share of its senders (issue 26: a fixed number per stage)
    queued = [uuid.uuid4() for _ in range(size + 3)]
    for variant in queued:
        dispatcher.submit(stage, job, variant, "t")

    def when(condition):
        async def check() -> bool:
            return condition()
        return check
    await _until(when(lambda: len(sent) == size), 20, "every dispatch slot taken")
    retry = uuid.uuid4()
    dispatcher.submit_later(0, stage, job, retry, "t")  # what the runner schedules after a failure
    await _until(when(lambda: len(dispatcher._queues[stage.name]) == 4), 20, "4 requests queued")
    busy.set()
    await _until(when(lambda: len(sent) == len(queued) + 1), 20, "every request sent")
    assert sent[size] == str(retry), (sent.index(str(retry)), size)  # first of the queued, not the last
    await dispatcher.drain(timeout=10)
