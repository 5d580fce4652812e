"""Rewinds from upstream: the in-flight run is superseded at once; seed 000's insert-then-flip is one start."""
import time

from sqlalchemy import text

from main import create_app
from scripts import seedlib
from services.engine.pipeline import STAGES
from test.conftest import app_settings, serve
from test.engine_app import counting_handlers
from test.integration.helpers import executions, job_finished, wait_for


def _insert_job_at_img_gen_done(db, assets_dir, variants_count: int = 3) -> tuple[str, list[str]]:
    """Seed 000's test data: the job and every variant inserted already at (img_gen, done), text part done."""
    job_id, _ = seedlib.create_job(db, assets_dir, variants_count=0, one_image=True)
    assets = [seedlib.register_image(db, seedlib.SAMPLE_IMAGES[i % len(seedlib.SAMPLE_IMAGES)], assets_dir,
                                     "ye_pipeline_test_tenant", job_id) for i in range(variants_count)]
    db.execute(text("UPDATE jobs SET status = 'done', current_step = 'img_gen' WHERE job_id = :j"), {"j": job_id})
    variants = [str(db.execute(text("""
        INSERT INTO jobs_variants (job_id, img_asset_id, creation_order, status, current_step)
        VALUES (:j, :a, :o, 'done', 'img_gen') RETURNING job_variants_id"""),
        {"j": job_id, "a": asset, "o": i + 1}).scalar_one()) for i, asset in enumerate(assets)]
    db.commit()
    return job_id, variants


def _runs(db, where: str = "TRUE", **params) -> list[tuple]:
    db.rollback()
    return db.execute(text(f"SELECT job_variants_id, step, status FROM stage_runs WHERE {where} ORDER BY run_id"),
                      params).all()


def test_seed_000_insert_then_flip_is_one_start(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings, counting_handlers), settings.port):
        job_id, variants = _insert_job_at_img_gen_done(db, settings.assets_dir)
        # trigger_pipeline_start() follows the insert "within a second or two" (seed 000): model that gap, the
        # time in which an eager start would have claimed the rows; then each variant running -> done.
        time.sleep(1.0)
        seedlib.simulate_image_part(db, job_id)
        wait_for(lambda: job_finished(db, job_id), 30, what="job finished")
    runs = _runs(db)
    assert not [r for r in runs if r[2] == "running"], runs
    variant_stages = [s.name for s in STAGES if s.level == "variant"]
    done = sorted((str(v), step) for v, step, status in runs if status == "done" and v is not None)
    assert done == sorted((v, s) for v in variants for s in variant_stages), runs
    assert all(n == 1 for _, _, n in executions(db)), executions(db)


def test_rewind_supersedes_the_in_flight_run_and_the_variant_runs_again(db, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SLOW_STAGE", "yolo_detect")
    monkeypatch.setenv("TEST_SLOW_SECONDS", "2")
    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings, counting_handlers), settings.port):
        job_id, (first, second) = seedlib.start_job(db, settings.assets_dir, variants_count=2)
        wait_for(lambda: _runs(db, "job_variants_id = :v AND step = 'yolo_detect' AND status = 'running'", v=first),
                 20, what="yolo_detect running")
        # The image part regenerates the first variant: back to img_gen, running.
        db.execute(text(seedlib.IMG_GEN_RUNNING), {"job_variants_id": first})
        db.commit()
        assert _runs(db, "job_variants_id = :v AND step = 'yolo_detect'", v=first)[-1][2] == "superseded"
        assert db.execute(text("SELECT run_token, lease_until FROM jobs_variants WHERE job_variants_id = :v"),
                          {"v": first}).one() == (None, None)
        db.execute(text(seedlib.IMG_GEN_DONE), {"job_variants_id": first})
        db.commit()
        wait_for(lambda: job_finished(db, job_id), 40, what="job finished after the rewind")
    runs = _runs(db, "job_variants_id = :v", v=first)
    assert not [r for r in _runs(db) if r[2] == "running"]
    assert [s for _, s, st in runs if st == "superseded"] == ["yolo_detect"]
    # From where it now is: vlm_analyze again, then every later stage once, all done.
    after = [(s, st) for _, s, st in runs[[r[2] for r in runs].index("superseded") + 1:]]
    assert after == [(s.name, "done") for s in STAGES if s.level == "variant"], runs


def test_rows_inserted_already_done_and_never_flipped_start_after_the_settle_time(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path, start_settle_seconds=1.5)
    with serve(create_app(settings, counting_handlers), settings.port):
        job_id, variants = _insert_job_at_img_gen_done(db, settings.assets_dir, variants_count=2)
        wait_for(lambda: job_finished(db, job_id), 30, what="job finished without the flip")
    started = db.execute(text("""SELECT min(EXTRACT(EPOCH FROM r.started_at - v.created_at)) FROM stage_runs r
                                 JOIN jobs_variants v USING (job_variants_id) WHERE r.step = 'vlm_analyze'""")).scalar()
    assert float(started) >= 1.5  # not before the settle time (the claim refuses earlier)
    assert all(n == 1 for _, _, n in executions(db))
