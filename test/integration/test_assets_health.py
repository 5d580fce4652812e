"""/healthz reports the assets directory missing, unreadable or unwritable, as the image's uid 10001 sees it."""
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest
import uvicorn

from main import create_app
from test.conftest import app_settings
from test.engine_app import counting_handlers
from test.integration.helpers import wait_for

APP_UID = 10001  # the Dockerfile's user `app`


def _serve_as(uid: int, settings) -> None:
    """In a forked child: drop to `uid` (when root: permissions then apply as in the container) and serve."""
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        os.environ["HOME"] = tempfile.gettempdir()  # asyncpg looks for client certificates under ~/.postgresql
    app = create_app(settings, counting_handlers)
    uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning")).run()


def _health(port: int) -> tuple[int, dict]:
    response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    return response.status_code, response.json()


@pytest.fixture
def shared_dir():
    """A folder outside pytest's private tmp (mode 700), like a host folder bind-mounted at ASSETS_DIR."""
    top = Path(tempfile.mkdtemp(prefix="assets-health-"))
    top.chmod(0o755)
    assets = top / "assets"
    assets.mkdir()
    if os.geteuid() == 0:
        os.chown(assets, APP_UID, APP_UID)
    yield assets
    shutil.rmtree(top, ignore_errors=True)


def test_healthz_reports_the_assets_directory_missing_unreadable_or_unwritable(db_url, tmp_path, shared_dir):
    settings = app_settings(db_url, tmp_path, assets_dir=shared_dir, api_key="")
    child = multiprocessing.get_context("fork").Process(target=_serve_as, args=(APP_UID, settings), daemon=True)
    child.start()
    try:
        def answered():
            try:
                return _health(settings.port)[1].get("dispatch_target")
            except httpx.HTTPError:
                return None
        wait_for(answered, 60, what="app up")
        status, health = _health(settings.port)
        assert (status, health["ok"], health["assets_problem"]) == (200, True, None), health
        assert health["assets_dir"] == str(shared_dir)
        # The probe made the folders the service writes (owned by the app's uid, as in the container).
        assert (shared_dir / "overlaid").is_dir() and (shared_dir / "masks").is_dir()

        (shared_dir / "masks").chmod(0o555)  # e.g. created by root on the host, not writable by uid 10001
        status, health = _health(settings.port)
        assert status == 503 and health["ok"] is False
        assert health["assets_problem"].startswith(f"assets directory {shared_dir / 'masks'} is not writable by uid")
        (shared_dir / "masks").chmod(0o755)

        shared_dir.chmod(0o300)  # listable by nobody
        status, health = _health(settings.port)
        assert status == 503 and "is not readable by uid" in health["assets_problem"], health
        shared_dir.chmod(0o755)

        moved = shared_dir.with_name("elsewhere")
        shared_dir.rename(moved)  # the mount is gone
        status, health = _health(settings.port)
        assert status == 503 and health["assets_problem"].startswith(f"assets directory {shared_dir} is missing")
        moved.rename(shared_dir)

        status, health = _health(settings.port)
        assert (status, health["ok"], health["assets_problem"]) == (200, True, None), health
    finally:
        child.terminate()
        child.join(30)
