"""Handlers of the image stages: vlm_analyze, yolo_detect, planner, overlay."""
import time
import uuid
from dataclasses import dataclass

from services.engine.stage_types import StageHandler
from services.engine.workers import vlm_process_group
from services.errors import InputError, NotFound
from services.imaging import ocr, planner
from services.imaging.detect import forbidden_mask
from services.imaging.fonts import covers_hangul, default_font_path, font_by_name
from services.imaging.formats import FORMATS, render_format
from services.imaging.imageio import load_rgb, save_png
from services.imaging.overlay import render
from services.imaging.saliency import saliency_map
from services.stages import catalog, store, store_image
from services.stages.inputs import english_copy, latest_proposal, variant_detections, variant_image_path, variant_proposal
from services.text.hangul import has_hangul


@dataclass
class ImageInputs:
    """What an image stage reads before its work."""

    asset_id: uuid.UUID
    path: object
    text: str = ""
    detections: list | None = None
    proposal: dict | None = None  # overlay: the chosen candidate, its font and alignment
    has_refined: bool = False


class CpuStage(StageHandler):
    """Shared by the image and evaluation stages: the models, the settings, loading an image safely."""

    process_group: str | None = "cpu"  # `run` executes in a supervised worker process (services/engine/workers.py)

    def __init__(self, models):
        self.models = models
        self.settings = models.settings

    def load_image(self, path):
        return load_rgb(path, self.settings.max_image_pixels, self.settings.max_image_side)


class _ImageStage(CpuStage):
    """An image stage: reads the variant's own image."""

    def image(self, inputs: ImageInputs):
        return self.load_image(inputs.path)


class VlmBacked(CpuStage):
    """Where a VLM stage runs: LLaVA in its own worker process, a served VLM in threads (HTTP waits)."""

    reports_health = True  # in-process LLaVA's GPU and batching report

    def __init__(self, models):
        super().__init__(models)
        self.process_group = vlm_process_group(self.settings.vlm_backend)
        # A served VLM: the runner gives this stage threads of its own (it waits on HTTP, not the CPU).
        self.io_bound = self.process_group is None

    def warm_up(self) -> dict:
        self.models.vlm  # noqa: B018 - reading the property loads the model
        return {"vlm": self.models.status["vlm"]}

    def health(self) -> dict:
        """The loaded backend's GPU and batching report (in-process LLaVA); {} for the others or before loading."""
        health = getattr(self.models.loaded_vlm, "health", None)
        return health() if health else {}


class VlmAnalyze(VlmBacked, _ImageStage):
    """Does the image suit an ad, does the copy fit; refine the copy when it does not."""

    async def load(self, conn, ctx):
        asset_id, path = await variant_image_path(conn, ctx.job_variants_id, self.settings.assets_dir)
        # A sibling variant may already have refined the copy: then this one needs no LLM call.
        refined = await store.has_refined_copy(conn, job_id=ctx.job_id)
        return ImageInputs(asset_id, path, text=await english_copy(conn, ctx.job_id, refined=False),
                           has_refined=bool(refined))

    def run(self, inputs: ImageInputs):
        rgb = self.image(inputs)
        started = time.perf_counter()
        verdict = self.models.vlm.analyze(rgb, inputs.text)
        latency = (time.perf_counter() - started) * 1000
        refined = None
        # The layout decides whether the copy fits (the VLM's area estimate is rough): copy that the
        # planner can set whole at a legible size is never refined.
        fits = verdict.get("copy_fits", True) or planner.copy_fits(rgb, inputs.text, self.models.font_path)
        if not fits and not inputs.has_refined:
            refined = self.models.refine_copy(inputs.text, verdict, rgb.shape)
        return {"verdict": verdict, "latency_ms": latency, "refined": refined, "text": inputs.text,
                "shape": rgb.shape[:2], "copy_fits": fits}

    async def save(self, conn, ctx, out):
        verdict = out["verdict"]
        prompt_id = await catalog.ensure_prompt(conn, verdict.get("prompt_name"))  # None: the measured default
        trace_id = await store.insert_vlm_trace(
            conn, operation="analyze", job_id=ctx.job_id, variant_id=ctx.job_variants_id, provider=verdict.get("backend"),
            request={"ad_copy_eng": out["text"], "image_hw": list(out["shape"]), **verdict.get("request", {})},
            response=verdict, latency_ms=out["latency_ms"], prompt_id=prompt_id)
        refined = out["refined"]
        if refined:
            # Variants do not wait for each other: the first that needs a refined copy writes it
            # (under a per-job lock, db/stages.sql), later ones keep it, so the job has one refined copy.
            await store_image.lock_job_refinement(conn, job_id=ctx.job_id)
            trace_id = await self.models.save_llm_trace(conn, ctx.job_id, refined)  # every call is traced
            if not await store.has_refined_copy(conn, job_id=ctx.job_id):
                await store_image.insert_refined_copy(conn, job_id=ctx.job_id, llm_trace_id=trace_id, ad_copy_eng=out["text"],
                                                      refined_ad_copy_eng=refined.data["refined_ad_copy_eng"])
        stored = await english_copy(conn, ctx.job_id) if refined else None
        return {"vlm_trace_id": str(trace_id), "is_valid": bool(verdict.get("suitable")),
                "backend": verdict.get("backend"), "suitable": verdict.get("suitable"),
                "copy_fits": out.get("copy_fits", verdict.get("copy_fits")), "reason": verdict.get("reason"),
                "refined_ad_copy_eng": stored}


class YoloDetect(_ImageStage):
    """Objects and salient regions the text must keep off, and the forbidden-region mask."""

    def warm_up(self) -> dict:
        self.models.detector  # noqa: B018 - reading the property loads the model
        return {"detector": self.models.status["detector"]}

    async def load(self, conn, ctx):
        asset_id, path = await variant_image_path(conn, ctx.job_variants_id, self.settings.assets_dir)
        return ImageInputs(asset_id, path)

    def run(self, inputs: ImageInputs):
        rgb = self.image(inputs)
        started = time.perf_counter()
        saliency = saliency_map(rgb)
        detections = self.models.detector.detect(rgb, saliency)
        mask = forbidden_mask(rgb.shape[:2], detections, saliency)
        latency = (time.perf_counter() - started) * 1000
        mask_url, w, h = save_png(mask, self.settings.assets_dir, "masks")
        return {"asset_id": inputs.asset_id, "detections": [d.to_json() for d in detections], "mask_url": mask_url,
                "size": (w, h), "latency_ms": latency, "model": self.models.detector.name}

    async def save(self, conn, ctx, out):
        await store_image.delete_detections(conn, variant_id=ctx.job_variants_id)
        detection_ids = [str(await store_image.insert_detection(
            conn, image_asset_id=out["asset_id"], job_id=ctx.job_id, variant_id=ctx.job_variants_id, box=d["box"],
            label=d["label"][:255], score=round(min(max(d["score"], 0.0), 0.9999), 4))) for d in out["detections"]]
        mask_asset = await store_image.insert_image_asset(conn, image_type="forbidden_mask", url=out["mask_url"],
                                                          width=out["size"][0], height=out["size"][1],
                                                          tenant_id=ctx.tenant_id, job_id=ctx.job_id)
        await store_image.upsert_yolo_run(conn, job_id=ctx.job_id, variant_id=ctx.job_variants_id,
                                          image_asset_id=out["asset_id"], mask_url=out["mask_url"], model_name=out["model"],
                                          detection_count=len(out["detections"]), latency_ms=out["latency_ms"])
        return {"detection_ids": detection_ids, "boxes": [d["box"] for d in out["detections"]],
                "labels": [d["label"] for d in out["detections"]], "scores": [d["score"] for d in out["detections"]],
                "forbidden_mask_url": out["mask_url"], "model": out["model"], "detections": len(out["detections"]),
                "mask_url": out["mask_url"], "mask_asset_id": str(mask_asset)}


PROPOSAL_SOURCE = "planner"  # who proposed a box: this service's layout planner (services/imaging/planner.py)


class Planner(_ImageStage):
    """Candidate text boxes scored on what they cover and how well text can read there."""

    async def load(self, conn, ctx):
        asset_id, path = await variant_image_path(conn, ctx.job_variants_id, self.settings.assets_dir)
        return ImageInputs(asset_id, path, text=await english_copy(conn, ctx.job_id),
                           detections=await variant_detections(conn, ctx.job_variants_id))

    def run(self, inputs: ImageInputs):
        rgb = self.image(inputs)
        started = time.perf_counter()
        candidates = planner.plan(rgb, saliency_map(rgb), inputs.detections, inputs.text, self.models.font_path)
        return {"asset_id": inputs.asset_id, "text": inputs.text, "candidates": candidates,
                "latency_ms": (time.perf_counter() - started) * 1000}

    async def save(self, conn, ctx, out):
        # Every candidate gets a proposal_id a caller can pass to overlay; the best one is the row's own id.
        proposal_id = uuid.uuid4()
        candidates = [{**c, "proposal_id": str(proposal_id if i == 0 else uuid.uuid4())}
                      for i, c in enumerate(out["candidates"])]
        # The earlier readers' form of each candidate: xywh, source and color next to today's names.
        proposals = [{**{k: c.get(k) for k in ("proposal_id", "box", "score", "font_size", "lines", "align", "region",
                                               "fits", "color")}, "xywh": list(c["box"]), "source": PROPOSAL_SOURCE}
                     for c in candidates]
        # layout.proposals is what the earlier readers iterate; layout.candidates keeps every score.
        await store_image.insert_planner_proposal(
            conn, proposal_id=proposal_id, image_asset_id=out["asset_id"], variant_id=ctx.job_variants_id,
            prompt=out["text"], layout={"text": out["text"], "candidates": candidates, "proposals": proposals},
            latency_ms=out["latency_ms"])
        best = candidates[0]
        return {"proposal_id": str(proposal_id), "proposals": proposals, "candidates": len(candidates),
                "best_box": best["box"], "best_score": best["score"]}


def overlay_font(text: str, font_name: str | None, configured: str | None) -> str | None:
    """The caller's font, else the configured one; Korean text always gets a Hangul font (no tofu boxes)."""
    font = (font_by_name(font_name, configured) if font_name else None) or configured
    return default_font_path() if has_hangul(text) and not covers_hangul(font) else font


class Overlay(_ImageStage):
    """Render the copy (or the caller's text) into the best (or the caller's) proposal; save the image."""

    async def check_request(self, conn, request: dict) -> None:
        """Before the claim: an unknown proposal_id is the caller's 404, not a failed variant."""
        if request.get("proposal_id") and not await variant_proposal(conn, request["job_variants_id"],
                                                                     request["proposal_id"]):
            raise NotFound(f"proposal {request['proposal_id']} not found for variant {request['job_variants_id']}")

    async def load(self, conn, ctx):
        asset_id, path = await variant_image_path(conn, ctx.job_variants_id, self.settings.assets_dir)
        req = ctx.request
        if req.get("proposal_id"):
            found = await variant_proposal(conn, ctx.job_variants_id, req["proposal_id"])
            if found is None:
                raise InputError(f"proposal {req['proposal_id']} not found for this variant")
            proposal, index = found
        else:
            proposal, index = await latest_proposal(conn, ctx.job_variants_id), 0
        # The caller's text, else the copy the planner placed (even if a sibling refined the job's copy since).
        text = req.get("text") or proposal["layout"].get("text") or await english_copy(conn, ctx.job_id)
        font = overlay_font(text, req.get("font_name"), self.models.font_path)
        candidate = proposal["layout"]["candidates"][index]
        choice = {"row_id": proposal["proposal_id"], "candidate": candidate, "font_path": font,
                  "proposal_id": candidate.get("proposal_id") or str(proposal["proposal_id"]),
                  "x_align": req.get("x_align"), "y_align": req.get("y_align")}
        choice["font_named"] = bool(req.get("font_name"))
        return ImageInputs(asset_id, path, text=text, proposal=choice,
                           detections=await variant_detections(conn, ctx.job_variants_id))

    def run(self, inputs: ImageInputs):
        rgb = self.image(inputs)
        started = time.perf_counter()
        choice = inputs.proposal
        box = dict(choice["candidate"])
        if choice["x_align"]:
            box["align"] = choice["x_align"]
        box["y_align"] = choice["y_align"] or "middle"
        display = not choice.get("font_named")  # a caller's font_name sets every line (no display face)
        image, layout = render(rgb, inputs.text, box, choice["font_path"], display=display)
        latency = (time.perf_counter() - started) * 1000
        layout.update(text=inputs.text, proposal_id=choice["proposal_id"], y_align=box["y_align"])
        url, w, h = save_png(image, self.settings.assets_dir, "overlaid")
        formats = []
        if self.settings.render_formats:
            saliency = saliency_map(rgb)
            reader, why = self._reader(inputs.text)
            for name in FORMATS:
                # Each format is planned for its own frame (not a resize of this render); checked for contrast
                # (the renderer's measured worst case), faces and OCR here, the evaluations read the original.
                got = render_format(rgb, inputs.detections or [], inputs.text, name, choice["font_path"], saliency)
                f_url, fw, fh = save_png(got["image"], self.settings.assets_dir, "overlaid")
                lay = got["layout"]
                formats.append({"format": name, "url": f_url, "size": (fw, fh), "box": lay["box"],
                                "ocr": ocr.read_back(got["image"], lay, inputs.text, reader, choice["font_path"])
                                if reader else {"status": "not_measured", "reason": why},
                                "lines": lay["lines"], "font_size": lay["font_size"], "styles": lay.get("styles"),
                                "frame": lay["frame"], "contrast_after": lay["contrast_after"],
                                "copy_fits": lay["copy_fits"], "whole": lay["lines"] and
                                " ".join(lay["lines"]).split() == inputs.text.split()})
        return {"proposal_id": choice["row_id"], "layout": layout, "url": url, "size": (w, h), "latency_ms": latency,
                "formats": formats}

    def _reader(self, text: str) -> tuple:
        """The service's reader for the formats' check, or None and why (a format left unread is kept, not failed)."""
        try:
            return self.models.reader_for(text)
        except Exception as exc:  # noqa: BLE001 - a reader that does not load leaves the formats unread
            return None, f"the OCR reader did not load: {str(exc)[:200]}"

    async def save(self, conn, ctx, out):
        (w, h), layout = out["size"], out["layout"]
        x, y, bw, bh = layout["box"]
        asset_id = await store_image.insert_image_asset(conn, image_type="overlaid", url=out["url"], width=w, height=h,
                                                        tenant_id=ctx.tenant_id, job_id=ctx.job_id)
        layout = {**layout, "render": {"url": out["url"], "image_asset_id": str(asset_id)}}  # callers read render.url
        overlay_id = await store_image.insert_overlay_layout(
            conn, proposal_id=out["proposal_id"], variant_id=ctx.job_variants_id, layout=layout, x_ratio=round(x / w, 4),
            y_ratio=round(y / h, 4), width_ratio=round(bw / w, 4), height_ratio=round(bh / h, 4),
            text_margin=f"{min(x, y, w - x - bw, h - y - bh)}px", latency_ms=out["latency_ms"])
        render_id = await store_image.insert_render(conn, overlay_id=overlay_id, image_asset_id=asset_id)
        formats = []
        for f in out.get("formats", []):
            f_asset = await store_image.insert_image_asset(conn, image_type="overlaid", url=f["url"], width=f["size"][0],
                                                           height=f["size"][1], tenant_id=ctx.tenant_id, job_id=ctx.job_id)
            f_render = await store_image.insert_render(conn, overlay_id=overlay_id, image_asset_id=f_asset,
                                                       format=f["format"])
            formats.append({**{k: v for k, v in f.items() if k != "size"}, "width": f["size"][0],
                            "height": f["size"][1], "image_asset_id": str(f_asset), "render_id": str(f_render)})
        if formats:
            await store_image.set_overlay_formats(conn, overlay_id=overlay_id, formats=formats)
        await store_image.set_overlaid_asset(conn, variant_id=ctx.job_variants_id, image_asset_id=asset_id)
        return {"overlay_id": str(overlay_id), "proposal_id": layout["proposal_id"], "text": layout["text"],
                "render": {**layout["render"], "render_id": str(render_id)}, "box": layout["box"],
                "font": layout.get("font"), "x_align": layout.get("align"), "y_align": layout["y_align"],
                "image_url": out["url"], "colour": layout.get("colour"), "effects": layout.get("effects"),
                "contrast_after": layout.get("contrast_after"),
                "formats": [{k: f[k] for k in ("format", "url", "width", "height", "render_id", "image_asset_id")}
                            for f in formats]}
