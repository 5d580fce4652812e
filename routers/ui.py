"""What every dashboard page shares: templates, filters, labels in Korean and English, the time zone, CSRF and flash."""
import base64
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from routers.labels import LABELS, LANGS
from services.ops.access import CSRF_COOKIE, principal

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)
templates = Jinja2Templates(env=_env)
LANG_COOKIE, FLASH_COOKIE = "dash_lang", "dash_flash"


def fmt(value) -> str:
    """A metric value for humans: yes/no, integers as is, floats to four significant digits."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def duration(ms) -> str:
    """Milliseconds as '12 ms' or '1.4 s'."""
    if ms is None:
        return "—"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


@jinja2.pass_context
def timestamp(ctx, value):
    """A <time> in the team's time zone, UTC on hover (title) and in `datetime`."""
    if not isinstance(value, datetime):
        return "—"
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    local = utc.astimezone(ctx.get("tz") or UTC)
    return Markup('<time datetime="{}" title="{} UTC">{} {}</time>').format(
        utc.isoformat(), utc.strftime("%Y-%m-%d %H:%M:%S"), local.strftime("%Y-%m-%d %H:%M:%S"), local.tzname())


def local_asset(url) -> str | None:
    """`/assets/...` of this service, or None: any other URL (http://, //host, data:) is shown as text, never fetched."""
    if isinstance(url, str) and url.startswith("/assets/") and not any(c in url for c in ("\\", "..", "//", "?", "#")) \
            and url.isprintable():
        return url
    return None


_env.filters.update(fmt=fmt, duration=duration, ts=timestamp, local_asset=local_asset)


def language(request: Request) -> str:
    """`?lang=` (remembered in a cookie), else the cookie, else Korean."""
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return chosen if chosen in LANGS else "ko"


def csrf_token(request: Request) -> str:
    """The token every form carries: the session's own, else this browser's double-submit cookie (made once)."""
    who = principal(request)
    if who.csrf:
        return who.csrf
    token = request.cookies.get(CSRF_COOKIE) or request.scope.setdefault("state", {}).get("new_csrf")
    if not token:
        token = request.scope["state"]["new_csrf"] = secrets.token_urlsafe(24)
    return token


def set_flash(response, action: str, ok: bool, message: str) -> None:
    """One result banner for the next page (Post/Redirect/Get)."""
    value = base64.urlsafe_b64encode(json.dumps({"action": action, "ok": ok, "message": message[:500]}).encode())
    response.set_cookie(FLASH_COOKIE, value.decode(), max_age=60, httponly=True, samesite="strict", path="/dashboard")


def _flash(request: Request) -> dict | None:
    try:
        raw = request.cookies.get(FLASH_COOKIE)
        return json.loads(base64.urlsafe_b64decode(raw.encode())) if raw else None
    except ValueError:
        return None


def _with_query(request: Request, **changes) -> str:
    """This page's path and query with some parameters changed (None drops one); relative, no host."""
    params = {k: v for k, v in request.query_params.items()}
    params.update(changes)
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return request.url.path + (f"?{query}" if query else "")


def render(request: Request, name: str, context: dict, status_code: int = 200):
    """A dashboard page with labels, the time zone, the caller, a CSRF token and the pending flash."""
    settings = request.app.state.settings
    lang = language(request)
    labels = LABELS[lang]
    token = csrf_token(request)
    flash = _flash(request)
    context = {**context, "lang": lang, "t": lambda key: labels.get(key, LABELS["en"].get(key, key)),
               "tz": ZoneInfo(settings.display_timezone), "who": principal(request), "csrf": token,
               "flash": flash, "login_enabled": bool(settings.api_key or settings.dashboard_password),
               "lang_links": {code: _with_query(request, lang=code) for code in LANGS}, "with_query": _with_query}
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", path="/dashboard")
    if request.scope.get("state", {}).get("new_csrf"):
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/dashboard",
                            secure=settings.session_cookie_secure)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/dashboard")
    return response
