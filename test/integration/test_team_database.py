"""The service on the team's shared database: history with duplicates, seed 002's trigger, a busy writer."""
import asyncio
import logging
import os
import subprocess
import sys
import threading
import time

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import database
from main import create_app
from scripts import seedlib
from services.engine import migrations
from test.conftest import app_settings, serve
from test.engine_app import EXECUTIONS_DDL, counting_handlers
from test.integration import teamdb
from test.integration.helpers import job_finished, session_for, wait_for
from test.integration.procs import ROOT


@pytest.fixture
def team_db(empty_db_url):
    """(url, last history pk per table, the contract's columns) of a freshly built team database."""
    async def build():
        last = await teamdb.build(empty_db_url)
        conn = await asyncpg.connect(empty_db_url)
        try:
            await conn.execute(EXECUTIONS_DDL)  # the counting handlers' record (a test table, not the service's)
            return last, await teamdb.columns_of(conn)
        finally:
            await conn.close()
    last, columns = asyncio.run(build())
    return empty_db_url, last, columns


def _fingerprint(url, columns, last):
    async def run():
        conn = await asyncpg.connect(url)
        try:
            return await teamdb.fingerprint(conn, columns, last)
        finally:
            await conn.close()
    return asyncio.run(run())


class _Retries(logging.Handler):
    """Counts the runner's lock retries (the migration waiting behind another part's transaction)."""

    def __init__(self):
        super().__init__()
        self.seen = threading.Event()
        self.count = 0

    def emit(self, record):
        if "lock not available" in record.getMessage():
            self.count += 1
            self.seen.set()


def _migrate_status(url: str) -> str:
    out = subprocess.run([sys.executable, "scripts/migrate.py", "status"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "DATABASE_URL": url}, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_service_migrates_the_team_database_online(team_db, tmp_path):
    url, last, columns = team_db
    before = _fingerprint(url, columns, last)
    status = _migrate_status(url)
    assert "30 job(s) with more than one feed" in status and "is installed" in status, status

    # Another part's live job; one of its writers holds a long transaction on jobs_variants.
    db, long_writer, other_writer = session_for(url), session_for(url), session_for(url)
    job_id, (held, busy) = seedlib.create_job(db, tmp_path / "assets", tenant_id="team_live", variants_count=2)
    long_writer.execute(text("UPDATE jobs_variants SET status = 'running', current_step = 'img_gen' "
                             "WHERE job_variants_id = :v"), {"v": held})
    retries = _Retries()
    logging.getLogger("services.engine.migrations").addHandler(retries)
    completed = []

    def other_part():
        # Another writer of the same table works on throughout. While the migration waits for its lock, its
        # queued lock request gives up after lock_timeout, so these statements keep completing (without
        # lock_timeout the first one queued behind the migration would wait for the long transaction and
        # hit statement_timeout). Once it has seen three retries, the long transaction ends.
        try:
            other_writer.execute(text("SET statement_timeout = '10s'"))
            other_writer.commit()
            for i in range(2000):
                other_writer.execute(text("UPDATE jobs_variants SET retry_count = :i WHERE job_variants_id = :v"),
                                     {"i": i % 100, "v": busy})
                other_writer.commit()
                completed.append(retries.count)
                if retries.count >= 3:
                    break
                time.sleep(0.05)
        except OperationalError as exc:
            completed.append(exc)
        finally:
            long_writer.rollback()
    part = threading.Thread(target=other_part)
    part.start()
    settings = app_settings(url, tmp_path, migrate_lock_timeout_seconds=0.3)
    try:
        with serve(create_app(settings, counting_handlers), settings.port):
            part.join(30)
            assert all(isinstance(c, int) for c in completed), completed[-1]
            assert completed[-1] >= 3 and completed.count(1) + completed.count(2) >= 1  # writes between retries
            seedlib.simulate_image_part(db, job_id)
            wait_for(lambda: job_finished(db, job_id), 30, what="a new job finished on the team database")
    finally:
        logging.getLogger("services.engine.migrations").removeHandler(retries)
        part.join(30)
        for session in (db, long_writer, other_writer):
            session.close()
            session.get_bind().dispose()

    assert _fingerprint(url, columns, last) == before  # history byte-for-byte unchanged
    db = session_for(url)
    try:
        # Job stages only after every variant finished iou_eval (seed 002's trigger would have started them at img_gen).
        first_job_stage, last_iou = db.execute(text("""
            SELECT min(started_at) FILTER (WHERE job_variants_id IS NULL),
                   max(finished_at) FILTER (WHERE step = 'iou_eval') FROM stage_runs WHERE job_id = :j"""),
            {"j": job_id}).one()
        assert first_job_stage >= last_iou
        assert db.execute(text("SELECT count(*) FROM pg_trigger WHERE tgname = 'check_all_variants_done_trigger'")).scalar() == 0
    finally:
        db.close()
        db.get_bind().dispose()

    # Starting again (and the runner again) changes nothing.
    settings = app_settings(url, tmp_path)
    with serve(create_app(settings, counting_handlers), settings.port):
        pass

    async def again():
        conn = await asyncpg.connect(url)
        try:
            assert await database.apply_schema(conn) is False
            return await conn.fetch("SELECT version, notes FROM service_migrations ORDER BY version")
        finally:
            await conn.close()
    applied = asyncio.run(again())
    assert [r["version"] for r in applied] == [m.version for m in migrations.discover()]
    assert _fingerprint(url, columns, last) == before
    status = _migrate_status(url)
    assert "pending:\n  none" in status
    assert "30 job(s) with more than one feed" in status and "30 (overlay, type) pair(s)" in status
    assert "was dropped by migration 0004" in status, status
    print(status)


def test_new_jobs_get_exactly_one_feed_on_the_team_database(team_db, tmp_path):
    url, last, columns = team_db
    before = _fingerprint(url, columns, last)
    settings = app_settings(url, tmp_path)
    db = session_for(url)
    try:
        with serve(create_app(settings), settings.port):  # the real stages (default backends)
            job_id, _ = seedlib.start_job(db, settings.assets_dir, variants_count=2, one_image=True)
            wait_for(lambda: job_finished(db, job_id), 120, interval=0.2, what="the job's feed")
            # The feed stage runs again (a manual re-run): the feed is replaced, not duplicated.
            db.execute(text("UPDATE jobs SET current_step = 'ad_copy_gen_kor', status = 'done' WHERE job_id = :j"),
                       {"j": job_id})
            db.commit()
            wait_for(lambda: db.execute(text("SELECT count(*) FROM stage_runs WHERE job_id = :j AND status = 'done' "
                                             "AND step = 'instagram_feed_gen'"), {"j": job_id}).scalar() == 2
                     and job_finished(db, job_id), 60, what="the feed stage ran again")
        db.rollback()
        assert db.execute(text("SELECT count(*) FROM instagram_feeds WHERE job_id = :j"), {"j": job_id}).scalar() == 1
        assert db.execute(text("""SELECT count(*) FROM (SELECT 1 FROM evaluations e JOIN overlay_layouts o USING (overlay_id)
                                  JOIN jobs_variants v USING (job_variants_id) WHERE v.job_id = :j
                                  GROUP BY e.overlay_id, e.evaluation_type HAVING count(*) > 1) d"""),
                          {"j": job_id}).scalar() == 0
    finally:
        db.close()
        db.get_bind().dispose()
    assert _fingerprint(url, columns, last) == before
