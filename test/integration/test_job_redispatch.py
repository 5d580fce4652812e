"""A job row at (step, done) whose NOTIFY was lost is started by the sweeper's job-level re-dispatch."""
import time

import pytest
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.engine_app import counting_handlers
from test.integration.helpers import job_finished, wait_for


@pytest.mark.parametrize("step", ["iou_eval", "ad_copy_gen_kor"])
def test_job_stage_whose_notification_was_lost_is_redispatched(db, db_url, tmp_path, step):
    settings = app_settings(db_url, tmp_path)  # listener and sweeper on, as in production
    job_id, _ = seedlib.create_job(db, settings.assets_dir, variants_count=2)
    db.execute(text("UPDATE jobs_variants SET current_step = 'iou_eval', status = 'done' WHERE job_id = :j"),
               {"j": job_id})
    # Committed while no app listens: this NOTIFY reaches nobody, only the sweeper can find the row.
    db.execute(text("UPDATE jobs SET current_step = :s, status = 'done' WHERE job_id = :j"), {"j": job_id, "s": step})
    db.commit()
    with serve(create_app(settings, counting_handlers), settings.port):
        started = time.monotonic()
        # Bounded by grace (1 s) + interval (0.5 s) per lost hop; 30 s only absorbs a loaded machine.
        wait_for(lambda: job_finished(db, job_id), 30, what=f"the job at ({step}, done) re-dispatched")
        print(f"({step}, done) recovered in {time.monotonic() - started:.2f} s")
    db.rollback()
    runs = db.execute(text("SELECT step, status FROM stage_runs WHERE job_id = :j AND job_variants_id IS NULL "
                           "ORDER BY run_id"), {"j": job_id}).all()
    expected = [("ad_copy_gen_kor", "done")] if step == "iou_eval" else []
    assert runs == expected + [("instagram_feed_gen", "done")], runs  # each job stage once
