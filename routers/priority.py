"""A job's priority (issue 26): urgent jobs go ahead of the same tenant's normal ones at every stage."""
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict

from routers.deps import PoolDep, require_api_key
from services.ops import store as ops_store

router = APIRouter(prefix="/api/yh/jobs", tags=["jobs"])


class PriorityIn(BaseModel):
    """The priority to set."""

    model_config = ConfigDict(extra="forbid")
    priority: Literal["urgent", "normal"]


class PriorityOut(BaseModel):
    """The job's priority now."""

    job_id: UUID
    priority: Literal["urgent", "normal"]


@router.put("/{job_id}/priority", response_model=PriorityOut, dependencies=[Depends(require_api_key)],
            responses={404: {"description": "Unknown job"}})
async def set_priority(job_id: UUID, body: PriorityIn, pool: PoolDep):
    """Mark a job urgent (or normal again); its rows queued from now on are ordered by it."""
    priority = await ops_store.set_job_priority(pool, job_id=job_id, priority=body.priority)
    if priority is None:
        raise HTTPException(status_code=404, detail=f"job {job_id} not found")
    return PriorityOut(job_id=job_id, priority=priority)
