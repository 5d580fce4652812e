"""The database calls of operations and of the HTTP layer: sessions and tenant checks, the completion outbox,
provider rate limits, priorities, the dashboard's page, the pool's reset, the no-op app's record, test databases.

SQL: db/dashboard.sql, db/actions.sql (outbox), db/ratelimit.sql, db/fairness.sql, db/scripts.sql, db/queries.sql.
The operator actions have their own store (store_actions.py); the engine's and the stages' are under
services/engine/ and services/stages/.
"""
from typing import Any, Literal
from uuid import UUID

from services.engine.queries import Q
from services.engine.store import Conn, Row

# The no-op app's table of executions (tests, benchmarks and the chaos run create it in their databases).
EXECUTIONS_DDL = Q["create_test_executions"]


async def create_session(conn: Conn, *, session_hash: str, tenant_id: str | None, login_via: str, csrf_token: str,
                         lifetime_seconds: float) -> None:
    """A new dashboard session; sessions that ended a day ago are removed on the way."""
    await conn.execute(Q["session_purge"])
    await conn.execute(Q["session_create"], session_hash, tenant_id, login_via, csrf_token, lifetime_seconds)


async def revoke_session(conn: Conn, *, session_hash: str) -> None:
    """The session stops working at once, on every replica."""
    await conn.execute(Q["session_revoke"], session_hash)


async def live_session(conn: Conn, *, session_hash: str) -> Row | None:
    """A session not revoked nor expired (tenant_id, login_via, csrf_token), as is; None: none."""
    return await conn.fetchrow(Q["session_get"], session_hash)


async def asset_tenants(conn: Conn, *, image_url: str) -> set[str | None]:
    """Every tenant an /assets file belongs to (the asset's own tenant, else its job's)."""
    return {r["tenant_id"] for r in await conn.fetch(Q["asset_tenants"], image_url)}


async def job_tenant(conn: Conn, *, job_id: UUID) -> str | None:
    """The job's tenant (None also when there is no such job)."""
    return await conn.fetchval(Q["access_job_tenant"], job_id)


async def outbox_claim(conn: Conn, *, batch: int, lease_seconds: float, max_age_seconds: float) -> list[Row]:
    """Up to `batch` due webhook deliveries, leased (delivery_id, job_id, payload, attempts, ...), as is."""
    return await conn.fetch(Q["outbox_claim"], batch, lease_seconds, max_age_seconds)


async def outbox_delivered(conn: Conn, *, delivery_id: int, status: int) -> None:
    """The delivery was accepted (a 2xx)."""
    await conn.execute(Q["outbox_delivered"], delivery_id, status)


async def outbox_failed(conn: Conn, *, delivery_id: int, status: int | None, error: str, retry_in: float | None) -> None:
    """The delivery failed: try again in `retry_in` seconds, or (None) give up."""
    await conn.execute(Q["outbox_failed"], delivery_id, status, error, retry_in)


async def outbox_list(conn: Conn, *, job_id: UUID | None, pending_only: bool, limit: int) -> list[Row]:
    """Deliveries newest first (the CLI's `webhook deliveries`), as is."""
    return await conn.fetch(Q["outbox_list"], job_id, pending_only, limit)


def rate_acquire(cur: Any, *, provider: str, rpm: int, tpm: int, tokens: int, window: float,
                 margin: float) -> tuple[int | None, float]:
    """Sync (a psycopg2 cursor): admit one call of `tokens` if the provider's budget has room; (call_id or None, wait)."""
    cur.execute(Q["rate_acquire"], {"provider": provider, "rpm": rpm, "tpm": tpm, "tokens": tokens, "window": window,
                                    "margin": margin})
    return cur.fetchone()


def rate_settle(cur: Any, *, call_id: int, tokens: int) -> None:
    """Sync: the reply's real token count replaces the estimate the call was admitted with."""
    cur.execute(Q["rate_settle"], {"call_id": call_id, "tokens": tokens})


def rate_throttled(cur: Any, *, provider: str, cooldown: float, retry_after: float, min_factor: float) -> None:
    """Sync: a 429 halves the provider's budget for `cooldown` s and holds every call for `retry_after` s."""
    cur.execute(Q["rate_throttled"], {"provider": provider, "cooldown": cooldown, "retry_after": retry_after,
                                      "min_factor": min_factor})


async def rate_status(conn: Conn, *, window_seconds: float, timeout: float | None = None) -> dict[str, Row]:
    """{provider: its share now, shrunk/blocked until, throttled_total, requests and tokens in the window}."""
    return {r["provider"]: r for r in await conn.fetch(Q["rate_status"], window_seconds, timeout=timeout)}


async def set_job_priority(conn: Conn, *, job_id: UUID, priority: Literal["urgent", "normal"]
                           ) -> Literal["urgent", "normal"] | None:
    """Mark a job urgent or normal; the priority now, None when the job does not exist."""
    row = await conn.fetchrow(Q["set_job_priority"], job_id, priority)
    return row["priority"] if row else None


async def jobs_page(conn: Conn, *, tenant_id: str | None, status: str | None, outcome: str | None, search: str | None,
                    search_like: str | None, after_created: Any, after_job: UUID | None, limit: int) -> list[Row]:
    """One keyset page of the dashboard's jobs, newest first (dash_jobs_page's columns), in one transaction."""
    async with conn.transaction():
        await conn.execute(Q["dash_custom_plans"])  # a plan per call: the generic one scans every job
        return await conn.fetch(Q["dash_jobs_page"], tenant_id, status, outcome, search, search_like, after_created,
                                after_job, limit)


async def job_store_name(conn: Conn, *, job_id: UUID) -> str | None:
    """The title of the job's store."""
    return await conn.fetchval(Q["job_store_name"], job_id)


async def rollback(conn: Conn) -> None:
    """Roll back the transaction left open on this connection."""
    await conn.execute(Q["rollback"])


async def record_test_execution(conn: Conn, *, stage: str, row_id: UUID, run_token: UUID, pid: int) -> None:
    """The no-op app ran `stage` for this row (tests prove "ran exactly once" from these rows)."""
    await conn.execute(Q["record_test_execution"], stage, row_id, run_token, pid)


async def drop_database(conn: Conn, *, name: str) -> None:
    """Drop (with FORCE) a benchmark's or a test's database, if it exists."""
    await conn.execute(Q["drop_database"].format(name=name))


async def create_database(conn: Conn, *, name: str) -> None:
    """Create an empty database of this name."""
    await conn.execute(Q["create_database"].format(name=name))
