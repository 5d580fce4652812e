"""Fair share between tenants and job priority (issue 26), in one process and across two replicas."""
import httpx
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from services.ops.testing import AppProcess, free_port
from test.conftest import app_settings, serve
from test.engine_app import counting_handlers
from test.integration.helpers import job_finished, wait_for

CLAIM_ORDER = text("SELECT j.tenant_id, r.job_id::text FROM stage_runs r JOIN jobs j USING (job_id) "
                   "WHERE r.step = 'vlm_analyze' ORDER BY r.started_at, r.run_id")


# vlm_analyze runs of tenant `b` that started while a run of tenant `a` was running.
OVERLAPS = text("SELECT count(*) FROM stage_runs x JOIN jobs jx ON jx.job_id = x.job_id, stage_runs y "
                "JOIN jobs jy ON jy.job_id = y.job_id WHERE x.step = 'vlm_analyze' AND y.step = 'vlm_analyze' "
                "AND jx.tenant_id = :b AND jy.tenant_id = :a AND x.run_id <> y.run_id "
                "AND x.started_at > y.started_at AND x.started_at < y.finished_at")


def _claims(db) -> list[tuple[str, str]]:
    db.rollback()
    return [tuple(r) for r in db.execute(CLAIM_ORDER)]


def _backlog_then_one(db, assets, a_jobs: int, last_tenant: str, urgent: bool = False, base: str = ""):
    """Tenant A's jobs start first, then one job of `last_tenant`; returns (A's job ids, the last job id)."""
    a = [seedlib.create_job(db, assets, tenant_id="chain_a", variants_count=1, one_image=True)[0]
         for _ in range(a_jobs)]
    last = seedlib.create_job(db, assets, tenant_id=last_tenant, variants_count=1, one_image=True)[0]
    if urgent:
        r = httpx.put(f"{base}/api/yh/jobs/{last}/priority", json={"priority": "urgent"})
        assert r.status_code == 200 and r.json()["priority"] == "urgent", r.text
    for job in a:
        seedlib.simulate_image_part(db, job)
    wait_for(lambda: len(_claims(db)) >= 1, 30, what="the backlog started")
    seedlib.simulate_image_part(db, last)
    return a, last


def _slow_first_stage(monkeypatch, seconds: float = 0.3) -> None:
    monkeypatch.setenv("TEST_SLOW_STAGE", "vlm_analyze")  # one at a time per process: a queue forms
    monkeypatch.setenv("TEST_SLOW_SECONDS", str(seconds))


def test_a_late_tenant_is_not_held_behind_a_backlog_in_one_process(db, db_url, tmp_path, monkeypatch):
    _slow_first_stage(monkeypatch)
    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings, counting_handlers), settings.port):
        a, b = _backlog_then_one(db, settings.assets_dir, 12, "shop_b")
        wait_for(lambda: job_finished(db, b), 60, what="B's job finished")
        order = [job for _, job in _claims(db)]
        # vlm_analyze runs one at a time: the one running, the one already handed to the runner, then B's
        # turn. First come first served put it 13th of 13.
        assert order.index(b) <= 3, order
        wait_for(lambda: all(job_finished(db, j) for j in a), 60, what="A's backlog finished")


def test_a_late_tenant_takes_a_slot_of_its_own(db, db_url, tmp_path, monkeypatch):
    _slow_first_stage(monkeypatch)
    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings, counting_handlers), settings.port):
        a, b = _backlog_then_one(db, settings.assets_dir, 12, "shop_b")
        wait_for(lambda: all(job_finished(db, j) for j in a + [b]), 60, what="every job finished")
    db.rollback()
    # vlm_analyze's concurrency (1) is per tenant: A's runs never overlap, and B's run started while one of
    # A's was running instead of waiting for it to give its slot back (before: no two runs ever overlapped).
    assert db.execute(OVERLAPS, {"a": "chain_a", "b": "chain_a"}).scalar() == 0
    assert db.execute(OVERLAPS, {"a": "chain_a", "b": "shop_b"}).scalar() == 1


def test_an_urgent_job_goes_ahead_of_its_tenants_queue(db, db_url, tmp_path, monkeypatch):
    _slow_first_stage(monkeypatch)
    settings = app_settings(db_url, tmp_path)
    base = f"http://127.0.0.1:{settings.port}"
    with serve(create_app(settings, counting_handlers), settings.port):
        assert httpx.put(f"{base}/api/yh/jobs/00000000-0000-0000-0000-000000000000/priority",
                         json={"priority": "urgent"}).status_code == 404
        a, urgent = _backlog_then_one(db, settings.assets_dir, 12, "chain_a", urgent=True, base=base)
        assert httpx.put(f"{base}/api/yh/jobs/{urgent}/priority", json={"priority": "soon"}).status_code == 422
        wait_for(lambda: job_finished(db, urgent), 60, what="the urgent job finished")
        order = [job for _, job in _claims(db)]
    assert order.index(urgent) <= 3, order  # of the same tenant's 13: normal order put it last


def test_fair_order_holds_across_two_replicas(db, db_url, tmp_path):
    env = dict(test_slow_stage="vlm_analyze", test_slow_seconds="0.3", worker_processes="0")
    apps = [AppProcess(db_url, free_port(), tmp_path / "assets", **env).start() for _ in range(2)]
    try:
        a, b = _backlog_then_one(db, tmp_path / "assets", 16, "shop_b")
        wait_for(lambda: job_finished(db, b), 90, what="B's job finished")
        order = [job for _, job in _claims(db)]
        # Two replicas, one vlm_analyze each: two running, two handed to the runners, then B.
        assert order.index(b) <= 5, order
        wait_for(lambda: all(job_finished(db, j) for j in a), 90, what="A's backlog finished")
    finally:
        for app in apps:
            app.stop()
