"""Per-stage response models: the fields callers chain on, documented with examples in the OpenAPI schema."""
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from models import OverlayIn, StageOut


class _Result(BaseModel):
    model_config = ConfigDict(extra="allow")


class StageResult(_Result):
    """A stage's result summary (what its handler's save returns): the answer of a stage with no typed model."""


class VlmAnalyzeResult(_Result):
    """vlm_analyze: the analysis trace and whether the image suits an ad."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "vlm_trace_id": "6f1c0a0e-3c1b-4d8e-9a51-0b7d2f0c9e11", "is_valid": True, "suitable": True,
        "copy_fits": True, "reason": "calm upper third", "backend": "default", "refined_ad_copy_eng": None}]})
    vlm_trace_id: str
    is_valid: bool = Field(description="the image suits an ad (= suitable)")
    suitable: bool | None
    copy_fits: bool | None
    reason: str | None
    backend: str | None
    refined_ad_copy_eng: str | None = Field(description="the job's refined copy when this run wrote or found one")


class YoloDetectResult(_Result):
    """yolo_detect: stored detections and the forbidden-region mask."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "detection_ids": ["0b9e6a52-5f0e-4c55-9d6a-1f0e2d3c4b5a"], "boxes": [[112.0, 80.5, 402.0, 391.0]],
        "labels": ["salient_subject"], "scores": [0.91], "forbidden_mask_url": "/assets/masks/3f2a.png",
        "mask_asset_id": "5d7f2b1e-8a9c-4e3d-b2f1-0a9b8c7d6e5f", "model": "saliency-default", "detections": 1}]})
    detection_ids: list[str]
    boxes: list[list[float]] = Field(description="[x1, y1, x2, y2] px, same order as detection_ids")
    labels: list[str]
    scores: list[float]
    forbidden_mask_url: str
    mask_asset_id: str
    model: str
    detections: int


class ProposalOut(BaseModel):
    """One candidate text box of the planner; pass its proposal_id to overlay to use it."""

    model_config = ConfigDict(extra="allow")
    proposal_id: str
    box: list[int] = Field(description="[x, y, width, height] px")
    score: float
    font_size: int
    lines: list[str]
    align: str
    xywh: list[int] = Field(description="= box, the earlier readers' name")
    source: str = Field(description="who proposed it: planner")
    color: str = Field(description="#FFFFFF or #000000: the higher worst-case contrast in the box")


class PlannerResult(_Result):
    """planner: every proposal, best first; proposal_id is the best one (the planner_proposals row)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "proposal_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "proposals": [{
            "proposal_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "box": [24, 18, 300, 64], "score": 1.42,
            "font_size": 28, "lines": ["Fresh roasted coffee"], "align": "left", "xywh": [24, 18, 300, 64],
            "source": "planner", "color": "#FFFFFF"}],
        "candidates": 1, "best_box": [24, 18, 300, 64], "best_score": 1.42}]})
    proposal_id: str
    proposals: list[ProposalOut]
    candidates: int
    best_box: list[int]
    best_score: float


class RenderOut(BaseModel):
    """The rendered image (also in overlay_layouts.layout.render)."""

    url: str
    image_asset_id: str
    render_id: str | None = None


class OverlayResult(_Result):
    """overlay: the layout row, the rendered text and where the image is."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "overlay_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "proposal_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        "text": "갓 볶은 원두", "render": {"url": "/assets/overlaid/7c1d.png",
                                         "image_asset_id": "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
                                         "render_id": "3c4d5e6f-7a8b-4c9d-0e1f-2a3b4c5d6e7f"},
        "box": [30, 22, 250, 48], "font": "NotoSansKR-Regular.otf", "x_align": "left", "y_align": "middle",
        "image_url": "/assets/overlaid/7c1d.png", "colour": "#ffffff", "effects": [], "contrast_after": 6.2}]})
    overlay_id: str
    proposal_id: str
    text: str
    render: RenderOut
    box: list[int] = Field(description="[x, y, width, height] px of the text block")
    font: str
    x_align: str
    y_align: str
    image_url: str


class EvaluationResult(_Result):
    """vlm_judge, ocr_eval, readability_eval, iou_eval: the evaluation row (plus the earlier metric names)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "evaluation_id": "4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a", "overlay_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        "evaluation_type": "ocr", "passed": True, "ocr_accuracy": 0.97, "ocr_confidence": 0.88,
        "character_match_rate": 0.97, "recognized_text": "Fresh roasted coffee",
        "original_text": "Fresh roasted coffee"}]})
    evaluation_id: str
    overlay_id: str
    evaluation_type: str
    passed: bool | None


class AdCopyGenKorResult(_Result):
    """ad_copy_gen_kor: the Korean copy and its LLM trace."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "llm_trace_id": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
        "ad_copy_gen_id": "6f7a8b9c-0d1e-4f2a-9b3c-4d5e6f7a8b9c",
        "ad_copy_kor": "갓 볶은 원두로 내린 핸드드립 커피! 해오름 커피에서 만나요!", "provider": "offline"}]})
    llm_trace_id: str
    ad_copy_gen_id: str
    ad_copy_kor: str
    provider: str


class InstagramFeedGenResult(_Result):
    """instagram_feed_gen: the job's one post, its hashtags and its LLM trace."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "llm_trace_id": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
        "instagram_feed_id": "8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e",
        "instagram_ad_copy": "갓 볶은 원두로 내린 핸드드립 커피!\n📍 해오름 커피", "hashtags": "#카페 #해오름커피 #원두",
        "provider": "offline"}]})
    llm_trace_id: str
    instagram_feed_id: str
    instagram_ad_copy: str
    hashtags: str = Field(description="'#tag1 #tag2', each tag a whole word")
    provider: str


_EVALUATION = ("vlm_judge", "ocr_eval", "readability_eval", "iou_eval")
STAGE_RESULTS: dict[str, type[BaseModel]] = {
    "vlm_analyze": VlmAnalyzeResult, "yolo_detect": YoloDetectResult, "planner": PlannerResult,
    "overlay": OverlayResult, **{name: EvaluationResult for name in _EVALUATION},
    "ad_copy_gen_kor": AdCopyGenKorResult, "instagram_feed_gen": InstagramFeedGenResult}
STAGE_BODIES: dict[str, type[BaseModel]] = {"overlay": OverlayIn}


def stage_out_model(stage: str) -> type[StageOut]:
    """StageOut with `stage`'s typed result (StageResult for a stage with none in STAGE_RESULTS), and its fields
    repeated at the top level, for the OpenAPI schema."""
    title = "".join(part.title() for part in stage.split("_"))
    result = STAGE_RESULTS.get(stage, StageResult)
    top = {name: (field.annotation | None, Field(None, description=f"= result.{name} (for the earlier callers)"))
           for name, field in result.model_fields.items() if name not in StageOut.model_fields}
    fields: dict[str, Any] = {"result": (result | None, None), **top}
    return create_model(f"{title}Out", __base__=StageOut, **fields)
