"""Fixtures: a real PostgreSQL database per test (cloned from a template) and a running app."""
import asyncio
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager

import asyncpg
import httpx
import pytest
import uvicorn

import database
from config import Settings
from services.ops.testing import free_port

# Seed 003's operating commands live here under test_*.py names; they are scripts, not tests.
collect_ignore = ["test_listener_status.py", "test_ye_img_gen_trigger.py"]
ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEMPLATE = f"adpipe_tpl_{os.getpid()}"


def _url(dbname: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_db():
    """A database with the schema applied once; each test clones it (fast, isolated)."""
    from test.engine_app import EXECUTIONS_DDL

    async def build():
        await _admin(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        await _admin(f"CREATE DATABASE {TEMPLATE}")
        conn = await asyncpg.connect(_url(TEMPLATE))
        try:
            await database.apply_schema(conn)
            await conn.execute(EXECUTIONS_DDL)
        finally:
            await conn.close()
    asyncio.run(build())
    yield TEMPLATE
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)"))


@pytest.fixture
def db_url(template_db):
    """A fresh database for one test."""
    name = f"adpipe_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f"CREATE DATABASE {name} TEMPLATE {template_db}"))
    yield _url(name)
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def app_settings(db_url: str, tmp_path, **overrides) -> Settings:
    """Settings for an app under test: fast sweeper and retries, its own assets directory."""
    values = dict(database_url=db_url, port=free_port(), assets_dir=tmp_path / "assets",
                  sweep_interval_seconds=0.5, sweep_grace_seconds=1.0, retry_base_seconds=0.2,
                  max_retries=2, db_pool_max=10, job_state_listener_reconnect_delay=0.1,
                  # Stages in threads: spawning model worker processes costs seconds per app on 2 cores.
                  # test_supervised, test_leases_drain and the chaos run exercise the worker processes.
                  worker_processes=0)
    values.update(overrides)
    return Settings(_env_file=None, **values)


@contextmanager
def serve(app, port: int):
    """Run an ASGI app with uvicorn in a background thread for the duration of the block."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    # Generous: an app that loads a model in its worker process starts in seconds, on a loaded host in a minute.
    deadline = time.time() + 150
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            server.should_exit = True  # shut down what did start (worker processes) instead of leaking it
            thread.join(timeout=30)
            raise RuntimeError("app did not start")
        time.sleep(0.02)
    # Ready means the dispatcher has proven its target (it probes itself once the socket is bound);
    # a test that expects a 503 for another reason gets it after this short wait.
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json().get("dispatch_target"):
                break
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def empty_db_url():
    """A brand-new database without the schema (a team database or docker's first start)."""
    name = f"adpipe_e_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    yield _url(name)
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def db(db_url):
    """A sync SQLAlchemy session on the test database (closed before the database is dropped)."""
    from test.integration.helpers import session_for

    session = session_for(db_url)
    yield session
    session.close()
    session.get_bind().dispose()


@pytest.fixture
def no_network(monkeypatch):
    """Any DNS lookup or connection fails the test: models must load from local files only."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:2]}")
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
