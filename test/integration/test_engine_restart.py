"""PostgreSQL itself restarts mid-stage (an embedded server the test owns): the cut-off commits are retried,
nothing runs twice, and the reconnected listener (not the sweeper) drives the work afterwards."""
import asyncio
import shutil
import tempfile
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

import database
from scripts import seedlib
from test.conftest import free_port
from test.engine_app import EXECUTIONS_DDL
from test.integration.helpers import executions, job_finished, session_for, wait_for
from test.integration.procs import AppProcess


def metric(port: int, name: str, **labels) -> float:
    """A counter's value from the app's /metrics (0 when it has no sample yet)."""
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json().get("listener_connected") is True
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_commits_cut_off_by_a_postgres_restart_are_retried_once(tmp_path):
    # Not under tmp_path: other pytest sessions on this machine reset /tmp/pytest-of-<user> to 0700 and
    # prune it, which locks the server's own user out of its data directory mid-test.
    pgdata = Path(tempfile.mkdtemp(prefix="adpipe-restart-"))
    server = database.start_embedded(pgdata / "pg")
    url = server.get_uri()

    async def prepare():
        conn = await asyncpg.connect(url)
        await database.apply_schema(conn)
        await conn.execute(EXECUTIONS_DDL)
        await conn.close()
    asyncio.run(prepare())
    db = session_for(url)
    # planner works 3 s, so the server is surely stopped while both variants are inside it. A 5 s sweep grace:
    # a stage the sweeper started would show up in its counter; NOTIFY-driven ones start in milliseconds.
    app = AppProcess(url, free_port(), tmp_path, test_slow_stage="planner", test_slow_seconds=3,
                     sweep_grace_seconds=5).start()
    try:
        job_a, variants = seedlib.start_job(db, tmp_path, variants_count=2, one_image=True)
        wait_for(lambda: db.rollback() or db.execute(text(
            "SELECT count(*) FROM test_executions WHERE stage = 'planner'")).scalar() == 2, 30,
            what="both planners working")
        db.close()
        db.get_bind().dispose()
        server.stop()  # every connection of the app drops mid-stage, the listener's too
        # The planners' commits met the stopped server: the runner's retry loop is running now.
        wait_for(lambda: metric(app.port, "pipeline_commit_retries_total") >= 2, 30, interval=0.1,
                 what="both commits retried while the server was down")
        server.ensure_postgres_running()
        db = session_for(url)
        wait_for(lambda: job_finished(db, job_a), 90, interval=0.2, what="job A finished after the restart")
        # The cut-off commits went through on a retry: one run each, never lost and re-run.
        planner_runs = db.execute(text("SELECT status, attempt FROM stage_runs WHERE step = 'planner'")).all()
        assert sorted(planner_runs) == [("done", 1), ("done", 1)], planner_runs
        assert max(n for _, _, n in executions(db)) == 1

        # A job after the restart: the reconnected listener dispatches every stage, the sweeper none.
        wait_for(lambda: _healthy(app.port), 30, what="the listener reconnected")
        swept = [metric(app.port, "pipeline_sweeper_recovered_total", kind=k) for k in ("variants", "jobs")]
        job_b, _ = seedlib.start_job(db, tmp_path, variants_count=2, one_image=True)
        wait_for(lambda: job_finished(db, job_b), 60, interval=0.2, what="job B finished")
        assert [metric(app.port, "pipeline_sweeper_recovered_total", kind=k) for k in ("variants", "jobs")] == swept
        assert max(n for _, _, n in executions(db)) == 1
    finally:
        app.stop()
        db.close()
        db.get_bind().dispose()
        server.stop()  # cleanup() would leave it running: the server was started with cleanup_mode=None
        shutil.rmtree(pgdata, ignore_errors=True)
