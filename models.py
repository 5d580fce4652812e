"""Pydantic request and response models of the HTTP API."""
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.imaging.fonts import font_by_name, shipped_fonts


def _storable_text(value: str | None) -> str | None:
    """PostgreSQL text takes neither NUL nor lone surrogates: refuse them here (422), not in the database."""
    if value is not None:
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("must be valid Unicode text") from exc
    return value


TenantId = Annotated[str | None, Field(None, max_length=255), AfterValidator(_storable_text)]
QueryText = Annotated[str | None, Query(max_length=255), AfterValidator(_storable_text)]


class VariantStageIn(BaseModel):
    """Body of a per-variant stage request (extra fields are accepted and ignored)."""

    model_config = ConfigDict(extra="ignore")
    job_id: UUID
    job_variants_id: UUID
    tenant_id: TenantId = None
    overlay_id: UUID | None = None  # evaluations: the engine looks it up; must belong to the variant


class JobStageIn(BaseModel):
    """Body of a job-level stage request."""

    model_config = ConfigDict(extra="ignore")
    job_id: UUID
    tenant_id: TenantId = None


class StageOut(BaseModel):
    """What a stage answers: done with a summary of its results, or failed with the reason.

    The result's fields are repeated at the top level (extra keys) for the earlier callers, who read them there.
    """

    model_config = ConfigDict(extra="allow")

    stage: str
    status: str
    job_id: UUID
    job_variants_id: UUID | None = None
    attempt: int
    run_token: UUID
    result: dict[str, Any] | None = None
    error: str | None = None
    retry_in_seconds: float | None = None


class StageRunOut(BaseModel):
    """One execution of a stage (the timeline)."""

    step: str
    attempt: int
    status: str
    error: str | None
    worker: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None


class FormatOut(BaseModel):
    """One Instagram format of the variant's overlay, planned and rendered for its own frame (renders.format)."""

    format: str  # "1:1", "4:5", "9:16"
    render_id: UUID
    image_url: str | None
    width: int | None
    height: int | None
    # The overlay stage's checks of this render: contrast_after, text_over_face, whole, ocr (status, exact, cer, passed)
    checks: dict | None = None


class ActionOut(BaseModel):
    """One operator action on the job (cancel, rerun, select, retry, replay): who, when, what it changed."""

    action_id: UUID
    job_variants_id: UUID | None
    action: str
    params: Any
    actor: str
    via: str
    result: Any
    created_at: datetime


class VariantOut(BaseModel):
    """A variant's state, outputs and evaluations."""

    job_variants_id: UUID
    creation_order: int
    current_step: str | None
    status: str | None
    retry_count: int | None
    last_error: str | None
    next_retry_at: datetime | None  # failed with this set: a retry is scheduled; failed without: final
    selected: bool | None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    img_asset_id: UUID | None
    image_url: str | None
    overlaid_img_asset_id: UUID | None
    overlaid_image_url: str | None
    overlay_id: UUID | None
    waiting_for: str | None = None  # "ad_copy_eng" (start gate), the upstream step, or a stage no replica serves
    waiting_reason: str | None = None  # why, in words (e.g. "no live replica serves vlm_judge (SERVE_STAGES)")
    evaluations: dict[str, Any]
    formats: list[FormatOut] = []  # the 1:1, 4:5 and 9:16 renders (the evaluations read the original)
    timeline: list[StageRunOut]
    created_at: datetime | None
    updated_at: datetime | None


class JobOut(BaseModel):
    """A job with its variants and the job-level outputs."""

    job_id: UUID
    tenant_id: str | None
    current_step: str | None
    status: str | None
    retry_count: int | None
    last_error: str | None
    next_retry_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    progress: float
    variants: list[VariantOut] = []
    ad_copy_eng: str | None = None
    refined_ad_copy_eng: str | None = None
    ad_copy_kor: str | None = None
    instagram_feed: dict[str, Any] | None = None
    timeline: list[StageRunOut] = []
    # Final for good: the post is written (done), failed for good at this service's steps, or cancelled.
    finished: bool = False
    outcome: Literal["done", "failed", "cancelled"] | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    actions: list[ActionOut] = []
    # LLM tokens and cost (USD, llm_models prices) per model and in total; tokens a served VLM reported
    usage: dict[str, Any] | None = None
    waiting_for: str | None = None  # a job stage no live replica serves (SERVE_STAGES)
    waiting_reason: str | None = None


class JobSummary(BaseModel):
    """One line of the jobs listing."""

    job_id: UUID
    tenant_id: str | None
    current_step: str | None
    status: str | None
    variants: int
    variants_finished: int
    progress: float
    finished: bool = False
    outcome: Literal["done", "failed", "cancelled"] | None = None
    created_at: datetime | None
    updated_at: datetime | None


class RetryOut(BaseModel):
    """What a manual retry re-queued."""

    job_id: UUID
    variants_requeued: int
    job_requeued: bool


class HealthOut(BaseModel):
    """Readiness of the service and its parts."""

    ok: bool
    database: bool
    listener_connected: bool | None
    oldest_pending_seconds: float | None
    models: dict[str, Any]
    instance: str  # this process; the dispatcher sends nothing until its target answers with it
    proof: str | None = None  # HMAC(API_KEY, challenge): the answer to a dispatcher's probe
    dispatch_target: str | None = None
    dispatch_problem: str | None = None
    draining: bool = False
    degraded: bool = False  # waiting that does not end by itself (see `waiting`); still ready
    waiting: dict[str, int] = {}  # start_gate: variants without their English copy; held_upstream: jobs
    workers: dict[str, Any] = {}
    assets_dir: str | None = None  # ASSETS_DIR as this process sees it
    assets_problem: str | None = None  # missing, unreadable or unwritable (overlaid/, masks/): not ready
    stages: list[str] = []  # SERVE_STAGES: the stages this replica claims and dispatches
    unserved_stages: dict[str, str] = {}  # stage -> why its rows wait: no live replica serves it
    # Per CUDA device: memory allocated/reserved (the model's process), used/total, utilisation; oom_count;
    # without a GPU: available false, reason "no CUDA device".
    gpu: dict[str, Any] = {}
    # Model providers' shared budgets (issue 26): configured, effective after 429s, used in the window
    rate_limits: dict[str, Any] = {}
    # This process's dispatch queues: {stage: {tenant: records queued}} (the fair queue; issue 26)
    queued: dict[str, dict[str, int]] = {}


def _known_font(value: str | None) -> str | None:
    """font_name must name a shipped font (checked here, so a typo is a 422, not a failed variant)."""
    if value is not None and font_by_name(value) is None:
        raise ValueError(f"unknown font {value!r}; available: {', '.join(shipped_fonts())}")
    return value


def _visible_text(value: str | None) -> str | None:
    """Blank text would render nothing: refuse it (422)."""
    if value is not None and not value.strip():
        raise ValueError("must contain visible text")
    return value


class OverlayIn(VariantStageIn):
    """Body of an overlay request: every field beside the ids is optional and checked before the claim."""

    text: Annotated[str | None, Field(None, max_length=500, examples=["갓 볶은 원두로 내린 핸드드립 커피"],
                                      description="rendered instead of the refined/English copy"),
                    AfterValidator(_storable_text), AfterValidator(_visible_text)] = None
    proposal_id: UUID | None = Field(None, description="one of the planner's proposals[].proposal_id (else the best)")
    x_align: Literal["left", "center", "right"] | None = Field(None, description="lines and block in the box")
    y_align: Literal["top", "middle", "bottom"] | None = Field(None, description="block in the box (default middle)")
    font_name: Annotated[str | None, Field(None, max_length=100, examples=["NotoSansKR-Regular"]),
                         AfterValidator(_known_font)] = None
