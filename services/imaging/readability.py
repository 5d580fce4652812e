"""Readability of rendered ad copy: worst-case WCAG contrast around the glyphs, APCA, busyness, size."""
from typing import Any

import cv2
import numpy as np

from services.imaging.contrast import (
    apca_lc,
    luminance,
    parse_hex,
    relative_luminance,
    robust_luminance_range,
    worst_case_from_range,
)
from services.imaging.fonts import min_font_px
from services.imaging.overlay import glyph_ring, ring_radius, text_mask_crop

WCAG_NORMAL = 4.5  # WCAG 2.x SC 1.4.3 (AA) for normal text
WCAG_LARGE = 3.0  # ... and for large text
LARGE_TEXT_PX = 24  # 18 pt regular = 24 CSS px; the font em size is what WCAG calls text size
APCA_BODY_LC = 60.0  # APCA guidance for body-size text; reported, not gating (WCAG 2.x is the standard)


def metric(value: object, unit: str, direction: str, threshold: float | None, passed: bool | None, gates: bool,
           description: str) -> dict:
    """One self-describing metric; every metric of the evaluation modules has exactly these keys."""
    return {"value": value, "unit": unit, "direction": direction, "threshold": threshold, "passed": passed,
            "gates": gates, "description": description}


def evaluate(rendered_rgb: np.ndarray, layout: dict, text: str, font_path: str | None = None) -> dict:
    """Metrics of one rendered layout plus a top-level "passed" (all gating metrics passed)."""
    H = rendered_rgb.shape[0]
    size = int(layout["font_size"])
    r = ring_radius(size)
    mask, x0, y0 = text_mask_crop(rendered_rgb.shape, layout, text, font_path)
    crop = rendered_rgb[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]]
    ring = glyph_ring(mask, r)
    colour = parse_hex(layout["colour"])
    if ring.any():
        bg = crop[ring]
        lo, hi = robust_luminance_range(bg)
        text_lum = relative_luminance(colour)
        worst_lum = min(max(text_lum, lo), hi)
        ratio = worst_case_from_range(text_lum, lo, hi)
        # APCA needs a colour, not a luminance: use the ring pixel closest to the worst-case luminance.
        worst_px = bg[int(np.argmin(np.abs(luminance(bg) - worst_lum)))]
        lc = apca_lc(colour, worst_px)
    else:  # no glyph was drawn: nothing can be read
        ratio, lc = 1.0, 0.0

    # "rea" (PosterLayout): gradient of the background under the text box, relative to the image max.
    # Glyphs and the measuring ring are masked out, so the copy's own edges do not count as clutter.
    gray = cv2.cvtColor(rendered_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mag = cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3))
    bx, by, bw, bh = layout["box"]
    box_mag = mag[by:by + bh, bx:bx + bw]
    dilate = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    near = cv2.dilate((mask > 0).astype(np.uint8), dilate)[by - y0:by - y0 + bh, bx - x0:bx - x0 + bw]
    free = box_mag[near[:box_mag.shape[0], :box_mag.shape[1]] == 0]
    rea = float(free.mean() / (mag.max() + 1e-6)) if free.size else 0.0

    large = size >= LARGE_TEXT_PX
    threshold = WCAG_LARGE if large else WCAG_NORMAL
    floor = min_font_px(H)
    out: dict[str, Any] = {
        "contrast_ratio": metric(round(ratio, 3), "ratio", "higher_is_better", threshold, ratio >= threshold, True,
                                 "WCAG 2.x worst case: text colour vs the lightest/darkest (1st/99th percentile) "
                                 f"background pixel in a {r}px ring around the glyphs"),
        "apca_lc": metric(round(lc, 2), "Lc", "higher_abs_is_better", APCA_BODY_LC, abs(lc) >= APCA_BODY_LC, False,
                          "APCA 0.0.98G-4g Lc of the text colour vs the worst-case ring pixel (sign = polarity)"),
        "rea": metric(round(rea, 4), "fraction_of_max", "lower_is_better", None, None, False,
                      "mean Sobel gradient magnitude of the background inside the text box / image max"),
        "text_height_px": metric(size, "px", "higher_is_better", float(floor), size >= floor, True,
                                 "font em size in px; floor = max(14 px, 2.2 % of image height)"),
        "large_text": metric(large, "bool", "info", float(LARGE_TEXT_PX), None, False,
                             "WCAG large text (>= 24 px regular) uses the 3:1 threshold"),
        "threshold": metric(threshold, "ratio", "info", None, None, False,
                            "contrast threshold applied: 4.5, or 3.0 for large text"),
    }
    out["passed"] = all(m["passed"] for m in out.values() if m["gates"])
    return out
