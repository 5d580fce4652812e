"""What the runner and the routers share: the stage context, the handler protocol, run outcomes, error texts."""
import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from services.engine.pipeline import Stage

CONNECTION_ERRORS = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                      asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError, asyncio.TimeoutError)


@dataclass
class StageContext:
    """What a stage handler knows about the row it claimed."""

    stage: Stage
    job_id: UUID
    job_variants_id: UUID | None
    tenant_id: str | None
    run_token: UUID
    attempt: int
    request: dict = field(default_factory=dict)


class StageHandler(Protocol):
    """One stage's work: read inputs, compute (in a thread), write results in the commit."""

    async def load(self, conn: asyncpg.Connection, ctx: StageContext) -> Any: ...

    def run(self, inputs: Any) -> Any: ...

    async def save(self, conn: asyncpg.Connection, ctx: StageContext, output: Any) -> dict: ...


class StageTimeout(Exception):
    """The stage's work ran past its time limit (retried like any other failure)."""


class Draining(Exception):
    """The process is shutting down: it claims nothing new (503 with Retry-After)."""


class Released(Exception):
    """The run could not finish before shutdown and went back to its previous (step, done)."""


def clean_error(text: str, limit: int = 2000) -> str:
    """An error text PostgreSQL accepts: no NUL, no lone surrogates, at most `limit` characters."""
    text = text.replace("\x00", "\\0")
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 15] + " ...(truncated)"
