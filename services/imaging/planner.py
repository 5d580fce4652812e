"""Candidate text boxes for ad copy: positions, sizes and line breaks scored on saliency, objects and contrast."""
import numpy as np

from services.errors import InputError
from services.imaging.contrast import worst_case_from_range
from services.imaging.hierarchy import Shape, display_fallbacks, kind, shapes
from services.imaging.iou import box_area, box_iou
from services.imaging.placement import (
    MARGIN_FRACTION,
    OVERLAP_PENALTY,
    Maps,
    box_terms,
    build_maps,
    partial_score,
    small_rect,
)
from services.imaging.typescale import MAX_BLOCK_HEIGHT, MAX_BLOCK_SHARE

MIN_ABS_FONT_PX = 8  # below the floor only to keep every word of a copy that fits nowhere (copy_fits: false)
SLIDE_STEPS = 24  # positions tried per axis inside a region
MIN_CANDIDATES = 8

# Weights: every term is in [0, 1], so the free-candidate scores stay within about [-3, 2].
W_CONTRAST, W_SIZE = 0.5, 0.8  # (the saliency, busyness, margin and alignment weights: placement.py)
LINE_PENALTY = 0.15  # per line beyond 3: a narrow column of one-word lines reads badly
NOFIT_PENALTY = 5.0  # text that does not fit at the legibility floor ranks after every fitting box
W_STEP = 1.5  # set below the copy's own step (a display line at body size): a calm spot must earn it
W_DISPLAY = 0.3  # a display block (heavy face) over the same copy in the regular face, where both fit calmly
HEADLINE_BONUS = OVERLAP_PENALTY  # above any free score range: a display copy's free places at its step rank first
OFFSCALE_PENALTY = OVERLAP_PENALTY  # under the type scale's lowest step (legible): only where the scale fits nowhere


def _slides(m: Maps, requests: list[tuple]) -> list[list[tuple[int, int]]]:
    """For each (region, bw, bh, keep): the best top-left positions of a bw x bh block inside the region
    (non-overlapping if keep > 1). Every request's grid is scored in one vectorised call (elementwise: the same
    scores as one call per request, without its per-call cost)."""
    if not requests:
        return []
    grids = []
    for (rx0, ry0, rx1, ry1), bw, bh, _ in requests:
        nx = int(min(SLIDE_STEPS, max(1, (rx1 - rx0 - bw) * m.fx))) + 1
        ny = int(min(SLIDE_STEPS, max(1, (ry1 - ry0 - bh) * m.fy))) + 1
        xs = np.linspace(rx0, max(rx0, rx1 - bw), nx)
        ys = np.linspace(ry0, max(ry0, ry1 - bh), ny)
        grids.append([a.ravel() for a in np.meshgrid(xs, ys)])
    sizes = [len(g[0]) for g in grids]
    bws, bhs = (np.repeat([float(r[i]) for r in requests], sizes) for i in (1, 2))
    scores = partial_score(box_terms(m, np.concatenate([g[0] for g in grids]), np.concatenate([g[1] for g in grids]),
                                     bws, bhs))
    out = []
    for (_, bw, bh, keep), (X, Y), start, n in zip(requests, grids, np.cumsum([0, *sizes]), sizes):
        order = np.argsort(-scores[start:start + n], kind="stable")
        picked: list[tuple[int, int]] = []
        for i in order:
            x, y = int(round(X[i])), int(round(Y[i]))
            if all(_iou((x, y, bw, bh), (px, py, bw, bh)) < 0.3 for px, py in picked):
                picked.append((x, y))
                if len(picked) >= keep:
                    break
        out.append(picked)
    return out


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
    m = build_maps(rgb, saliency, detections)
    W, H = m.W, m.H
    # Sizes come from the type scale: at most the copy's step, at least its lowest step (band_lo);
    # down to the legibility floor only where the scale fits nowhere.
    # The shapes keep the line rules (no one-word line, no overlong line) unless no wrapping can meet them;
    # copy with an offer gets it as a hero line, short copy one display block (services/imaging/hierarchy.py).
    every, (floor, band_lo, step_lo, s_max) = shapes(text, W, H, font_path)
    variants = [v for v in every if v.ok] or every
    placements: list[tuple[str, Shape, int, int, int, int, int, bool]] = []
    pending: list[tuple] = []  # blocks to slide over their region, settled in one batch

    def add(name: str, region: tuple[float, float, float, float], shape: Shape, size: int, keep: int, fits: bool = True) -> None:
        def block(sz: int) -> tuple[int, int]:
            return shape.width(sz), shape.height(sz)

        bw, bh = block(size)
        while size > floor and (bw * bh > MAX_BLOCK_SHARE * W * H or bh > MAX_BLOCK_HEIGHT * H):
            size -= 1  # the block's share of the photo is capped: the photo sells the product
            bw, bh = block(size)
        pending.append((name, shape, size, bw, bh, fits, (region, bw, bh, keep)))

    def settle() -> list[tuple]:
        """Slide every pending block over its region (one batch) and add its placements, in order."""
        for (name, shape, size, bw, bh, fits, _), picked in zip(pending, _slides(m, [p[-1] for p in pending])):
            placements.extend((name, shape, size, x, y, bw, bh, fits) for x, y in picked)
        pending.clear()
        return placements

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
    def free(shape: Shape) -> None:
        """Slide a shape over the whole safe area at its sizes and keep the calmest spots."""
        size = shape.fit(0.8 * iw, 0.3 * ih, s_max)
        if size < band_lo:  # long copy: let the block use the whole safe area instead
            size = shape.fit(iw, ih, s_max)
        # The whole safe width too, when the copy's step needs it: one heavy display line at 0.8 of the width
        # stops under its step ("Iced coffee season": 4.5 % caps on a square frame, the step starts at 5 %).
        wide = shape.fit(iw, 0.3 * ih, s_max) if size < step_lo else size
        # Smaller steps too (down to the floor, penalised below the scale): a narrow calm strip beside a
        # subject may hold the copy only there, and covering the subject is worse than a smaller size.
        for scaled in {size, wide, max(step_lo, int(size * 0.8)), band_lo, floor}:
            if floor <= scaled <= max(size, wide):
                add("free", inner, shape, scaled, 2)

    for shape in variants:  # free regions
        free(shape)
    if not settle():
        # Not even the whole safe area holds the copy at the legibility floor: keep every word anyway,
        # smaller (copy_fits: false), rather than cut the advertiser's message.
        for size in range(floor - 1, MIN_ABS_FONT_PX - 1, -1):
            wrapped = wrap_at(iw, size)
            if wrapped:
                add("free", inner, wrapped, size, 3, fits=False)
                break
    if not settle():
        raise InputError(f"ad copy of {len(text)} characters does not fit a {W}x{H} image "
                         f"even at {MIN_ABS_FONT_PX} px")
    display = kind(text) == "display"
    kept, spare = _rank(_candidates(m, placements, s_max, band_lo, step_lo, display))
    if display and not any(c["headline"] for c in kept):
        # No place holds the headline at its step (a narrow strip beside the subject): the regular face or a stacked
        # block where one of them does, rather than a headline at body size; kept only if one does.
        before = len(placements)
        for shape in display_fallbacks(text, font_path):
            free(shape)
        f_kept, f_spare = _rank(_candidates(m, settle(), s_max, band_lo, step_lo, display))
        if any(c["headline"] for c in f_kept):
            kept, spare = f_kept, f_spare
        else:
            del placements[before:]
    if len(kept) < MIN_CANDIDATES:
        # Tight copy: other line breaks at the floor size give the caller real alternatives.
        for frac in (1.0, 0.85, 0.7, 0.55, 0.4):
            wrapped = wrap_at(frac * iw, max(floor, min(band_lo, s_max)))
            if wrapped:
                add("free", inner, wrapped, max(floor, min(band_lo, s_max)), 3)
        kept, spare = _rank(_candidates(m, settle(), s_max, band_lo, step_lo, display))
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


def _candidates(m: Maps, placements: list[tuple], s_max: int, band_lo: int, step_lo: int,
                display: bool) -> list[dict]:
    """Full scores (including contrast of the thumbnail pixels under the box) for every placement."""
    # The box terms of every placement in one vectorised call (elementwise: the same numbers as one at a time,
    # ~1/4 of the planner's time when each was a call of its own).
    px, py, pw, ph = (np.array([float(p[i]) for p in placements]) for i in (3, 4, 5, 6))
    terms = box_terms(m, px, py, pw, ph)
    partial = partial_score(terms)
    rx0, ry0, rx1, ry1 = small_rect(m, px, py, pw, ph)
    ranges: dict[tuple[int, int, int, int], tuple[float, float]] = {}  # equal thumbnail rectangles: one percentile
    out = []
    for i, p in enumerate(placements):
        rect = int(rx0[i]), int(ry0[i]), int(rx1[i]), int(ry1[i])
        if rect not in ranges:
            lum = m.lum[rect[1]:rect[3], rect[0]:rect[2]].ravel()
            ranges[rect] = tuple(float(v) for v in np.percentile(lum, [1.0, 99.0]))  # type: ignore[assignment]
        out.append(_candidate(m, p, {k: float(v[i]) for k, v in terms.items()}, float(partial[i]), *ranges[rect],
                              s_max, band_lo, step_lo, display))
    return out


def _candidate(m: Maps, p: tuple, t: dict, partial: float, lo: float, hi: float, s_max: int, band_lo: int,
               step_lo: int, display: bool) -> dict:
    """One placement's record from its box terms, partial score and thumbnail luminance range (lo, hi)."""
    name, shape, size, x, y, bw, bh, fits = p
    lines = shape.lines
    contrast = max(white := worst_case_from_range(1.0, lo, hi), black := worst_case_from_range(0.0, lo, hi))
    size_term = min(1.0, size / s_max)
    face = 0.0
    for fx1, fy1, fx2, fy2 in m.faces:
        iw, ih = max(0.0, min(x + bw, fx2) - max(x, fx1)), max(0.0, min(y + bh, fy2) - max(y, fy1))
        face = max(face, iw * ih / max(1.0, box_area((fx1, fy1, fx2, fy2))))
    score = (partial + W_CONTRAST * min(contrast, 7.0) / 7.0
             + W_SIZE * size_term - (0.0 if fits else NOFIT_PENALTY) - LINE_PENALTY * max(0, len(lines) - 3)
             - (OFFSCALE_PENALTY if size < band_lo else 0.0) - W_STEP * max(0.0, (step_lo - size) / step_lo)
             - OVERLAP_PENALTY * face + (W_DISPLAY if "hero" in shape.roles else 0.0))
    # Short copy is a headline: wherever the photo holds it at its step without covering anything, it is set there,
    # however calm a smaller spot is (a headline at body size reads as a caption).
    headline = display and fits and size >= step_lo and face == 0 and t["object_overlap"] == 0
    score += HEADLINE_BONUS if headline else 0.0
    align = ("left", "center", "right")[int(t["align_idx"])]
    scores = {k: round(t[k], 4) for k in ("saliency", "object_overlap", "busyness", "margin", "alignment")}
    scores.update(contrast=round(contrast, 3), size=round(size_term, 4), lines=len(lines),
                  face_overlap=round(face, 4))
    return {"box": [x, y, bw, bh], "lines": list(lines), "font_size": size, "align": align, "region": name,
            "fits": fits, "headline": headline, "scores": scores, "score": round(score, 4),
            "color": "#FFFFFF" if white >= black else "#000000", "roles": list(shape.roles),
            "styles": shape.styles(size)}
