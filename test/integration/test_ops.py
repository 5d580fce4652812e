"""Operations: Prometheus metrics, the API key on stage and admin endpoints, tenant filtering of the jobs API."""
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from main import create_app
from scripts import seedlib
from services.engine.pipeline import STAGES
from test.conftest import app_settings, serve
from test.integration.helpers import job_finished, wait_for

KEY = "secret"


@pytest.fixture
def keyed_app(db_url, tmp_path):
    """The app (real stages) with API_KEY set; yields (settings, base URL)."""
    settings = app_settings(db_url, tmp_path, api_key=KEY)
    with serve(create_app(settings), settings.port):
        yield settings, f"http://127.0.0.1:{settings.port}"


def scrape(base: str) -> dict[tuple, float]:
    """/metrics as {(sample name, sorted labels): value}; fails unless it is valid Prometheus text."""
    response = httpx.get(f"{base}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def total(samples: dict, name: str, **labels) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(value for (sample, sample_labels), value in samples.items()
               if sample == name and set(labels.items()) <= set(sample_labels))


def test_metrics_move_and_the_pipeline_runs_with_the_key(keyed_app, db):
    settings, base = keyed_app
    before = scrape(base)
    job_id, _ = seedlib.start_job(db, settings.assets_dir, tenant_id="ops_tenant", variants_count=2)
    # The dispatcher sends X-API-Key itself: the whole pipeline still completes.
    wait_for(lambda: job_finished(db, job_id), 120, interval=0.2, what="the job's feed")
    after = scrape(base)

    def delta(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    for stage in STAGES:
        expected = 2 if stage.level == "variant" else 1
        assert delta("pipeline_stage_runs_total", stage=stage.name, outcome="done") >= expected, stage.name
    assert delta("pipeline_stage_runs_total", outcome="done") >= 8 * 2 + 2
    assert delta("pipeline_notifications_total", channel="job_variant_state_changed", valid="yes") >= 2 * 8
    assert delta("pipeline_notifications_total", channel="job_state_changed", valid="yes") >= 2
    assert delta("pipeline_dispatches_total", http_status="200") >= 8 * 2 + 2
    assert delta("pipeline_dispatches_total", http_status="401") == 0
    assert total(after, "pipeline_listener_connected") == 1
    assert delta("pipeline_stage_seconds_count", stage="overlay") >= 2  # histogram samples too


def test_stage_and_admin_endpoints_need_the_key(keyed_app, db):
    settings, base = keyed_app
    job_id, (variant_id, _) = seedlib.create_job(db, settings.assets_dir, tenant_id="ops_tenant", variants_count=2)
    requests = [
        ("/api/yh/yolo/detect", {"job_id": job_id, "job_variants_id": variant_id}),  # a variant stage
        ("/api/yh/gpt/eng-to-kor", {"job_id": job_id}),  # a job stage
        (f"/api/yh/jobs/{job_id}/retry", None),  # admin
    ]
    with httpx.Client(base_url=base, timeout=30) as client:
        for path, body in requests:
            assert client.post(path, json=body).status_code == 401, path
            assert client.post(path, json=body, headers={"X-API-Key": "wrong"}).status_code == 401, path
            assert client.post(path, json=body, headers={"X-API-Key": ""}).status_code == 401, path
            answer = client.post(path, json=body, headers={"X-API-Key": KEY})
            assert answer.status_code != 401, path
            assert answer.status_code in (200, 409), (path, answer.text)  # rows are at user_img_input: 409

        # Reads need no key.
        assert client.get("/api/yh/jobs").status_code == 200
        assert client.get(f"/api/yh/jobs/{job_id}").status_code == 200
        assert client.get(f"/api/yh/jobs/{uuid.uuid4()}").status_code == 404
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_jobs_list_filters_by_tenant(keyed_app, db):
    settings, base = keyed_app
    a_jobs = {seedlib.create_job(db, settings.assets_dir, tenant_id="tenant_a", variants_count=1)[0] for _ in range(2)}
    b_job, _ = seedlib.create_job(db, settings.assets_dir, tenant_id="tenant_b", variants_count=1)
    with httpx.Client(base_url=base, timeout=30) as client:
        listed = client.get("/api/yh/jobs", params={"tenant_id": "tenant_a"}).json()
        assert {j["job_id"] for j in listed} == a_jobs
        assert {j["tenant_id"] for j in listed} == {"tenant_a"}
        assert [j["job_id"] for j in client.get("/api/yh/jobs", params={"tenant_id": "tenant_b"}).json()] == [b_job]
        assert client.get("/api/yh/jobs", params={"tenant_id": "nobody"}).json() == []
        everything = {j["job_id"] for j in client.get("/api/yh/jobs").json()}
        assert a_jobs | {b_job} <= everything
        # One tenant cannot read another tenant's job by id either.
        assert client.get(f"/api/yh/jobs/{b_job}", params={"tenant_id": "tenant_a"}).status_code == 404
        assert client.get(f"/api/yh/jobs/{b_job}", params={"tenant_id": "tenant_b"}).status_code == 200
