"""Request bodies of the operator actions (cancel, re-run, select, replay)."""
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from models import TenantId, _storable_text
from services.engine.pipeline import STAGES
from services.ops.replay import MAX_PER_CALL

StepName = Literal[tuple(s.name for s in STAGES)]  # type: ignore[valid-type]  # the stage table's steps


class CancelIn(BaseModel):
    """Cancel the job, or only one of its variants."""

    model_config = ConfigDict(extra="forbid")
    job_variants_id: UUID | None = None
    reason: Annotated[str | None, Field(None, max_length=500), AfterValidator(_storable_text)] = None


class RerunIn(BaseModel):
    """Re-run from a step: a variant step for one variant (or every variant), or a job step."""

    model_config = ConfigDict(extra="forbid")
    from_step: StepName  # type: ignore[valid-type]
    job_variants_id: UUID | None = None


class SelectIn(BaseModel):
    """Make this variant the selected one (the post is written again for it)."""

    model_config = ConfigDict(extra="forbid")
    job_variants_id: UUID


class ReplayIn(BaseModel):
    """Which jobs failed for good to re-run from their failed step (a dry run only lists them)."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["failed"] = "failed"  # a final status that can re-run (cancelled jobs never do)
    step: StepName | None = None  # type: ignore[valid-type]
    tenant_id: TenantId = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(50, ge=1, le=MAX_PER_CALL)
    dry_run: bool = False
