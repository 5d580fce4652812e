"""Shared by the scripts and the tests: free ports, app processes (uvicorn), sync sessions."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from services.ops import store

ROOT = Path(__file__).resolve().parents[2]


async def fresh_database(admin_url: str, name: str, extra_sql: str = "") -> str:
    """Drop and create a benchmark database on the server of `admin_url`, migrate it; its URL."""
    import database  # late: the scripts' own settings (DATABASE_URL) must not matter here

    conn = await asyncpg.connect(admin_url)
    await store.drop_database(conn, name=name)
    await store.create_database(conn, name=name)
    await conn.close()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    conn = await asyncpg.connect(url)
    await database.apply_schema(conn)
    if extra_sql:
        await conn.execute(extra_sql)
    await conn.close()
    return url


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_for(url: str) -> Session:
    """A sync SQLAlchemy session (psycopg2), like upstream code uses."""
    return Session(bind=create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1)))


def close_session(session: Session) -> None:
    """Close a session_for session and dispose the engine it was made with (its pooled connections)."""
    bind = session.get_bind()
    session.close()
    if isinstance(bind, Engine):
        bind.dispose()


class AppProcess:
    """One `uvicorn <module>:app` process with its own port."""

    def __init__(self, db_url: str, port: int, assets_dir: Path, module: str = "services.ops.noop_app", **env):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.assets_dir = assets_dir
        self.env = {**os.environ, "DATABASE_URL": db_url, "PORT": str(port), "HOST": "127.0.0.1",
                    "ASSETS_DIR": str(assets_dir), "SWEEP_INTERVAL_SECONDS": "0.5", "SWEEP_GRACE_SECONDS": "1",
                    "RETRY_BASE_SECONDS": "0.2", "JOB_STATE_LISTENER_RECONNECT_DELAY": "0.1", "LOG_LEVEL": "WARNING",
                    **{k.upper(): str(v) for k, v in env.items()}}
        self.module = module
        self.proc: subprocess.Popen | None = None

    def launch(self, cmd: list[str] | None = None, cwd: Path = ROOT, **popen) -> "AppProcess":
        """Start (`cmd`, default uvicorn on self.port) in `cwd` (the code it imports first) and return at once."""
        self.proc = subprocess.Popen(
            cmd or [sys.executable, "-m", "uvicorn", f"{self.module}:app", "--host", "127.0.0.1", "--port",
                    str(self.port), "--log-level", "warning"], cwd=cwd, env=self.env, **popen)
        return self

    def start(self, wait: float = 60, cmd: list[str] | None = None, cwd: Path = ROOT) -> "AppProcess":
        """Start (`cmd`, default uvicorn on self.port) in `cwd` and wait until /healthz answers."""
        self.launch(cmd, cwd)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited with {self.proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code in (200, 503):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("app did not come up")

    def kill(self) -> None:
        """SIGKILL: no cleanup, leases stay behind."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM and wait (graceful shutdown)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
