"""WCAG 2.x and APCA contrast maths for text colours over real (non-uniform) photo backgrounds."""
from collections.abc import Sequence

import numpy as np

RGB = tuple[int, int, int]

WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
NEAR_WHITE: RGB = (248, 248, 246)
NEAR_BLACK: RGB = (20, 20, 22)
AAA_RATIO = 7.0

# Percentile used instead of the true min/max background luminance: on a photo a single stray
# specular or sensor-noise pixel next to a glyph would otherwise decide the verdict, while the
# eye judges the edge by the bulk of it. 1 % of a ring of a few thousand pixels still catches
# any real light or dark patch (a stroke of a letter crossing it), but not isolated outliers.
ROBUST_PERCENTILE = 1.0

_COEF = np.array([0.2126, 0.7152, 0.0722], dtype=np.float64)  # WCAG 2.x / sRGB (Rec. 709) weights
_v = np.arange(256, dtype=np.float64) / 255.0
# sRGB decoding with the IEC 61966-2-1 threshold 0.04045 (WCAG 2.x's 0.03928 differs only below 1e-5).
_LINEAR_LUT = np.where(_v <= 0.04045, _v / 12.92, ((_v + 0.055) / 1.055) ** 2.4)

# APCA 0.0.98G-4g constants (Myndex SAPC-APCA).
_APCA_COEF = (0.2126729, 0.7151522, 0.0721750)
_NORM_BG, _NORM_TXT, _REV_TXT, _REV_BG = 0.56, 0.57, 0.62, 0.65
_BLK_THRS, _BLK_CLMP = 0.022, 1.414
_SCALE, _LO_OFFSET, _LO_CLIP, _DELTA_Y_MIN = 1.14, 0.027, 0.1, 0.0005


def luminance(pixels: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of uint8 (or 0-255 float) pixels shaped (..., 3), vectorised."""
    arr = np.asarray(pixels)
    if arr.dtype == np.uint8:
        lin = _LINEAR_LUT[arr]  # table lookup: no pow() per pixel
    else:
        v = np.clip(arr.astype(np.float64), 0, 255) / 255.0
        lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return lin @ _COEF


def relative_luminance(rgb: Sequence[float]) -> float:
    """WCAG relative luminance of one sRGB colour given as 0-255 components."""
    return float(luminance(np.asarray(rgb, dtype=np.float64)))


def ratio_from_luminance(l1: np.ndarray | float, l2: np.ndarray | float) -> np.ndarray | float:
    """WCAG contrast ratio (L_light + 0.05) / (L_dark + 0.05), vectorised over arrays."""
    hi, lo = np.maximum(l1, l2), np.minimum(l1, l2)
    return (hi + 0.05) / (lo + 0.05)


def wcag_ratio(rgb1: Sequence[float], rgb2: Sequence[float]) -> float:
    """WCAG 2.x contrast ratio of two colours, from 1.0 (equal) to 21.0 (black on white)."""
    return float(ratio_from_luminance(relative_luminance(rgb1), relative_luminance(rgb2)))


def robust_luminance_range(bg_pixels: np.ndarray, pct: float = ROBUST_PERCENTILE) -> tuple[float, float]:
    """(darkest, lightest) background luminance, taken at the pct / 100-pct percentiles."""
    lum = luminance(np.asarray(bg_pixels).reshape(-1, 3))
    if lum.size == 0:
        raise ValueError("no background pixels to measure contrast against")
    lo, hi = np.percentile(lum, [pct, 100.0 - pct])
    return float(lo), float(hi)


def worst_case_from_range(text_lum: float, lo: float, hi: float) -> float:
    """Smallest ratio between a text luminance and any background luminance in [lo, hi]."""
    # The worst background is the one closest in luminance to the text: the lightest one for
    # light text, the darkest for dark text, and equal luminance (ratio 1) if the text is inside.
    return float(ratio_from_luminance(text_lum, min(max(text_lum, lo), hi)))


def worst_case_ratio(text_rgb: Sequence[float], bg_pixels: np.ndarray, pct: float = ROBUST_PERCENTILE) -> float:
    """Worst-case WCAG ratio of a text colour over Nx3 background pixels (robust 1st/99th percentiles)."""
    lo, hi = robust_luminance_range(bg_pixels, pct)
    return worst_case_from_range(relative_luminance(text_rgb), lo, hi)


def _apca_y(rgb: Sequence[float]) -> float:
    """APCA screen luminance Y (simple 2.4 power curve) with the soft black clamp."""
    y = sum(k * (max(0.0, min(255.0, float(c))) / 255.0) ** 2.4 for k, c in zip(_APCA_COEF, rgb))
    return y + (_BLK_THRS - y) ** _BLK_CLMP if y < _BLK_THRS else y


def apca_lc(text_rgb: Sequence[float], bg_rgb: Sequence[float]) -> float:
    """APCA 0.0.98G-4g lightness contrast Lc: positive for dark-on-light, negative for light-on-dark."""
    y_txt, y_bg = _apca_y(text_rgb), _apca_y(bg_rgb)
    if abs(y_bg - y_txt) < _DELTA_Y_MIN:
        return 0.0
    if y_bg > y_txt:  # normal polarity: dark text on a light background
        sapc = (y_bg**_NORM_BG - y_txt**_NORM_TXT) * _SCALE
        out = 0.0 if sapc < _LO_CLIP else sapc - _LO_OFFSET
    else:  # reverse polarity: light text on a dark background
        sapc = (y_bg**_REV_BG - y_txt**_REV_TXT) * _SCALE
        out = 0.0 if sapc > -_LO_CLIP else sapc + _LO_OFFSET
    return out * 100.0


def best_text_colour(bg_pixels: np.ndarray) -> tuple[RGB, float]:
    """Text colour (white/black or a softer near-white/near-black) with the best worst-case ratio."""
    lo, hi = robust_luminance_range(bg_pixels)
    pure = {c: worst_case_from_range(relative_luminance(c), lo, hi) for c in (WHITE, BLACK)}
    best = max(pure, key=pure.__getitem__)
    # Designers prefer off-white/off-black (less glare); take it whenever it still reaches AAA.
    soft = NEAR_WHITE if best == WHITE else NEAR_BLACK
    soft_ratio = worst_case_from_range(relative_luminance(soft), lo, hi)
    if soft_ratio >= AAA_RATIO:
        return soft, soft_ratio
    return best, pure[best]


def opposite_colour(rgb: Sequence[float]) -> RGB:
    """Black for light colours, white for dark ones (the partner used by outlines and scrims)."""
    return BLACK if relative_luminance(rgb) > 0.179 else WHITE  # 0.179: equal ratio against both


def hex_colour(rgb: Sequence[float]) -> str:
    """'#rrggbb' for an RGB triple."""
    return "#{:02x}{:02x}{:02x}".format(*(int(round(c)) for c in rgb))


def parse_hex(colour: str) -> RGB:
    """RGB triple from '#rrggbb' (or 'rrggbb')."""
    s = colour.lstrip("#")
    if len(s) != 6:
        raise ValueError(f"not a #rrggbb colour: {colour!r}")
    return int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16)
