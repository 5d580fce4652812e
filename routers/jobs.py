"""The jobs API: state, outputs and evaluations of jobs, and a manual retry."""
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from models import JobOut, JobSummary, QueryText, RetryOut
from routers.actions import ActorDep
from routers.deps import PoolDep, require_api_key
from services.engine import jobs_view
from services.ops import actions
from services.ops.access import principal

router = APIRouter(prefix="/api/yh/jobs", tags=["jobs"])


@router.get("", response_model=list[JobSummary])
async def list_jobs(request: Request, pool: PoolDep, tenant_id: QueryText = None,
                    status: QueryText = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    finished: bool | None = None,
                    outcome: Literal["done", "failed", "cancelled"] | None = None):
    """Recent jobs, newest first; filter by tenant, status, finished (final for good) and outcome.

    A tenant read key sees its own tenant only, whatever `tenant_id` says."""
    return await jobs_view.list_jobs(pool, principal(request).tenant or tenant_id, status, limit, finished, outcome)


@router.get("/{job_id}", response_model=JobOut, responses={404: {"description": "Unknown job"}})
async def get_job(job_id: UUID, pool: PoolDep, request: Request, tenant_id: QueryText = None):
    """A job with per-variant step, status, retries, last error, timeline and evaluations."""
    detail = await jobs_view.job_detail(pool, job_id, request.app.state.settings.lease_seconds)
    if detail is None or (tenant_id is not None and detail["tenant_id"] != tenant_id):
        raise HTTPException(status_code=404, detail=f"job {job_id} not found")
    return detail


@router.post("/{job_id}/retry", response_model=RetryOut, dependencies=[Depends(require_api_key)],
             responses={404: {"description": "Unknown job"}})
async def retry_job(job_id: UUID, pool: PoolDep, who: ActorDep):
    """Re-run what failed (even failures that were final); the sweeper picks them up at once. 409: cancelled."""
    try:
        async with pool.acquire() as conn:
            out = await actions.retry(conn, job_id, who)
    except actions.ActionError as exc:
        raise HTTPException(status_code=exc.status, detail=exc.detail) from exc
    return RetryOut(**out)
