"""Bulk replay after a simulated LLM outage: five jobs failed for good at ad_copy_gen_kor re-run from there."""
import httpx
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.integration.helpers import job_finished, wait_for
from test.integration.test_text_stages import ChatServer


def _failed_for_good(db, job_ids) -> bool:
    db.rollback()
    return db.execute(text("SELECT count(*) FROM jobs WHERE job_id = ANY(CAST(:j AS uuid[])) AND status = 'failed' "
                           "AND next_retry_at IS NULL AND current_step = 'ad_copy_gen_kor'"), {"j": job_ids}).scalar() \
        == len(job_ids)


def test_replay_of_five_jobs_failed_in_an_llm_outage(db, db_url, tmp_path):
    chat = ChatServer(fail_first={"eng_to_kor": 10 ** 6})  # the provider answers 429 to every call: an outage
    settings = app_settings(db_url, tmp_path, openai_base_url=f"http://127.0.0.1:{chat.port}/v1",
                            openai_api_key="test", openai_max_retries=0, max_retries=1)
    base = f"http://127.0.0.1:{settings.port}/api/yh/jobs"
    try:
        with serve(create_app(settings), settings.port):
            jobs = [seedlib.start_job(db, settings.assets_dir, variants_count=1)[0] for _ in range(5)]
            wait_for(lambda: _failed_for_good(db, jobs), 180, interval=0.2, what="five jobs failed for good")
            failed = httpx.get(base, params={"finished": "true", "outcome": "failed"}).json()
            assert sorted(j["job_id"] for j in failed) == sorted(jobs)
            assert httpx.post(f"{base}/replay", json={"limit": 0}).status_code == 422
            assert httpx.post(f"{base}/replay", json={"step": "no_such_step"}).status_code == 422
            chat.fail_first.clear()  # the provider is back

            dry = httpx.post(f"{base}/replay", json={"step": "ad_copy_gen_kor", "dry_run": True, "limit": 3}).json()
            assert dry["matched"] == 5 and dry["replayed"] == 0 and dry["more"] is True, dry
            assert len(dry["jobs"]) == 3 and {j["job_id"] for j in dry["jobs"]} <= set(jobs)
            assert _failed_for_good(db, jobs)  # a dry run changes nothing
            other = httpx.post(f"{base}/replay", json={"tenant_id": "another-tenant", "dry_run": True}).json()
            assert other["matched"] == 0

            r = httpx.post(f"{base}/replay", json={"step": "ad_copy_gen_kor", "tenant_id": "ye_pipeline_test_tenant"},
                           headers={"X-Actor": "oncall"})
            assert r.status_code == 200, r.text
            assert r.json()["replayed"] == 5 and r.json()["more"] is False, r.json()
            for job_id in jobs:
                wait_for(lambda job_id=job_id: job_finished(db, job_id), 120, interval=0.2, what="replayed job's post")
            again = httpx.post(f"{base}/replay", json={}).json()
            assert again["matched"] == 0 and again["replayed"] == 0
            done = httpx.get(base, params={"finished": "true", "outcome": "done"}).json()
            assert sorted(j["job_id"] for j in done) == sorted(jobs)
            detail = httpx.get(f"{base}/{jobs[0]}").json()
            assert [(a["action"], a["actor"].split(" ")[0]) for a in detail["actions"]] == [("replay", "oncall")]
    finally:
        chat.close()
    db.rollback()
    runs = db.execute(text("SELECT status, count(*) FROM stage_runs WHERE step = 'ad_copy_gen_kor' GROUP BY 1")).all()
    assert dict(runs) == {"failed": 10, "done": 5}, runs  # two attempts each in the outage, then one each
    assert db.execute(text("SELECT count(*) FROM stage_runs WHERE step = 'vlm_analyze'")).scalar() == 5
