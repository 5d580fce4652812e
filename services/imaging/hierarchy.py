"""Copy hierarchy: the offer as the hero line, short copy as one display block; per-role styles and block geometry."""
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

from services.imaging.fonts import REF_SIZE, display_font_path, font_file_name, ink_extents, ref_length
from services.imaging.typescale import (
    SCALE,
    WIDTH_SLACK,
    cap_ratio,
    largest_fitting,
    line_variants,
    lines_ok,
    size_range,
    step_for,
)
from services.text.hangul import has_hangul

# Per role: baseline-to-baseline distance (em) and letter-spacing (em). A display line is set tighter than body
# text; its tracking is positive because the recogniser (and a phone at arm's length) reads a heavy face's "!"
# as "l" when it sits tight against the letter before it (measured: Poppins Bold 0.00 em "todayl", 0.06 em "today!").
# Tried as the display face too, with a shadow instead of an outline: Arvo Bold (its serifed "I" ends the second
# reader's "lced") and DejaVu Sans Bold read "today!" as "todayl" at 0.03-0.06 em; Poppins Bold at 0.06 em does not.
LEADING = {"hero": 1.05, "support": 1.25}
TRACKING = {"hero": 0.06, "support": 0.0}
# Extra word space (em): the second reader joined a heavy face's words ("30%off": 14 of 180 renders at 0, 10 at
# 0.15 em; 0.3 em left 5 but read "lced" more often and cost the service's reader 2, and with the I's crossbars it
# split "espresso" into "e espresso": so 0.15 em), and the regular face's too ("alliced", "everymorning"). Support
# lines get 0.1 em: with the heroes on plates (overlay.DISPLAY_EFFECTS) the whole bench read 91 / 98 / 98 / 100 %
# exactly by the second reader (original / 1:1 / 4:5 / 9:16) against 89 / 96 / 98 / 98 % at 0.05 em, and the service's
# reader 98 / 96 / 98 / 100 % against 96 / 100 / 98 / 100 %. (With shadowed heroes, 0.1 em had moved three offer heroes
# to sizes where the service's reader read "309 off".)
WORD_SPACE = {"hero": 0.15, "support": 0.10}
HERO_RATIO = 1.7  # hero size over support size when the copy has an offer (capped by the display step)
# An offer, in order of priority; a date only counts when nothing else does (it is a deadline, not a deal).
OFFER_PATTERNS = (
    r"\d+(?:[.,]\d+)?\s?%(?:\s+off\b)?",  # 30% off
    r"[$€£₩]\s?\d[\d,]*(?:\.\d+)?|\d[\d,]*(?:\.\d+)?\s?(?:원|won\b)",  # $4.50, 12,000원
    r"\b\d\s?\+\s?\d\b",  # 1+1
    r"\bbuy\s+\d+,?\s+get\s+\d+(?:\s+free)?",  # buy 2 get 1 free
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\b|\b\d{1,2}/\d{1,2}\b",  # Dec 24, 12/24
)


def find_offer(text: str) -> tuple[int, int] | None:
    """(start, end) of the offer phrase in the text, widened to whole words; None when there is no offer."""
    for pattern in OFFER_PATTERNS:
        m = re.search(pattern, text, re.IGNORECASE)
        if m:
            start = m.start()
            while start > 0 and not text[start - 1].isspace():
                start -= 1
            end = m.end()
            while end < len(text) and not text[end].isspace():
                end += 1
            return start, end
    return None


@dataclass(frozen=True)
class Shape:
    """One way to set a copy: its lines, each line's role, and the block's size at a base (support) size."""

    lines: tuple[str, ...]
    roles: tuple[str, ...]
    fonts: tuple[str, ...]  # font path of each line
    hero_max: int = 0  # largest hero size (the display step's top); 0: the hero is the base size
    widths: tuple[float, ...] = field(default=(), compare=False)  # each line's advance at REF_SIZE, untracked
    ok: bool = True  # keeps the line rules (a shape that does not is only a last resort)

    def sizes(self, size: int) -> list[int]:
        """Each line's font size for a base size."""
        hero = size if not self.hero_max or all(r == "hero" for r in self.roles) else \
            max(size + 1, min(self.hero_max, round(HERO_RATIO * size)))
        return [hero if r == "hero" else size for r in self.roles]

    def line_widths(self, size: int) -> list[float]:
        """Planned width of each line at a base size (letter- and word-spacing included)."""
        return [(w * s / REF_SIZE + TRACKING[r] * s * len(line) + WORD_SPACE[r] * s * line.count(" ")) * WIDTH_SLACK
                for line, w, r, s in zip(self.lines, self.widths, self.roles, self.sizes(size))]

    def width(self, size: int) -> int:
        return math.ceil(max(self.line_widths(size))) + 1

    def baselines(self, size: int) -> list[int]:
        """Baseline of each line from the block top."""
        return baselines(self.sizes(size), self.roles, self.fonts)

    def height(self, size: int) -> int:
        sizes = self.sizes(size)
        return self.baselines(size)[-1] + math.ceil(ink_extents(self.fonts[-1])[1] * sizes[-1])

    def fit(self, rw: float, rh: float, s_max: int) -> int:
        """Largest base size (at least 1) whose block fits rw x rh."""
        hi = max(1, s_max)

        def fits(size: int) -> bool:
            return self.width(size) <= rw and self.height(size) <= rh
        if fits(hi):
            return hi
        return largest_fitting(1, hi, fits) or 1

    def styles(self, size: int) -> list[dict]:
        """Per-line style records for the layout (the renderer and every evaluation read them)."""
        return [{"role": r, "size": s, "font": font_file_name(f), "tracking_px": round(TRACKING[r] * s, 2),
                 "word_space_px": round(WORD_SPACE[r] * s, 2),
                 "leading": LEADING[r]} for r, s, f in zip(self.roles, self.sizes(size), self.fonts)]


def baselines(sizes: list[int], roles: list[str] | tuple[str, ...], fonts: list | tuple) -> list[int]:
    """Baselines from the block top: the first line's ascent, then the larger of both lines' leading (the mean left
    a support line's descenders 1 px above a hero's caps, and the recogniser read "sale:" as "sale;")."""
    out = [math.ceil(ink_extents(fonts[0])[0] * sizes[0])]
    for i in range(1, len(sizes)):
        out.append(out[-1] + max(1, round(max(LEADING[roles[i - 1]] * sizes[i - 1], LEADING[roles[i]] * sizes[i]))))
    return out


def _shape(lines: list[str], roles: list[str], fonts: list, hero_max: int, ok: bool = True) -> Shape:
    widths = tuple(ref_length(f, line) for line, f in zip(lines, fonts))
    return Shape(tuple(lines), tuple(roles), tuple(fonts), hero_max, widths, ok)


def hero_font(line: str, font_path: str | None) -> str | None:
    """The display face for a Latin line; a line with Hangul keeps the Hangul face (the display face has none)."""
    return font_path if has_hangul(line) else display_font_path()


@lru_cache(maxsize=256)
def _wrappings(text: str, font_path: str | None) -> tuple[tuple[str, ...], ...]:
    """Balanced wrappings of a support part that keep the line rules (all of them if none does)."""
    every = [tuple(v[0]) for v in line_variants(text, font_path)]
    return tuple(v for v in every if lines_ok(list(v), text)) or tuple(every)


def kind(text: str) -> str:
    """'offer' (an offer becomes the hero), 'display' (short copy: one display block) or 'plain'."""
    if find_offer(text) and len(text.split()) > 1:
        return "offer"
    return "display" if step_for(text) is not SCALE[-1] else "plain"


def _support_text(text: str) -> str:
    start, end = find_offer(text)  # type: ignore[misc]
    return " ".join(x for x in (text[:start].strip(), text[end:].strip()) if x) or text


def scale_of(text: str, width: int, height: int, font_path: str | None) -> tuple[int, int, int, int]:
    """The type scale's (floor, band_lo, step_lo, s_max) for the base size of this copy's shapes."""
    k = kind(text)
    if k == "offer":  # the base size is the support lines': their own step, and small enough for the hero to lead
        floor, band_lo, step_lo, s_max = size_range(_support_text(text), width, height, font_path)
        start, end = find_offer(text)  # type: ignore[misc]
        hero_max = math.floor(SCALE[0].cap_hi * min(width, height) / cap_ratio(hero_font(text[start:end], font_path)))
        s_max = max(band_lo, min(s_max, math.floor(hero_max / HERO_RATIO)))
        return floor, band_lo, min(step_lo, s_max), s_max
    return size_range(text, width, height, hero_font(text, font_path) if k == "display" else font_path)


def shapes(text: str, width: int, height: int, font_path: str | None) -> tuple[list[Shape], tuple[int, int, int, int]]:
    """Every shape the planner may try (those with ok=False only as a last resort) and the type scale's
    (floor, band_lo, step_lo, s_max) for their base size."""
    k = kind(text)
    plain = _regular_shapes(text, font_path)
    if k == "plain":
        return plain, scale_of(text, width, height, font_path)
    if k == "display":
        wrappings = [lines for lines, _ in line_variants(text, hero_font(text, font_path))]
        out = [_display_block(x, font_path) for x in wrappings if lines_ok(x, text) or len(text.split()) == 1] \
            or [_display_block(wrappings[0], font_path)]
        # A longer headline may take the regular face too (~15 % narrower: a calmer place); a display line only where
        # nothing else holds it (display_fallbacks).
        regular = [p for p in plain if p.ok] if step_for(text) is not SCALE[0] else []
        return out + regular, scale_of(text, width, height, font_path)
    start, end = find_offer(text)  # type: ignore[misc]
    before, hero, after = text[:start].strip(), " ".join(text[start:end].split()), text[end:].strip()
    hf = hero_font(hero, font_path)
    short = min(width, height)
    hero_max = math.floor(SCALE[0].cap_hi * short / cap_ratio(hf))
    out = []
    for top in (_wrappings(before, font_path) if before else ((),)):
        for bottom in (_wrappings(after, font_path) if after else ((),)):
            lines = [*top, hero, *bottom]
            roles = ["support"] * len(top) + ["hero"] + ["support"] * len(bottom)
            out.append(_shape(lines, roles, [font_path if r == "support" else hf for r in roles], hero_max))
    return out, scale_of(text, width, height, font_path)


def display_fallbacks(text: str, font_path: str | None) -> list[Shape]:
    """Short copy's shapes for when its display block fits nowhere at its step (a narrow strip beside the subject):
    a display line in the regular face (~15 % narrower; its Latin "I" reads as "l", so only then), and the display
    face stacked with one line of one word ("Iced coffee / season": a lone word is the line readers misread most)."""
    if kind(text) != "display":
        return []
    regular = [p for p in _regular_shapes(text, font_path) if p.ok] if step_for(text) is SCALE[0] else []
    stacked = [_display_block(lines, font_path) for lines, _ in line_variants(text, hero_font(text, font_path))
               if not lines_ok(lines, text) and sum(len(x.split()) == 1 for x in lines) == 1]
    return regular + stacked


def _regular_shapes(text: str, font_path: str | None) -> list[Shape]:
    """Every balanced wrapping in the configured face, as support lines (ok: keeps the line rules, or none can)."""
    variants = line_variants(text, font_path)
    good = {tuple(v[0]) for v in variants if lines_ok(v[0], text)} or {tuple(v[0]) for v in variants}
    return [_shape(v[0], ["support"] * len(v[0]), [font_path] * len(v[0]), 0, tuple(v[0]) in good) for v in variants]


def _display_block(lines: list[str], font_path: str | None) -> Shape:
    """Lines set as one display block: every line a hero in the display face (Hangul lines keep theirs)."""
    return _shape(lines, ["hero"] * len(lines), [hero_font(x, font_path) for x in lines], 0)


def shape_of(lines: list[str], roles: list[str], font_path: str | None, width: int, height: int) -> Shape:
    """The Shape of planned lines and roles (the renderer rebuilds the planner's block from its record)."""
    hf = hero_font(" ".join(x for x, r in zip(lines, roles) if r == "hero"), font_path)
    mixed = "support" in roles and "hero" in roles
    hero_max = math.floor(SCALE[0].cap_hi * min(width, height) / cap_ratio(hf)) if mixed else 0
    fonts = [hero_font(x, font_path) if r == "hero" else font_path for x, r in zip(lines, roles)]
    return _shape(lines, roles, fonts, hero_max)

