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
        proc = subprocess.run(
            [st, "run", f"http://127.0.0.1:{settings.port}/openapi.json", "--checks", "not_a_server_error",
             "--max-examples", "25", "--request-timeout", "30", "--seed", "7", "--no-color",
             *(["--header", f"X-API-Key: {api_key}"] if api_key else [])],
            capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        generated = re.search(r"(\d+) generated", proc.stdout)
        assert generated and int(generated.group(1)) > 200, proc.stdout[-2000:]  # it really exercised the API
        health = subprocess.run([sys.executable, "-c", f"import httpx; print(httpx.get("
                                 f"'http://127.0.0.1:{settings.port}/healthz').json()['ok'])"],
                                capture_output=True, text=True, timeout=30)
        assert health.stdout.strip() == "True"
    db.rollback()
    after = db.execute(text("SELECT job_variants_id, current_step, status, selected FROM jobs_variants ORDER BY 1")).all()
    assert after == before  # random ids hit nothing; the finished job is untouched
    assert db.execute(text("SELECT count(*) FROM instagram_feeds")).scalar() == 1
    assert db.execute(text("SELECT count(*) FROM jobs_variants WHERE status = 'running'")).scalar() == 0
