"""Seed 003's operating commands (test/test_*.py entry points) and the listener log lines seed 001 greps for."""
import logging
import subprocess
import sys

from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.engine_app import counting_handlers
from test.integration.helpers import job_finished, wait_for
from test.integration.procs import ROOT
from test.integration.test_scripts import script_env


def _entry(name: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, f"test/{name}.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


class _Lines(logging.Handler):
    """Keeps every log message (create_app replaces the root handlers, pytest's caplog among them)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_seed_003_commands_and_seed_001_log_lines(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path, job_state_listener_reconnect_delay=0.7)
    env = script_env(db_url, settings.assets_dir)
    app = create_app(settings, counting_handlers)
    caplog = _Lines()
    logging.getLogger().addHandler(caplog)
    with serve(app, settings.port):
        base = f"http://127.0.0.1:{settings.port}"
        checked = _entry("test_listener_status", "--base-url", base, "--test-trigger", env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "[PASS] trigger test" in checked.stdout

        job_id, variants = seedlib.create_job(db, settings.assets_dir, tenant_id="ye_pipeline_test_tenant",
                                              variants_count=2)
        flipped = _entry("test_ye_img_gen_trigger", "--tenant-id", "ye_pipeline_test_tenant", env=env)
        assert flipped.returncode == 0, flipped.stdout + flipped.stderr
        assert flipped.stdout.count("img_gen (done) job") == 2 and "리스너가 정상 작동했습니다" in flipped.stdout
        wait_for(lambda: job_finished(db, job_id), 30, what="job finished")
        assert _entry("test_ye_img_gen_trigger", "--tenant-id", "ye_pipeline_test_tenant", env=env).returncode == 0

        # The listener's connection is cut: it logs the loss and its reconnect after the configured first delay.
        db.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'adpipe-listener'"))
        db.commit()
        wait_for(lambda: sum("PostgreSQL 연결 성공 (Job State Listener)" in m for m in caplog.messages) >= 2, 20,
                 what="listener reconnected")
    logging.getLogger().removeHandler(caplog)
    messages = "\n".join(caplog.messages)
    for line in ("Job State Listener 시작", "LISTEN 'job_variant_state_changed' 시작",
                 f"Job Variant 상태 변화 감지: job_variants_id={variants[0]}, current_step=img_gen, status=done",
                 f"[TRIGGER] 파이프라인 단계 트리거 성공: job_variants_id={variants[0]}, next_step=vlm_analyze",
                 "PostgreSQL 연결 오류 (Job State Listener)", "재연결 시도 1: 0.7 초 후"):
        assert line in messages, line


def test_pytest_does_not_collect_the_entry_points():
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "test/test_listener_status.py",
                          "test/test_ye_img_gen_trigger.py"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 5 and "no tests collected" in out.stdout, out.stdout + out.stderr
    assert "test_listener_status.py" not in out.stdout and "test_ye_img_gen_trigger" not in out.stdout
