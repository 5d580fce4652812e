"""db/schema.sql is what db/migrations build (procrastinate's migration test): a migration needs a new snapshot."""
import asyncio

import asyncpg

from scripts import schema_snapshot
from services.engine import migrations


async def _migrate(url: str, extra: list[migrations.Migration]) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrations.migrate(conn, migrations.discover() + extra)
    finally:
        await conn.close()


def test_the_migrations_build_exactly_db_schema_sql(empty_db_url):
    asyncio.run(_migrate(empty_db_url, []))
    why = schema_snapshot.difference(schema_snapshot.dump_schema(empty_db_url))
    assert not why, why


def test_a_migration_added_without_a_new_snapshot_is_caught(empty_db_url):
    probe = migrations.Migration(9999, "probe", "CREATE TABLE schema_probe (id int);")
    asyncio.run(_migrate(empty_db_url, [probe]))
    why = schema_snapshot.difference(schema_snapshot.dump_schema(empty_db_url))
    assert "python -m scripts.schema_snapshot" in why and "+CREATE TABLE public.schema_probe (" in why


def test_the_snapshot_carries_no_version_or_session_lines():
    text = schema_snapshot.SNAPSHOT.read_text()
    assert "Dumped from" not in text and "\\restrict" not in text and "\nSET " not in text
    assert "CREATE TABLE public.jobs_variants (" in text
