"""Vision-language stage: is an image fit for the ad copy (analyze), how good is a finished creative (judge)."""
import math

import cv2
import numpy as np

from services.backends.ports import clamp
from services.errors import InputError
from services.imaging.detect import Detection, SaliencyDetector, forbidden_mask, free_regions, thumbnail
from services.imaging.faces import FaceDetector, face_share
from services.imaging.iou import box_iou
from services.imaging.saliency import saliency_map

_WORK_SIDE = 256  # statistics and regions are computed on a thumbnail: 1024 px images cost the same
_SHARP_SIDE = 512  # variance of the Laplacian depends on scale, so it is always measured at this size
_CELL = 8  # free-region grid cell in thumbnail pixels (32 cells on the long side)
# Copy-fit model: glyph height at least 3.5% of the short side (about 14 pt on a phone showing 1080 px),
# an average sans glyph is 0.55 em wide, lines are 1.3 em apart, and ragged lines fill ~60% of a box.
_MIN_GLYPH_FRACTION, _MIN_GLYPH_PX, _GLYPH_W, _LINE_H, _FILL = 0.035, 12.0, 0.55, 1.3, 0.6


def _wcag_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG 2 relative luminance of every pixel."""
    c = rgb.astype(np.float32) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)


def _area(box) -> float:
    """Area of an x1, y1, x2, y2 box."""
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


class DefaultVlm:
    """Answers the VLM questions from measured image statistics; no model, runs anywhere."""

    name = "default-measured"

    def __init__(self) -> None:
        self._detector = SaliencyDetector()
        self._faces = FaceDetector()

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
        dets = [Detection((d.box[0] / s, d.box[1] / s, d.box[2] / s, d.box[3] / s), d.label, d.score) for d in dets]
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
        # Whether the copy fits is about the copy: a dark or blurry photo is "unsuitable", and shortening
        # the job's copy would not help it.
        fits = bool(copy) and need <= have and word_fits
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
        got = {k: clamp(v, 1.0, 21.0) if k == "contrast_ratio" else clamp(v, 0.0, 1.0) for k, v in got.items()}
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
                ious = [box_iou((sx1, sy1, sx2, sy2), d.box) for d in self._detector.detect(clean, sal)]
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
            legibility = 0.5 * legibility + 5.0 * clamp(got["ocr_similarity"], 0, 1)
        legibility = clamp(legibility - 2.0 * rea)
        frac = (x2 - x1) * (y2 - y1) / (w * h)
        margin = min(x1, y1, w - x2, h - y2) / min(w, h)
        placement = clamp(10 * (1 - min(1.0, occ / 0.5)) * (1 - iou) - (2.0 if margin < 0.02 else 0.0))
        size_score = float(np.interp(frac, [0, 0.04, 0.3, 0.6], [0, 1, 1, 0]))
        harmony = clamp(10 * (0.6 * (1 - rea) + 0.4 * size_score))
        given = measurements.get("face_overlap")  # from the stored face detections, found before the text
        face = float(given) if isinstance(given, (int, float)) else self._face_overlap(rgb, (x1, y1, x2, y2), text_px)
        covers = iou >= 0.1 or occ >= 0.4 or face > 0
        overall = clamp(0.45 * legibility + 0.35 * placement + 0.2 * harmony)
        overall = min(overall, 4.0) if covers else overall
        ocr = f"{got['ocr_similarity']:.2f}" if "ocr_similarity" in got else "n/a"
        reason = (f"Measured, not from LLaVA: contrast {cr:.1f}:1 (AA needs 4.5:1), OCR similarity {ocr}, "
                  f"saliency under text {occ:.2f}, max IoU with subject {iou:.2f}, background busyness {rea:.2f}, "
                  f"text box {frac:.0%} of the frame{', margin under 2%' if margin < 0.02 else ''}"
                  f"{'; the text covers a face' if face > 0 else '; the text covers the product' if covers else ''}.")
        return {"backend": self.name, "legibility": round(legibility, 1), "placement": round(placement, 1),
                "harmony": round(harmony, 1), "covers_product": covers, "overall": round(overall, 1),
                "reason": reason, "measurements": {**{k: round(v, 4) for k, v in got.items()},
                                                   "face_overlap": round(face, 4)}, "sources": src}

    def _face_overlap(self, rgb: np.ndarray, box: tuple, text_px: np.ndarray) -> float:
        """Largest share of a face under the text box; faces found with the text strokes painted out."""
        small, s = thumbnail(rgb, 400)
        sh, sw = small.shape[:2]
        x1, y1 = min(int(box[0] * s), sw - 1), min(int(box[1] * s), sh - 1)
        x2, y2 = max(x1 + 1, min(sw, math.ceil(box[2] * s))), max(y1 + 1, min(sh, math.ceil(box[3] * s)))
        mask = np.zeros((sh, sw), np.uint8)
        mask[y1:y2, x1:x2] = cv2.resize(text_px.astype(np.uint8) * 255, (x2 - x1, y2 - y1),
                                        interpolation=cv2.INTER_LINEAR)
        clean = cv2.inpaint(small, cv2.dilate(mask, np.ones((3, 3), np.uint8)), 3, cv2.INPAINT_TELEA)
        found = [tuple(v / s for v in d.box) for d in self._faces.detect(clean)]
        return face_share((box[0], box[1], box[2] - box[0], box[3] - box[1]), found)

    def describe(self) -> dict:
        """What runs here, for status pages and logs."""
        return {"name": self.name, "kind": "measured", "loaded": True}
