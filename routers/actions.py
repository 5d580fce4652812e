"""Operator actions over HTTP: cancel, re-run from a step, select a variant, bulk replay (services/ops/actions.py)."""
import hashlib
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Request

from routers.action_models import CancelIn, ReplayIn, RerunIn, SelectIn
from routers.deps import PoolDep, SettingsDep, require_api_key
from services.ops import actions
from services.ops.replay import replay

router = APIRouter(prefix="/api/yh/jobs", tags=["operator actions"], dependencies=[Depends(require_api_key)])
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown job or variant"},
                                            409: {"description": "The job's state does not allow it"},
                                            422: {"description": "Malformed body or unknown step"}}


async def actor(settings: SettingsDep, x_actor: Annotated[str | None, Header(max_length=100)] = None) -> actions.Actor:
    """Who asks: the X-Actor header (free text) and which key (a fingerprint, never the key)."""
    key = f"key {hashlib.sha256(settings.api_key.encode()).hexdigest()[:8]}" if settings.api_key else "no key, loopback"
    name = (x_actor or "api").encode("ascii", "backslashreplace").decode("ascii")
    return actions.Actor(f"{name} ({key})", "api")


ActorDep = Annotated[actions.Actor, Depends(actor)]


async def _do(pool, work):
    try:
        async with pool.acquire() as conn:
            return await work(conn)
    except actions.ActionError as exc:
        raise HTTPException(status_code=exc.status, detail=exc.detail) from exc


@router.post("/replay", responses=_ERRORS)
async def replay_jobs(body: ReplayIn, pool: PoolDep, who: ActorDep):
    """Every job failed for good matching the filter re-runs from its failed step (bounded per call)."""
    try:
        return await replay(pool, who, tenant_id=body.tenant_id, step=body.step, since=body.since, until=body.until,
                            limit=body.limit, dry_run=body.dry_run)
    except actions.ActionError as exc:
        raise HTTPException(status_code=exc.status, detail=exc.detail) from exc


@router.post("/{job_id}/cancel", responses=_ERRORS)
async def cancel_job(job_id: UUID, body: CancelIn, request: Request, pool: PoolDep, who: ActorDep):
    """Cancel the job (or one variant): final for the upstream parts, a running stage is stopped. Idempotent."""
    out = await _do(pool, lambda conn: actions.cancel(conn, job_id, who, body.job_variants_id, body.reason))
    # This process stops its own runs now; another replica stops its within one heartbeat (it sees its lease gone).
    request.app.state.runner.revoke(out["revoked_runs"])
    return out


@router.post("/{job_id}/rerun", responses=_ERRORS)
async def rerun_job(job_id: UUID, body: RerunIn, pool: PoolDep, who: ActorDep):
    """Re-run from `from_step` (one variant, every variant, or a job step); earlier results are kept."""
    return await _do(pool, lambda conn: actions.rerun(conn, job_id, body.from_step, who, body.job_variants_id))


@router.post("/{job_id}/select", responses=_ERRORS)
async def select_variant(job_id: UUID, body: SelectIn, pool: PoolDep, who: ActorDep):
    """Select another finished variant; the post is written again for it."""
    return await _do(pool, lambda conn: actions.select(conn, job_id, body.job_variants_id, who))
