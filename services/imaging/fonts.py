"""Font lookup, cached loading, legibility floor, line metrics and word wrapping for ad copy."""
import math
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

REF_SIZE = 100  # widths are measured once at this size and scaled, which is linear enough for planning
LINE_SPACING = 1.25  # baseline-to-baseline distance in em; Hangul needs more leading than Latin's 1.2
MIN_FONT_PX = 14  # absolute legibility floor on small images
MIN_FONT_FRACTION = 0.022  # ... and relative floor: 2.2 % of the image height

# Tall and deep glyphs (accented capitals, descenders, a bar, Hangul) give the ink extents of a line.
_PROBE = "ÅÉÇgjpqy|맛있는한글"
# Hangul syllables, Jamo and compatibility Jamo blocks.


def default_font_path() -> str:
    """Path of Noto Sans KR from pylopdf_fonts_ko, which covers both Latin and Hangul."""
    import pylopdf_fonts_ko  # imported lazily so a missing package fails only where fonts are used

    return str(pylopdf_fonts_ko.sans_path())


def display_font_path() -> str:
    """Poppins Bold (OFL, the fontpkg-poppins package): the heavy Latin display face of hero lines."""
    import fontpkg_poppins

    return str(fontpkg_poppins.ROOT / "files" / "Poppins-Bold.ttf")


@lru_cache(maxsize=256)
def _truetype(path: str, size: int) -> ImageFont.FreeTypeFont:
    """Open one font face at one pixel size (cached: parsing an OTF costs milliseconds)."""
    return ImageFont.truetype(path, size)


def load_font(path: str | None, size: int) -> ImageFont.FreeTypeFont:
    """Cached ImageFont.truetype for `path` (None means the default font) at `size` px."""
    return _truetype(path or default_font_path(), max(1, int(size)))


def min_font_px(image_height: int) -> int:
    """Smallest font size (px) we accept for ad copy on an image of this height."""
    return max(MIN_FONT_PX, math.ceil(MIN_FONT_FRACTION * image_height))


@lru_cache(maxsize=32)
def ink_extents(path: str | None) -> tuple[float, float]:
    """(ascent, descent) of the tallest/deepest probe glyphs as fractions of the em size."""
    left, top, right, bottom = load_font(path, REF_SIZE).getbbox(_PROBE, anchor="ls")
    return -top / REF_SIZE, bottom / REF_SIZE


def line_height_px(size: int) -> int:
    """Baseline-to-baseline distance for a font size."""
    return max(1, round(LINE_SPACING * size))


def first_baseline_px(size: int, path: str | None) -> int:
    """Offset from the block top to the first baseline, so the tallest glyph just fits."""
    return math.ceil(ink_extents(path)[0] * size)


def block_height_px(n_lines: int, size: int, path: str | None) -> int:
    """Height of a text block of n lines: leading between lines plus ink extents of the first and last."""
    ascent, descent = ink_extents(path)
    return (n_lines - 1) * line_height_px(size) + math.ceil(ascent * size) + math.ceil(descent * size)


@lru_cache(maxsize=4096)
def ref_length(path: str | None, s: str) -> float:
    """Advance width of a string at REF_SIZE (cached: the planner measures the same lines many times)."""
    return load_font(path, REF_SIZE).getlength(s)


def wrap_text(text: str, measure: Callable[[str], float], max_width: float, break_words: bool = False) -> list[str]:
    """Greedy word wrap; explicit newlines are kept; long words are split by character only if break_words."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split()
        if not words:
            continue
        current = ""
        for word in words:
            trial = f"{current} {word}" if current else word
            if measure(trial) <= max_width or not current and not break_words:
                current = trial  # an unbreakable long word gets its own (overflowing) line
                continue
            if current:
                lines.append(current)
            current = word
            if break_words and measure(word) > max_width:
                # Hangul may break between syllables; split greedily by character.
                piece = ""
                for ch in word:
                    if piece and measure(piece + ch) > max_width:
                        lines.append(piece)
                        piece = ch
                    else:
                        piece += ch
                current = piece
        if current:
            lines.append(current)
    return lines


@lru_cache(maxsize=64)
def font_file_name(path: str | None) -> str:
    """File name of the font actually used (for layout records; cached: every candidate's styles name it)."""
    return Path(path or default_font_path()).name


def _font_key(name: str) -> str:
    """A font name compared loosely: "Noto Sans KR", "NotoSansKR-Regular.otf" and "notosanskr" are one."""
    key = re.sub(r"[\s_-]+", "", Path(name).name.lower())
    key = re.sub(r"\.(otf|ttf|ttc)$", "", key)
    return key.removesuffix("regular")


def shipped_fonts() -> dict[str, str]:
    """Fonts a caller may name (font_name): Noto Sans KR and Noto Serif KR (Hangul and Latin), the display face."""
    import pylopdf_fonts_ko

    return {"NotoSansKR-Regular": str(pylopdf_fonts_ko.sans_path()),
            "NotoSerifKR-Regular": str(pylopdf_fonts_ko.serif_path()),
            "Poppins-Bold": display_font_path()}


def font_by_name(name: str, configured: str | None = None) -> str | None:
    """Path of a shipped (or the configured) font by a loose name; None when unknown."""
    fonts = dict(shipped_fonts())
    if configured:
        fonts[Path(configured).stem] = configured
    return next((path for known, path in fonts.items() if _font_key(known) == _font_key(name)), None)


def font_path_of(layout: dict, default: str | None) -> str | None:
    """The font a layout was rendered with (its recorded file name), so evaluations measure the same glyphs."""
    name = layout.get("font")
    if not name or name == font_file_name(default):
        return default
    return font_by_name(name, default) or default


@lru_cache(maxsize=16)
def covers_hangul(path: str | None) -> bool:
    """True when the font draws Hangul syllables rather than its .notdef box."""
    font = load_font(path, 32)
    def glyph(ch: str) -> bytes:
        mask = font.getmask(ch)
        return repr(mask.size).encode() + bytes(mask)  # size and pixels: equal for every missing glyph

    return all(glyph(ch) != glyph("\U0010fffd") for ch in "한글")
