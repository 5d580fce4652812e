"""Candidate text boxes for ad copy: positions, sizes and line breaks scored on saliency, objects and contrast."""
from dataclasses import dataclass

import cv2
import numpy as np

from services.errors import InputError
from services.imaging.contrast import luminance, worst_case_from_range
from services.imaging.faces import FACE_LABELS
from services.imaging.hierarchy import Shape, shapes
from services.imaging.iou import box_iou
from services.imaging.typescale import MAX_BLOCK_HEIGHT, MAX_BLOCK_SHARE

WORK_SIDE = 256  # every map is scored on a thumbnail: text boxes are large, so detail is not needed
MARGIN_FRACTION = 0.05  # safe area kept free at the image edges (Instagram crops and UI overlays)
MIN_ABS_FONT_PX = 8  # below the floor only to keep every word of a copy that fits nowhere (copy_fits: false)
SLIDE_STEPS = 24  # positions tried per axis inside a region
MIN_CANDIDATES = 8

# Weights: every term is in [0, 1], so the free-candidate scores stay within about [-3, 2].
W_SALIENCY, W_BUSY, W_CONTRAST, W_SIZE, W_MARGIN, W_ALIGN = 2.0, 1.0, 0.5, 0.8, 0.3, 0.3
LINE_PENALTY = 0.15  # per line beyond 3: a narrow column of one-word lines reads badly
OVERLAP_PENALTY = 10.0  # larger than any free score range, so covering an object always loses
NOFIT_PENALTY = 5.0  # text that does not fit at the legibility floor ranks after every fitting box
W_STEP = 1.5  # set below the copy's own step (a display line at body size): a calm spot must earn it
W_DISPLAY = 0.3  # a display block (heavy face) over the same copy in the regular face, where both fit calmly
OFFSCALE_PENALTY = 1.0  # under the type scale's lowest step (but legible): only when the scale fits nowhere


@dataclass
class _Maps:
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


def _build_maps(rgb: np.ndarray, saliency: np.ndarray, detections: list[dict]) -> _Maps:
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
    return _Maps(W, H, sw / W, sh / H, cv2.integral(sal, sdepth=cv2.CV_64F),
                 cv2.integral(busy, sdepth=cv2.CV_64F), luminance(small).astype(np.float32), dets, faces)


def _small_rect(m: _Maps, x: np.ndarray, y: np.ndarray, bw: float, bh: float) -> tuple[np.ndarray, ...]:
    """Thumbnail pixel rectangle (at least 1x1) covering full-resolution boxes."""
    sh, sw = m.lum.shape
    x0 = np.clip(np.floor(x * m.fx).astype(int), 0, sw - 1)
    y0 = np.clip(np.floor(y * m.fy).astype(int), 0, sh - 1)
    x1 = np.clip(np.ceil((x + bw) * m.fx).astype(int), x0 + 1, sw)
    y1 = np.clip(np.ceil((y + bh) * m.fy).astype(int), y0 + 1, sh)
    return x0, y0, x1, y1


def _box_terms(m: _Maps, x: np.ndarray, y: np.ndarray, bw: float, bh: float) -> dict[str, np.ndarray]:
    """Vectorised saliency, busyness, overlap, margin, alignment of same-size boxes at many positions."""
    x0, y0, x1, y1 = _small_rect(m, x, y, bw, bh)
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


def _partial_score(t: dict[str, np.ndarray]) -> np.ndarray:
    """Score terms that are cheap to vectorise (everything except contrast and size)."""
    return (-W_SALIENCY * t["saliency"] - W_BUSY * t["busyness"] + W_MARGIN * t["margin"]
            + W_ALIGN * t["alignment"] - np.where(t["object_overlap"] > 0, OVERLAP_PENALTY, 0.0)
            - OVERLAP_PENALTY * t["object_overlap"])


def _slide(m: _Maps, region: tuple[float, float, float, float], bw: int, bh: int, keep: int = 1) -> list[tuple[int, int]]:
    """Best top-left positions of a bw x bh block inside a region (non-overlapping if keep > 1)."""
    rx0, ry0, rx1, ry1 = region
    nx = int(min(SLIDE_STEPS, max(1, (rx1 - rx0 - bw) * m.fx))) + 1
    ny = int(min(SLIDE_STEPS, max(1, (ry1 - ry0 - bh) * m.fy))) + 1
    xs = np.linspace(rx0, max(rx0, rx1 - bw), nx)
    ys = np.linspace(ry0, max(ry0, ry1 - bh), ny)
    X, Y = (a.ravel() for a in np.meshgrid(xs, ys))
    order = np.argsort(-_partial_score(_box_terms(m, X, Y, bw, bh)), kind="stable")
    picked: list[tuple[int, int]] = []
    for i in order:
        x, y = int(round(X[i])), int(round(Y[i]))
        if all(_iou((x, y, bw, bh), (px, py, bw, bh)) < 0.3 for px, py in picked):
            picked.append((x, y))
            if len(picked) >= keep:
                break
    return picked


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """IoU of two x, y, w, h boxes."""
    return box_iou((a[0], a[1], a[0] + a[2], a[1] + a[3]), (b[0], b[1], b[0] + b[2], b[1] + b[3]))


def _regions(W: int, H: int) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Named layout regions inside the safe margins."""
    m = round(MARGIN_FRACTION * min(W, H))
    x0, y0, x1, y1 = m, m, W - m, H - m
    iw, ih = x1 - x0, y1 - y0
    return [
        ("top", (x0, y0, x1, y0 + 0.25 * ih)),
        ("bottom", (x0, y1 - 0.25 * ih, x1, y1)),
        ("top_left", (x0, y0, x0 + 0.5 * iw, y0 + 0.33 * ih)),
        ("top_right", (x1 - 0.5 * iw, y0, x1, y0 + 0.33 * ih)),
        ("bottom_left", (x0, y1 - 0.33 * ih, x0 + 0.5 * iw, y1)),
        ("bottom_right", (x1 - 0.5 * iw, y1 - 0.33 * ih, x1, y1)),
        ("left_column", (x0, y0, x0 + 0.36 * iw, y1)),
        ("right_column", (x1 - 0.36 * iw, y0, x1, y1)),
        ("centre", (x0 + 0.15 * iw, y0 + 0.3 * ih, x1 - 0.15 * iw, y1 - 0.3 * ih)),
    ]


def plan(rgb: np.ndarray, saliency: np.ndarray, detections: list[dict], text: str,
         font_path: str | None = None) -> list[dict]:
    """At least 8 scored candidate text boxes for the copy, best first."""
    if not text or not text.strip():
        raise InputError("ad copy is empty")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"expected an HxWx3 image, got shape {rgb.shape}")
    m = _build_maps(rgb, saliency, detections)
    W, H = m.W, m.H
    # Sizes come from the type scale: at most the copy's step, at least its lowest step (band_lo);
    # down to the legibility floor only where the scale fits nowhere.
    # The shapes keep the line rules (no one-word line, no overlong line) unless no wrapping can meet them;
    # copy with an offer gets it as a hero line, short copy one display block (services/imaging/hierarchy.py).
    every, (floor, band_lo, step_lo, s_max) = shapes(text, W, H, font_path)
    variants = [v for v in every if v.ok] or every
    placements: list[tuple[str, Shape, int, int, int, int, int, bool]] = []

    def add(name: str, region: tuple[float, float, float, float], shape: Shape, size: int, keep: int, fits: bool = True) -> None:
        def block(sz: int) -> tuple[int, int]:
            return shape.width(sz), shape.height(sz)

        bw, bh = block(size)
        while size > floor and (bw * bh > MAX_BLOCK_SHARE * W * H or bh > MAX_BLOCK_HEIGHT * H):
            size -= 1  # the block's share of the photo is capped: the photo sells the product
            bw, bh = block(size)
        for x, y in _slide(m, region, bw, bh, keep):
            placements.append((name, shape, size, x, y, bw, bh, fits))

    mpx = round(MARGIN_FRACTION * min(W, H))
    inner = (mpx, mpx, W - mpx, H - mpx)
    iw, ih = inner[2] - inner[0], inner[3] - inner[1]

    def wrap_at(width: float, size: int) -> Shape | None:
        """Fewest balanced lines at `size` not wider than `width`, or None if that leaves the safe area."""
        for pool in (variants, every):  # the line rules first, any balanced wrapping if they cannot fit
            fitting = [v for v in pool if max(v.line_widths(size)) <= width]
            if fitting:
                shape = min(fitting, key=lambda v: (len(v.lines), max(v.line_widths(size))))
                if shape.height(size) <= ih and max(shape.line_widths(size)) < iw:
                    return shape
        return None

    for name, region in _regions(W, H):
        rw, rh = region[2] - region[0], region[3] - region[1]
        fitted = 0
        for shape in variants:
            size = shape.fit(rw, rh, s_max)
            if size >= floor:
                add(name, region, shape, size, 1)
                fitted += 1
        wrapped = None if fitted else wrap_at(rw, floor) or wrap_at(iw, floor)
        if wrapped:
            # Nothing fits this region at the floor: keep the floor size, wrapped to the region (or safe
            # area) width, anywhere in the safe area, but penalised; dropped if not even that fits.
            add(name, inner, wrapped, floor, 1, fits=False)
    # Free regions: slide each line variant over the whole safe area and keep the calmest spots.
    for shape in variants:
        size = shape.fit(0.8 * iw, 0.3 * ih, s_max)
        if size < band_lo:  # long copy: let the block use the whole safe area instead
            size = shape.fit(iw, ih, s_max)
        # Smaller steps too (down to the floor, penalised below the scale): a narrow calm strip beside a
        # subject may hold the copy only there, and covering the subject is worse than a smaller size.
        for scaled in {size, max(band_lo, int(size * 0.8)), band_lo, floor}:
            if floor <= scaled <= size:
                add("free", inner, shape, scaled, 2)
    if not placements:
        # Not even the whole safe area holds the copy at the legibility floor: keep every word anyway,
        # smaller (copy_fits: false), rather than cut the advertiser's message.
        for size in range(floor - 1, MIN_ABS_FONT_PX - 1, -1):
            wrapped = wrap_at(iw, size)
            if wrapped:
                add("free", inner, wrapped, size, 3, fits=False)
                break
    if not placements:
        raise InputError(f"ad copy of {len(text)} characters does not fit a {W}x{H} image "
                         f"even at {MIN_ABS_FONT_PX} px")
    kept, spare = _rank([_candidate(m, p, s_max, band_lo, step_lo) for p in placements])
    if len(kept) < MIN_CANDIDATES:
        # Tight copy: other line breaks at the floor size give the caller real alternatives.
        for frac in (1.0, 0.85, 0.7, 0.55, 0.4):
            wrapped = wrap_at(frac * iw, max(floor, min(band_lo, s_max)))
            if wrapped:
                add("free", inner, wrapped, max(floor, min(band_lo, s_max)), 3)
        kept, spare = _rank([_candidate(m, p, s_max, band_lo, step_lo) for p in placements])
    if len(kept) < MIN_CANDIDATES:  # last resort: near-duplicates rather than fewer than promised
        kept = sorted(kept + spare[:MIN_CANDIDATES - len(kept)], key=lambda c: -c["score"])
    # Faces are a hard constraint: while any candidate keeps off every face, none that covers one is offered.
    clear = [c for c in kept if c["scores"]["face_overlap"] == 0]
    if clear and len(clear) < len(kept):
        extra = [c for c in spare if c["scores"]["face_overlap"] == 0]
        kept = clear + extra[:max(0, MIN_CANDIDATES - len(clear))]
    return kept


def copy_fits(rgb: np.ndarray, text: str, font_path: str | None = None) -> bool:
    """Can the whole copy be set at a legible size in this photo (saliency only: before detection runs)?"""
    from services.imaging.saliency import saliency_map  # late: only the analyze stage asks this

    try:
        return any(c["fits"] for c in plan(rgb, saliency_map(rgb), [], text, font_path))
    except InputError:
        return False


def _rank(candidates: list[dict]) -> tuple[list[dict], list[dict]]:
    """Sort best first and split off near-duplicates (same lines, same place): (kept, duplicates)."""
    candidates.sort(key=lambda c: -c["score"])
    kept: list[dict] = []
    spare: list[dict] = []
    for c in candidates:
        dup = any(c["lines"] == k["lines"] and _iou(c["box"], k["box"]) > 0.7 for k in kept)
        (spare if dup else kept).append(c)
    return kept, spare


def _candidate(m: _Maps, p: tuple, s_max: int, band_lo: int, step_lo: int) -> dict:
    """Full scores (including contrast of the thumbnail pixels under the box) for one placement."""
    name, shape, size, x, y, bw, bh, fits = p
    lines = shape.lines
    one = np.array([float(x)]), np.array([float(y)])
    t = {k: float(v[0]) for k, v in _box_terms(m, *one, bw, bh).items()}
    x0, y0, x1, y1 = (int(v[0]) for v in _small_rect(m, *one, bw, bh))
    lum = m.lum[y0:y1, x0:x1].ravel()
    lo, hi = np.percentile(lum, [1.0, 99.0])
    contrast = max(white := worst_case_from_range(1.0, lo, hi), black := worst_case_from_range(0.0, lo, hi))
    size_term = min(1.0, size / s_max)
    face = 0.0
    for fx1, fy1, fx2, fy2 in m.faces:
        iw, ih = max(0.0, min(x + bw, fx2) - max(x, fx1)), max(0.0, min(y + bh, fy2) - max(y, fy1))
        face = max(face, iw * ih / max(1.0, (fx2 - fx1) * (fy2 - fy1)))
    score = (float(_partial_score({k: np.array(v) for k, v in t.items()})) + W_CONTRAST * min(contrast, 7.0) / 7.0
             + W_SIZE * size_term - (0.0 if fits else NOFIT_PENALTY) - LINE_PENALTY * max(0, len(lines) - 3)
             - (OFFSCALE_PENALTY if size < band_lo else 0.0) - W_STEP * max(0.0, (step_lo - size) / step_lo)
             - OVERLAP_PENALTY * face + (W_DISPLAY if "hero" in shape.roles else 0.0))
    align = ("left", "center", "right")[int(t["align_idx"])]
    scores = {k: round(t[k], 4) for k in ("saliency", "object_overlap", "busyness", "margin", "alignment")}
    scores.update(contrast=round(contrast, 3), size=round(size_term, 4), lines=len(lines),
                  face_overlap=round(face, 4))
    return {"box": [x, y, bw, bh], "lines": list(lines), "font_size": size, "align": align, "region": name,
            "fits": fits, "scores": scores, "score": round(score, 4), "color": "#FFFFFF" if white >= black else "#000000",
            "roles": list(shape.roles), "styles": shape.styles(size)}

