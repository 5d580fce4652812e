"""The planner's thumbnail maps and the score terms of text boxes at many positions, vectorised."""
from dataclasses import dataclass

import cv2
import numpy as np

from services.imaging.contrast import luminance
from services.imaging.faces import FACE_LABELS

WORK_SIDE = 256  # every map is scored on a thumbnail: text boxes are large, so detail is not needed
MARGIN_FRACTION = 0.05  # safe area kept free at the image edges (Instagram crops and UI overlays)
# Weights: every term is in [0, 1]; with the calm term the free-candidate scores stay within about [-9, 2] on photos.
W_SALIENCY, W_BUSY, W_MARGIN, W_ALIGN = 2.0, 1.0, 0.3, 0.3
# Calm: mean saliency above CALM_OCC costs W_CALM per unit on top of W_SALIENCY. Below it the photo is calm enough and
# size and alignment decide; above it, a calmer spot wins over a slightly larger one. The quality bench's median Occ
# (original / 1:1 / 4:5): 0.079 / 0.078 / 0.102 without it, 0.069 / 0.056 / 0.032 at 10, 0.057 / 0.052 / 0.031 at 20
# (15: 0.063 at the generated size). At most ~6.6 (saliency 0.38 on grass): still under OVERLAP_PENALTY, so covering
# an object loses to any busy free spot.
W_CALM, CALM_OCC = 20.0, 0.05
OVERLAP_PENALTY = 10.0  # larger than any free score range, so covering an object always loses


@dataclass
class Maps:
    """Thumbnail maps and integral images shared by every candidate evaluation."""

    W: int
    H: int
    fx: float
    fy: float
    sal_ii: np.ndarray
    busy_ii: np.ndarray
    lum: np.ndarray
    dets: np.ndarray  # (n, 4) x1, y1, x2, y2 in full-image pixels
    faces: np.ndarray  # (k, 4) the face detections among them


def build_maps(rgb: np.ndarray, saliency: np.ndarray, detections: list[dict]) -> Maps:
    """Downscale the photo and saliency once and build the integral images."""
    H, W = rgb.shape[:2]
    f = min(1.0, WORK_SIDE / max(H, W))
    sw, sh = max(1, round(W * f)), max(1, round(H * f))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    sal = cv2.resize(np.asarray(saliency, dtype=np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mag = cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3))
    busy: np.ndarray = mag / (float(mag.max()) + 1e-6)
    dets = np.array([d["box"][:4] for d in detections], dtype=np.float64).reshape(-1, 4)
    dets = np.clip(dets, 0, [W, H, W, H])
    faces = dets[[d.get("label") in FACE_LABELS for d in detections]].reshape(-1, 4)
    return Maps(W, H, sw / W, sh / H, cv2.integral(sal, sdepth=cv2.CV_64F),
                 cv2.integral(busy, sdepth=cv2.CV_64F), luminance(small).astype(np.float32), dets, faces)


def small_rect(m: Maps, x: np.ndarray, y: np.ndarray, bw: float | np.ndarray,
                bh: float | np.ndarray) -> tuple[np.ndarray, ...]:
    """Thumbnail pixel rectangle (at least 1x1) covering full-resolution boxes."""
    sh, sw = m.lum.shape
    x0 = np.clip(np.floor(x * m.fx).astype(int), 0, sw - 1)
    y0 = np.clip(np.floor(y * m.fy).astype(int), 0, sh - 1)
    x1 = np.clip(np.ceil((x + bw) * m.fx).astype(int), x0 + 1, sw)
    y1 = np.clip(np.ceil((y + bh) * m.fy).astype(int), y0 + 1, sh)
    return x0, y0, x1, y1


def box_terms(m: Maps, x: np.ndarray, y: np.ndarray, bw: float | np.ndarray,
               bh: float | np.ndarray) -> dict[str, np.ndarray]:
    """Vectorised saliency, busyness, overlap, margin, alignment of same-size boxes at many positions."""
    x0, y0, x1, y1 = small_rect(m, x, y, bw, bh)
    area = (x1 - x0) * (y1 - y0)

    def mean(ii: np.ndarray) -> np.ndarray:
        return (ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0]) / area

    margin_px = MARGIN_FRACTION * min(m.W, m.H)
    edge = np.minimum.reduce([x, y, m.W - (x + bw), m.H - (y + bh)])
    overlap = np.zeros_like(x, dtype=np.float64)
    gap = np.full_like(x, np.inf, dtype=np.float64)
    for dx1, dy1, dx2, dy2 in m.dets:
        iw = np.clip(np.minimum(x + bw, dx2) - np.maximum(x, dx1), 0, None)
        ih = np.clip(np.minimum(y + bh, dy2) - np.maximum(y, dy1), 0, None)
        overlap = np.maximum(overlap, iw * ih / (bw * bh))
        gx = np.maximum.reduce([dx1 - (x + bw), x - dx2, np.zeros_like(x)])
        gy = np.maximum.reduce([dy1 - (y + bh), y - dy2, np.zeros_like(y)])
        gap = np.minimum(gap, np.hypot(gx, gy))
    # Breathing room: text jammed against the frame edge or an object reads as a mistake.
    margin = np.clip(np.minimum(edge, gap) / margin_px, 0.0, 1.0)
    # Alignment follows the side the block sits on; reward snapping to the margin or the centre axis.
    cx = x + bw / 2
    align = np.where(cx < m.W / 3, 0, np.where(cx > 2 * m.W / 3, 2, 1))
    dist = np.choose(align, [np.abs(x - margin_px), np.abs(cx - m.W / 2), np.abs(m.W - margin_px - (x + bw))])
    alignment = np.clip(1.0 - dist / (0.15 * m.W), 0.0, 1.0)
    return {"saliency": mean(m.sal_ii), "busyness": mean(m.busy_ii), "object_overlap": overlap,
            "margin": margin, "alignment": alignment, "align_idx": align}


def partial_score(t: dict[str, np.ndarray]) -> np.ndarray:
    """Score terms that are cheap to vectorise (everything except contrast and size)."""
    return (-W_SALIENCY * t["saliency"] - W_CALM * np.clip(t["saliency"] - CALM_OCC, 0.0, None)
            - W_BUSY * t["busyness"] + W_MARGIN * t["margin"] + W_ALIGN * t["alignment"]
            - np.where(t["object_overlap"] > 0, OVERLAP_PENALTY, 0.0) - OVERLAP_PENALTY * t["object_overlap"])
