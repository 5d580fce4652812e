"""The review page's actions: a confirmation page, then a CSRF-checked form post that calls the jobs API in-process."""
import json
from typing import Literal
from uuid import UUID

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse

from models import QueryText
from routers.dashboard import RERUN_STEPS
from routers.dashboard_auth import checked_form
from routers.ui import principal, render, set_flash

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
Action = Literal["retry", "cancel", "rerun", "select"]


def _body(action: str, variant: str | None, from_step: str | None) -> dict:
    """The JSON body of POST /api/yh/jobs/{id}/<action> (issue 24's shape next to today's retry)."""
    body: dict = {}
    if variant:
        body["job_variants_id"] = variant
    if action == "rerun":
        body["from_step"] = from_step
    return body


def _clean_variant(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(UUID(value))
    except ValueError:
        raise HTTPException(status_code=422, detail="job_variants_id is not a UUID") from None


@router.get("/jobs/{job_id}/confirm/{action}")
async def confirm_page(request: Request, job_id: UUID, action: Action, job_variants_id: QueryText = None,
                       from_step: QueryText = None):
    """Asks before acting (no JavaScript: a page with one button), with the form's CSRF token."""
    if action == "rerun" and from_step not in RERUN_STEPS:
        raise HTTPException(status_code=422, detail=f"from_step must be one of {', '.join(RERUN_STEPS)}")
    return render(request, "confirm.html", {"job_id": job_id, "action": action, "from_step": from_step,
                                            "variant": _clean_variant(job_variants_id)})


async def call_api(request: Request, job_id: UUID, action: str, body: dict) -> httpx.Response:
    """POST /api/yh/jobs/{id}/<action> on this very app (the same code, checks and records as the HTTP API)."""
    settings = request.app.state.settings
    headers = {"X-Requested-With": "dashboard", "X-Actor": f"dashboard:{principal(request).via}"}
    if settings.api_key:
        headers["X-API-Key"] = settings.api_key  # the caller proved a session that stands for the key
    transport = httpx.ASGITransport(app=request.app, client=(request.client.host if request.client else "127.0.0.1", 0))
    # The socket the browser's request arrived on: the Guard accepts that host, and it is a real local address.
    host, port = request.scope.get("server") or ("127.0.0.1", 0)
    host = f"[{host}]" if ":" in host else host
    base = f"{request.url.scheme}://{host}:{port}" if port else "http://127.0.0.1"
    async with httpx.AsyncClient(transport=transport, base_url=base, timeout=30) as client:
        return await client.post(f"/api/yh/jobs/{job_id}/{action}", json=body, headers=headers)


def _message(answer: httpx.Response) -> str:
    try:
        data = answer.json()
    except ValueError:
        return answer.text[:300]
    if isinstance(data, dict) and "detail" in data:
        detail = data["detail"]
        return detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)[:300]
    return json.dumps(data, ensure_ascii=False, default=str)[:300]


@router.post("/jobs/{job_id}/actions/{action}")
async def act(request: Request, job_id: UUID, action: Action):
    """Runs the action, then back to the review page with its result shown once (Post/Redirect/Get)."""
    fields = await checked_form(request)
    variant = _clean_variant(fields.get("job_variants_id"))
    from_step = fields.get("from_step") or None
    if action == "rerun" and from_step not in RERUN_STEPS:
        raise HTTPException(status_code=422, detail=f"from_step must be one of {', '.join(RERUN_STEPS)}")
    answer = await call_api(request, job_id, action, _body(action, variant, from_step))
    response = RedirectResponse(f"/dashboard/jobs/{job_id}", status_code=303)
    set_flash(response, action, answer.is_success, f"{answer.status_code}: {_message(answer)}")
    return response
