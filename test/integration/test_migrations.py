"""The migration runner: INVALID indexes rebuilt, clear refusal to start, database retried at start."""
import asyncio
import os
import socket
import subprocess
import sys
import threading
import time

import asyncpg
import httpx

from services.engine import migrations
from test.conftest import ADMIN_URL, free_port
from test.integration.procs import ROOT


def test_split_statements_keeps_function_bodies_and_strings_whole():
    sql = """-- a comment; with a semicolon
CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END; $$ LANGUAGE plpgsql;
SELECT 'a;b', $tag$ x; y $tag$;
-- trailing comment only
"""
    assert migrations.split_statements(sql) == [
        "-- a comment; with a semicolon\nCREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END; $$ LANGUAGE plpgsql",
        "SELECT 'a;b', $tag$ x; y $tag$"]


async def test_an_invalid_index_left_by_a_failed_concurrent_build_is_rebuilt(db_url):
    conn, other = await asyncpg.connect(db_url), await asyncpg.connect(db_url)
    try:
        await conn.execute("DELETE FROM service_migrations WHERE version = 5; DROP INDEX idx_jobs_variants_status")
        # A concurrent build waits for every open transaction; with lock_timeout it gives up and leaves INVALID.
        tx = other.transaction()
        await tx.start()
        await other.execute("LOCK TABLE jobs_variants IN ROW EXCLUSIVE MODE")  # as any writer of the table
        await conn.execute("SET lock_timeout = '200ms'")
        try:
            await conn.execute("CREATE INDEX CONCURRENTLY idx_jobs_variants_status ON jobs_variants(status)")
        except asyncpg.LockNotAvailableError:
            pass
        await tx.rollback()
        await conn.execute("RESET lock_timeout")
        valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_jobs_variants_status'::regclass"
        assert await conn.fetchval(valid) is False
        applied = await migrations.migrate(conn)
        assert [m.filename for m in applied] == ["0005_shared_indexes.sql"]
        assert await conn.fetchval(valid) is True
    finally:
        await conn.close()
        await other.close()


def _app(url: str, port: int, **env) -> subprocess.Popen:
    environment = {**os.environ, "DATABASE_URL": url, "PORT": str(port), "LOG_LEVEL": "INFO", **env}
    return subprocess.Popen([sys.executable, "-m", "uvicorn", "test.engine_app:app", "--port", str(port)], cwd=ROOT,
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_the_app_refuses_to_start_with_one_clear_line_when_a_migration_fails(empty_db_url):
    async def conflicting():  # a `jobs` table that is not the contract's: 0001's foreign keys cannot apply
        conn = await asyncpg.connect(empty_db_url)
        await conn.execute("CREATE TABLE jobs (job_id INTEGER PRIMARY KEY)")
        await conn.close()
    asyncio.run(conflicting())
    proc = _app(empty_db_url, free_port())
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    line = next(x for x in out.splitlines() if "CRITICAL" in x)
    assert "cannot start: migration 0001_shared_schema.sql failed: DatatypeMismatchError" in line, out


def _proxy(port: int, target: tuple[str, int], stop: threading.Event) -> None:
    """A TCP forwarder on `port` (the database "comes up" when this starts)."""
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(0.2)

    def pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):  # shutdown, not only close: it wakes the other direction's blocked recv
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
    while not stop.is_set():
        try:
            client, _ = server.accept()
        except TimeoutError:
            continue
        upstream = socket.create_connection(target)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()
    server.close()


def test_the_app_waits_for_a_database_that_comes_up_late(db_url):
    db_port, app_port = free_port(), free_port()
    dbname = db_url.rsplit("/", 1)[1]
    host, port = ADMIN_URL.split("@", 1)[1].split("/", 1)[0].split(":")
    proc = _app(f"postgresql://postgres@127.0.0.1:{db_port}/{dbname}", app_port, DB_CONNECT_RETRY_SECONDS="60")
    stop = threading.Event()
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any("database not reachable" in x for x in lines):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        threading.Thread(target=_proxy, args=(db_port, (host, int(port)), stop), daemon=True).start()
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            try:
                if httpx.get(f"http://127.0.0.1:{app_port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(30)
        stop.set()


async def test_a_database_set_up_by_the_old_loader_migrates_cleanly(db_url):
    conn = await asyncpg.connect(db_url)
    try:
        # The state the hash-based loader left: every object, plain unique indexes, service_schema, no versions.
        await conn.execute("""
            DROP TABLE service_migrations;
            CREATE TABLE service_schema (hash TEXT PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now());
            INSERT INTO service_schema VALUES ('0123456789abcdef');
            DROP INDEX uq_instagram_feeds_job; DROP INDEX uq_evaluations_overlay_type;
            ALTER TABLE instagram_feeds DROP COLUMN dedup_slot; ALTER TABLE evaluations DROP COLUMN dedup_slot;
            CREATE UNIQUE INDEX uq_instagram_feeds_job ON instagram_feeds(job_id);
            CREATE UNIQUE INDEX uq_evaluations_overlay_type ON evaluations(overlay_id, evaluation_type);
            DROP TRIGGER jobs_variants_supersede_rewound_run ON jobs_variants""")
        applied = await migrations.migrate(conn)
        assert [m.version for m in applied] == [m.version for m in migrations.discover()]
        assert await conn.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_instagram_feeds_job'") == (
            "CREATE UNIQUE INDEX uq_instagram_feeds_job ON public.instagram_feeds USING btree (job_id, dedup_slot)")
        assert await conn.fetchval("SELECT count(*) FROM pg_trigger WHERE tgname = 'jobs_variants_supersede_rewound_run'") == 1
        assert await migrations.migrate(conn) == []
    finally:
        await conn.close()
