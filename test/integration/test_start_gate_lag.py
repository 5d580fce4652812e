"""The start gate's wake-up with the sweeper on: the copy's commit starts the waiting variants at once.

The sweeper would start them too, but only SWEEP_GRACE_SECONDS after their (img_gen, done); with the
grace set to 10 s here, a lag under 3 s can only come from the wake-up trigger's NOTIFY.
"""
from prometheus_client import REGISTRY
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.engine_app import counting_handlers
from test.integration.helpers import job_finished, wait_for

GRACE = 10.0


def _refused() -> float:
    return REGISTRY.get_sample_value("pipeline_dispatches_total", {"stage": "vlm_analyze", "http_status": "409"}) or 0


def _claims(db, job_id: str) -> list:
    db.rollback()
    return db.execute(text("SELECT started_at FROM stage_runs WHERE job_id = :j AND step = 'vlm_analyze'"),
                      {"j": job_id}).scalars().all()


def test_copy_arriving_late_wakes_the_waiting_variants_with_the_sweeper_on(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path, sweep_grace_seconds=GRACE)
    with serve(create_app(settings, counting_handlers), settings.port):
        job_id, variants = seedlib.create_job(db, settings.assets_dir, variants_count=2, ad_copy_eng=None)
        refused = _refused()
        seedlib.simulate_image_part(db, job_id)
        # The image part's NOTIFYs were acted on: both claims refused at the gate (no copy yet).
        wait_for(lambda: _refused() >= refused + 2, 20, what="both vlm_analyze claims refused at the start gate")
        db.rollback()
        assert db.execute(text("SELECT DISTINCT current_step, status FROM jobs_variants WHERE job_id = :j"),
                          {"j": job_id}).all() == [("img_gen", "done")]
        assert _claims(db, job_id) == []
        seedlib.add_text_part(db, job_id, "Late copy arrives")
        committed = db.execute(text("SELECT clock_timestamp()")).scalar()  # the last statement before COMMIT
        db.commit()
        starts = wait_for(lambda: (c := _claims(db, job_id)) and len(c) == 2 and c, 2 * GRACE + 10,
                          what="both variants started after the copy")
        lag = max((s - committed).total_seconds() for s in starts)
        print(f"copy commit -> vlm_analyze claims: {lag:.3f} s (sweeper grace {GRACE} s)")
        assert lag < 3.0, f"variants started {lag:.1f} s after the copy: by the sweeper, not the wake-up"
        wait_for(lambda: job_finished(db, job_id), 30, what="job finished after the text arrived")
