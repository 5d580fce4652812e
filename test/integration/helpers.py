"""Helpers for integration tests: sync sessions on a test database and waiting for states."""
import time

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.ops.testing import session_for  # noqa: F401 - the tests' name for it


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll until predicate() is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def job_state(db: Session, job_id: str) -> tuple:
    """(current_step, status) of a job."""
    db.rollback()  # a fresh snapshot each poll
    return tuple(db.execute(text("SELECT current_step, status FROM jobs WHERE job_id = :j"), {"j": job_id}).one())


def job_finished(db: Session, job_id: str) -> bool:
    """True once the job is at (instagram_feed_gen, done)."""
    return job_state(db, job_id) == ("instagram_feed_gen", "done")


def executions(db: Session) -> list[tuple]:
    """(stage, row_id, count) of recorded stage executions."""
    db.rollback()
    return db.execute(text("SELECT stage, row_id, count(*) FROM test_executions GROUP BY 1, 2")).all()


def listener_pids(db: Session) -> set[int]:
    """Backend pids of the app listeners connected to this test's database (other tests share the server)."""
    db.rollback()
    return {r[0] for r in db.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = "
                                          "'adpipe-listener' AND datname = current_database()"))}
