"""Dependencies shared by the routers (Annotated aliases keep signatures readable).

They are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool."""
import secrets
from typing import Annotated

import asyncpg
from fastapi import Depends, Header, HTTPException, Request

from config import Settings
from services.engine.runner import StageRunner


async def get_pool(request: Request) -> asyncpg.Pool:
    """The asyncpg pool created in the lifespan."""
    return request.app.state.pool


async def get_runner(request: Request) -> StageRunner:
    """The stage runner created in the lifespan."""
    return request.app.state.runner


async def get_settings_dep(request: Request) -> Settings:
    """The settings the app was started with."""
    return request.app.state.settings


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
RunnerDep = Annotated[StageRunner, Depends(get_runner)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def require_api_key(settings: SettingsDep, x_api_key: Annotated[str | None, Header()] = None) -> None:
    """Stage and admin endpoints demand X-API-Key when API_KEY is set."""
    # Bytes, not str: compare_digest raises on non-ASCII text (a 500 instead of a 401).
    given = (x_api_key or "").encode("latin-1", "replace")
    if settings.api_key and not secrets.compare_digest(given, settings.api_key.encode("utf-8")):
        raise HTTPException(status_code=401, detail="missing or wrong X-API-Key")
