"""A run that lost its lease commits nothing; results and status='done' commit together or not at all.

In-process runners on a real database: the stage's `run` blocks until the test lets it go, so a worker
that is still alive reaches its commit after the sweeper expired its lease (and, in the first test,
after a second runner claimed the retry). Every wait below awaits a state, none sleeps for a time.
"""
import asyncio
import threading
import time
import uuid

import pytest

from database import create_pool
from scripts import seedlib
from services.engine.runner import StageRunner
from services.engine.stage_types import StageHandler
from services.engine.sweeper import sweep_once
from services.errors import ClaimLost
from test.conftest import app_settings

# (stage, the step before it): one variant stage and one job stage (finish_variant / finish_job)
LEVELS = [("planner", "yolo_detect"), ("ad_copy_gen_kor", "iou_eval")]


class _Held(StageHandler):
    """A stage whose `run` waits until the test releases that attempt; `save` writes one result row."""

    def __init__(self, fail_in_save: bool = False):
        self.entered = {n: threading.Event() for n in (1, 2)}
        self.go = {n: threading.Event() for n in (1, 2)}
        self.fail_in_save = fail_in_save

    async def load(self, conn, ctx):
        return {"attempt": ctx.attempt, "run_token": str(ctx.run_token)}

    def run(self, inputs):
        self.entered[inputs["attempt"]].set()
        if not self.go[inputs["attempt"]].wait(120):
            raise TimeoutError("the test never released this attempt")
        return inputs

    async def save(self, conn, ctx, output):
        # A real result table (evaluations references the job, like every stage's results).
        await conn.execute("INSERT INTO evaluations (job_id, evaluation_type, metrics) VALUES ($1, 'test', $2)",
                           ctx.job_id, {"run_token": output["run_token"]})
        if self.fail_in_save:
            raise RuntimeError("save broke after writing its row")
        return {"saved": output["run_token"]}


class _Recorder:
    """The sweeper's dispatcher, recording what it would send (the test sends it itself)."""

    def __init__(self):
        self.sent: list[tuple[str, uuid.UUID, bool]] = []

    def submit(self, stage, job_id, variant_id, tenant_id, received=None, first=False):
        self.sent.append((stage.name, variant_id or job_id, first))


async def _until(predicate, timeout: float, what: str):
    """Await an async predicate (polled); fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def _entered(handler: _Held, attempt: int) -> None:
    if not await asyncio.to_thread(handler.entered[attempt].wait, 60):
        raise AssertionError(f"attempt {attempt} never reached run()")


async def _setup(db, tmp_path, pool, stage: str, after: str) -> tuple[dict, uuid.UUID]:
    """A job (one variant) whose row for `stage` is at (after, done); the request and the row id."""
    job_id, (variant,) = await asyncio.to_thread(seedlib.create_job, db, tmp_path, variants_count=1)
    job, variant = uuid.UUID(job_id), uuid.UUID(variant)
    if stage == "planner":
        await pool.execute("UPDATE jobs_variants SET current_step = $2, status = 'done' WHERE job_variants_id = $1",
                           variant, after)
        return {"job_id": job, "job_variants_id": variant}, variant
    await pool.execute("UPDATE jobs_variants SET current_step = 'iou_eval', status = 'done' WHERE job_id = $1", job)
    await pool.execute("UPDATE jobs SET current_step = $2, status = 'done' WHERE job_id = $1", job, after)
    return {"job_id": job}, job


def _runners(pool, db_url, tmp_path, handler):
    # The stale runner sends no heartbeat (a paused or partitioned process): its 1 s lease runs out
    # while its stage is still working. The other runner is an ordinary one.
    stale = StageRunner(pool, app_settings(db_url, tmp_path, lease_seconds=1, heartbeat_seconds=3600),
                        {"planner": handler, "ad_copy_gen_kor": handler})
    fresh = StageRunner(pool, app_settings(db_url, tmp_path), {"planner": handler, "ad_copy_gen_kor": handler})
    return stale, fresh


async def _expire_and_wait_for_retry(pool, settings, row_id, stage: str) -> None:
    """Sweep until the sweeper has expired the stale lease and found the retry due (it would send it)."""
    recorder, expired = _Recorder(), []

    async def retry_due():
        found = await sweep_once(pool, recorder, settings)
        expired.append(found["expired"])
        return (stage, row_id, True) in recorder.sent  # a retry: sent before the rows queued for its stage
    await _until(retry_due, 60, f"the sweeper to expire the lease and find {stage}'s retry due")
    assert sum(expired) == 1, expired


async def _teardown(pool, runners, handler: _Held | None = None) -> None:
    """Release every held handler, stop the runners' heartbeats and close the pool."""
    for event in (handler.go.values() if handler else ()):
        event.set()
    for runner in runners:
        if runner._heartbeat:
            runner._heartbeat.cancel()
    await pool.close()


async def _results(pool, job) -> list[str]:
    rows = await pool.fetch("SELECT metrics->>'run_token' FROM evaluations WHERE job_id = $1 "
                            "AND evaluation_type = 'test'", job)
    return [r[0] for r in rows]


async def _runs(pool, row_id, stage: str) -> list[tuple]:
    rows = await pool.fetch("SELECT status, attempt, run_token FROM stage_runs WHERE step = $2 "
                            "AND (job_variants_id = $1 OR (job_variants_id IS NULL AND job_id = $1)) "
                            "ORDER BY run_id", row_id, stage)
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("stage, after", LEVELS, ids=["variant", "job"])
async def test_live_worker_that_lost_its_lease_does_not_commit(db, db_url, tmp_path, stage, after):
    handler = _Held()
    pool = await create_pool(db_url)
    stale, fresh = _runners(pool, db_url, tmp_path, handler)
    try:
        request, row_id = await _setup(db, tmp_path, pool, stage, after)
        first = asyncio.create_task(stale.run(stage, request))
        await _entered(handler, 1)
        await _expire_and_wait_for_retry(pool, fresh.settings, row_id, stage)
        second = asyncio.create_task(fresh.run(stage, request))  # what the sweeper's dispatch does
        await _entered(handler, 2)
        # The first worker, alive all along, finishes its work now, while the retry is running.
        handler.go[1].set()
        with pytest.raises(ClaimLost, match="lease lost before commit"):
            await first
        assert await _results(pool, request["job_id"]) == []  # nothing of the stale run was written
        table, key = ("jobs_variants", "job_variants_id") if stage == "planner" else ("jobs", "job_id")
        row = await pool.fetchrow(f"SELECT current_step, status, run_token FROM {table} WHERE {key} = $1", row_id)
        (lost, retry) = await _runs(pool, row_id, stage)
        assert tuple(row) == (stage, "running", retry[2])  # still the retry's: not marked done by the stale run
        assert lost[:2] == ("lost", 1) and retry[:2] == ("running", 2)
        handler.go[2].set()
        outcome = await second
        assert outcome["status"] == "done" and outcome["attempt"] == 2, outcome
        assert await _results(pool, request["job_id"]) == [str(retry[2])]  # exactly one result: the retry's
        assert [r[:2] for r in await _runs(pool, row_id, stage)] == [("lost", 1), ("done", 2)]
    finally:
        await _teardown(pool, (stale, fresh), handler)


@pytest.mark.parametrize("stage, after", LEVELS, ids=["variant", "job"])
async def test_run_whose_token_no_longer_holds_writes_no_results(db, db_url, tmp_path, stage, after):
    handler = _Held()
    pool = await create_pool(db_url)
    stale, fresh = _runners(pool, db_url, tmp_path, handler)
    try:
        request, row_id = await _setup(db, tmp_path, pool, stage, after)
        first = asyncio.create_task(stale.run(stage, request))
        await _entered(handler, 1)
        await _expire_and_wait_for_retry(pool, fresh.settings, row_id, stage)
        handler.go[1].set()  # nobody claimed the retry: the row is (stage, failed), the token is void
        with pytest.raises(ClaimLost):
            await first
        assert await _results(pool, request["job_id"]) == []
        assert [r[:2] for r in await _runs(pool, row_id, stage)] == [("lost", 1)]
    finally:
        await _teardown(pool, (stale,), handler)


@pytest.mark.parametrize("stage, after", LEVELS, ids=["variant", "job"])
async def test_save_that_raises_after_writing_leaves_the_row_failed_and_no_results(db, db_url, tmp_path, stage, after):
    handler = _Held(fail_in_save=True)
    handler.go[1].set()
    pool = await create_pool(db_url)
    runner = StageRunner(pool, app_settings(db_url, tmp_path), {stage: handler})
    try:
        request, row_id = await _setup(db, tmp_path, pool, stage, after)
        outcome = await runner.run(stage, request)
        assert outcome["status"] == "failed" and "save broke after writing its row" in outcome["error"], outcome
        table, key = ("jobs_variants", "job_variants_id") if stage == "planner" else ("jobs", "job_id")
        row = await pool.fetchrow(f"SELECT current_step, status, last_error, next_retry_at FROM {table} "
                                  f"WHERE {key} = $1", row_id)
        assert row[:2] == (stage, "failed") and "save broke after writing its row" in row[2]
        assert row[3] is not None  # an ordinary failure: retried
        assert await _results(pool, request["job_id"]) == []  # the row save wrote went with the rollback
        assert [r[:2] for r in await _runs(pool, row_id, stage)] == [("failed", 1)]
    finally:
        await _teardown(pool, (runner,))
