"""Stage roles (SERVE_STAGES): a replica without the VLM stages never claims them, its rows wait for a
replica that serves them (and /healthz, the jobs API and the dashboard say so), and the job finishes
once a second replica with those stages runs against the same database."""
from __future__ import annotations

import threading
from collections import defaultdict

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text

from config import Settings
from main import create_app
from scripts import seedlib
from services.engine.pipeline import STAGES, VLM_STAGES
from services.stages.registry import build_handlers
from test.conftest import app_settings, serve
from test.integration.helpers import job_finished, wait_for

RAN: dict[str, set[str]] = defaultdict(set)  # stage -> the replicas whose handler ran it
_lock = threading.Lock()
CPU_STAGES = ",".join(s.name for s in STAGES if s.name not in VLM_STAGES)


def _tagged(replica: str):
    """The real handlers, each recording which replica ran it (both apps live in this one process)."""
    def factory(settings):
        handlers, status = build_handlers(settings)
        for name, handler in handlers.items():
            def run(inputs, _run=handler.run, _name=name):
                with _lock:
                    RAN[_name].add(replica)
                return _run(inputs)
            handler.run = run
        return handlers, status
    return factory


def _get(settings, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{settings.port}{path}", timeout=10)


def _variant_state(db, variant_id: str) -> tuple:
    db.rollback()
    return tuple(db.execute(text("SELECT current_step, status FROM jobs_variants WHERE job_variants_id = :v"),
                            {"v": variant_id}).one())


def _age(db, variant_id: str) -> float:
    db.rollback()
    return float(db.execute(text("SELECT EXTRACT(EPOCH FROM clock_timestamp() - updated_at) FROM jobs_variants "
                                 "WHERE job_variants_id = :v"), {"v": variant_id}).scalar())


def _runs(db, job_id: str) -> list:
    db.rollback()
    return db.execute(text("SELECT step, status FROM stage_runs WHERE job_id = :j ORDER BY started_at"),
                      {"j": job_id}).all()


def test_serve_stages_names_are_checked_against_the_stage_table():
    assert Settings(_env_file=None).served_stages == {s.name for s in STAGES}
    assert Settings(_env_file=None, serve_stages=" vlm_judge , vlm_analyze").served_stages == set(VLM_STAGES)
    with pytest.raises(ValidationError, match="unknown stage.*vlm_analyse"):
        Settings(_env_file=None, serve_stages="vlm_analyse,planner")


def test_a_replica_without_the_vlm_stages_never_claims_them_and_a_second_replica_finishes_the_job(db, db_url, tmp_path):
    RAN.clear()
    cpu = app_settings(db_url, tmp_path, serve_stages=CPU_STAGES, start_settle_seconds=0.5)
    gpu = app_settings(db_url, tmp_path, serve_stages="vlm_analyze,vlm_judge", start_settle_seconds=0.5)
    with serve(create_app(cpu, _tagged("cpu")), cpu.port):
        health = _get(cpu, "/healthz").json()
        assert health["stages"] == CPU_STAGES.split(",")
        assert health["unserved_stages"] == {s: f"no live replica serves {s} (SERVE_STAGES)" for s in VLM_STAGES}
        assert health["degraded"] is True and health["ok"] is True
        job_id, (variant_id,) = seedlib.start_job(db, cpu.assets_dir, variants_count=1)
        # Several sweeps (0.5 s each, 1 s grace) and the NOTIFY: the row stays where it is, unclaimed.
        wait_for(lambda: _get(cpu, f"/api/yh/jobs/{job_id}").json()["variants"][0]["waiting_for"] == "vlm_analyze",
                 30, interval=0.2, what="the variant waiting for vlm_analyze")
        # Until the row is older than the grace plus several sweeps: still there, and nothing claimed it.
        wait_for(lambda: _age(db, variant_id) > 4.0, 30, interval=0.2, what="4 s of sweeps")
        assert _variant_state(db, variant_id) == ("img_gen", "done")
        detail = _get(cpu, f"/api/yh/jobs/{job_id}").json()["variants"][0]
        assert detail["waiting_reason"] == "no live replica serves vlm_analyze (SERVE_STAGES)"
        assert "no live replica serves vlm_analyze" in _get(cpu, "/dashboard").text
        assert "no live replica serves vlm_analyze" in _get(cpu, f"/dashboard/jobs/{job_id}").text
        # A direct request to this replica is refused before any claim.
        direct = httpx.post(f"http://127.0.0.1:{cpu.port}/api/yh/llava/stage1/validate", timeout=10,
                            json={"job_id": job_id, "job_variants_id": variant_id})
        assert direct.status_code == 409 and "not served by this replica" in direct.json()["detail"]
        assert _runs(db, job_id) == [] and not RAN

        with serve(create_app(gpu, _tagged("gpu")), gpu.port):
            assert _get(cpu, "/healthz").json()["unserved_stages"] == {}
            wait_for(lambda: job_finished(db, job_id), 120, interval=0.2, what="the job's feed")
        # The GPU replica left the registry on shutdown: its stages wait again.
        assert set(_get(cpu, "/healthz").json()["unserved_stages"]) == set(VLM_STAGES)

    assert {stage: sorted(who) for stage, who in RAN.items()} == {
        s.name: ["gpu" if s.name in VLM_STAGES else "cpu"] for s in STAGES}
    runs = _runs(db, job_id)
    assert sorted(step for step, status in runs if status == "done") == sorted(s.name for s in STAGES), runs
