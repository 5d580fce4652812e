"""Stage endpoints, one per row of the stage table: validate, claim, run, finish."""
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from models import JobStageIn, StageOut, VariantStageIn
from routers.deps import RunnerDep, require_api_key
from routers.stage_models import STAGE_BODIES, stage_out_model
from services.engine.pipeline import STAGES, Stage
from services.engine.stage_types import CONNECTION_ERRORS, Draining, Released
from services.errors import ClaimLost, NotFound

router = APIRouter(tags=["stages"], dependencies=[Depends(require_api_key)])
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown job or variant"}, 409: {"description": "Row not in the state this stage needs"},
    503: {"description": "Database unavailable, or the process is shutting down (Retry-After)"}}


async def _run(runner: RunnerDep, stage: Stage, body: dict) -> StageOut:
    try:
        outcome = await runner.run(stage.name, body)
    except NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except ClaimLost as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except (Draining, Released) as exc:  # shutting down: another replica (or this one, restarted) takes it
        raise HTTPException(status_code=503, detail=str(exc), headers={"Retry-After": "1"}) from exc
    except CONNECTION_ERRORS as exc:  # nothing was lost: the row is retried once the database is back
        raise HTTPException(status_code=503, detail="database unavailable") from exc
    envelope = {"stage": stage.name, "job_id": body["job_id"], "job_variants_id": body.get("job_variants_id"), **outcome}
    # The earlier callers read each stage's fields at the top level: repeat them there (never over the envelope).
    top = {k: v for k, v in (outcome.get("result") or {}).items() if k not in StageOut.model_fields}
    return StageOut(**envelope, **top)


def _endpoint(stage: Stage):
    body_model = STAGE_BODIES.get(stage.name) or (VariantStageIn if stage.level == "variant" else JobStageIn)

    async def endpoint(body: BaseModel, runner: RunnerDep) -> StageOut:
        return await _run(runner, stage, body.model_dump())
    endpoint.__annotations__["body"] = body_model  # FastAPI reads the stage's own body model from here
    return endpoint


for _stage in STAGES:
    # The typed result documents what a real stage returns; the response itself is not re-validated
    # against it (StageOut serialises), so a handler that adds or lacks a field never turns into a 500.
    router.add_api_route(_stage.endpoint, _endpoint(_stage), methods=["POST"], response_model=None,
                         name=_stage.name, summary=f"{_stage.name}: {_stage.summary}",
                         responses={200: {"model": stage_out_model(_stage.name)}, **_ERRORS})
