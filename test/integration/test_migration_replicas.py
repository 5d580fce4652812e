"""Replicas started together: one migrates, the others wait for it without holding a transaction open."""
import asyncio
import uuid

import asyncpg
import httpx

from services.engine import migrations
from test.conftest import _admin, _url, free_port
from test.integration.helpers import wait_for
from test.integration.procs import AppProcess


async def _waiting_on_lock(conn: asyncpg.Connection, pid: int) -> bool:
    """The waiter has asked for the migration lock at least once (it waits, or polls, for it)."""
    query = await conn.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
    return "advisory_lock" in (query or "")


async def test_waiting_for_the_migration_lock_does_not_block_a_concurrent_index_build(db_url):
    """The deadlock of replicas started together: the migrating process builds an index CONCURRENTLY,
    which waits for every open transaction, while the others wait for its advisory lock."""
    holder, waiter, observer = [await asyncpg.connect(db_url) for _ in range(3)]
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", migrations.LOCK_ID)  # "migrating"
        waiting = asyncio.create_task(migrations.migrate(waiter))
        pid = waiter.get_server_pid()
        for _ in range(600):
            if await _waiting_on_lock(observer, pid):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the waiter never asked for the lock")
        # Today's 0005/0007 do this while holding the lock. deadlock_timeout is 1 s: well inside 60 s.
        await asyncio.wait_for(holder.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_test_replicas ON jobs (updated_at)"), 60)
        await holder.execute("SELECT pg_advisory_unlock($1)", migrations.LOCK_ID)
        assert await asyncio.wait_for(waiting, 60) == []  # nothing left to apply, and no deadlock
        assert await observer.fetchval("SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_test_replicas'::regclass")
    finally:
        for conn in (holder, waiter, observer):
            await conn.close()


def test_three_replicas_started_in_the_same_instant_on_a_fresh_database(tmp_path):
    """5 rounds: 3 app processes, one empty database, started together; all healthy, migrations applied once."""
    versions = [m.version for m in migrations.discover()]
    for round_no in range(5):
        name = f"adpipe_replicas_{uuid.uuid4().hex[:10]}"
        asyncio.run(_admin(f"CREATE DATABASE {name}"))
        url = _url(name)
        apps = [AppProcess(url, free_port(), tmp_path / f"assets{round_no}") for _ in range(3)]
        try:
            for app in apps:  # Popen returns at once: the three start within milliseconds
                app.launch()

            def all_healthy():
                for app in apps:
                    assert app.proc.poll() is None, f"round {round_no}: a replica exited with {app.proc.returncode}"
                try:
                    return all(httpx.get(f"{a.base}/healthz", timeout=2).status_code == 200 for a in apps)
                except httpx.HTTPError:
                    return False
            wait_for(all_healthy, 120, interval=0.2, what=f"round {round_no}: 3 replicas healthy")

            async def schema():
                conn = await asyncpg.connect(url)
                try:
                    recorded = [r["version"] for r in await conn.fetch("SELECT version FROM service_migrations ORDER BY 1")]
                    invalid = await conn.fetchval("SELECT count(*) FROM pg_index WHERE NOT indisvalid")
                    return recorded, invalid
                finally:
                    await conn.close()
            recorded, invalid = asyncio.run(schema())
            assert recorded == versions and invalid == 0, (round_no, recorded, invalid)
        finally:
            for app in apps:
                app.stop()
            asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
