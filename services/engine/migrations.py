"""Versioned schema migrations: db/migrations/NNNN_name.sql, each applied once, online-safe."""
import asyncio
import hashlib
import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from config import ROOT
from services.engine import store_schema as store

log = logging.getLogger(__name__)
MIGRATIONS_DIR = ROOT / "db" / "migrations"
LOCK_ID = 7_300_001  # advisory lock: one process migrates at a time (the old apply_schema used it too)
# A file whose first lines hold this marker runs statement by statement outside a transaction
# (CREATE INDEX CONCURRENTLY cannot run inside one). Each of its statements must be idempotent.
NO_TRANSACTION = "-- migrate: no-transaction"
MIN_SERVER_VERSION = 140000  # CREATE OR REPLACE TRIGGER (0003) needs PostgreSQL 14
_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
_INDEX = re.compile(r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+(\w+)", re.IGNORECASE)


class MigrationError(Exception):
    """A migration could not be applied; the message is one line for the operator."""


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    @property
    def transactional(self) -> bool:
        return NO_TRANSACTION not in self.sql[:500]


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order (psql and docker's entrypoint use the same order)."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number in {directory}")
    return found


def split_statements(sql: str) -> list[str]:
    """Split SQL on top-level semicolons (quotes, dollar quotes and comments respected)."""
    statements, start, i, n = [], 0, 0, len(sql)
    while i < n:
        if sql.startswith("--", i):
            i = sql.find("\n", i)
            i = n if i < 0 else i
        elif sql[i] == "'":
            i = sql.find("'", i + 1)
            i = n if i < 0 else i
        elif sql[i] == "$" and (tag := re.match(r"\$\w*\$", sql[i:])):
            end = sql.find(tag[0], i + len(tag[0]))
            i = n if end < 0 else end + len(tag[0]) - 1
        elif sql[i] == ";":
            statements.append(sql[start:i].strip())
            start = i + 1
        i += 1
    statements.append(sql[start:].strip())
    return [s for s in statements if re.sub(r"--[^\n]*", "", s).strip()]


async def applied(conn: asyncpg.Connection) -> dict[int, asyncpg.Record]:
    """{version: row} of service_migrations (empty when the table does not exist yet)."""
    if not await store.version_table_exists(conn):
        return {}
    return {r["version"]: r for r in await store.applied_migrations(conn)}


async def pending(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[Migration]:
    """Migrations not recorded as applied in this database."""
    done = await applied(conn)
    return [m for m in (migrations if migrations is not None else discover()) if m.version not in done]


async def check_server(conn: asyncpg.Connection) -> None:
    """Refuse servers older than the schema needs."""
    version = await store.server_version(conn)
    if version < MIN_SERVER_VERSION:
        raise MigrationError(f"PostgreSQL {version // 10000} is too old: the schema needs "
                             f"{MIN_SERVER_VERSION // 10000} or newer")


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None, lock_timeout: float = 2.0,
                  attempts: int = 10, max_delay: float = 10.0) -> list[Migration]:
    """Apply every pending migration in order; returns the ones applied. Raises MigrationError."""
    migrations = discover() if migrations is None else migrations
    await check_server(conn)
    await take_lock(conn)
    try:
        await store.create_version_table(conn)
        done = await applied(conn)
        ran = []
        for migration in migrations:
            row = done.get(migration.version)
            if row is not None:
                if row["checksum"] != migration.checksum:
                    log.warning("migration %s changed after it was applied (checksum %s, now %s); not re-run",
                                migration.filename, row["checksum"], migration.checksum)
                continue
            await _apply_with_retry(conn, migration, lock_timeout, attempts, max_delay)
            ran.append(migration)
        return ran
    finally:
        if not conn.is_closed():
            await store.unlock(conn, lock_id=LOCK_ID)


async def take_lock(conn: asyncpg.Connection, poll: float = 0.25) -> None:
    """The session-level migration lock (it must outlive the per-file transactions), by polling
    pg_try_advisory_lock: a process blocked in pg_advisory_lock sits in an open statement, and the
    migrating process's CREATE INDEX CONCURRENTLY waits for that transaction while it waits for the lock
    (replicas started together: "deadlock detected"). Between polls this connection holds no transaction."""
    waited = False
    while not await store.try_lock(conn, lock_id=LOCK_ID):
        if not waited:
            log.info("another process is applying migrations (advisory lock %d); waiting for it", LOCK_ID)
            waited = True
        await asyncio.sleep(poll * random.uniform(0.5, 1.5))


async def _apply_with_retry(conn, migration: Migration, lock_timeout: float, attempts: int, max_delay: float) -> None:
    """Short lock_timeout, then back off and retry: a long transaction of another part never queues
    everyone else behind this migration's lock request."""
    for attempt in range(1, attempts + 1):
        try:
            await _apply(conn, migration, lock_timeout)
            return
        except asyncpg.LockNotAvailableError as exc:
            if attempt == attempts:
                raise MigrationError(f"migration {migration.filename} could not take its locks in {attempts} tries "
                                     f"(lock_timeout {lock_timeout:g} s): a long transaction holds them ({exc})") from exc
            delay = min(max_delay, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
            log.warning("migration %s: lock not available (attempt %d/%d); retrying in %.1f s",
                        migration.filename, attempt, attempts, delay)
            await asyncio.sleep(delay)
        except (asyncpg.PostgresError, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise MigrationError(f"migration {migration.filename} failed: {type(exc).__name__}: {first}") from exc


async def _apply(conn: asyncpg.Connection, migration: Migration, lock_timeout: float) -> None:
    notes: list[str] = []

    def on_notice(_conn, message):  # RAISE NOTICE in a migration: logged and kept in service_migrations.notes
        if message.sqlstate != "00000":
            return  # "already exists, skipping" of IF NOT EXISTS: expected on every re-run
        notes.append(message.message)
        log.info("migration %s: %s", migration.filename, message.message)
    conn.add_log_listener(on_notice)
    log.info("applying migration %s", migration.filename)
    try:
        if migration.transactional:
            async with conn.transaction():
                await store.set_lock_timeout(conn, seconds=lock_timeout, local=True)
                await conn.execute(migration.sql)
                await store.record_migration(conn, version=migration.version, name=migration.name,
                                             checksum=migration.checksum, notes="\n".join(notes) or None)
        else:
            await store.set_lock_timeout(conn, seconds=lock_timeout)
            try:
                for statement in split_statements(migration.sql):
                    await _drop_invalid_index(conn, statement)
                    await conn.execute(statement)
            finally:
                await store.reset_lock_timeout(conn)
            await store.record_migration(conn, version=migration.version, name=migration.name,
                                         checksum=migration.checksum, notes="\n".join(notes) or None)
    finally:
        conn.remove_log_listener(on_notice)


async def _drop_invalid_index(conn: asyncpg.Connection, statement: str) -> None:
    """A failed CREATE INDEX CONCURRENTLY leaves an INVALID index that IF NOT EXISTS would keep: drop it."""
    match = _INDEX.search(statement)
    if match and await store.index_is_invalid(conn, index=match[1]):
        log.warning("dropping index %s left INVALID by an interrupted concurrent build", match[1])
        await store.drop_index_concurrently(conn, index=match[1])
