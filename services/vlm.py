"""Vision-language stage: is an image fit for the ad copy (analyze), how good is a finished creative (judge)."""
import ast
import json
import math
import re
import threading
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from services.detect import (Detection, SaliencyDetector, UnavailableBackend, forbidden_mask, free_regions,
                             thumbnail)
from services.errors import InputError
from services.saliency import saliency_map

_WORK_SIDE = 256  # statistics and regions are computed on a thumbnail: 1024 px images cost the same
_SHARP_SIDE = 512  # variance of the Laplacian depends on scale, so it is always measured at this size
_CELL = 8  # free-region grid cell in thumbnail pixels (32 cells on the long side)
# Copy-fit model: glyph height at least 3.5% of the short side (about 14 pt on a phone showing 1080 px),
# an average sans glyph is 0.55 em wide, lines are 1.3 em apart, and ragged lines fill ~60% of a box.
_MIN_GLYPH_FRACTION, _MIN_GLYPH_PX, _GLYPH_W, _LINE_H, _FILL = 0.035, 12.0, 0.55, 1.3, 0.6
SCORE_BOUNDS = {k: (0.0, 10.0) for k in ("legibility", "placement", "harmony", "overall")}


class Vlm(Protocol):
    """What every VLM backend offers."""

    name: str

    def analyze(self, rgb: np.ndarray, ad_copy: str) -> dict: ...

    def judge(self, rgb: np.ndarray, text_box_xywh: list[int], measurements: dict) -> dict: ...

    def describe(self) -> dict: ...


def _wcag_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG 2 relative luminance of every pixel."""
    c = rgb.astype(np.float32) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def _area(box) -> float:
    """Area of an x1, y1, x2, y2 box."""
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def _iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, iw) * max(0.0, ih)
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _clamp(v: float, lo: float = 0.0, hi: float = 10.0) -> float:
    """v limited to [lo, hi] (a 0-10 score by default)."""
    return float(min(hi, max(lo, v)))


class DefaultVlm:
    """Answers the VLM questions from measured image statistics; no model, runs anywhere."""

    name = "default-measured"

    def __init__(self) -> None:
        self._detector = SaliencyDetector()

    def measure(self, rgb: np.ndarray) -> tuple[dict, list[Detection], list[list[int]]]:
        """Image statistics, subject detections and free regions (boxes in original pixels)."""
        h, w = rgb.shape[:2]
        small, s = thumbnail(rgb, _WORK_SIDE)
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        sharp_gray = cv2.cvtColor(thumbnail(rgb, _SHARP_SIDE)[0], cv2.COLOR_RGB2GRAY)
        r, g, b = (small[..., i].astype(np.float32) for i in range(3))
        rg, yb = r - g, 0.5 * (r + g) - b  # Hasler & Suesstrunk (2003) opponent colour axes
        sal = saliency_map(small)
        dets = self._detector.detect(small, sal)
        edges = cv2.Canny(gray, 80, 160)
        regions, free_fraction = free_regions(forbidden_mask(gray.shape, dets, sal), edges, cell=_CELL)
        regions = [[min(lim, round(v / s)) for v, lim in zip(r, (w, h, w, h))] for r in regions]
        subject = forbidden_mask(gray.shape, dets, None, dilate_px=0)
        m = {
            "width": w, "height": h,
            "brightness": round(float(gray.mean()) / 255, 4),  # mean luma, 0-1
            "contrast": round(float(gray.std()) / 255, 4),  # RMS contrast of luma, 0-1
            "colourfulness": round(float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())), 2),
            "sharpness": round(float(cv2.Laplacian(sharp_gray, cv2.CV_32F).var()), 1),  # at 512 px long side
            "busyness": round(float(edges.mean()) / 255, 4),  # Canny edge density, 0-1
            "saliency_coverage": round(float((sal >= 2 * sal.mean()).mean()), 4),
            "subject_fraction": round(float((subject > 0).mean()), 4),
            "free_area_fraction": round(free_fraction, 4),
            "largest_free_fraction": round(_area(regions[0]) / (w * h), 4) if regions else 0.0,  # regions: largest first
        }
        dets = [Detection(tuple(v / s for v in d.box), d.label, d.score) for d in dets]
        return m, dets, regions

    def analyze(self, rgb: np.ndarray, ad_copy: str) -> dict:
        """Suitability of the image and whether the copy fits its free area, from measurements."""
        m, dets, regions = self.measure(rgb)
        h, w = rgb.shape[:2]
        problems = []
        if min(h, w) < 256:
            problems.append(f"too small ({w}x{h}, short side under 256 px)")
        if m["brightness"] < 0.1 or m["brightness"] > 0.95:
            problems.append(f"brightness {m['brightness']:.2f} outside 0.10-0.95")
        if m["contrast"] < 0.05:
            problems.append(f"flat: RMS contrast {m['contrast']:.3f} under 0.05")
        if m["sharpness"] < 10:
            problems.append(f"blurry: Laplacian variance {m['sharpness']:.1f} under 10")
        if not regions:
            problems.append("no calm area of at least 3% of the frame for text")
        copy = " ".join((ad_copy or "").split())
        glyph = max(_MIN_GLYPH_PX, _MIN_GLYPH_FRACTION * min(h, w))
        need = len(copy) * glyph * glyph * _GLYPH_W * _LINE_H / _FILL
        largest = regions[0] if regions else [0, 0, 0, 0]
        have = _area(largest)
        longest_word = max((len(t) for t in copy.split()), default=0) * glyph * _GLYPH_W
        m.update(copy_chars=len(copy), min_glyph_px=round(glyph, 1), copy_area_fraction=round(need / (w * h), 4))
        word_fits = longest_word <= largest[2] - largest[0]
        fits = bool(copy) and not problems and need <= have and word_fits
        fit_reason = "no ad copy given" if not copy else (
            f"{len(copy)} characters at a legible {glyph:.0f} px need about {need / (w * h):.0%} of the frame, "
            f"the largest free region is {have / (w * h):.0%}" + ("" if word_fits else
            f"; the longest word needs {longest_word:.0f} px, the region is {largest[2] - largest[0]} px wide"))
        top = dets[0] if dets else None
        cx = (top.box[0] + top.box[2]) / 2 / w if top else 0.5
        where = "left" if cx < 0.4 else "right" if cx > 0.6 else "centre"
        return {
            "backend": self.name, "suitable": not problems, "copy_fits": fits,
            "subject": f"salient subject ({where}, {m['subject_fraction']:.0%} of frame)" if top else "none found",
            "subject_box": [round(v) for v in top.box] if top else None,
            "free_regions": regions,
            "reason": ("unsuitable: " + "; ".join(problems) + ". " if problems else "suitable image. ")
            + ("Copy fits: " if fits else "Copy does not fit: ") + fit_reason + ". (measured, not from LLaVA)",
            "measurements": m,
        }

    def judge(self, rgb: np.ndarray, text_box_xywh: list[int], measurements: dict) -> dict:
        """Scores 0-10 for a finished creative, from the given measurements or what the image shows."""
        h, w = rgb.shape[:2]
        try:
            x, y, bw, bh = (float(v) for v in text_box_xywh)
        except (TypeError, ValueError) as exc:
            raise InputError(f"text box must be [x, y, w, h], got {text_box_xywh!r}") from exc
        x1, y1, x2, y2 = max(0.0, x), max(0.0, y), min(float(w), x + bw), min(float(h), y + bh)
        if x2 - x1 < 1 or y2 - y1 < 1:
            raise InputError(f"text box {text_box_xywh!r} is empty or outside the {w}x{h} image")
        small, s = thumbnail(rgb, _WORK_SIDE)
        sx1, sy1 = min(int(x1 * s), small.shape[1] - 1), min(int(y1 * s), small.shape[0] - 1)
        sx2 = min(small.shape[1], max(sx1 + 1, math.ceil(x2 * s)))
        sy2 = min(small.shape[0], max(sy1 + 1, math.ceil(y2 * s)))
        got = {k: measurements.get(k) for k in ("contrast_ratio", "ocr_similarity", "occ", "max_iou", "rea")}
        got = {k: float(v) for k, v in got.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        got = {k: _clamp(v, 1.0, 21.0) if k == "contrast_ratio" else _clamp(v, 0.0, 1.0) for k, v in got.items()}
        src = {k: "given" for k in got}
        # Text strokes are thin: find them at full resolution (capped), where they are not blurred into the
        # background. They are the minority class of an Otsu split of the box.
        crop = thumbnail(rgb[int(y1):math.ceil(y2), int(x1):math.ceil(x2)], 512)[0]
        gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        thr, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        text_px = gray <= thr if (gray <= thr).mean() < 0.5 else gray > thr
        if "contrast_ratio" not in got:
            lum = _wcag_luminance(crop)
            a, b = (float(np.median(lum[m])) if m.any() else float(lum.mean()) for m in (text_px, ~text_px))
            got["contrast_ratio"], src["contrast_ratio"] = (max(a, b) + 0.05) / (min(a, b) + 0.05), "image"
        if "occ" not in got or "max_iou" not in got:
            # Paint the text out first: its strokes are salient themselves and would hide what lies beneath.
            mask = np.zeros(small.shape[:2], np.uint8)
            mask[sy1:sy2, sx1:sx2] = cv2.resize(text_px.astype(np.uint8) * 255, (sx2 - sx1, sy2 - sy1),
                                                interpolation=cv2.INTER_LINEAR)  # nonzero: any stroke
            clean = cv2.inpaint(small, cv2.dilate(mask, np.ones((3, 3), np.uint8)), 3, cv2.INPAINT_TELEA)
            sal = saliency_map(clean)
            if "occ" not in got:
                got["occ"], src["occ"] = float(sal[sy1:sy2, sx1:sx2].mean()), "image"
            if "max_iou" not in got:
                ious = [_iou((sx1, sy1, sx2, sy2), d.box) for d in self._detector.detect(clean, sal)]
                got["max_iou"], src["max_iou"] = max(ious, default=0.0), "image"
        if "rea" not in got:
            # Busyness in a ring just around the box: inside it, the text's own edges would dominate.
            pad = max(3, round(0.15 * min(sx2 - sx1, sy2 - sy1)))
            edges = cv2.Canny(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), 80, 160).astype(np.float32) / 255
            outer = edges[max(0, sy1 - pad):sy2 + pad, max(0, sx1 - pad):sx2 + pad]
            ring_px = outer.size - (sy2 - sy1) * (sx2 - sx1)
            density = (outer.sum() - edges[sy1:sy2, sx1:sx2].sum()) / ring_px if ring_px > 0 else 0.0
            got["rea"], src["rea"] = min(1.0, float(density) / 0.25), "image"  # 25% edge pixels: fully busy
        cr, occ, iou, rea = got["contrast_ratio"], got["occ"], got["max_iou"], got["rea"]
        # WCAG anchors: 3:1 large text, 4.5:1 AA, 7:1 AAA; interpolated on a log scale, 12:1 and above is 10.
        legibility = float(np.interp(math.log(max(cr, 1.0)), np.log([1, 3, 4.5, 7, 12]), [0, 4, 6.5, 8.5, 10]))
        if "ocr_similarity" in got:
            legibility = 0.5 * legibility + 5.0 * _clamp(got["ocr_similarity"], 0, 1)
        legibility = _clamp(legibility - 2.0 * rea)
        frac = (x2 - x1) * (y2 - y1) / (w * h)
        margin = min(x1, y1, w - x2, h - y2) / min(w, h)
        placement = _clamp(10 * (1 - min(1.0, occ / 0.5)) * (1 - iou) - (2.0 if margin < 0.02 else 0.0))
        size_score = float(np.interp(frac, [0, 0.04, 0.3, 0.6], [0, 1, 1, 0]))
        harmony = _clamp(10 * (0.6 * (1 - rea) + 0.4 * size_score))
        covers = iou >= 0.1 or occ >= 0.4
        overall = _clamp(0.45 * legibility + 0.35 * placement + 0.2 * harmony)
        overall = min(overall, 4.0) if covers else overall
        ocr = f"{got['ocr_similarity']:.2f}" if "ocr_similarity" in got else "n/a"
        reason = (f"Measured, not from LLaVA: contrast {cr:.1f}:1 (AA needs 4.5:1), OCR similarity {ocr}, "
                  f"saliency under text {occ:.2f}, max IoU with subject {iou:.2f}, background busyness {rea:.2f}, "
                  f"text box {frac:.0%} of the frame{', margin under 2%' if margin < 0.02 else ''}"
                  f"{'; the text covers the product' if covers else ''}.")
        return {"backend": self.name, "legibility": round(legibility, 1), "placement": round(placement, 1),
                "harmony": round(harmony, 1), "covers_product": covers, "overall": round(overall, 1),
                "reason": reason, "measurements": {k: round(v, 4) for k, v in got.items()}, "sources": src}

    def describe(self) -> dict:
        """What runs here, for status pages and logs."""
        return {"name": self.name, "kind": "measured", "loaded": True}


_TAILS = ("", "}", '"}', "]}", '"]}', "]]}", " null}")  # closers for a reply cut off by max_new_tokens
_PY = {"true": "True", "false": "False", "null": "None"}


def _load(span: str) -> dict | None:
    """A dict from JSON or the near-JSON models write: single quotes, Python literals, trailing commas."""
    for attempt in (span, re.sub(r",\s*([}\]])", r"\1", span)):
        try:
            value = json.loads(attempt)
        except ValueError:
            try:  # literal_eval only builds literals: safe on untrusted text
                value = ast.literal_eval(re.sub(r"\b(true|false|null)\b", lambda m: _PY[m[1]], attempt))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
        if isinstance(value, dict):
            return value
    return None


def _coerce(value, default, bounds: tuple[float, float] | None):
    """`value` as the type of `default`; raises ValueError or KeyError when it cannot be."""
    if isinstance(default, bool):
        words = {"true": True, "yes": True, "false": False, "no": False}
        return words[value.strip().lower()] if isinstance(value, str) else bool(float(value))
    if isinstance(default, (int, float)):
        number = float(value)  # numbers and numeric strings
        if not math.isfinite(number):
            raise ValueError(value)
        return _clamp(number, *bounds) if bounds else number
    if isinstance(default, str) and not isinstance(value, (dict, list, type(None))):
        return str(value)
    if default is None or isinstance(default, list):  # boxes: checked by the caller
        if value is None or isinstance(value, list):
            return value
    raise ValueError(value)


def parse_json_reply(text: str, defaults: dict, bounds: dict[str, tuple[float, float]] | None = None) -> dict:
    """The JSON object in a model's free-text reply, typed like `defaults` (which fill the gaps); never raises."""
    text = (text or "")[:20_000]
    starts = [m.start() for m in re.finditer(r"\{", text)][:8]
    ends = [m.end() for m in re.finditer(r"\}", text)][::-1][:8]
    found = []
    for i in starts:  # the longest parseable span from each opening brace, fences and prose around ignored
        spans = [text[i:j] for j in ends if j > i] + [text[i:].rstrip() + tail for tail in _TAILS]
        found.append(next((d for d in map(_load, spans) if d is not None), None))
    found = [d for d in found if d is not None]
    # The object naming the most expected fields wins over stray braces in prose.
    parsed = max(found, key=lambda d: len(set(d) & set(defaults)), default=None)
    out, missing = dict(defaults), []
    for key, default in defaults.items():
        try:
            out[key] = _coerce(parsed[key], default, (bounds or {}).get(key))
        except (KeyError, TypeError, ValueError, AttributeError):
            missing.append(key)
    # parse_ok: an object with at least one usable expected field; stray "{}" in prose is not an answer.
    return {**out, "parse_ok": len(missing) < len(defaults), "missing_fields": missing}


def _box(value, w: int, h: int) -> list[int] | None:
    """A model's box as pixels: fractions of the frame (what LLaVA tends to give) or pixels, clipped."""
    try:
        x1, y1, x2, y2 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if max(x1, y1, x2, y2) <= 1.0:
        x1, y1, x2, y2 = x1 * w, y1 * h, x2 * w, y2 * h
    x1, x2 = sorted((min(max(x1, 0), w), min(max(x2, 0), w)))
    y1, y2 = sorted((min(max(y1, 0), h), min(max(y2, 0), h)))
    return [round(x1), round(y1), round(x2), round(y2)] if x2 - x1 >= 1 and y2 - y1 >= 1 else None


class LlavaVlm:
    """LLaVA from a local directory; measured answers fill whatever the model's reply leaves out."""

    def __init__(self, model_path: str, quantization: str = "", device: str | None = None):
        path = Path(model_path).expanduser()
        if not model_path or not (path / "config.json").is_file():
            raise FileNotFoundError(f"LLaVA model directory not found (no config.json): {model_path!r}")
        import torch  # late: heavy, and only this backend needs it
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.name = f"llava:{path.resolve().name}"
        self.path = path.resolve()
        quant = (quantization or "").strip().lower()
        if quant not in ("", "8bit", "4bit"):
            raise ValueError(f"quantization must be '', '8bit' or '4bit', got {quantization!r}")
        kwargs: dict = {"local_files_only": True}
        # bitsandbytes kernels are CUDA-only: on CPU the setting is ignored (and reported by describe()).
        self.quantization = quant if self.device.startswith("cuda") else ""
        if self.quantization:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_8bit=quant == "8bit", load_in_4bit=quant == "4bit", bnb_4bit_compute_dtype=torch.float16)
            kwargs["device_map"] = {"": self.device}
        else:
            kwargs["dtype"] = torch.float16 if self.device.startswith("cuda") else torch.float32
        self._torch = torch
        self._processor = AutoProcessor.from_pretrained(str(self.path), local_files_only=True)
        self._model = LlavaForConditionalGeneration.from_pretrained(str(self.path), **kwargs).eval()
        if not self.quantization:
            self._model.to(self.device)
        self._image_token = getattr(self._processor, "image_token", "<image>")
        self._lock = threading.Lock()
        self._measured = DefaultVlm()

    def _ask(self, rgb: np.ndarray, question: str, max_new_tokens: int) -> str:
        """One image + question through generate; returns the new text only."""
        from PIL import Image

        question = question.replace(self._image_token, "")  # user text must not add image placeholders
        if getattr(self._processor, "chat_template", None):
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
            prompt = self._processor.apply_chat_template(messages, add_generation_prompt=True)
        else:  # the llava-1.5 format
            prompt = f"USER: {self._image_token}\n{question} ASSISTANT:"
        image = Image.fromarray(thumbnail(rgb, 672)[0])  # the processor shrinks it anyway; this saves copying
        inputs = self._processor(images=image, text=prompt, return_tensors="pt").to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self._model.dtype)
        with self._lock, self._torch.inference_mode():
            out = self._model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        return self._processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0]

    def analyze(self, rgb: np.ndarray, ad_copy: str) -> dict:
        """Suitability and copy fit as LLaVA sees them; measurements are always the measured ones."""
        measured = self._measured.analyze(rgb, ad_copy)
        h, w = rgb.shape[:2]
        question = (
            f"This photo may become an Instagram ad with the copy {json.dumps((ad_copy or '')[:500])}. "
            "Reply with one JSON object only, with keys: \"suitable\" (true if usable as an ad background), "
            "\"copy_fits\" (true if the copy fits legibly in a calm area without covering the subject), "
            "\"subject\" (short noun phrase), \"subject_box\" ([x1, y1, x2, y2] as fractions 0-1 of the frame, "
            "or null), \"free_regions\" (list of [x1, y1, x2, y2] fractions 0-1 where text could go), "
            "\"reason\" (one sentence).")
        reply = self._ask(rgb, question, 200)
        defaults = {k: measured[k] for k in ("suitable", "copy_fits", "subject", "subject_box", "free_regions", "reason")}
        out = parse_json_reply(reply, defaults)
        out["subject_box"] = _box(out["subject_box"], w, h) if out["subject_box"] is not None else None
        regions = [_box(r, w, h) for r in out["free_regions"] or []]
        out["free_regions"] = [r for r in regions if r] if "free_regions" not in out["missing_fields"] else regions
        if not out["parse_ok"]:
            out["reason"] = f"LLaVA reply had no JSON; measured answer used: {measured['reason']}"
        return {"backend": self.name, **out, "measurements": measured["measurements"], "raw_reply": reply[:2000]}

    def judge(self, rgb: np.ndarray, text_box_xywh: list[int], measurements: dict) -> dict:
        """Scores 0-10 from LLaVA, with the measured judgement filling what the reply lacks."""
        measured = self._measured.judge(rgb, text_box_xywh, measurements)
        h, w = rgb.shape[:2]
        m = measured["measurements"]
        question = (
            f"This is an Instagram ad ({w}x{h} px); its text is in the box x={text_box_xywh[0]}, "
            f"y={text_box_xywh[1]}, w={text_box_xywh[2]}, h={text_box_xywh[3]}. Measured WCAG contrast "
            f"{m['contrast_ratio']:.1f}:1, saliency under the text {m['occ']:.2f}. Reply with one JSON object only, "
            "with keys: \"legibility\", \"placement\", \"harmony\", \"overall\" (numbers 0-10), "
            "\"covers_product\" (true if the text hides the product), \"reason\" (one sentence).")
        reply = self._ask(rgb, question, 120)
        defaults = {k: measured[k] for k in ("legibility", "placement", "harmony", "covers_product", "overall", "reason")}
        out = parse_json_reply(reply, defaults, SCORE_BOUNDS)
        if not out["parse_ok"]:
            out["reason"] = f"LLaVA reply had no JSON; {measured['reason']}"
        return {"backend": self.name, **out, "measurements": m, "raw_reply": reply[:2000]}

    def describe(self) -> dict:
        """What runs here, for status pages and logs."""
        return {"name": self.name, "kind": "llava", "loaded": True, "path": str(self.path), "device": self.device,
                "quantization": self.quantization or "none", "dtype": str(self._model.dtype)}


def build_vlm(backend: str, model_path: str, quantization: str, fallback: bool) -> tuple[Vlm, dict]:
    """The configured VLM and its status; a failed real backend falls back or fails loudly."""
    requested = (backend or "default").strip().lower()
    if requested == "default":
        return DefaultVlm(), {"backend": requested, "active": DefaultVlm.name, "loaded": True, "error": None}
    try:
        if requested != "llava":
            raise ValueError(f"unknown VLM backend {backend!r} (expected 'default' or 'llava')")
        vlm = LlavaVlm(model_path, quantization)
        return vlm, {"backend": requested, "active": vlm.name, "loaded": True, "error": None}
    except Exception as exc:  # any load failure: missing directory, bad files, no bitsandbytes, broken install
        reason = f"{type(exc).__name__}: {exc}"
    if fallback:
        return DefaultVlm(), {"backend": requested, "active": DefaultVlm.name, "loaded": False,
                              "error": f"{reason} (fell back to {DefaultVlm.name})"}
    name = f"llava:{Path(model_path).name}" if requested == "llava" else requested
    return UnavailableBackend(name, reason), {"backend": requested, "active": name, "loaded": False, "error": reason}
