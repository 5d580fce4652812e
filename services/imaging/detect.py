"""Subject detection: boxes of what ad text must keep clear of (saliency by default, YOLO from local weights)."""
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from services.imaging.saliency import saliency_map

# Set before ultralytics is imported anywhere through this module: offline skips its DNS probes and
# analytics, and no auto-install keeps it from running pip at request time.
os.environ["YOLO_OFFLINE"] = "1"
os.environ.setdefault("YOLO_AUTOINSTALL", "False")

_WORK_SIDE = 256  # the saliency map is built from a 64 px thumbnail, so finer work buys nothing


@dataclass(frozen=True)
class Detection:
    """One subject box in pixels of the original image."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    label: str
    score: float

    def to_json(self) -> dict:
        """Plain JSON-ready dict."""
        return {"box": [round(v, 1) for v in self.box], "label": self.label, "score": round(self.score, 4)}


def thumbnail(img: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """Resize so the long side is at most `side`; return the image and the scale used."""
    h, w = img.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale == 1.0:
        return img, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA), scale


class SaliencyDetector:
    """Salient blobs as boxes: spectral residual plus a colour-contrast cue, adaptive threshold, components."""

    name = "saliency-spectral-residual"

    def __init__(self, min_area_fraction: float = 0.01, max_detections: int = 5):
        self.min_area_fraction = min_area_fraction
        self.max_detections = max_detections

    def detect(self, rgb: np.ndarray, saliency: np.ndarray | None = None) -> list[Detection]:
        """Boxes around salient subjects, most prominent first."""
        h, w = rgb.shape[:2]
        small, scale = thumbnail(rgb, _WORK_SIDE)
        sh, sw = small.shape[:2]
        # The map only depends on a 64 px thumbnail, so computing it on `small` is as good and far cheaper.
        sal = saliency_map(small) if saliency is None else cv2.resize(
            saliency.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
        # Spectral residual lights up edges of a subject but not its plain parts (a cup's rim top);
        # the frequency-tuned colour distance (Achanta et al. 2009) fills those in.
        lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
        colour = np.linalg.norm(cv2.GaussianBlur(lab, (5, 5), 0) - lab.reshape(-1, 3).mean(0), axis=2)
        colour /= colour.max() + 1e-6
        combined = 0.5 * sal + 0.5 * colour
        if float(combined.max() - combined.min()) < 1e-3:
            return []  # a flat image has no subject
        # Twice the mean is the classic adaptive threshold for saliency maps (Achanta et al. 2009).
        mask = (combined >= 2.0 * float(combined.mean())).astype(np.uint8)
        close_k = max(3, round(0.06 * max(sh, sw)) | 1)  # bridge a subject's gaps, about 6% of the side
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close_k,) * 2))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        found = []
        for i in range(1, count):
            x, y, bw, bh, area = (int(v) for v in stats[i])
            if area < self.min_area_fraction * sh * sw:
                continue  # specks: texture, noise, a stray highlight
            mass = float(combined[labels == i].sum())
            score = float(sal[y:y + bh, x:x + bw].mean())
            box = (x / scale, y / scale, min(w, (x + bw) / scale), min(h, (y + bh) / scale))
            found.append((mass, Detection(box, "salient_subject", score)))
        found.sort(key=lambda item: -item[0])
        return [d for _, d in found[: self.max_detections]]

    def describe(self) -> dict:
        """What runs here, for status pages and logs."""
        return {"name": self.name, "kind": "saliency", "loaded": True,
                "cues": "spectral residual + frequency-tuned colour contrast", "labels": ["salient_subject"]}


class YoloDetector:
    """Ultralytics YOLO from a local weights file only; one lock serialises inference."""

    def __init__(self, weights_path: str, keep_clear_labels: list[str] | None = None, conf: float = 0.25):
        path = Path(weights_path).expanduser()
        # Checked here because ultralytics treats an unknown name as a release asset and downloads it.
        if not weights_path or not path.is_file():
            raise FileNotFoundError(f"YOLO weights file not found: {weights_path!r}")
        # Late import: heavy, and the env above must be set first (a checkpoint is a pickle: trusted files only).
        from ultralytics import YOLO

        self.path = path.resolve()
        self.name = f"yolo:{path.name}"
        self.conf = conf
        self._lock = threading.Lock()
        self._model = YOLO(str(self.path))
        if self._model.task not in ("detect", "segment", "pose"):
            raise ValueError(f"{path.name} is a {self._model.task!r} model, not a detector")
        names = self._model.names
        wanted = {label.strip() for label in keep_clear_labels or [] if label.strip()}
        self.unknown_labels = sorted(wanted - set(names.values()))
        self._classes = sorted(i for i, n in names.items() if n in wanted) if wanted else None
        if wanted and not self._classes:
            raise ValueError(f"none of the keep-clear labels {sorted(wanted)} are classes of {path.name}")
        # A first predict fuses layers and takes seconds: pay it at load, and fail here if the model can't run.
        self._predict(np.zeros((64, 64, 3), np.uint8))

    def _predict(self, rgb: np.ndarray):
        """One locked predict: ultralytics' predictor keeps per-call state and is not thread-safe."""
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # ultralytics reads arrays as OpenCV BGR
        with self._lock:
            return list(self._model.predict(bgr, conf=self.conf, classes=self._classes, verbose=False))[0]

    def detect(self, rgb: np.ndarray, saliency: np.ndarray | None = None) -> list[Detection]:
        """Detections of the kept labels (every label when none were given), best first."""
        result = self._predict(rgb)
        if result.boxes is None:
            return []
        boxes = result.boxes.xyxy.cpu().numpy().tolist()
        scores = result.boxes.conf.cpu().numpy().tolist()
        classes = result.boxes.cls.cpu().numpy().astype(int).tolist()
        found = [Detection((float(b[0]), float(b[1]), float(b[2]), float(b[3])), str(result.names[c]), float(s))
                 for b, s, c in zip(boxes, scores, classes)]
        return sorted(found, key=lambda d: -d.score)

    def describe(self) -> dict:
        """What runs here, for status pages and logs."""
        kept = None if self._classes is None else [self._model.names[i] for i in self._classes]
        return {"name": self.name, "kind": "yolo", "loaded": True, "weights": str(self.path),
                "labels": kept, "unknown_labels": self.unknown_labels, "conf": self.conf}


def forbidden_mask(shape_hw: tuple[int, int], detections: list[Detection], saliency: np.ndarray | None = None,
                   dilate_px: int | None = None) -> np.ndarray:
    """uint8 mask (255 = keep text out): detection boxes plus strongly salient pixels, grown by a margin."""
    h, w = shape_hw
    mask: np.ndarray = np.zeros((h, w), np.uint8)
    for d in detections:
        x1, y1, x2, y2 = d.box
        mask[max(0, int(y1)):min(h, int(np.ceil(y2))), max(0, int(x1)):min(w, int(np.ceil(x2)))] = 255
    if saliency is not None and saliency.shape[:2] == (h, w) and float(saliency.max()) > 0:
        mask[saliency >= min(0.95, 2.0 * float(saliency.mean()))] = 255
    # Text touching a subject reads as covering it: keep a margin of ~2% of the short side.
    pad = max(2, round(0.02 * min(h, w))) if dilate_px is None else dilate_px
    if pad > 0:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * pad + 1, 2 * pad + 1)))
    return mask


def _largest_rect(free: np.ndarray) -> tuple[int, int, int, int, int]:
    """Largest all-True rectangle in a bool grid as (area, x1, y1, x2, y2), by the histogram-stack method."""
    best = (0, 0, 0, 0, 0)
    heights = np.zeros(free.shape[1], int)
    for y in range(free.shape[0]):
        heights = np.where(free[y], heights + 1, 0)
        stack: list[tuple[int, int]] = []  # (start column, height), heights increasing
        for x, hgt in enumerate(heights.tolist() + [0]):  # the trailing 0 empties the stack
            start = x
            while stack and stack[-1][1] >= hgt:
                start, top = stack.pop()
                if top * (x - start) > best[0]:
                    best = (top * (x - start), start, y - top + 1, x, y + 1)
            stack.append((start, hgt))
    return best


def free_regions(forbidden: np.ndarray, edges: np.ndarray | None = None, cell: int = 8, max_regions: int = 3,
                 min_fraction: float = 0.03) -> tuple[list[list[int]], float]:
    """Largest calm rectangles outside `forbidden` ([x1, y1, x2, y2] in its pixels) and the free cell fraction."""
    h, w = forbidden.shape[:2]
    grid = (max(1, w // cell), max(1, h // cell))
    cells = cv2.resize((forbidden == 0).astype(np.float32), grid, interpolation=cv2.INTER_AREA) > 0.9
    if edges is not None:
        # Edge density over ~3 cells: single cells are too noisy to call a patch of wood grain busy or calm;
        # above 15% edge pixels text needs a backing plate to be read.
        density = cv2.blur(edges.astype(np.float32) / max(1.0, float(edges.max())), (3 * cell, 3 * cell))
        cells &= cv2.resize(density, grid, interpolation=cv2.INTER_AREA) < 0.15
    free_fraction = float(cells.mean())
    cw, ch = w / grid[0], h / grid[1]
    regions = []
    for _ in range(max_regions):
        area, x1, y1, x2, y2 = _largest_rect(cells)
        if area < min_fraction * cells.size:  # a sliver is no place for ad copy
            break
        cells[y1:y2, x1:x2] = False
        regions.append([round(x1 * cw), round(y1 * ch), round(x2 * cw), round(y2 * ch)])
    return regions, free_fraction
