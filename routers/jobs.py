"""The jobs API: state, outputs and evaluations of jobs, and a manual retry."""
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from models import JobOut, JobSummary, QueryText, RetryOut
from routers.deps import PoolDep, require_api_key
from services.engine import jobs_view
from services.engine.pipeline import LAST_VARIANT_STAGE, STAGES
from services.engine.queries import Q

router = APIRouter(prefix="/api/yh/jobs", tags=["jobs"])

# Only this service's steps: a row that failed upstream (user_img_input, img_gen) is not ours to re-run.
_VARIANT_STAGES = [s.name for s in STAGES if s.level == "variant"]
_JOB_STAGES = [s.name for s in STAGES if s.level == "job"] + [LAST_VARIANT_STAGE]


@router.get("", response_model=list[JobSummary])
async def list_jobs(pool: PoolDep, tenant_id: QueryText = None,
                    status: QueryText = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50):
    """Recent jobs, newest first; filter by tenant and status."""
    return await jobs_view.list_jobs(pool, tenant_id, status, limit)


@router.get("/{job_id}", response_model=JobOut, responses={404: {"description": "Unknown job"}})
async def get_job(job_id: UUID, pool: PoolDep, request: Request, tenant_id: QueryText = None):
    """A job with per-variant step, status, retries, last error, timeline and evaluations."""
    detail = await jobs_view.job_detail(pool, job_id, request.app.state.settings.lease_seconds)
    if detail is None or (tenant_id is not None and detail["tenant_id"] != tenant_id):
        raise HTTPException(status_code=404, detail=f"job {job_id} not found")
    return detail


@router.post("/{job_id}/retry", response_model=RetryOut, dependencies=[Depends(require_api_key)],
             responses={404: {"description": "Unknown job"}})
async def retry_job(job_id: UUID, pool: PoolDep):
    """Re-run what failed (even failures that were final); the sweeper picks them up at once."""
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(Q["lock_job_for_retry"], job_id) is None:
            raise HTTPException(status_code=404, detail=f"job {job_id} not found")
        variants = await conn.fetch(Q["requeue_variants"], job_id, _VARIANT_STAGES)
        job = await conn.fetchval(Q["requeue_job"], job_id, _JOB_STAGES, bool(variants))
    return RetryOut(job_id=job_id, variants_requeued=len(variants), job_requeued=job is not None)
