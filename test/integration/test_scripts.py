"""The operator scripts as real subprocesses against a test database, with the app running."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from main import create_app
from test.conftest import app_settings, free_port, serve
from test.integration.helpers import job_state, wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("create_test_job", "background_ye_pipeline_test", "simulate_image_part", "monitor_job", "check_listener")


def script_env(db_url: str, assets_dir: Path) -> dict:
    """The scripts share the app's database and assets directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "STAGE_BASE_URL")}
    env.update(DATABASE_URL=db_url, ASSETS_DIR=str(assets_dir), PYTHONIOENCODING="utf-8", COLUMNS="200")
    return env


def run(name: str, *args: str, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=timeout)


def popen(name: str, *args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")


def rows(db, sql: str, **params) -> list:
    db.rollback()  # a fresh snapshot
    return db.execute(text(sql), params).all()


@pytest.fixture
def app(db_url, tmp_path):
    """The app (real stages) and the environment for scripts talking to the same database and assets."""
    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings), settings.port):
        yield settings, script_env(db_url, settings.assets_dir), f"http://127.0.0.1:{settings.port}"


def test_create_simulate_monitor(app, db):
    settings, env, base = app
    created = run("create_test_job", "--variants-count", "2", "--tenant-id", "scripts_tenant", "--json", env=env)
    assert created.returncode == 0, created.stderr
    out = json.loads(created.stdout)
    job_id, variant_ids = out["job_id"], out["variant_ids"]
    assert len(variant_ids) == 2
    assert job_state(db, job_id) == ("user_img_input", "done")
    assert rows(db, "SELECT tenant_id FROM jobs WHERE job_id = :j", j=job_id) == [("scripts_tenant",)]
    assert sorted(rows(db, "SELECT generation_stage, status FROM txt_ad_copy_generations WHERE job_id = :j",
                       j=job_id)) == [("ad_copy_eng", "done"), ("kor_to_eng", "done")]
    assert rows(db, "SELECT DISTINCT current_step, status FROM jobs_variants WHERE job_id = :j",
                j=job_id) == [("user_img_input", "done")]

    simulated = run("simulate_image_part", "--job-id", job_id, env=env)
    assert simulated.returncode == 0, simulated.stderr
    assert "2 variant(s) flipped" in simulated.stdout

    monitored = run("monitor_job", "--job-id", job_id, "--timeout", "120", "--interval", "0.3", env=env)
    assert monitored.returncode == 0, monitored.stdout + monitored.stderr
    assert job_state(db, job_id) == ("instagram_feed_gen", "done")
    (kor,), = rows(db, "SELECT ad_copy_kor FROM txt_ad_copy_generations WHERE job_id = :j "
                       "AND generation_stage = 'eng_to_kor'", j=job_id)
    assert any("\uac00" <= ch <= "\ud7a3" for ch in kor)
    assert kor in monitored.stdout
    (post, hashtags), = rows(db, "SELECT instagram_ad_copy, hashtags FROM instagram_feeds WHERE job_id = :j", j=job_id)
    assert hashtags in monitored.stdout and post.splitlines()[0] in monitored.stdout
    for (url,) in rows(db, "SELECT ia.image_url FROM jobs_variants v JOIN image_assets ia "
                           "ON ia.image_asset_id = v.overlaid_img_asset_id WHERE v.job_id = :j", j=job_id):
        path = settings.assets_dir / url.removeprefix("/assets/")
        assert path.is_file() and str(path) in monitored.stdout

    # The same through the jobs API instead of the database.
    via_api = run("monitor_job", "--job-id", job_id, "--timeout", "30", "--base-url", base, env=env)
    assert via_api.returncode == 0, via_api.stdout + via_api.stderr
    assert kor in via_api.stdout

    # The image part never rewinds a job that is already through the pipeline.
    again = run("simulate_image_part", "--job-id", job_id, env=env)
    assert again.returncode == 0 and "no variants" in again.stdout
    assert job_state(db, job_id) == ("instagram_feed_gen", "done")


def test_the_operator_scripts_run_as_subcommands_of_the_one_cli(app, db):
    settings, env, _ = app
    created = run("ops", "create-job", "--variants-count", "1", "--json", env=env)
    assert created.returncode == 0, created.stderr
    job_id = json.loads(created.stdout)["job_id"]
    assert job_state(db, job_id) == ("user_img_input", "done")
    simulated = run("ops", "image-part", "--job-id", job_id, env=env)
    assert simulated.returncode == 0 and "1 variant(s) flipped" in simulated.stdout, simulated.stderr
    monitored = run("ops", "monitor", "--job-id", job_id, "--timeout", "120", "--interval", "0.3", "--plain", env=env)
    assert monitored.returncode == 0, monitored.stdout + monitored.stderr
    assert job_state(db, job_id) == ("instagram_feed_gen", "done")
    status, old = run("ops", "migrate", "status", env=env), run("migrate", "status", env=env)
    assert status.returncode == old.returncode == 0 and status.stdout == old.stdout and "pending:\n  none" in status.stdout
    listener = run("ops", "check-listener", "--base-url", f"http://127.0.0.1:{settings.port}", env=env)
    assert listener.returncode == 0, listener.stdout + listener.stderr


def test_create_test_job_start_runs_the_pipeline(app, db):
    _, env, _ = app
    created = run("create_test_job", "--variants-count", "1", "--start", "--json",
                  "--image-paths", "assets/samples/coffee.png", "--ad-copy", "Cold brew, all summer long.", env=env)
    assert created.returncode == 0, created.stderr
    job_id = json.loads(created.stdout)["job_id"]
    assert rows(db, "SELECT ad_copy_eng FROM txt_ad_copy_generations WHERE job_id = :j AND "
                    "generation_stage = 'ad_copy_eng'", j=job_id) == [("Cold brew, all summer long.",)]
    monitored = run("monitor_job", "--job-id", job_id, "--timeout", "120", "--interval", "0.3", env=env)
    assert monitored.returncode == 0, monitored.stdout + monitored.stderr

    missing = run("create_test_job", "--image-paths", "no/such/image.png", env=env)
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_background_once_creates_a_job_and_does_not_start_it(app, db):
    _, env, _ = app
    created = run("background_ye_pipeline_test", "--once", "--variants-count", "2", "--tenant-id", "ye_once",
                  "--json", env=env)
    assert created.returncode == 0, created.stderr
    job_id = json.loads(created.stdout.strip().splitlines()[-1])["job_id"]
    assert rows(db, "SELECT job_id::text FROM jobs WHERE tenant_id = 'ye_once'") == [(job_id,)]
    variants = rows(db, "SELECT current_step, status, img_asset_id FROM jobs_variants WHERE job_id = :j", j=job_id)
    assert len(variants) == 2
    assert {(step, status) for step, status, _ in variants} == {("user_img_input", "done")}
    # Seed 004: one image asset, shared by every variant and the job input.
    (input_asset,), = rows(db, "SELECT img_asset_id FROM job_inputs WHERE job_id = :j", j=job_id)
    assert {asset for _, _, asset in variants} == {input_asset}
    assert rows(db, "SELECT count(*) FROM image_assets WHERE job_id = :j", j=job_id) == [(1,)]

    time.sleep(2.5)  # longer than the sweeper's grace: nothing may pick the job up
    assert job_state(db, job_id) == ("user_img_input", "done")
    assert rows(db, "SELECT count(*) FROM stage_runs WHERE job_id = :j", j=job_id) == [(0,)]
    waiting = run("monitor_job", "--job-id", job_id, "--timeout", "1", env=env)
    assert waiting.returncode == 2, waiting.stdout


def test_background_waits_for_completion(app, db):
    _, env, _ = app
    creator = popen("background_ye_pipeline_test", "--wait-for-completion", "--max-jobs", "2", "--variants-count",
                    "1", "--tenant-id", "ye_wait", "--poll-interval", "0.2", "--json", env=env)
    try:
        deadline = time.monotonic() + 150
        while creator.poll() is None and time.monotonic() < deadline:
            # The image part: process whatever is pending for this tenant.
            simulated = run("simulate_image_part", "--all-pending", "--tenant-id", "ye_wait", env=env)
            assert simulated.returncode == 0, simulated.stderr
            time.sleep(0.5)
        out, err = creator.communicate(timeout=30)
    finally:
        if creator.poll() is None:
            creator.kill()
    assert creator.returncode == 0, err
    jobs = [json.loads(line)["job_id"] for line in out.splitlines()]
    assert len(jobs) == 2
    for job_id in jobs:
        step, status = job_state(db, job_id)
        assert step in ("iou_eval", "ad_copy_gen_kor", "instagram_feed_gen") and status != "failed"
    # The second job was created only after the first one's variants finished iou_eval.
    (first_done,), = rows(db, "SELECT max(finished_at) FROM stage_runs WHERE job_id = :j AND step = 'iou_eval'",
                          j=jobs[0])
    (second_created,), = rows(db, "SELECT created_at FROM jobs WHERE job_id = :j", j=jobs[1])
    assert second_created >= first_done


def test_background_stops_cleanly_on_ctrl_c(db_url, db, tmp_path):
    env = script_env(db_url, tmp_path / "assets")
    creator = popen("background_ye_pipeline_test", "--create-interval", "300", "--tenant-id", "ye_sigint", env=env)
    try:
        wait_for(lambda: rows(db, "SELECT count(*) FROM jobs WHERE tenant_id = 'ye_sigint'") == [(1,)], 30,
                 interval=0.2, what="the first job")
        creator.send_signal(signal.SIGINT)
        out, err = creator.communicate(timeout=15)
    finally:
        if creator.poll() is None:
            creator.kill()
    assert creator.returncode == 0, err
    assert "stopped after 1 job" in out and "Traceback" not in err


def test_check_listener_with_trigger_test(app, db):
    _, env, base = app
    checked = run("check_listener", "--base-url", base, "--test-trigger", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "[PASS] listener: connected" in checked.stdout
    assert "[PASS] trigger job_variant_state_change_trigger" in checked.stdout
    assert "[PASS] trigger test" in checked.stdout and "[FAIL]" not in checked.stdout
    assert rows(db, "SELECT count(*) FROM jobs WHERE tenant_id = 'listener_check_tenant'") == [(1,)]


def test_check_listener_fails_without_the_app(db_url, tmp_path):
    env = script_env(db_url, tmp_path / "assets")
    checked = run("check_listener", "--base-url", f"http://127.0.0.1:{free_port()}", "--test-trigger", env=env)
    assert checked.returncode == 1
    assert "[FAIL] app reachable" in checked.stdout and "[PASS] trigger job_variant_state_change_trigger" in checked.stdout


def test_monitor_reports_a_failed_job(app, db):
    settings, env, _ = app
    created = run("create_test_job", "--variants-count", "2", "--json", env=env)
    job_id = json.loads(created.stdout)["job_id"]
    shutil.rmtree(settings.assets_dir / "uploads" / job_id)  # the images vanish: every variant fails for good
    assert run("simulate_image_part", "--job-id", job_id, env=env).returncode == 0
    monitored = run("monitor_job", "--job-id", job_id, "--timeout", "60", "--interval", "0.3", env=env)
    assert monitored.returncode == 1, monitored.stdout + monitored.stderr
    assert "failed" in monitored.stdout and "InputError" in monitored.stdout


def test_monitor_unknown_job_exits_non_zero(db_url, tmp_path):
    env = script_env(db_url, tmp_path / "assets")
    unknown = run("monitor_job", "--job-id", str(uuid.uuid4()), "--timeout", "5", env=env)
    assert unknown.returncode not in (0, 2) and "not found" in unknown.stdout
    garbage = run("monitor_job", "--job-id", "not-a-uuid", "--timeout", "5", env=env)
    assert garbage.returncode != 0
    simulate = run("simulate_image_part", "--job-id", str(uuid.uuid4()), env=env)
    assert simulate.returncode != 0 and "not found" in simulate.stderr


@pytest.mark.parametrize("name", SCRIPTS)
def test_help(name, tmp_path):
    # --help must not need a database: point DATABASE_URL at nothing.
    env = script_env("postgresql://nobody@127.0.0.1:1/none", tmp_path / "assets")
    result = run(name, "--help", env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:") and "--" in result.stdout
