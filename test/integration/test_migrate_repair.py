"""migrate.py verify lists what the migrations create and what is missing or differs; repair brings it back."""
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.engine_app import counting_handlers
from test.integration.helpers import wait_for
from test.integration.test_scripts import run, script_env


def _left_img_gen(db, variant: str) -> bool:
    db.rollback()
    return db.execute(text("SELECT current_step FROM jobs_variants WHERE job_variants_id = :v"),
                      {"v": variant}).scalar() != "img_gen"


def test_a_dropped_trigger_is_reported_by_verify_and_back_after_repair(db, db_url, tmp_path):
    # No sweeper: only the trigger's NOTIFY can move a variant on, so "the pipeline fires" proves the trigger.
    settings = app_settings(db_url, tmp_path, enable_sweeper=False)
    env = script_env(db_url, settings.assets_dir)
    clean = run("migrate", "verify", env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    for name in ("OK       job_variant_state_change_trigger ON jobs_variants", "OK       touch_updated_at()",
                 "OK       idx_jv_retry_due ON jobs_variants", "OK       start_gate_variant_at_commit ON jobs_variants"):
        assert name in clean.stdout, name

    db.execute(text("DROP TRIGGER job_variant_state_change_trigger ON jobs_variants"))
    db.execute(text("DROP INDEX idx_jv_retry_due"))
    db.execute(text("ALTER TABLE jobs DISABLE TRIGGER job_state_change_trigger"))
    db.commit()
    broken = run("migrate", "verify", env=env)
    assert broken.returncode == 1
    assert "MISSING  job_variant_state_change_trigger ON jobs_variants  [0003_triggers.sql]" in broken.stdout
    assert "MISSING  idx_jv_retry_due ON jobs_variants" in broken.stdout
    assert "DISABLED job_state_change_trigger ON jobs" in broken.stdout
    assert "3 missing or different: python scripts/migrate.py repair" in broken.stdout
    listener = run("check_listener", "--base-url", "http://127.0.0.1:9", env=env)
    assert "missing: python scripts/migrate.py verify lists what is missing, python scripts/migrate.py repair" \
        in listener.stdout, listener.stdout

    repaired = run("migrate", "repair", env=env)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "repaired trigger job_variant_state_change_trigger ON jobs_variants (missing; from 0003_triggers.sql)" \
        in repaired.stdout
    again = run("migrate", "repair", env=env)  # idempotent
    assert again.returncode == 0 and again.stdout.startswith("nothing to repair"), again.stdout
    assert run("migrate", "verify", env=env).returncode == 0

    app = create_app(settings, counting_handlers)
    with serve(app, settings.port):
        job_id, (variant,) = seedlib.start_job(db, settings.assets_dir, variants_count=1)
        wait_for(lambda: _left_img_gen(db, variant), 30, what="the variant started by the repaired trigger's NOTIFY")
