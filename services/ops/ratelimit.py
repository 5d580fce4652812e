"""Model-provider rate limits shared by every replica through PostgreSQL, applied to each HTTP request."""
import json
import logging
import math
import threading
import time
from email.utils import parsedate_to_datetime

import httpx
import psycopg2

from services.ops import metrics, store

log = logging.getLogger(__name__)
IMAGE_TOKENS = 600  # what an image is charged before the reply says (llava-1.5: 576; OpenAI low detail: 85)
PROVIDERS = ("openai", "vlm")  # the text stages' endpoint, the served VLM


def limits(settings, provider: str) -> tuple[int, int]:
    """(requests, tokens) per window configured for `provider`; 0 = unlimited."""
    return int(getattr(settings, f"{provider}_rpm")), int(getattr(settings, f"{provider}_tpm"))


def margin(settings) -> float:
    """Slack added to the window: admission here and arrival at the provider are not the same instant."""
    # At least 1 s: on a loaded host a thread admitted here can take most of a second to reach the socket.
    return max(1.0, 0.02 * settings.rate_limit_window_seconds)


class RateLimiter:
    """A provider's budget in the shared database; blocking calls (stage threads and worker processes)."""

    def __init__(self, provider: str, settings, dsn: str | None = None):
        self.provider, self.settings = provider, settings
        self.rpm, self.tpm = limits(settings, provider)
        self._dsn = dsn
        self._conn: psycopg2.extensions.connection | None = None
        self._lock = threading.Lock()  # one connection, one statement at a time (each takes a millisecond)

    def _execute(self, call, **params):
        """call(cursor, **params), a sync function of services/ops/store.py, on this limiter's connection."""
        with self._lock:
            if self._conn is None or self._conn.closed:
                if self._dsn is None:
                    import database  # late: database imports the engine; only a configured limit needs it
                    self._dsn = database.database_url(self.settings)
                self._conn = psycopg2.connect(self._dsn, application_name="adpipe-ratelimit")
                self._conn.autocommit = True
            try:
                with self._conn.cursor() as cur:
                    return call(cur, **params)
            except psycopg2.Error:
                self._conn.close()  # reconnect next time
                raise

    def acquire(self, tokens: int, deadline: float) -> int | None:
        """Wait (sleeping, not failing) until the provider's budget admits one call of `tokens`; its id, or
        None when `deadline` (time.monotonic) passed first."""
        waited, started = False, time.monotonic()
        params = {"provider": self.provider, "rpm": self.rpm, "tpm": self.tpm, "tokens": int(tokens),
                  "window": self.settings.rate_limit_window_seconds, "margin": margin(self.settings)}
        while True:
            try:
                call_id, wait = self._execute(store.rate_acquire, **params)
            except psycopg2.Error as exc:  # the database is the budget: without it, wait for it
                log.warning("rate limit %s: database unavailable (%r)", self.provider, exc)
                call_id, wait = None, 0.5
            if call_id is not None:
                if waited:
                    metrics.RATE_LIMIT_WAITS.labels(self.provider).inc()
                    metrics.RATE_LIMIT_WAIT_SECONDS.labels(self.provider).inc(time.monotonic() - started)
                return call_id
            waited = True
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(float(wait), left, 5.0))  # re-ask at least every 5 s: another replica may free budget

    def settle(self, call_id: int, tokens: int) -> None:
        """Charge the call what the reply's usage says it cost."""
        try:
            self._execute(store.rate_settle, call_id=call_id, tokens=int(tokens))
        except psycopg2.Error as exc:
            log.warning("rate limit %s: usage not recorded (%r)", self.provider, exc)

    def throttled(self, retry_after: float | None) -> None:
        """The provider answered 429: shrink the budget for every replica, hold calls for Retry-After."""
        metrics.PROVIDER_THROTTLED.labels(self.provider).inc()
        wait = min(retry_after if retry_after is not None else 1.0, self.settings.rate_limit_cooldown_seconds)
        try:
            self._execute(store.rate_throttled, provider=self.provider, cooldown=self.settings.rate_limit_cooldown_seconds,
                          retry_after=max(0.0, wait), min_factor=self.settings.rate_limit_min_factor)
        except psycopg2.Error as exc:
            log.warning("rate limit %s: 429 not recorded (%r)", self.provider, exc)
            time.sleep(wait)


def estimate_tokens(body: bytes) -> int:
    """Tokens a chat-completions request will cost at most: its text / 4, images, and max_tokens."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return 0
    chars, images = 0, 0
    for message in request.get("messages", []) if isinstance(request, dict) else []:
        content = message.get("content") if isinstance(message, dict) else None
        parts = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        for part in parts:
            if isinstance(part, dict) and part.get("type") == "image_url":
                images += 1
            elif isinstance(part, dict):
                chars += len(str(part.get("text") or ""))
    return math.ceil(chars / 4) + images * IMAGE_TOKENS + int(request.get("max_tokens") or 0)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class RateLimitedTransport(httpx.BaseTransport):
    """Every request waits for the provider's budget; a 429 shrinks the budget and the request waits and is
    sent again, so the SDK (and the stage) never sees it: no failure, no retry burned. Past `max_wait` the
    429 is handed to the SDK as it came."""

    def __init__(self, limiter: RateLimiter, max_wait: float, inner: httpx.BaseTransport | None = None):
        self.limiter, self.max_wait = limiter, max_wait
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":  # GET /models (health checks) costs the provider nothing
            return self.inner.handle_request(request)
        body = request.read()
        tokens = estimate_tokens(body)
        deadline = time.monotonic() + self.max_wait
        while True:
            call_id = self.limiter.acquire(tokens, deadline)
            response = self.inner.handle_request(request)
            if response.status_code == 429 and time.monotonic() < deadline:
                response.read()
                response.close()
                self.limiter.throttled(_retry_after(response.headers.get("retry-after")))
                continue
            if call_id is not None and response.status_code == 200:
                response.read()
                try:
                    used = (json.loads(response.content).get("usage") or {}).get("total_tokens")
                except (ValueError, AttributeError):
                    used = None
                if used is not None:
                    self.limiter.settle(call_id, used)
            return response

    def close(self) -> None:
        self.inner.close()


def limited_client(provider: str, settings, timeout: float, max_wait: float) -> httpx.Client | None:
    """An httpx client for the OpenAI SDK that keeps `provider`'s limits; None when none are configured."""
    rpm, tpm = limits(settings, provider)
    if rpm <= 0 and tpm <= 0:
        return None
    return httpx.Client(transport=RateLimitedTransport(RateLimiter(provider, settings), max_wait), timeout=timeout)


async def report(pool, settings) -> dict:
    """{provider: limits, effective share, what the window holds} for /healthz; sets the /metrics gauges."""
    window = settings.rate_limit_window_seconds + margin(settings)
    rows = await store.rate_status(pool, window_seconds=window, timeout=5)
    out = {}
    for provider in PROVIDERS:
        rpm, tpm = limits(settings, provider)
        row = rows.get(provider)
        factor = float(row["factor"]) if row else 1.0
        out[provider] = {
            "requests_per_window": rpm or None, "tokens_per_window": tpm or None,
            "window_seconds": settings.rate_limit_window_seconds, "factor": factor,
            "effective_requests": max(1, math.floor(rpm * factor)) if rpm else None,
            "effective_tokens": max(1, math.floor(tpm * factor)) if tpm else None,
            "used_requests": int(row["requests"]) if row else 0, "used_tokens": int(row["tokens"]) if row else 0,
            "throttled_total": int(row["throttled_total"]) if row else 0,
            "shrunk_until": row["shrunk_until"].isoformat() if row and row["shrunk_until"] else None,
            "blocked_until": row["blocked_until"].isoformat() if row and row["blocked_until"] else None}
        for kind, key in (("requests", "requests_per_window"), ("tokens", "tokens_per_window"),
                          ("effective_requests", "effective_requests"), ("effective_tokens", "effective_tokens")):
            metrics.RATE_LIMIT.labels(provider, kind).set(out[provider][key] or 0)
        metrics.RATE_LIMIT_USED.labels(provider, "requests").set(out[provider]["used_requests"])
        metrics.RATE_LIMIT_USED.labels(provider, "tokens").set(out[provider]["used_tokens"])
    return out
