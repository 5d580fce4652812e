"""Type scale for ad copy: size steps tied to the image's short side and the copy's length, line rules."""
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from services.imaging.fonts import (
    load_font,
    min_font_px,
    ref_length,
    wrap_text,
)
from services.text.hangul import has_hangul


def largest_fitting(lo: int, hi: int, fits: Callable[[int], bool]) -> int | None:
    """Largest size in [lo, hi] that `fits` (which must hold for every smaller size too); None when `lo` does not.

    The one size search: the overlay's re-wrapping fit and a hierarchy shape's fixed-lines fit both use it."""
    if not fits(lo):
        return None
    while lo < hi:  # binary search for the largest size that still fits
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(frozen=True)
class Step:
    """One step of the scale: copies up to max_chars get a cap height in [cap_lo, cap_hi] x short side."""

    name: str
    max_chars: float
    cap_lo: float
    cap_hi: float


# Cap heights as a share of the short side. A 1080 px post is seen ~390 pt wide (x0.36), so on a phone:
# display caps 19-27 pt (a headline of a few words), headline 14-19 pt, body 10-14 pt (iOS body text's
# caps are ~12 pt). Adjacent steps meet, so the band is one range from the body floor to the display top.
SCALE = (
    Step("display", 20, 0.050, 0.070),
    Step("headline", 60, 0.036, 0.050),
    Step("body", math.inf, 0.026, 0.036),
)
BAND = (SCALE[-1].cap_lo, SCALE[0].cap_hi)
MAX_LINE_CHARS = 34  # longer lines make the eye lose its place at headline sizes
MAX_BLOCK_SHARE = 0.25  # the copy may take at most a quarter of the photo (the photo sells the product)
MAX_BLOCK_HEIGHT = 0.40  # ... and at most 40 % of its height
WIDTH_SLACK = 1.03  # planned widths are scaled from REF_SIZE; hinting can add ~1-2 % at small sizes


@lru_cache(maxsize=32)
def cap_ratio(font_path: str | None) -> float:
    """Height of a capital H as a share of the em size (0.71-0.73 for Noto Sans)."""
    _, top, _, bottom = load_font(font_path, 100).getbbox("H", anchor="ls")
    return (bottom - top) / 100


def step_for(text: str) -> Step:
    """The scale step a copy of this length is set in."""
    n = len(" ".join(text.split()))
    return next(s for s in SCALE if n <= s.max_chars)


def size_range(text: str, width: int, height: int, font_path: str | None) -> tuple[int, int, int, int]:
    """(legibility floor, scale's lowest size, the copy's step's lowest, its largest) in px on this image."""
    short, cr = min(width, height), cap_ratio(font_path)
    step = step_for(text)
    floor = min_font_px(height)
    band_lo = max(floor, math.ceil(BAND[0] * short / cr))
    hi = max(band_lo, math.floor(step.cap_hi * short / cr))
    return floor, band_lo, min(hi, max(band_lo, math.ceil(step.cap_lo * short / cr))), hi


def cap_share(font_size: int, width: int, height: int, font_path: str | None) -> float:
    """Cap height of a font size as a share of the image's short side."""
    return cap_ratio(font_path) * font_size / min(width, height)


def lines_ok(lines: list[str], text: str) -> bool:
    """Line-length rules: no one-word line unless the copy is one word, no line over MAX_LINE_CHARS."""
    if len(text.split()) > 1 and any(len(line.split()) < 2 for line in lines):
        return False
    return len(lines) == 1 or max(len(line) for line in lines) <= MAX_LINE_CHARS


def balanced_wrap(text: str, measure: Callable[[str], float], max_width: float, breakable: bool = False) -> list[str]:
    """As few lines as a greedy wrap at max_width needs, but with the narrowest width that keeps that count."""
    lines = wrap_text(text, measure, max_width, breakable)
    lo, hi = 0.0, float(max_width)
    for _ in range(12):  # the narrowest width with the same line count evens the lines out (no orphan)
        mid = (lo + hi) / 2
        if len(wrap_text(text, measure, mid, breakable)) <= len(lines):
            hi = mid
        else:
            lo = mid
    return wrap_text(text, measure, hi, breakable)


def line_variants(text: str, font_path: str | None) -> list[tuple[list[str], float]]:
    """Balanced wrappings of the text into 1..k lines, as (lines, widest line at REF_SIZE)."""
    # Hangul may break between syllables, but only when there are fewer words than lines:
    # splitting an eojeol (or any Latin word) when whole words would do reads badly in an ad.
    breakable = has_hangul(text)

    def measure(s: str) -> float:
        return ref_length(font_path, s)

    words = text.split()
    total = sum(measure(w) for w in words) + measure(" ") * (len(words) - 1)
    word_w = max(measure(w) for w in words)
    char_w = max(measure(ch) for ch in text if not ch.isspace())
    variants: dict[tuple[str, ...], float] = {}
    for k in range(1, min(20, max(len(words), 4 if breakable else 1)) + 1):
        split = breakable and k > len(words)
        lo = char_w if split else word_w
        hi = max(lo, total)
        if len(wrap_text(text, measure, hi, split)) > k:
            continue  # explicit newlines already need more lines
        for _ in range(14):  # narrowest width that still wraps into <= k lines: balanced lines
            mid = (lo + hi) / 2
            if len(wrap_text(text, measure, mid, split)) <= k:
                hi = mid
            else:
                lo = mid
        lines = wrap_text(text, measure, hi, split)
        variants.setdefault(tuple(lines), max(measure(line) for line in lines))
    return [(list(lines), width) for lines, width in variants.items()]
