"""Display-face glyph marks: strokes added to glyphs a reader confuses (the heavy face's plain capital I, its $)."""
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from services.imaging.fonts import display_font_path, load_font

# Poppins Bold's capital I is a plain bar, a hair shorter than its "l": the second reader (PP-OCRv4) read "Iced" as
# "lced" in 11 of 180 bench renders. Crossbars at the cap height and the baseline (as Verdana, IBM Plex Sans and
# DejaVu Sans Mono draw their I) tell the two apart; they stay inside the glyph's advance plus the hero's tracking.
SERIF_WIDTH = 0.30  # em, the whole crossbar (the stem is 0.16 em)
SERIF_THICKNESS = 0.09  # em (Poppins Bold's horizontal strokes are ~0.1 em)
# Its "$" read "S" by the service's recogniser in every render (as in every heavy face tried): the bar through the S
# is what tells them apart, so it is drawn whole and heavy, 0.13 em wide, 0.06 em beyond the S at both ends
# (5 copies x 3 backgrounds: 0.08 em, not through: 0 of 15 read "$"; 0.10 em: ~2/3; 0.13 em reaching 0.06 em: 14 of
# 15; wider or longer bars read "8" more often: test_the_display_face_reads_its_dollar_sign_back).
DOLLAR_BAR_WIDTH, DOLLAR_BAR_REACH = 0.13, 0.06


@lru_cache(maxsize=256)
def _ink(path: str, size: int, ch: str) -> tuple[int, int, int, int] | None:
    """Ink box (x0, top, x1, bottom) of one glyph relative to its pen position on the baseline; None if blank."""
    font = load_font(path, size)
    pad = 2 * size
    img = Image.new("L", (4 * size, 4 * size), 0)
    ImageDraw.Draw(img).text((pad, pad), ch, font=font, fill=255, anchor="ls")
    ys, xs = np.nonzero(np.asarray(img) > 127)
    if not len(xs):
        return None
    return int(xs.min()) - pad, int(ys.min()) - pad, int(xs.max()) + 1 - pad, int(ys.max()) + 1 - pad


@lru_cache(maxsize=256)
def marks(path: str | None, size: int, ch: str) -> tuple[tuple[int, int, int, int], ...]:
    """Rectangles (x0, y0, x1, y1, relative to the pen position on the baseline) drawn with this glyph."""
    if ch not in "I$" or not path or path != display_font_path():
        return ()
    ink = _ink(path, size, ch)
    if ink is None:
        return ()
    x0, top, x1, bottom = ink
    if ch == "$":
        half, reach = DOLLAR_BAR_WIDTH * size / 2, DOLLAR_BAR_REACH * size
        c = (x0 + x1) / 2
        return ((round(c - half), round(top - reach), round(c + half), round(bottom + reach)),)
    centre, half = (x0 + x1) / 2, SERIF_WIDTH * size / 2
    t = max(1, round(SERIF_THICKNESS * size))
    left, right = round(centre - half), round(centre + half)
    return (left, top, right, top + t), (left, bottom - t, right, bottom)


def has_marks(line: str, path: str | None, size: int) -> bool:
    """True when some glyph of the line is drawn with marks (so the line is drawn glyph by glyph)."""
    return any(marks(path, size, ch) for ch in set(line))
