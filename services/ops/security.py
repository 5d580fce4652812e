"""A pure ASGI guard that runs before any body is read: host, bind, key, form posts, size; plus safe headers."""
import hmac
import json

from config import Settings
from services.ops.address import LOOPBACK_NAMES, SelfAddress, is_loopback

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
HTML_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
     b"img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
     b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


def allowed_hosts(settings: Settings) -> set[str]:
    """ALLOWED_HOSTS (comma list, `*` = any) or the loopback names and the bind address; plus STAGE_BASE_URL's host."""
    names = {h.strip().lower() for h in settings.allowed_hosts.split(",") if h.strip()}
    if not names:
        names = {*LOOPBACK_NAMES, settings.host.lower()}
    if settings.stage_base_url:  # the dispatcher's own requests must pass
        names.add(_hostname(settings.stage_base_url.split("://", 1)[-1].split("/", 1)[0]))
    return names


def _hostname(host: str) -> str:
    """`name:port` or `[v6]:port` -> the bare lower-case name."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _host_ok(host: str, allowed: set[str], local: str | None) -> bool:
    if "*" in allowed or host in allowed or (local and host == local.lower()):
        return True  # the local IP the connection arrived on is never a rebound DNS name
    return any(a.startswith("*.") and host.endswith(a[1:]) for a in allowed)


class Guard:
    """Refuses requests before the app (and its body parsing) sees them; adds security headers to every answer."""

    def __init__(self, app, settings: Settings, address: SelfAddress):
        self.app, self.settings, self.address = app, settings, address
        self.allowed = allowed_hosts(settings)
        self.key = settings.api_key.encode("utf-8")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.address.observe(scope)
        headers = {k.decode("latin-1"): v for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal:
            return await _answer(send, *refusal)
        if "content-length" in headers or "transfer-encoding" in headers:
            body = await _read_limited(receive, self.settings.max_body_bytes, headers.get("content-length"))
            if body is None:
                return await _answer(send, 413, f"request body over {self.settings.max_body_bytes} bytes")
            receive = _replay(body, receive)
        await self.app(scope, receive, _with_headers(send))

    def _refusal(self, scope, headers: dict) -> tuple[int, str] | None:
        local = (scope.get("server") or (None, None))[0]
        host = _hostname(headers.get("host", b"").decode("latin-1"))
        if not _host_ok(host, self.allowed, local):
            return 400, "host not allowed (set ALLOWED_HOSTS)"
        if not self.key and local is not None and not is_loopback(local):
            return 403, "API_KEY must be set to serve on a non-loopback address"
        if scope["method"] not in UNSAFE_METHODS:
            return None
        if scope["path"].startswith("/dashboard/"):
            # The dashboard's forms: its routes demand a session (or no key configured) and the form's CSRF
            # token, and the session cookie is SameSite=Strict (routers/dashboard_auth.py).
            return None
        if self.key and not hmac.compare_digest(headers.get("x-api-key", b""), self.key):
            return 401, "missing or wrong X-API-Key"
        media = headers.get("content-type", b"").split(b";", 1)[0].strip().lower()
        json_body = media == b"application/json" or media.endswith(b"+json")
        if not (json_body or "x-api-key" in headers or "x-requested-with" in headers):
            # A browser can post a form cross-site without asking; JSON or a custom header needs CORS, which we never grant.
            return 415, "state-changing requests need Content-Type: application/json or an X-Requested-With header"
        return None


async def _read_limited(receive, limit: int, declared: bytes | None) -> bytes | None:
    """The whole body, or None as soon as it is over `limit` (Content-Length checked before reading)."""
    try:
        if declared is not None and int(declared) > limit:
            return None
    except ValueError:
        return None
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive):
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return replay


def _with_headers(send):
    async def wrapped(message):
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            names = {k.lower() for k, _ in headers}
            extra = [(b"x-content-type-options", b"nosniff")]
            content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
            if content_type.startswith(b"text/html"):
                extra += HTML_HEADERS
            headers += [(k, v) for k, v in extra if k not in names]
            message = {**message, "headers": headers}
        await send(message)
    return wrapped


async def _answer(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"x-content-type-options", b"nosniff"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
