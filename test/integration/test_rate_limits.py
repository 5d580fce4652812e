"""Provider rate limits shared through PostgreSQL (issue 26): two processes keep one budget; a 429 storm
ends in success with no failed row. The provider is a real local HTTP server (services/ops/fake_provider.py)."""
import httpx
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from services.ops.fake_provider import FakeProvider
from services.ops.testing import AppProcess, free_port
from test.conftest import app_settings, serve
from test.integration.helpers import job_finished, wait_for

LLM_STAGES = "ad_copy_gen_kor,instagram_feed_gen"  # the noop app's job stages call the provider
FAILED = text("SELECT (SELECT count(*) FROM stage_runs WHERE status <> 'done') "
              "+ (SELECT count(*) FROM jobs WHERE status = 'failed' OR retry_count > 0) "
              "+ (SELECT count(*) FROM jobs_variants WHERE status = 'failed' OR retry_count > 0)")


def _jobs(db, assets, n: int) -> list[str]:
    jobs = [seedlib.create_job(db, assets, tenant_id=f"t{i % 2}", variants_count=1, one_image=True)[0] for i in range(n)]
    for job in jobs:
        seedlib.simulate_image_part(db, job)
    return jobs


def _all_finished(db, jobs) -> bool:
    return all(job_finished(db, j) for j in jobs)


def test_the_rate_limit_holds_across_two_processes(db, db_url, tmp_path):
    provider = FakeProvider(free_port())
    env = dict(test_llm_stages=LLM_STAGES, openai_base_url=provider.base_url, openai_api_key="test",
               openai_rpm="3", rate_limit_window_seconds="2", worker_processes="0")
    apps = [AppProcess(db_url, free_port(), tmp_path / "assets", **env).start() for _ in range(2)]
    try:
        jobs = _jobs(db, tmp_path / "assets", 6)  # 12 calls, 8 at once could go (4 per process and stage)
        wait_for(lambda: _all_finished(db, jobs), 120, what="every job finished")
        health = httpx.get(f"{apps[0].base}/healthz").json().get("rate_limits", {}).get("openai")
        metrics = httpx.get(f"{apps[1].base}/metrics").text
    finally:
        for app in apps:
            app.stop()
        provider.close()
    assert len(provider.arrivals) == 12
    assert provider.most_in_any_window(2.0) <= 3, sorted(provider.arrivals)
    assert db.execute(FAILED).scalar() == 0  # waiting for the budget is not a failure
    assert health is not None and health["requests_per_window"] == 3 and health["window_seconds"] == 2
    assert 'pipeline_rate_limit{kind="requests",provider="openai"} 3.0' in metrics


def test_a_429_storm_ends_in_success_without_failed_rows(db, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_LLM_STAGES", LLM_STAGES)
    provider = FakeProvider(free_port(), storm=12, retry_after=0.2)  # more 429s in a row than any SDK retries
    settings = app_settings(db_url, tmp_path, openai_base_url=provider.base_url, openai_api_key="test",
                            openai_rpm=100, rate_limit_window_seconds=2, rate_limit_cooldown_seconds=30)
    try:
        with serve(create_app(settings, _handlers), settings.port):
            jobs = _jobs(db, settings.assets_dir, 2)
            wait_for(lambda: _all_finished(db, jobs), 90, what="every job finished")
            health = httpx.get(f"http://127.0.0.1:{settings.port}/healthz").json().get("rate_limits", {}).get("openai")
    finally:
        provider.close()
    assert provider.throttled == 12 and len(provider.arrivals) == 4
    assert db.execute(FAILED).scalar() == 0
    assert health is not None and health["throttled_total"] >= 1 and health["factor"] < 1  # the budget shrank for the cooldown
    assert health["effective_requests"] < 100


def _handlers(settings):
    from test.engine_app import counting_handlers

    return counting_handlers(settings)
