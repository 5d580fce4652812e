"""Dashboard login and logout, and the check every dashboard form passes: a session (when one is needed) and its CSRF token."""
import hmac
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from starlette.requests import Request as StarletteRequest

from routers.ui import csrf_token, principal, render
from services.ops.access import CSRF_COOKIE, SESSION_COOKIE, create_session, match_secret, revoke_session

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)


async def form_fields(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as {name: first value}; any other body has no fields (so no token)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return {}
    parsed = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def _csrf_ok(request: Request, fields: dict) -> bool:
    given = fields.get("csrf_token", "").encode("utf-8", "replace")
    who = principal(request)
    expected = who.csrf or request.cookies.get(CSRF_COOKIE) or ""
    return bool(expected) and hmac.compare_digest(given, expected.encode("utf-8"))


async def checked_form(request: Request, write: bool = True) -> dict[str, str]:
    """The form's fields once its CSRF token matches and the caller may act (403 otherwise)."""
    fields = await form_fields(request)
    if not _csrf_ok(request, fields):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong: reload the page and try again")
    if write:
        settings, who = request.app.state.settings, principal(request)
        if who.via == "open" and settings.api_key:
            raise HTTPException(status_code=401, detail="log in first (/dashboard/login)")
        if not who.can_write:
            raise HTTPException(status_code=403, detail="a tenant read key cannot change jobs")
    return fields


def _next_path(value: str | None) -> str:
    """Only this dashboard's own paths: never an open redirect."""
    if value and value.startswith("/dashboard") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard"


@router.get("/login")
async def login_page(request: Request, next: str | None = None):
    """The login form (the API key, DASHBOARD_PASSWORD or a tenant read key)."""
    return render(request, "login.html", {"next": _next_path(next), "failed": False})


@router.post("/login")
async def login(request: Request):
    """Checks the secret, starts a session (HttpOnly, SameSite=Strict cookie) and goes back to the page asked for."""
    fields = await checked_form(request, write=False)
    settings = request.app.state.settings
    found = match_secret(settings, fields.get("password", ""))
    if found is None:
        return render(request, "login.html", {"next": _next_path(fields.get("next")), "failed": True}, status_code=401)
    token, _ = await create_session(request.app.state.pool, settings, *found)
    response = RedirectResponse(_next_path(fields.get("next")), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.session_hours * 3600), httponly=True,
                        samesite="strict", path="/", secure=settings.session_cookie_secure)
    return response


@router.post("/logout")
async def logout(request: Request):
    """Ends the session in the database (every replica refuses it from now on) and drops the cookie."""
    await checked_form(request, write=False)
    who = principal(request)
    if who.session:
        await revoke_session(request.app.state.pool, who.session)
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def login_required_page(settings, scope, headers):
    """The ASGI answer for a dashboard page read without credentials: 401 with the login form."""
    async def app(scope, receive, send):
        request = StarletteRequest(scope, receive)
        target = scope["path"] + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
        csrf_token(request)
        response = render(request, "login.html", {"next": _next_path(target), "failed": False, "needed": True},
                          status_code=401)
        await response(scope, receive, send)
    return app
