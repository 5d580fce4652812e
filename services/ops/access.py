"""Who is asking: the API key, a tenant read key or a dashboard session; reads beyond loopback need one of them."""
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from urllib.parse import unquote
from uuid import UUID

from config import Settings
from services.ops import store
from services.ops.address import is_loopback

SESSION_COOKIE = "dash_session"
CSRF_COOKIE = "dash_csrf"  # double-submit token for forms before login (the login form itself)
# Readable by anyone: the login page and what it loads, and the ops endpoints when OPS_ENDPOINTS_OPEN.
PUBLIC_PATHS = {"/dashboard/login", "/dashboard/font.otf"}
OPS_PATHS = {"/healthz", "/metrics"}


@dataclass(frozen=True)
class Principal:
    """A caller: `tenant` None sees every tenant; `can_write` runs actions; `csrf` is its session's form token."""

    via: str  # api_key | dashboard_password | tenant_read_key | open (loopback, no credentials needed)
    tenant: str | None = None
    csrf: str | None = None
    session: str | None = None  # the session token's hash, for logout

    @property
    def can_write(self) -> bool:
        return self.tenant is None


OPEN = Principal(via="open")


def principal(request) -> Principal:
    """The caller the Access middleware found for this request (OPEN when none was needed)."""
    return request.scope.get("state", {}).get("principal", OPEN)


def token_hash(token: str) -> str:
    """sha256 hex of a session token (the database keeps only this)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _same(given: str | bytes, expected: str) -> bool:
    given_b = given if isinstance(given, bytes) else given.encode("utf-8", "replace")
    return bool(expected) and hmac.compare_digest(given_b, expected.encode("utf-8"))


def match_secret(settings: Settings, given: str | bytes) -> tuple[str, str | None] | None:
    """(via, tenant) for a key or password, or None: API_KEY, DASHBOARD_PASSWORD, then each tenant read key."""
    if _same(given, settings.api_key):
        return "api_key", None
    if _same(given, settings.dashboard_password):
        return "dashboard_password", None
    # Every tenant key is compared, so the time taken does not say which tenant's key came close.
    found = None
    for tenant, key in settings.tenant_read_keys.items():
        if _same(given, key) and found is None:
            found = ("tenant_read_key", tenant)
    return found


def cookies(headers: dict) -> dict[str, str]:
    """The request's cookies (name -> value), from the raw Cookie header."""
    jar: dict[str, str] = {}
    for part in headers.get("cookie", b"").decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            jar.setdefault(name, value)
    return jar


async def create_session(pool, settings: Settings, via: str, tenant: str | None) -> tuple[str, str]:
    """A new session (token for the cookie, its CSRF token); ended sessions of long ago are removed."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    async with pool.acquire() as conn:
        await store.create_session(conn, session_hash=token_hash(token), tenant_id=tenant, login_via=via, csrf_token=csrf,
                                   lifetime_seconds=settings.session_hours * 3600)
    return token, csrf


async def revoke_session(pool, session_hash: str) -> None:
    """Logout: the session stops working at once, on every replica."""
    await store.revoke_session(pool, session_hash=session_hash)


class Access:
    """Pure ASGI: puts the caller's Principal in scope["state"]; refuses reads that need credentials with 401."""

    def __init__(self, app, settings: Settings, login_page=None):
        # login_page(settings, path, headers) -> an ASGI app answering 401 with the login form (routers provide it)
        self.app, self.settings, self.login_page = app, settings, login_page

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v for k, v in scope["headers"]}
        principal = await self._principal(scope, headers)
        path = scope["path"]
        if principal is None and self._needs_credentials(scope, path):
            if self.login_page and (path == "/dashboard" or path.startswith("/dashboard/")):
                # Browsers get the login page (still a 401); the login form posts back to where they were.
                return await self.login_page(self.settings, scope, headers)(scope, receive, send)
            return await _answer(send, 401, "credentials required: X-API-Key or a dashboard session (/dashboard/login)")
        if principal is not None and principal.tenant is not None and not await self._tenant_may(scope, principal, path):
            return await _answer(send, 404, "not found")  # another tenant's job or file: as if it did not exist
        scope.setdefault("state", {})["principal"] = principal or OPEN
        await self.app(scope, receive, send)

    def _needs_credentials(self, scope, path: str) -> bool:
        if path in PUBLIC_PATHS or (path in OPS_PATHS and self.settings.ops_endpoints_open):
            return False
        if scope["method"] in ("POST", "PUT", "PATCH", "DELETE") and not path.startswith("/dashboard/"):
            return False  # writes: the Guard demands API_KEY itself (dashboard forms check session and CSRF)
        if self.settings.read_auth == "always":
            return True
        local = (scope.get("server") or (None, None))[0]
        return local is not None and not is_loopback(local)

    async def _principal(self, scope, headers: dict) -> Principal | None:
        if "x-api-key" in headers:
            found = match_secret(self.settings, headers["x-api-key"])
            return Principal(via=found[0], tenant=found[1]) if found else None
        token = cookies(headers).get(SESSION_COOKIE)
        if not token:
            return None
        row = await store.live_session(scope["app"].state.pool, session_hash=token_hash(token))
        if row is None:
            return None
        return Principal(via=row["login_via"], tenant=row["tenant_id"], csrf=row["csrf_token"], session=token_hash(token))

    async def _tenant_may(self, scope, principal: Principal, path: str) -> bool:
        """A tenant principal reads its own jobs and files only (lists are filtered by the routes)."""
        pool = scope["app"].state.pool
        if path.startswith("/assets/"):
            tenants = await store.asset_tenants(pool, image_url=unquote(path))
            return tenants == {principal.tenant}
        for prefix in ("/api/yh/jobs/", "/dashboard/jobs/"):
            if path.startswith(prefix):
                try:
                    job_id = UUID(path[len(prefix):].split("/", 1)[0])
                except ValueError:
                    return True  # the route answers 422 / 404 for a malformed id
                return await store.job_tenant(pool, job_id=job_id) == principal.tenant
        return True


async def _answer(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
