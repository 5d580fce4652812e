"""Fuzz the HTTP API with schemathesis against the app's own OpenAPI schema, real database behind it."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.integration.helpers import job_finished, wait_for


@pytest.mark.parametrize("api_key", ["", "fuzz-key"])
def test_schemathesis_finds_no_server_errors_and_nothing_is_corrupted(db, db_url, tmp_path, api_key):
    settings = app_settings(db_url, tmp_path, api_key=api_key)
    with serve(create_app(settings), settings.port):
        job_id, variants = seedlib.start_job(db, settings.assets_dir, variants_count=2)
        wait_for(lambda: job_finished(db, job_id), 120, interval=0.2, what="job finished before fuzzing")
        before = db.execute(text("SELECT job_variants_id, current_step, status, selected FROM jobs_variants "
                                 "ORDER BY 1")).all()
        st = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
        common = [st, "run", f"http://127.0.0.1:{settings.port}/openapi.json", "--checks", "not_a_server_error",
                  "--max-examples", "25", "--request-timeout", "30", "--seed", "7", "--no-color",
                  *(["--header", f"X-API-Key: {api_key}"] if api_key else [])]
        # The operator actions (cancel, rerun, ...) apart and without the stateful phase: that phase takes the
        # real job id from GET /api/yh/jobs and would legitimately cancel the job this test checks is untouched.
        for selection, least in ((["--exclude-tag", "operator actions"], 200),
                                 (["--include-tag", "operator actions", "--phases", "examples,coverage,fuzzing"], 50)):
            proc = subprocess.run(common + selection, capture_output=True, text=True, timeout=900)
            assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
            generated = re.search(r"(\d+) generated", proc.stdout)
            assert generated and int(generated.group(1)) > least, proc.stdout[-2000:]  # it really exercised the API
        health = subprocess.run([sys.executable, "-c", f"import httpx; print(httpx.get("
                                 f"'http://127.0.0.1:{settings.port}/healthz').json()['ok'])"],
                                capture_output=True, text=True, timeout=30)
        assert health.stdout.strip() == "True"
    db.rollback()
    after = db.execute(text("SELECT job_variants_id, current_step, status, selected FROM jobs_variants ORDER BY 1")).all()
    assert after == before  # random ids hit nothing; the finished job is untouched
    assert db.execute(text("SELECT count(*) FROM instagram_feeds")).scalar() == 1
    assert db.execute(text("SELECT count(*) FROM jobs_variants WHERE status = 'running'")).scalar() == 0


def _seeded_schema(schema: dict, ids: dict[str, list]) -> dict:
    """The app's schema with every id field limited to real ids, so requests reach claims and stages."""
    def limit(prop: dict, values: list) -> dict:
        return {"anyOf": [{"type": "string", "enum": values}, {"type": "null"}]} if "anyOf" in prop else {
            "type": "string", "enum": values}
    for name in ("VariantStageIn", "JobStageIn"):
        props = schema["components"]["schemas"][name]["properties"]
        for field, values in ids.items():
            if field in props:
                props[field] = limit(props[field], values)
    for path in schema["paths"].values():
        for operation in path.values():
            for param in operation.get("parameters", []):
                if param["name"] == "job_id":
                    param["schema"] = {"type": "string", "enum": ids["job_id"]}
    return schema


def test_schemathesis_with_real_ids_reaches_claims_and_stages(db, db_url, tmp_path):
    import json

    import httpx

    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings), settings.port):
        job_id, variants = seedlib.start_job(db, settings.assets_dir, variants_count=2, tenant_id="fuzz_tenant")
        wait_for(lambda: job_finished(db, job_id), 120, interval=0.2, what="job finished before fuzzing")
        schema = httpx.get(f"http://127.0.0.1:{settings.port}/openapi.json").json()
    # Rewind: one variant ready for vlm_judge, one for yolo_detect, the job for ad_copy_gen_kor. Only the
    # fuzzer's requests move them now (no listener, no sweeper).
    db.execute(text("UPDATE jobs_variants SET current_step = 'overlay', status = 'done' WHERE job_variants_id = :v"),
               {"v": variants[0]})
    db.execute(text("UPDATE jobs_variants SET current_step = 'vlm_analyze', status = 'done' "
                    "WHERE job_variants_id = :v"), {"v": variants[1]})
    db.execute(text("UPDATE jobs SET current_step = 'iou_eval', status = 'done' WHERE job_id = :j"), {"j": job_id})
    db.commit()
    overlays = [str(r[0]) for r in db.execute(text("SELECT overlay_id FROM overlay_layouts"))]
    runs_before = db.execute(text("SELECT count(*) FROM stage_runs")).scalar()
    seeded = _seeded_schema(schema, {"job_id": [job_id], "job_variants_id": variants, "overlay_id": overlays,
                                     "tenant_id": ["fuzz_tenant", "someone-else"]})
    (tmp_path / "seeded.json").write_text(json.dumps(seeded))
    quiet = app_settings(db_url, tmp_path, enable_job_state_listener=False, enable_sweeper=False)
    with serve(create_app(quiet), quiet.port):
        st = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
        proc = subprocess.run(  # the stages with real ids (the operator actions would cancel them: tested apart)
            [st, "run", str(tmp_path / "seeded.json"), "--exclude-tag", "operator actions",
             "--url", f"http://127.0.0.1:{quiet.port}", "--mode", "positive",
             "--checks", "not_a_server_error", "--max-examples", "15", "--request-timeout", "120", "--seed", "7",
             "--no-color"], capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    db.rollback()
    runs = db.execute(text("SELECT step, status FROM stage_runs ORDER BY started_at")).all()
    assert len(runs) > runs_before  # the fuzzer's requests claimed rows and ran stages
    assert {s for s, st in runs[runs_before:] if st == "done"}, runs[runs_before:]
    # Nothing left half-done, nothing duplicated.
    assert db.execute(text("SELECT count(*) FROM stage_runs WHERE finished_at IS NULL")).scalar() == 0
    assert db.execute(text("SELECT count(*) FROM jobs_variants WHERE status = 'running'")).scalar() == 0
    assert db.execute(text("SELECT count(*) FROM jobs WHERE status = 'running'")).scalar() == 0
    assert db.execute(text("SELECT count(*) FROM instagram_feeds")).scalar() == 1
