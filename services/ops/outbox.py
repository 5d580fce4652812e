"""The completion webhook: deliveries from the job_outbox table, signed with HMAC-SHA256, retried with backoff.

The outbox row is written by the transaction that makes a job final (migration 0011), so a process killed
between that commit and the POST loses nothing: the row stays undelivered and any replica sends it once its
lease ends. Delivery is at least once; the receiver drops a repeat by `X-Webhook-Id` (the delivery id).

Signature (the Stripe and GitHub way): header `X-Webhook-Signature: t=<unix seconds>,v1=<hex>` where
hex = HMAC-SHA256(WEBHOOK_SECRET, f"{t}.{raw body}"); verify_signature() below is the receiver's check."""
import asyncio
import hashlib
import hmac
import json
import logging
import time

import asyncpg
import httpx

from config import Settings
from services.ops import store

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Webhook-Signature"
ID_HEADER = "X-Webhook-Id"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str | None, body: bytes, tolerance: float = 300,
                     now: float | None = None) -> bool:
    """The receiver's check: the HMAC matches the raw body and the timestamp is within `tolerance` seconds."""
    try:
        parts = dict(item.split("=", 1) for item in (header or "").split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False  # an old captured request replayed later
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff(settings: Settings, attempts: int) -> float | None:
    """Seconds before the next attempt after `attempts` failed ones, or None: give up."""
    if attempts >= settings.webhook_max_attempts:
        return None
    return min(settings.webhook_retry_base_seconds * 2 ** (attempts - 1), settings.webhook_retry_max_seconds)


class WebhookDeliverer:
    """Polls the outbox for due deliveries and POSTs them (every replica runs one; SKIP LOCKED shares the rows)."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, client: httpx.AsyncClient | None = None):
        self.pool, self.settings = pool, settings
        self.client = client or httpx.AsyncClient(timeout=settings.webhook_timeout_seconds)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start the delivery loop."""
        self._task = asyncio.create_task(self._loop(), name="webhook-deliverer")

    async def stop(self) -> None:
        """Stop the loop; an undelivered row stays in the outbox for the next process."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.client.aclose()

    async def _loop(self) -> None:
        while True:
            try:
                sent = await self.deliver_due()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("webhook round skipped: %r", exc)
                sent = 0
            if not sent:
                await asyncio.sleep(self.settings.webhook_poll_seconds)

    async def deliver_due(self, batch: int = 20) -> int:
        """Send every due delivery of one batch (in parallel); returns how many were tried."""
        lease = self.settings.webhook_timeout_seconds + 5
        rows = await store.outbox_claim(self.pool, batch=batch, lease_seconds=lease,
                                        max_age_seconds=self.settings.webhook_max_age_seconds)
        await asyncio.gather(*(self._send(r) for r in rows))
        return len(rows)

    async def _send(self, row) -> None:
        body = json.dumps(row["payload"], ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", ID_HEADER: str(row["delivery_id"]),
                   "X-Webhook-Event": "job_finished", "User-Agent": "adpipe-webhook/1"}
        if self.settings.webhook_secret:
            headers[SIGNATURE_HEADER] = sign(self.settings.webhook_secret, int(time.time()), body)
        status: int | None = None
        try:
            response = await self.client.post(self.settings.webhook_url, content=body, headers=headers)
            status = response.status_code
            if 200 <= status < 300:
                await store.outbox_delivered(self.pool, delivery_id=row["delivery_id"], status=status)
                return
            error = f"HTTP {status}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        delay = backoff(self.settings, row["attempts"])
        log.warning("webhook %s for job %s failed (attempt %d): %s; %s", row["delivery_id"], row["job_id"],
                    row["attempts"], error, "giving up" if delay is None else f"next in {delay:.1f} s")
        await store.outbox_failed(self.pool, delivery_id=row["delivery_id"], status=status, error=error, retry_in=delay)
