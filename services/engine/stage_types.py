"""What the runner and the routers share: the stage context, the handler protocol, run outcomes, error texts."""
import asyncio
from dataclasses import dataclass, field
from typing import Any
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


class StageHandler:
    """One stage's work, and every hook the engine reads: subclass it and override what the stage needs.

    `load`, `run` and `save` have no useful default (the start-up check, services/engine/handler_check.py,
    refuses a handler that keeps one of them); the others default to "nothing to do"."""

    # Where `run` executes: a supervised worker process of this group ("cpu", "vlm"), or None for a thread of
    # the app process (an I/O-bound handler waiting on a remote LLM or VLM needs no process).
    process_group: str | None = None
    # True: the runner gives the stage a thread pool of its own (it waits on a server, not on the CPU).
    io_bound: bool = False
    # True: `health()` is sent every few seconds by the worker process that runs it (the GPU report).
    reports_health: bool = False

    def __init__(self, models: Any = None):
        """`models`: what the stage's backends come from (services/stages/registry.py builds every handler so)."""
        self.models = models

    async def load(self, conn: asyncpg.Connection, ctx: StageContext) -> Any:
        """Read the stage's inputs (in the app process, before the work)."""
        raise NotImplementedError(f"{type(self).__name__} does not define load")

    def run(self, inputs: Any) -> Any:
        """Compute from `inputs` (plain, picklable values: it may run in a worker process)."""
        raise NotImplementedError(f"{type(self).__name__} does not define run")

    async def save(self, conn: asyncpg.Connection, ctx: StageContext, output: Any) -> dict:
        """Write the results in the transaction that commits `done`; return the result summary."""
        raise NotImplementedError(f"{type(self).__name__} does not define save")

    async def check_request(self, conn: asyncpg.Connection, request: dict) -> None:
        """Validate a caller's ids before the claim (raise NotFound for a 404 that is not a failed row)."""

    def warm_up(self) -> dict:
        """Load what `run` needs, once per process that runs it; returns the models' status it changed."""
        return {}

    def health(self) -> dict:
        """A report for /healthz (read where `reports_health` is True)."""
        return {}


# The hooks a subclass must override (the runner calls them for every run).
REQUIRED_HOOKS = ("load", "run", "save")


def overrides(handler: object, hook: str) -> bool:
    """Whether `handler`'s class defines `hook` itself instead of keeping StageHandler's default."""
    return getattr(type(handler), hook, None) is not getattr(StageHandler, hook)


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
