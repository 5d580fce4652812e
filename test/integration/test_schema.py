"""The schema files: safe to run again, updated_at kept by the database, NOTIFY payload shape."""
import asyncio
import json
import subprocess

import asyncpg
from sqlalchemy import text

import database
from scripts import seedlib
from services.engine import migrations


def test_migration_files_run_twice_with_psql_then_the_runner_adopts_them(empty_db_url):
    # As docker's entrypoint runs /docker-entrypoint-initdb.d on a brand-new database, then again.
    for _ in range(2):
        for name, _sql in database.schema_sql():
            subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", empty_db_url, "-f",
                            str(migrations.MIGRATIONS_DIR / name)], check=True, capture_output=True)

    async def check():
        conn = await asyncpg.connect(empty_db_url)
        try:
            triggers = await conn.fetchval("SELECT count(*) FROM pg_trigger WHERE tgname = 'job_variant_state_change_trigger'")
            assert triggers == 1
            applied = await migrations.migrate(conn)  # the runner sees no record: re-applies, harmlessly
            assert [m.filename for m in applied] == [name for name, _ in database.schema_sql()]
            assert await migrations.migrate(conn) == []
        finally:
            await conn.close()
    asyncio.run(check())


def test_updated_at_is_kept_even_when_a_writer_forgets(db, tmp_path):
    job_id, (variant,) = seedlib.create_job(db, tmp_path, variants_count=1)
    before = db.execute(text("SELECT updated_at FROM jobs_variants WHERE job_variants_id = :v"), {"v": variant}).scalar()
    db.execute(text("UPDATE jobs_variants SET status = 'running', current_step = 'img_gen' WHERE job_variants_id = :v"),
               {"v": variant})
    db.commit()
    after = db.execute(text("SELECT updated_at FROM jobs_variants WHERE job_variants_id = :v"), {"v": variant}).scalar()
    assert after > before


async def test_notify_payloads_carry_ids_step_status_and_type(db_url, db, tmp_path):
    job_id, (variant,) = await asyncio.to_thread(seedlib.create_job, db, tmp_path, variants_count=1, ad_copy_eng=None)
    conn = await asyncpg.connect(db_url)
    received: list[tuple[str, dict]] = []
    marker = asyncio.get_running_loop().create_future()

    def on_notify(_c, _p, channel, payload):
        if payload == '{"marker": true}':
            marker.set_result(None)
        else:
            received.append((channel, json.loads(payload)))
    for channel in ("job_variant_state_changed", "job_state_changed"):
        await conn.add_listener(channel, on_notify)
    try:
        await asyncio.to_thread(seedlib.simulate_image_part, db, job_id)
        await asyncio.to_thread(seedlib.add_text_part, db, job_id, "Copy")
        await asyncio.to_thread(db.commit)
        # Notifications arrive in commit order: once a marker committed last is here, so is everything.
        await asyncio.to_thread(lambda: db.execute(text(
            "SELECT pg_notify('job_state_changed', '{\"marker\": true}')")) and db.commit())
        await asyncio.wait_for(marker, 10)
    finally:
        await conn.close()
    variant_events = [p for ch, p in received if ch == "job_variant_state_changed"]
    assert [(p["type"], p["current_step"], p["status"]) for p in variant_events] == [
        ("variant_state", "img_gen", "running"), ("variant_state", "img_gen", "done"),
        ("text_ready", "img_gen", "done")]  # the start gate wakes the waiting variant
    assert all(set(p) == {"type", "job_variants_id", "job_id", "tenant_id", "current_step", "status", "img_asset_id",
                          "updated_at"}
               and p["job_variants_id"] == variant and p["job_id"] == job_id for p in variant_events)
