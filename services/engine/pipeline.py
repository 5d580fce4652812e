"""The stage table: the one place that says which step follows which, and how it runs."""
from dataclasses import dataclass
from typing import Literal

Level = Literal["variant", "job"]


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One pipeline step: what it follows, where it runs, its limits, and the handler that does its work."""

    name: str
    after: str  # the step that must be `done` before this one starts
    endpoint: str  # the POST route routers/stages.py adds for it
    level: Level
    timeout_seconds: float  # the stage's own limit (hard in a worker process); the lease is LEASE_SECONDS
    concurrency: int  # per process; the VLM stages' value depends on the backend: see concurrency()
    # "module:Class", a StageHandler subclass; services/stages/registry.py imports it and builds it with the
    # models (a string: the engine never imports a stage).
    handler: str
    summary: str
    needs_overlay_id: bool = False  # an evaluation: a caller's overlay_id must be the variant's latest overlay


STAGES: tuple[Stage, ...] = (
    Stage(name="vlm_analyze", after="img_gen", endpoint="/api/yh/llava/stage1/validate", level="variant",
          timeout_seconds=180, concurrency=1, handler="services.stages.image:VlmAnalyze",
          summary="LLaVA stage 1: does the image suit an ad and does the English copy fit it"),
    Stage(name="yolo_detect", after="vlm_analyze", endpoint="/api/yh/yolo/detect", level="variant",
          timeout_seconds=60, concurrency=2, handler="services.stages.image:YoloDetect",
          summary="Detect objects the text must keep off, save the forbidden-region mask"),
    Stage(name="planner", after="yolo_detect", endpoint="/api/yh/planner", level="variant",
          timeout_seconds=60, concurrency=2, handler="services.stages.image:Planner",
          summary="Score candidate text boxes on saliency, objects, busyness, contrast and margins"),
    Stage(name="overlay", after="planner", endpoint="/api/yh/overlay", level="variant",
          timeout_seconds=60, concurrency=2, handler="services.stages.image:Overlay",
          summary="Render the ad copy into the best box and save the overlaid PNG"),
    Stage(name="vlm_judge", after="overlay", endpoint="/api/yh/llava/stage2/judge", level="variant",
          needs_overlay_id=True, timeout_seconds=180, concurrency=1, handler="services.stages.evaluate:VlmJudge",
          summary="LLaVA stage 2: judge legibility, placement and harmony of the finished image"),
    # 2 at once like the other cpu stages since OCR runs in the cpu workers (1 -> 2: 81 -> 90 jobs/min).
    Stage(name="ocr_eval", after="vlm_judge", endpoint="/api/yh/ocr/evaluate", level="variant",
          needs_overlay_id=True, timeout_seconds=60, concurrency=2, handler="services.stages.evaluate:OcrEval",
          summary="Read the rendered text back with OCR and compare it with the copy"),
    Stage(name="readability_eval", after="ocr_eval", endpoint="/api/yh/readability/evaluate", level="variant",
          needs_overlay_id=True, timeout_seconds=30, concurrency=2,
          handler="services.stages.evaluate:ReadabilityEval",
          summary="WCAG and APCA contrast, background busyness and text size"),
    Stage(name="iou_eval", after="readability_eval", endpoint="/api/yh/iou/evaluate", level="variant",
          needs_overlay_id=True, timeout_seconds=30, concurrency=2, handler="services.stages.evaluate:IouEval",
          summary="Overlap of the text box with detections and salient regions"),
    # Job stages call an LLM: up to OPENAI_MAX_RETRIES + 1 attempts of OPENAI_TIMEOUT_SECONDS must fit.
    Stage(name="ad_copy_gen_kor", after="iou_eval", endpoint="/api/yh/gpt/eng-to-kor", level="job",
          timeout_seconds=300, concurrency=4, handler="services.stages.text:AdCopyGenKor",
          summary="Translate the (refined) English copy into Korean advertising copy"),
    Stage(name="instagram_feed_gen", after="ad_copy_gen_kor", endpoint="/api/yh/instagram/feed", level="job",
          timeout_seconds=300, concurrency=4, handler="services.stages.text:InstagramFeedGen",
          summary="Write the job's one Instagram post with hashtags"),
)

BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}
_NEXT: dict[tuple[Level, str], Stage] = {(s.level, s.after): s for s in STAGES}

FIRST_VARIANT_STAGE = "vlm_analyze"
LAST_VARIANT_STAGE = "iou_eval"
FINAL_STAGE = "instagram_feed_gen"
# Job steps at or after the variant phase: a job here has already been advanced.
JOB_ADVANCED_STEPS = ("iou_eval", "ad_copy_gen_kor", "instagram_feed_gen")
VARIANT_STEPS = ("img_gen",) + tuple(s.name for s in STAGES if s.level == "variant")
# Steps the other parts write into current_step (/work/shared/data-contract.md); the first stage follows img_gen.
UPSTREAM_STEPS = ("user_img_input", "user_txt_input", "gpt_llm_translation", "gpt_llm_generation", "ab_vote",
                  "gen_vlm_analyze", "img_gen")


# Stages that call the VLM backend: served (VLM_BACKEND=openai) they take VLM_CONCURRENCY requests at a time,
# which the inference server batches; in-process LLaVA takes LLAVA_MAX_BATCH_SIZE, which its backend batches
# (services/backends/batching.py); the CPU default keeps the table's value.
VLM_STAGES = ("vlm_analyze", "vlm_judge")


def concurrency(stage: Stage, settings) -> int:
    """How many runs of `stage` one process allows at once, for the backend `settings` configure."""
    backend = (settings.vlm_backend or "").strip().lower()
    if stage.name in VLM_STAGES and backend == "openai":
        return max(1, int(settings.vlm_concurrency))
    if stage.name in VLM_STAGES and backend == "llava":
        return max(1, int(settings.llava_max_batch_size))
    return stage.concurrency


def parse_stages(value: str) -> frozenset[str]:
    """SERVE_STAGES: a comma list of stage names, empty (or "all") for every stage; unknown names raise."""
    names = {n.strip() for n in (value or "").split(",") if n.strip()}
    if not names or names == {"all"}:
        return frozenset(BY_NAME)
    unknown = sorted(names - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)} in SERVE_STAGES; stages: {', '.join(BY_NAME)}")
    return frozenset(names)


def next_stage(level: Level, step: str | None) -> Stage | None:
    """The stage that runs when a row of `level` reaches (step, done)."""
    return _NEXT.get((level, step or ""))


def stage_progress(step: str | None, status: str | None) -> float:
    """Fraction of the variant pipeline done, for progress bars (0..1)."""
    if step not in VARIANT_STEPS:
        return 0.0
    index = VARIANT_STEPS.index(step) + (1 if status == "done" else 0)
    return index / len(VARIANT_STEPS)
