"""Seed 001's `docker logs feedlyai-work-yh | grep ...` checks, on the stdout of `python main.py`; LOG_FORMAT=json."""
import json
import sys

import httpx
from sqlalchemy import text

from scripts import seedlib
from test.conftest import free_port
from test.integration.helpers import wait_for
from test.integration.procs import AppProcess

# Seed 001's greps (its prose reads 시응 and □연결 where the export lost 시작 and 재연결).
SEED_001 = ("Job State Listener 시작", "LISTEN 'job_variant_state_changed'", "재연결 시도", "뒤처진 variants 복구")
SKIP = "Job Variant 상태가 변경되어 스킵"  # a claim another worker won: either replica's log


def _read(path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _healthy(app: AppProcess) -> bool:
    assert app.proc.poll() is None, f"the service exited with {app.proc.returncode}"
    try:
        return httpx.get(f"{app.base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_seed_001_greps_find_their_lines_on_stdout_and_json_lines_carry_the_ids(db, db_url, tmp_path):
    assets = tmp_path / "assets"
    common = dict(log_level="INFO", worker_processes=0, job_state_listener_reconnect_delay=0.3,
                  sweep_grace_seconds=1, api_key="")
    plain = AppProcess(db_url, free_port(), assets, **common)
    # The second replica: JSON lines, no sweeper (so the recovery line is the first one's).
    js = AppProcess(db_url, free_port(), assets, log_format="json", enable_sweeper="false", **common)
    files = {}
    for name, app in (("plain", plain), ("json", js)):
        files[name] = (tmp_path / f"{name}.stdout", tmp_path / f"{name}.stderr")
        app.launch([sys.executable, "main.py"], stdout=files[name][0].open("wb"), stderr=files[name][1].open("wb"))
    try:
        wait_for(lambda: _healthy(plain) and _healthy(js), 180, interval=0.2, what="both replicas healthy")
        job_id, variants = seedlib.start_job(db, assets, variants_count=2)
        wait_for(lambda: SKIP in _read(files["plain"][0]) + _read(files["json"][0]), 120,
                 what="a claim lost to the other replica")

        # A NOTIFY lost: the image part's update with triggers off (session_replication_role), an hour old.
        lost_job, (lost,) = seedlib.create_job(db, assets, variants_count=1)
        db.execute(text("SET session_replication_role = replica"))
        db.execute(text("UPDATE jobs_variants SET current_step = 'img_gen', status = 'done', "
                        "updated_at = now() - interval '1 hour' WHERE job_variants_id = :v"), {"v": lost})
        db.commit()
        db.execute(text("SET session_replication_role = DEFAULT"))
        wait_for(lambda: "뒤처진 variants 복구" in _read(files["plain"][0]), 60, what="the sweeper's recovery line")

        db.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'adpipe-listener'"))
        db.commit()
        wait_for(lambda: "재연결 시도" in _read(files["plain"][0]), 30, what="the listener's reconnect")
    finally:
        plain.stop()
        js.stop()

    out, err = _read(files["plain"][0]), _read(files["plain"][1])
    for line in SEED_001:
        assert line in out, line  # what `docker logs ... | grep` reads: the container's stdout
        assert line not in err, line
    assert "뒤처진 variants 복구: re-dispatched 1 variant(s) and 0 job(s)" in out
    records = [json.loads(line) for line in _read(files["json"][0]).splitlines() if line.strip()]
    assert records, "no JSON lines on stdout"
    done = [r for r in records if r["msg"] == "stage done"]
    assert done, [r["msg"] for r in records][:30]
    assert {"stage", "job_id", "job_variants_id", "run_token"} <= set(done[0])
    assert done[0]["job_id"] == job_id or done[0]["job_id"] == lost_job
    assert any(r["msg"].startswith("LISTEN 'job_variant_state_changed'") for r in records)
