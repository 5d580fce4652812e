"""Waiting that never ends by itself is visible: /healthz (degraded), /metrics, the jobs API and the dashboard."""
import httpx
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.engine_app import counting_handlers
from test.integration.helpers import wait_for


def test_start_gate_and_upstream_waits_are_reported(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path, start_gate_warn_seconds=0.5)
    gated, gated_variants = seedlib.create_job(db, tmp_path, variants_count=2, ad_copy_eng=None)
    seedlib.simulate_image_part(db, gated)  # img_gen done, but the text part never writes ad_copy_eng
    held, (moving, stuck) = seedlib.create_job(db, tmp_path, variants_count=2)
    db.execute(text("UPDATE jobs_variants SET current_step = 'img_gen', status = 'running' WHERE job_variants_id = :v"),
               {"v": stuck})
    db.execute(text("UPDATE jobs_variants SET current_step = 'img_gen', status = 'done' WHERE job_variants_id = :v"),
               {"v": moving})
    db.commit()
    base = f"http://127.0.0.1:{settings.port}"
    with serve(create_app(settings, handlers_factory=counting_handlers), settings.port):
        def reported():
            health = httpx.get(f"{base}/healthz", timeout=10)
            body = health.json()
            return (health, body) if body["waiting"] == {"start_gate": 2, "held_upstream": 1} else None
        health, body = wait_for(reported, 30, interval=0.2, what="both waits reported")
        assert health.status_code == 200 and body["ok"] is True and body["degraded"] is True
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
        assert "pipeline_start_gate_waiting 2.0" in metrics and "pipeline_jobs_held_upstream 1.0" in metrics
        waits = {v["job_variants_id"]: v["waiting_for"]
                 for job in (gated, held) for v in httpx.get(f"{base}/api/yh/jobs/{job}", timeout=10).json()["variants"]}
        assert waits == {gated_variants[0]: "ad_copy_eng", gated_variants[1]: "ad_copy_eng", stuck: "img_gen",
                         moving: None}
        page = httpx.get(f"{base}/dashboard", timeout=10).text
        assert 'data-testid="waiting-warning"' in page and "2 variant(s) without their English copy" in page
        job_page = httpx.get(f"{base}/dashboard/jobs/{gated}", timeout=10).text
        assert job_page.count('data-testid="variant-waiting"') == 2
