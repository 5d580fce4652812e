"""The engine end to end with no-op stages: triggers, listener, claims, job level, start gate."""
import httpx
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from services.engine.pipeline import STAGES
from test.conftest import app_settings, serve
from test.engine_app import counting_handlers
from test.integration.helpers import executions, job_finished, wait_for


def test_upstream_statements_start_and_finish_a_job(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings, counting_handlers), settings.port):
        job_id, variants = seedlib.create_job(db, settings.assets_dir, variants_count=3)
        before = db.execute(text("SELECT clock_timestamp()")).scalar()
        seedlib.simulate_image_part(db, job_id)
        wait_for(lambda: job_finished(db, job_id), 20, what="job finished")
    # Every variant was claimed by vlm_analyze within a second of the image part's statements.
    lag = db.execute(text("SELECT max(EXTRACT(EPOCH FROM started_at - :t)) FROM stage_runs WHERE step = 'vlm_analyze'"),
                     {"t": before}).scalar()
    assert lag is not None and float(lag) < 1.0, lag
    runs = executions(db)
    variant_stages = [s.name for s in STAGES if s.level == "variant"]
    assert sorted((s, str(r)) for s, r, _ in runs if s in variant_stages) == sorted(
        (s, v) for s in variant_stages for v in variants)
    assert all(n == 1 for _, _, n in runs), runs
    assert sorted(s for s, r, _ in runs if str(r) == job_id) == ["ad_copy_gen_kor", "instagram_feed_gen"]
    assert db.execute(text("SELECT count(*) FROM jobs_variants WHERE job_id = :j AND selected"), {"j": job_id}).scalar() == 1


def test_start_gate_waits_for_the_english_copy(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings, counting_handlers), settings.port):
        job_id, variants = seedlib.start_job(db, settings.assets_dir, variants_count=2, ad_copy_eng=None)
        # Twice the sweeper's grace period: nothing may start without the text.
        import time
        time.sleep(2.5)
        db.rollback()
        steps = db.execute(text("SELECT DISTINCT current_step, status FROM jobs_variants WHERE job_id = :j"),
                           {"j": job_id}).all()
        assert steps == [("img_gen", "done")]
        seedlib.add_text_part(db, job_id, "Late copy arrives")
        db.commit()
        wait_for(lambda: job_finished(db, job_id), 20, what="job finished after the text arrived")


def test_bad_requests(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings, counting_handlers), settings.port):
        job_id, variants = seedlib.create_job(db, settings.assets_dir, variants_count=1)
        base = f"http://127.0.0.1:{settings.port}"
        r = httpx.post(f"{base}/api/yh/yolo/detect", json={"job_id": "nope", "job_variants_id": variants[0]})
        assert r.status_code == 422
        r = httpx.post(f"{base}/api/yh/yolo/detect", json={"job_id": job_id})
        assert r.status_code == 422
        r = httpx.post(f"{base}/api/yh/yolo/detect",
                       json={"job_id": job_id, "job_variants_id": "00000000-0000-0000-0000-000000000000"})
        assert r.status_code == 404
        r = httpx.post(f"{base}/api/yh/gpt/eng-to-kor", json={"job_id": "00000000-0000-0000-0000-000000000000"})
        assert r.status_code == 404
        # The variant is at (user_img_input, done): yolo_detect needs (vlm_analyze, done).
        r = httpx.post(f"{base}/api/yh/yolo/detect", json={"job_id": job_id, "job_variants_id": variants[0]})
        assert r.status_code == 409, r.text
        r = httpx.post(f"{base}/api/yh/yolo/detect",
                       json={"job_id": job_id, "job_variants_id": variants[0], "tenant_id": "someone-else"})
        assert r.status_code == 404
        assert httpx.get(f"{base}/api/yh/jobs/{job_id}").json()["variants"][0]["current_step"] == "user_img_input"
        assert httpx.get(f"{base}/api/yh/jobs/not-a-uuid").status_code == 422
        assert httpx.get(f"{base}/api/yh/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
        # A NOTIFY that is not the expected JSON is logged and ignored; the listener keeps working.
        db.execute(text("SELECT pg_notify('job_variant_state_changed', 'not json')"))
        db.execute(text("""SELECT pg_notify('job_variant_state_changed', '{"type": "variant_state"}')"""))
        db.commit()
        seedlib.simulate_image_part(db, job_id)
        wait_for(lambda: job_finished(db, job_id), 20, what="job finished after bad notifications")
        assert httpx.get(f"{base}/healthz").json()["listener_connected"] is True


def test_seed_003_statements_through_session_local(db, db_url, tmp_path, monkeypatch):
    """Upstream code as the seeds write it: `from database import SessionLocal`, raw UPDATEs, commit."""
    import database
    from config import get_settings

    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    monkeypatch.setattr(database, "_sync_engine", None)
    settings = app_settings(db_url, tmp_path)
    try:
        with serve(create_app(settings, counting_handlers), settings.port):
            job_id, variants = seedlib.create_job(db, settings.assets_dir, variants_count=2)
            upstream = database.SessionLocal()
            for variant_id in variants:
                upstream.execute(text(seedlib.IMG_GEN_RUNNING), {"job_variants_id": variant_id})
                upstream.commit()
                upstream.execute(text(seedlib.IMG_GEN_DONE), {"job_variants_id": variant_id})
                upstream.commit()
            upstream.close()
            wait_for(lambda: job_finished(db, job_id), 20, what="job finished")
    finally:
        database.sync_engine().dispose()
        get_settings.cache_clear()


def test_claims_check_the_tenant_on_rows_ready_to_run(db, db_url, tmp_path):
    # No listener or sweeper: the rows stay claimable until this test's own requests.
    settings = app_settings(db_url, tmp_path, enable_job_state_listener=False, enable_sweeper=False)
    with serve(create_app(settings, counting_handlers), settings.port):
        base = f"http://127.0.0.1:{settings.port}"
        job_id, (variant,) = seedlib.create_job(db, settings.assets_dir, tenant_id="owner", variants_count=1)
        db.execute(text("UPDATE jobs_variants SET current_step = 'vlm_analyze', status = 'done' WHERE job_id = :j"),
                   {"j": job_id})
        db.execute(text("UPDATE jobs SET current_step = 'iou_eval', status = 'done' WHERE job_id = :j"), {"j": job_id})
        db.commit()
        for url, body in (("/api/yh/yolo/detect", {"job_id": job_id, "job_variants_id": variant}),
                          ("/api/yh/gpt/eng-to-kor", {"job_id": job_id})):
            r = httpx.post(base + url, json={**body, "tenant_id": "someone-else"})
            assert r.status_code == 404, (url, r.text)
            assert db.execute(text("SELECT count(*) FROM stage_runs")).scalar() == 0  # nothing was claimed
            db.rollback()
            r = httpx.post(base + url, json={**body, "tenant_id": "owner"})
            assert r.status_code == 200 and r.json()["status"] == "done", (url, r.text)
            db.execute(text("DELETE FROM stage_runs"))
            # The job stage also needs every variant finished (a job advanced early waits for them).
            db.execute(text("UPDATE jobs_variants SET current_step = 'iou_eval', status = 'done' WHERE job_id = :j"),
                       {"j": job_id})
            db.commit()
