"""Real model backends through the engine: a tiny LLaVA and a YOLO built offline, loaded from local
paths by the app's settings, and what happens when the configured weights are missing."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

import services.imaging.detect
from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.integration.helpers import job_finished, job_state, wait_for
from test.tiny_llava import build_tiny_llava


def _rows(db, sql: str, **params) -> list:
    db.rollback()  # a fresh snapshot
    return db.execute(text(sql), params).mappings().all()


def _health(settings) -> dict:
    response = httpx.get(f"http://127.0.0.1:{settings.port}/healthz", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _run_one_variant_job(db, settings, timeout: float = 60) -> str:
    job_id, _ = seedlib.start_job(db, settings.assets_dir, variants_count=1)
    wait_for(lambda: job_finished(db, job_id), timeout, interval=0.2, what="the job's feed")
    return job_id


def coco_names() -> list[str]:
    """The COCO class names the test model carries."""
    import yaml
    from ultralytics.utils import ROOT

    return list(yaml.safe_load((ROOT / "cfg/datasets/coco.yaml").read_text())["names"].values())


@pytest.fixture(scope="module")
def yolo_weights(tmp_path_factory) -> Path:
    """A random-weight YOLOv8n built from its config (no download) and saved as a local .pt."""
    import torch
    import yaml
    from ultralytics import YOLO
    from ultralytics.utils import ROOT

    torch.manual_seed(0)
    model = YOLO("yolov8n.yaml")
    model.model.names = dict(yaml.safe_load((ROOT / "cfg/datasets/coco.yaml").read_text())["names"])
    path = tmp_path_factory.mktemp("yolo") / "tiny-yolov8n.pt"
    model.save(str(path))
    return path


def test_llava_backend_through_the_engine(db, db_url, tmp_path):
    model_dir = build_tiny_llava(tmp_path / "tiny-llava")
    settings = app_settings(db_url, tmp_path, vlm_backend="llava", llava_model_path=str(model_dir),
                            fallback_to_default=False)
    with serve(create_app(settings), settings.port):
        vlm = _health(settings)["models"]["vlm"]
        assert vlm["backend"] == "llava" and vlm["active"] == "llava:tiny-llava"
        assert vlm["loaded"] is True and vlm["error"] is None
        job_id = _run_one_variant_job(db, settings)

    traces = _rows(db, "SELECT operation_type, provider, response FROM vlm_traces WHERE job_id = :j "
                       "ORDER BY pk", j=job_id)
    assert [t["operation_type"] for t in traces] == ["analyze", "judge"]
    for trace in traces:
        assert trace["provider"].startswith("llava:"), trace["provider"]
        assert trace["response"]["backend"] == trace["provider"]
        # The model really generated: its raw reply and whether it parsed are kept with the verdict.
        assert isinstance(trace["response"]["raw_reply"], str) and isinstance(trace["response"]["parse_ok"], bool)
    judge = _rows(db, "SELECT e.metrics FROM evaluations e JOIN overlay_layouts o USING (overlay_id) "
                      "JOIN jobs_variants v USING (job_variants_id) WHERE v.job_id = :j "
                      "AND e.evaluation_type = 'llava_judge'", j=job_id)
    assert len(judge) == 1 and judge[0]["metrics"]["backend"].startswith("llava:")
    assert 0 <= judge[0]["metrics"]["overall"] <= 10


def test_yolo_backend_through_the_engine(db, db_url, tmp_path, yolo_weights, monkeypatch):
    # Random weights score every box near 1e-4: at the usual 0.25 nothing is found and the stored count
    # would be 0 == 0. A threshold under those scores gives real detections to store (and to check).
    monkeypatch.setattr(services.imaging.detect.YoloDetector.__init__, "__defaults__", (None, 1e-4))
    settings = app_settings(db_url, tmp_path, detector_backend="yolo", yolo_weights_path=str(yolo_weights),
                            fallback_to_default=False)
    with serve(create_app(settings), settings.port):
        detector = _health(settings)["models"]["detector"]
        assert detector["backend"] == "yolo" and detector["active"] == "yolo:tiny-yolov8n.pt"
        assert detector["loaded"] is True and detector["error"] is None
        job_id = _run_one_variant_job(db, settings)

    runs = _rows(db, "SELECT model_name, detection_count, forbidden_mask_url FROM yolo_runs WHERE job_id = :j",
                 j=job_id)
    assert len(runs) == 1
    assert runs[0]["model_name"].startswith("yolo:") and runs[0]["model_name"] == "yolo:tiny-yolov8n.pt"
    assert runs[0]["forbidden_mask_url"].startswith("/assets/masks/")
    assert runs[0]["detection_count"] > 0
    stored = _rows(db, "SELECT label, score, box FROM detections WHERE job_id = :j", j=job_id)
    assert len(stored) == runs[0]["detection_count"]
    names = set(coco_names())
    assert all(d["label"] in names | {"face"} and 0 <= d["score"] < 1 and len(d["box"]) == 4 for d in stored), stored[:3]


def test_missing_llava_weights_fall_back_to_the_measured_vlm(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path, vlm_backend="llava", llava_model_path="/nonexistent",
                            fallback_to_default=True)
    with serve(create_app(settings), settings.port):
        vlm = _health(settings)["models"]["vlm"]
        assert vlm["loaded"] is False and vlm["active"] == "default-measured"
        assert "/nonexistent" in vlm["error"] and "fell back to default-measured" in vlm["error"]
        job_id = _run_one_variant_job(db, settings)

    providers = _rows(db, "SELECT operation_type, provider FROM vlm_traces WHERE job_id = :j ORDER BY pk", j=job_id)
    assert [(p["operation_type"], p["provider"]) for p in providers] == [
        ("analyze", "default-measured"), ("judge", "default-measured")]


def test_missing_llava_weights_without_fallback_fail_the_variant(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path, vlm_backend="llava", llava_model_path="/nonexistent",
                            fallback_to_default=False)
    with serve(create_app(settings), settings.port):
        vlm = _health(settings)["models"]["vlm"]
        assert vlm["loaded"] is False and vlm["active"] == "llava:nonexistent"
        assert "/nonexistent" in vlm["error"] and "fell back" not in vlm["error"]
        job_id, (variant_id,) = seedlib.start_job(db, settings.assets_dir, variants_count=1)
        # Retried max_retries times, then failed for good; with no variant left the job fails too.
        wait_for(lambda: job_state(db, job_id) == ("iou_eval", "failed"), 45, interval=0.2,
                 what="the job to fail")

    variant = _rows(db, "SELECT * FROM jobs_variants WHERE job_variants_id = :v", v=variant_id)[0]
    assert (variant["current_step"], variant["status"]) == ("vlm_analyze", "failed")
    assert variant["next_retry_at"] is None and variant["retry_count"] == settings.max_retries
    assert "unavailable" in variant["last_error"] and "/nonexistent" in variant["last_error"]
    assert vlm["error"] in variant["last_error"]  # the load error /healthz shows is the stored reason
    runs = _rows(db, "SELECT step, status, error FROM stage_runs WHERE job_variants_id = :v ORDER BY started_at",
                 v=variant_id)
    assert [(r["step"], r["status"]) for r in runs] == [("vlm_analyze", "failed")] * (settings.max_retries + 1)
    assert all("/nonexistent" in r["error"] for r in runs)
    assert _rows(db, "SELECT count(*) AS n FROM vlm_traces WHERE job_id = :j", j=job_id)[0]["n"] == 0
    assert _rows(db, "SELECT count(*) AS n FROM instagram_feeds WHERE job_id = :j", j=job_id)[0]["n"] == 0
