"""Overlap of the placed text with detected objects (IoU, IoA) and with salient content (Occ)."""
from typing import Any

import numpy as np

from services.imaging.readability import metric

MAX_IOA = 0.1  # at most 10 % of the text area may lie on a detected object
# Occ (PosterLayout): mean saliency under the text. The saliency map is normalised to [0, 1] per image,
# and on photos its mean is ~0.15-0.18 with the 75th percentile ~0.25: text whose background is on
# average calmer than three quarters of the photo does not compete with the subject.
MAX_OCC = 0.25


def _xyxy(box: list[float]) -> tuple[float, float, float, float]:
    """x1, y1, x2, y2 (sorted) from an x1, y1, x2, y2 list."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def box_iou(a, b) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, iw) * max(0.0, ih)
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def box_area(box) -> float:
    """Area of an x1, y1, x2, y2 box (0 when it is empty): the one box area of the imaging package."""
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def box_overlap(text_xywh: list[float], det_xyxy: list[float]) -> tuple[float, float]:
    """(IoU, intersection / text area) of an x, y, w, h text box and an x1, y1, x2, y2 detection."""
    tx, ty, tw, th = (float(v) for v in text_xywh[:4])
    dx1, dy1, dx2, dy2 = _xyxy(det_xyxy)
    iw = max(0.0, min(tx + tw, dx2) - max(tx, dx1))
    ih = max(0.0, min(ty + th, dy2) - max(ty, dy1))
    inter = iw * ih
    t_area = box_area((tx, ty, tx + tw, ty + th))
    union = t_area + box_area((dx1, dy1, dx2, dy2)) - inter
    return (inter / union if union > 0 else 0.0), (inter / t_area if t_area > 0 else 0.0)


def occupancy(text_xywh: list[float], saliency: np.ndarray) -> float:
    """Mean saliency under the text box (clipped to the map); 0 for an empty box."""
    H, W = saliency.shape[:2]
    x, y, w, h = (int(round(float(v))) for v in text_xywh[:4])
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float(np.asarray(saliency[y0:y1, x0:x1], dtype=np.float64).mean())


def evaluate(text_box_xywh: list[float], detections: list[dict], saliency: np.ndarray) -> dict:
    """Per-detection IoU/IoA, max_iou, max_ioa, occ and a top-level "passed"."""
    per = []
    for det in detections:
        iou, ioa = box_overlap(text_box_xywh, det["box"])
        per.append({"label": det.get("label", ""), "score": det.get("score"), "box": list(det["box"][:4]),
                    "iou": round(iou, 6), "ioa": round(ioa, 6)})
    max_iou = max((d["iou"] for d in per), default=0.0)
    max_ioa = max((d["ioa"] for d in per), default=0.0)
    occ = occupancy(text_box_xywh, saliency)
    out: dict[str, Any] = {
        "per_detection": metric(per, "list", "info", None, None, False,
                                "IoU and intersection-over-text-area (ioa) for every detection"),
        "max_iou": metric(max_iou, "fraction", "lower_is_better", None, None, False,
                          "largest intersection-over-union of the text box with any detection"),
        "max_ioa": metric(max_ioa, "fraction", "lower_is_better", MAX_IOA, max_ioa <= MAX_IOA, True,
                          "largest share of the text box area covered by any detection"),
        "occ": metric(round(occ, 6), "saliency", "lower_is_better", MAX_OCC, occ <= MAX_OCC, True,
                      "mean saliency (0-1) under the text box (PosterLayout Occ)"),
    }
    out["passed"] = all(m["passed"] for m in out.values() if m["gates"])
    return out
