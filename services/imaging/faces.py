"""Faces as keep-clear regions: the LBP frontal-face cascade scikit-image ships, run offline."""
import threading

import cv2
import numpy as np

from services.imaging.detect import Detection, Detector, thumbnail

FACE_LABELS = ("face", "cat_face")  # keep-clear labels the planner treats as a hard constraint
_WORK_SIDE = 280  # the 24 px window finds faces from ~9 % of this side; 400 px cost 2.5x (313 vs 120 ms)
_SCALE_STEP = 1.25  # window growth per scale; 1.2 cost 30 % more and found the same faces on the portraits
_MIN_FACE = 0.06  # smaller faces are background people: the subject detector's business, not a hard rule
# A cascade box spans brows to chin; text across the forehead or hair covers the face as much.
_GROW = (0.15, 0.40, 0.15, 0.12)  # left, top, right, bottom, as shares of the box size


class FaceDetector:
    """Frontal and three-quarter faces as 'face' detections (a mirror pass added only false positives)."""

    name = "faces-lbp-frontal"

    def __init__(self, min_neighbours: int = 4):
        from skimage import data
        from skimage.feature import Cascade  # OpenCV 5 wheels ship neither cascade files nor CascadeClassifier

        self._cascade = Cascade(data.lbp_frontal_face_cascade_filename())
        self._lock = threading.Lock()  # the cascade object keeps per-call scratch state
        self.min_neighbours = min_neighbours

    def detect(self, rgb: np.ndarray, saliency: np.ndarray | None = None) -> list[Detection]:
        """Face boxes in image pixels, grown to cover forehead and hair, largest first."""
        h, w = rgb.shape[:2]
        small, scale = thumbnail(rgb, _WORK_SIDE)
        gray = cv2.cvtColor(np.ascontiguousarray(small[..., :3]), cv2.COLOR_RGB2GRAY)
        side = max(24, int(_MIN_FACE * min(gray.shape)))
        if min(gray.shape) < side:
            return []
        with self._lock:
            found = self._cascade.detect_multi_scale(
                img=gray, scale_factor=_SCALE_STEP, step_ratio=1, min_size=(side, side), max_size=(min(gray.shape),) * 2,
                min_neighbor_number=self.min_neighbours, intersection_score_threshold=0.5)
        boxes = [(float(f["c"]), float(f["r"]), float(f["width"]), float(f["height"])) for f in found]
        out: list[Detection] = []
        for x, y, bw, bh in sorted(boxes, key=lambda b: -b[2] * b[3]):
            box = (max(0.0, (x - _GROW[0] * bw) / scale), max(0.0, (y - _GROW[1] * bh) / scale),
                   min(float(w), (x + bw * (1 + _GROW[2])) / scale), min(float(h), (y + bh * (1 + _GROW[3])) / scale))
            if not any(_overlaps(box, d.box) for d in out):  # one face found at two scales
                out.append(Detection(box, "face", 0.9))
        return out

    def describe(self) -> dict:
        """What runs here, for status pages and logs."""
        return {"name": self.name, "kind": "faces", "loaded": True, "labels": ["face"],
                "model": "scikit-image lbpcascade_frontalface_opencv.xml"}


def _overlaps(a: tuple, b: tuple) -> bool:
    """True when two x1, y1, x2, y2 boxes share more than a third of the smaller one."""
    iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw > 0 and ih > 0 and iw * ih > small / 3


class WithFaces:
    """Any detector plus faces: the subject (or YOLO's persons) stays penalised, faces become hard limits."""

    def __init__(self, inner: Detector, faces: FaceDetector | None = None):
        self.inner = inner
        self.faces = faces or FaceDetector()
        self.name = inner.name  # the model name stored per run stays the detector's; status["faces"] adds faces

    def detect(self, rgb: np.ndarray, saliency: np.ndarray | None = None) -> list[Detection]:
        """Faces first, then what the inner detector finds."""
        return self.faces.detect(rgb) + self.inner.detect(rgb, saliency)

    def describe(self) -> dict:
        """The inner detector's status with the face detector attached."""
        return {**self.inner.describe(), "faces": self.faces.describe()}


def build_detector_with_faces(backend: str, weights_path: str, keep_clear_labels: str,
                              fallback: bool) -> tuple[Detector, dict]:
    """The configured detector (saliency or YOLO) with faces merged in, and its status."""
    from services.imaging.detect import build_detector

    det, status = build_detector(backend, weights_path, keep_clear_labels, fallback)
    faces = WithFaces(det)
    return faces, {**status, "faces": faces.faces.describe()}


def face_share(text_xywh, face_boxes) -> float:
    """Largest share of any face box (x1, y1, x2, y2) that an x, y, w, h text box covers."""
    x, y, w, h = (float(v) for v in text_xywh[:4])
    share = 0.0
    for fx1, fy1, fx2, fy2 in face_boxes:
        inter = max(0.0, min(x + w, fx2) - max(x, fx1)) * max(0.0, min(y + h, fy2) - max(y, fy1))
        share = max(share, inter / max(1.0, (fx2 - fx1) * (fy2 - fy1)))
    return share
