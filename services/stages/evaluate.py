"""Handlers of the evaluation stages: vlm_judge, ocr_eval, readability_eval, iou_eval."""
import time
from dataclasses import dataclass

from services.imaging import iou, legacy_metrics, metric_shape, ocr, readability
from services.imaging.faces import FACE_LABELS, face_share
from services.imaging.fonts import font_path_of
from services.imaging.readability import metric
from services.imaging.saliency import saliency_map
from services.stages import catalog, store
from services.stages.image import CpuStage, VlmBacked
from services.stages.inputs import upsert_evaluation, variant_detections, variant_image_path, variant_overlay

JUDGE_PASS = 6.0  # overall score (0-10) a creative needs to pass the judge


@dataclass
class EvalInputs:
    """An overlay to evaluate, with what the evaluation needs beside it."""

    overlay: dict
    original_path: object = None
    detections: list | None = None


class _EvalStage(CpuStage):
    """Load the overlay of the variant; write one evaluation row per (overlay, type)."""

    kind = ""
    needs_original = False

    async def load(self, conn, ctx):
        overlay = await variant_overlay(conn, ctx.job_variants_id, ctx.request.get("overlay_id"), self.settings.assets_dir)
        inputs = EvalInputs(overlay)
        if self.needs_original:
            _, inputs.original_path = await variant_image_path(conn, ctx.job_variants_id, self.settings.assets_dir)
            inputs.detections = await variant_detections(conn, ctx.job_variants_id)
        return inputs

    def run(self, inputs: EvalInputs):
        started = time.perf_counter()
        metrics = metric_shape.flatten(self.measure(inputs))  # bare numbers under the names the readers know
        metrics["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return {"overlay_id": inputs.overlay["overlay_id"], "metrics": metrics}

    def measure(self, inputs: EvalInputs) -> dict:
        raise NotImplementedError

    async def save(self, conn, ctx, out):
        evaluation_id = await upsert_evaluation(conn, ctx.job_id, out["overlay_id"], self.kind, out["metrics"])
        earlier = {k: out["metrics"].get(k) for k in legacy_metrics.NAMES.get(self.kind, ())}
        return {"evaluation_id": str(evaluation_id), "overlay_id": str(out["overlay_id"]),
                "evaluation_type": self.kind, "passed": out["metrics"].get("passed"), **earlier}


def not_measured(text: str, why: str) -> dict:
    """An OCR evaluation of a script no configured recogniser reads: a status, not a failure (passed: None)."""
    return {"status": "not_measured", "reason": f"not measured for this script (Hangul): {why}", "script": "Hangul",
            "cer": None, "similarity": None, "exact_match": None, "confidence": None, "recognised_text": None,
            "expected_text": text, "passed": None, **legacy_metrics.ocr({"expected_text": text})}


def _text_box(layout: dict) -> list:
    return layout["box"]


class ReadabilityEval(_EvalStage):
    """WCAG worst case, APCA, background busyness and text size of the rendered copy."""

    kind = "readability"

    def measure(self, inputs):
        layout = inputs.overlay["layout"]
        out = readability.evaluate(self.load_image(inputs.overlay["path"]), layout, layout["text"],
                                   font_path_of(layout, self.models.font_path))
        return {**out, **legacy_metrics.readability(out, layout)}


class IouEval(_EvalStage):
    """Overlap of the text box with detections, and saliency under it (on the original image)."""

    kind = "iou"
    needs_original = True

    def measure(self, inputs):
        saliency = saliency_map(self.load_image(inputs.original_path))
        box = _text_box(inputs.overlay["layout"])
        return {**iou.evaluate(box, inputs.detections, saliency), **legacy_metrics.iou(box, inputs.detections)}


class OcrEval(_EvalStage):
    """Read the text region back and compare it with the copy that was drawn."""

    kind = "ocr"

    def warm_up(self) -> dict:
        return self.models.warm_ocr()

    def measure(self, inputs):
        layout = inputs.overlay["layout"]
        reader, why = self.models.reader_for(layout["text"])
        if reader is None:  # the English recogniser cannot read Hangul (0.11 on a correct render): not measured
            return not_measured(layout["text"], why)
        out = ocr.evaluate(self.load_image(inputs.overlay["path"]), layout, layout["text"], reader,
                           font_path_of(layout, self.models.font_path))
        return {**out, "status": "measured", **legacy_metrics.ocr(out)}


class VlmJudge(VlmBacked, _EvalStage):
    """The VLM's judgement of the finished image; the default derives it from measurements."""

    kind = "llava_judge"
    needs_original = True

    def measure(self, inputs):
        layout = inputs.overlay["layout"]
        rendered = self.load_image(inputs.overlay["path"])
        read = readability.evaluate(rendered, layout, layout["text"], font_path_of(layout, self.models.font_path))
        overlap = iou.evaluate(layout["box"], inputs.detections,
                                    saliency_map(self.load_image(inputs.original_path)))
        measured = {"contrast_ratio": read["contrast_ratio"]["value"], "rea": read["rea"]["value"],
                    "occ": overlap["occ"]["value"], "max_iou": overlap["max_iou"]["value"],
                    "face_overlap": face_share(layout["box"], [d["box"] for d in inputs.detections
                                                               if d.get("label") in FACE_LABELS])}
        started = time.perf_counter()
        verdict = self.models.vlm.judge(rendered, layout["box"], measured)
        latency = (time.perf_counter() - started) * 1000
        scale, up = "score 0-10", "higher_is_better"
        overall = float(verdict.get("overall", 0))
        earlier = legacy_metrics.judge(measured, bool(read["contrast_ratio"]["passed"]),
                                       bool(verdict.get("covers_product")), overall, JUDGE_PASS, layout["text"])
        return {**earlier,
            "backend": verdict.get("backend"),
            "legibility": metric(verdict.get("legibility"), scale, up, None, None, False, "can the copy be read"),
            "placement": metric(verdict.get("placement"), scale, up, None, None, False, "does the copy sit well"),
            "harmony": metric(verdict.get("harmony"), scale, up, None, None, False, "does it suit the photo"),
            "overall": metric(overall, scale, up, JUDGE_PASS, overall >= JUDGE_PASS, True, "overall judgement"),
            "covers_product": metric(bool(verdict.get("covers_product")), "bool", "false_is_better", None,
                                     not verdict.get("covers_product"), True, "does the text cover the product"),
            "reason": verdict.get("reason"),
            "passed": overall >= JUDGE_PASS and not verdict.get("covers_product"),
            "vlm_latency_ms": round(latency, 2),
            "_trace": {"request": {"text_box": layout["box"], "measurements": measured, **verdict.get("request", {})},
                       "response": verdict},
        }

    async def save(self, conn, ctx, out):
        trace = out["metrics"]["_trace"]  # not popped: a commit retried after a lost connection saves again
        out = {**out, "metrics": {k: v for k, v in out["metrics"].items() if k != "_trace"}}
        prompt_id = await catalog.ensure_prompt(conn, trace["response"].get("prompt_name"))  # None: measured
        trace_id = await store.insert_vlm_trace(conn, operation="judge", job_id=ctx.job_id, variant_id=ctx.job_variants_id,
                                                provider=out["metrics"]["backend"], request=trace["request"],
                                                response=trace["response"], latency_ms=out["metrics"]["vlm_latency_ms"],
                                                prompt_id=prompt_id)
        return {**await super().save(conn, ctx, out), "vlm_trace_id": str(trace_id),
                "overall": out["metrics"]["overall"]}
