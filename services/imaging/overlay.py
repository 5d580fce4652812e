"""Draw ad copy into a planned box: fitted size, wrapping, contrast-chosen colour, cheapest sufficient effect."""
import functools
import math

import cv2
import numpy as np
from PIL import Image, ImageDraw

from services.errors import InputError
from services.imaging.contrast import best_text_colour, hex_colour, opposite_colour, worst_case_ratio
from services.imaging.fonts import (
    block_height_px,
    first_baseline_px,
    font_by_name,
    font_file_name,
    ink_extents,
    line_height_px,
    load_font,
    min_font_px,
    wrap_text,
)
from services.imaging.glyphs import has_marks, marks
from services.imaging.hierarchy import baselines, scale_of, shape_of
from services.imaging.typescale import WIDTH_SLACK, balanced_wrap, largest_fitting, size_range
from services.text.hangul import has_hangul

WCAG_TARGET = 4.5
SCRIM_ALPHAS = (0.45, 0.6, 0.75, 0.9)  # tried in order: the lightest scrim that is enough wins
# Plain where the photo alone gives WCAG 4.5, else the lightest plate that does: no outline, no shadow unless a caller
# asks for them. Outlined, the contour over a comma read as a semicolon ("espresso;": the service's reader in 4 of the
# quality bench's 45 medium copies at the generated size) and "morning" as "Iorning"; shadowed, the second reader
# joined support words. With plates only the service's reader read 100 % of the bench in every format.
EFFECT_ORDER = ("scrim",)
# A block with a display line gets neither even when asked: the dark contour around a heavy light glyph reads as a
# letter of its own (measured on the bench: outlined "off" read "@ff", "30%" read "309"). Nor a soft shadow: its halo
# fills the gap between a heavy face's words on a textured photo, and the second reader read "30%off" (3 of the 15
# offer copies in 1:1); on a plate the same renders read "30% off".
DISPLAY_EFFECTS = ("scrim",)


def ring_radius(font_size: int) -> int:
    """Width of the background ring measured around glyphs: what the eye sees right next to a stroke."""
    return max(1, round(0.06 * font_size))


def glyph_ring(mask: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within `radius` of any inked pixel but not inked themselves (bool)."""
    ink = (mask > 0).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return (cv2.dilate(ink, kernel) > 0) & (ink == 0)


def _same_words(lines: list[str], text: str) -> bool:
    """True when planned lines are a wrapping of exactly this text."""
    return " ".join(lines).split() == text.split()


def fit_text(text: str, w: int, h: int, font_path: str | None, floor: int, hi: int,
             lines_hint: list[str] | None = None) -> tuple[int, list[str], bool]:
    """Largest size in [floor, hi] whose wrapped text fits w x h: (size, lines, fits)."""
    breakable = has_hangul(text)

    def layout(size: int, hint: bool) -> tuple[list[str], bool]:
        # The balanced wrap measures the same prefixes ~14 times over: measure each once (~80 -> ~20 ms a render).
        measure = functools.lru_cache(maxsize=None)(load_font(font_path, size).getlength)
        lines = lines_hint if hint and lines_hint else balanced_wrap(text, measure, w, breakable)
        ok = max(measure(x) for x in lines) <= w and block_height_px(len(lines), size, font_path) <= h
        return lines, ok

    def largest(hint: bool) -> tuple[int, list[str], bool]:
        tried: dict[int, list[str]] = {}

        def fits(size: int) -> bool:
            tried[size], ok = layout(size, hint)
            return ok
        size = largest_fitting(floor, max(floor, hi), fits)
        return (floor, tried[floor], False) if size is None else (size, tried[size], True)

    free = largest(False)
    if lines_hint:
        # The planner's line breaks follow the type scale's line rules: keep them whenever they fit.
        planned = largest(True)
        if planned[2]:
            return planned
    return free  # when nothing fits, the floor wins over the box: legibility first, fits=False


def _style_font(style: dict, font_path: str | None) -> str | None:
    """Path of a line style's font (a shipped face by its file name), else the layout's font."""
    name = style.get("font")
    if not name or name == font_file_name(font_path):
        return font_path
    return font_by_name(name, font_path) or font_path


def _line_starts(layout: dict, lines: list[str], font, font_path: str | None) -> list[tuple]:
    """(line, left x before rounding, baseline y, font, tracking px, extra word space px) of each line, in image
    pixels: the one placement."""
    size = int(layout["font_size"])
    bx, by, bw, _ = layout["box"]
    styles = layout.get("styles")
    if styles and len(styles) == len(lines):
        paths = [_style_font(st, font_path) for st in styles]
        fonts = [load_font(p, int(st["size"])) for p, st in zip(paths, styles)]
        tracks = [float(st.get("tracking_px") or 0.0) for st in styles]
        spaces = [float(st.get("word_space_px") or 0.0) for st in styles]
        bases = baselines([int(st["size"]) for st in styles], [st.get("role", "support") for st in styles], paths)
    else:
        first = first_baseline_px(size, font_path)
        fonts, tracks, spaces = [font] * len(lines), [0.0] * len(lines), [0.0] * len(lines)
        bases = [first + i * line_height_px(size) for i in range(len(lines))]
    out = []
    for line, f, t, ws, base in zip(lines, fonts, tracks, spaces, bases):
        lw = f.getlength(line) + _spacing(line, len(line), t, ws)
        shift = {"left": 0.0, "center": (bw - lw) / 2, "right": bw - lw}[layout.get("align", "left")]
        out.append((line, bx + shift, by + base, f, t, ws))
    return out


def _spacing(line: str, i: int, track: float, word_space: float) -> float:
    """Letter- and word-spacing added before the i-th character of a line (px)."""
    return i * track + line[:i].count(" ") * word_space


def _draw_mask(size_wh: tuple[int, int], layout: dict, origin: tuple[int, int], font_path: str | None,
               stroke: int = 0) -> np.ndarray:
    """Anti-aliased glyph (or glyph+outline) coverage of a layout on a crop whose top-left is `origin`."""
    font = load_font(font_path, int(layout["font_size"]))
    img = Image.new("L", size_wh, 0)
    draw = ImageDraw.Draw(img)
    for line, x, base, f, track, ws in _line_starts(layout, layout["lines"], font, font_path):
        if not track and not ws and not has_marks(line, f.path, f.size):
            # Rounded in the image's pixels, then moved into the crop: rounding x - origin (half to even) put the
            # glyphs 1 px apart in the renderer's and an evaluation's crops, and the ring then measured glyph edges.
            draw.text((round(x) - origin[0], base - origin[1]), line, font=f, fill=255, anchor="ls",
                      stroke_width=stroke, stroke_fill=255)
            continue
        for i, ch in enumerate(line):  # letter-spacing: each glyph at its kerned advance plus the spacing
            if not ch.isspace():
                gx = round(x + f.getlength(line[:i]) + _spacing(line, i, track, ws)) - origin[0]
                draw.text((gx, base - origin[1]), ch, font=f, fill=255, anchor="ls", stroke_width=stroke,
                          stroke_fill=255)
                for mx0, my0, mx1, my1 in marks(f.path, f.size, ch):  # e.g. the crossbars of the display face's I
                    draw.rectangle((gx + mx0 - stroke, base - origin[1] + my0 - stroke, gx + mx1 - 1 + stroke,
                                    base - origin[1] + my1 - 1 + stroke), fill=255)
    return np.asarray(img)


def word_boxes(layout: dict, font_path: str | None) -> list[list[tuple[float, float, float, float]]]:
    """Each line's word boxes (x0, y0, x1, y1: advance width by ascent..descent), where _draw_mask draws them."""
    size = int(layout["font_size"])
    font = load_font(font_path, size)
    lines = layout.get("lines") or wrap_text(layout["text"], font.getlength, layout["box"][2], has_hangul(layout["text"]))
    out = []
    for line, x, base, f, track, ws in _line_starts(layout, lines, font, font_path):
        ascent, descent = ink_extents(f.path)
        boxes, pos = [], 0
        for word in line.split():
            start = line.index(word, pos)
            pos = start + len(word)
            x0 = round(x) + f.getlength(line[:start]) + _spacing(line, start, track, ws)
            boxes.append((x0, base - ascent * f.size, x0 + f.getlength(word) + len(word) * track,
                          base + descent * f.size))
        out.append(boxes)
    return out


def _crop_rect(shape: tuple[int, ...], layout: dict, pad: int) -> tuple[int, int, int, int]:
    """Block box grown by pad and clipped to the image: x0, y0, x1, y1."""
    H, W = shape[:2]
    bx, by, bw, bh = layout["box"]
    return max(0, bx - pad), max(0, by - pad), min(W, bx + bw + pad), min(H, by + bh + pad)


def text_mask_crop(shape: tuple[int, ...], layout: dict, text: str, font_path: str | None = None,
                   pad: int | None = None) -> tuple[np.ndarray, int, int]:
    """Glyph coverage (uint8) on a crop around the text block, with the crop's top-left x, y."""
    layout = dict(layout)
    if not layout.get("lines"):
        font = load_font(font_path, int(layout["font_size"]))
        layout["lines"] = wrap_text(text, font.getlength, layout["box"][2], has_hangul(text))
    pad = pad if pad is not None else math.ceil(0.5 * int(layout["font_size"])) + 2
    x0, y0, x1, y1 = _crop_rect(shape, layout, pad)
    return _draw_mask((x1 - x0, y1 - y0), layout, (x0, y0), font_path), x0, y0


def text_mask(shape: tuple[int, ...], layout: dict, text: str, font_path: str | None = None) -> np.ndarray:
    """Full-size uint8 glyph coverage (0-255) of a rendered layout, to find the text pixels again."""
    crop, x0, y0 = text_mask_crop(shape, layout, text, font_path)
    full = np.zeros(shape[:2], dtype=np.uint8)
    full[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
    return full


def _blend(base: np.ndarray, colour: tuple[int, int, int], alpha: np.ndarray) -> np.ndarray:
    """Alpha-composite a flat colour over a float32 crop."""
    a = alpha[..., None]
    return base * (1.0 - a) + np.asarray(colour, dtype=np.float32) * a


def render(rgb: np.ndarray, text: str, proposal: dict, font_path: str | None = None,
           effects: tuple[str, ...] = EFFECT_ORDER, display: bool = True) -> tuple[np.ndarray, dict]:
    """Draw the copy into proposal["box"] (with the planned hierarchy unless display=False): image, layout record."""
    if not text or not text.strip():
        raise InputError("ad copy is empty")
    H, W = rgb.shape[:2]
    x, y, w, h = (int(v) for v in proposal["box"])
    x, y = min(max(0, x), W - 1), min(max(0, y), H - 1)
    w, h = max(1, min(w, W - x)), max(1, min(h, H - y))
    floor = min_font_px(H)
    if proposal.get("fits") is False and proposal.get("font_size"):
        floor = max(1, min(floor, int(proposal["font_size"])))  # the planner shrank it to keep every word
    hint = proposal.get("lines") if proposal.get("lines") and _same_words(proposal["lines"], text) else None
    roles = proposal.get("roles")
    styles = None
    if display and hint and roles and len(roles) == len(hint):
        # The planner's hierarchy (hero + support lines, display face): kept, at the largest size that fits.
        shape = shape_of(hint, roles, font_path, W, H)
        scale_floor, _, _, scale_hi = scale_of(text, W, H, font_path)
        start = max(1, min(int(proposal.get("font_size") or scale_hi), scale_hi))
        size = shape.fit(w, h, start)
        fits = size >= floor
        size = max(size, min(floor, start))
        lines, styles = list(hint), shape.styles(size)
        font = load_font(font_path, size)
        bw = math.ceil(max(shape.line_widths(size)) / WIDTH_SLACK)
        bh = shape.height(size)
    else:
        # Never above the type scale's step for this copy (nor the planned size): the scale, not the box, sets it.
        scale_floor, _, _, scale_hi = size_range(text, W, H, font_path)
        start = min(int(proposal.get("font_size") or h), scale_hi)
        size, lines, fits = fit_text(text, w, h, font_path, floor, max(floor, min(h, start)), hint)
        font = load_font(font_path, size)
        bw = math.ceil(max(font.getlength(line) for line in lines))
        bh = block_height_px(len(lines), size, font_path)
    align = proposal.get("align", "left")
    bx = x + {"left": 0, "center": (w - bw) // 2, "right": w - bw}.get(align, 0)
    by = y + {"top": 0, "bottom": h - bh}.get(proposal.get("y_align"), (h - bh) // 2)  # default: middle
    bx, by = min(max(0, bx), max(0, W - bw)), min(max(0, by), max(0, H - bh))  # overflow stays on canvas
    layout = {"box": [int(bx), int(by), int(bw), int(bh)], "lines": lines, "font_size": size, "align": align}
    if styles:
        layout["styles"] = styles

    if styles and any(st["role"] == "hero" for st in styles):
        effects = tuple(e for e in effects if e in DISPLAY_EFFECTS)
    r = ring_radius(size)
    stroke = r + 1  # the measuring ring lies inside the outline, so the outline is what gets measured
    scrim_pad = max(4, round(0.3 * size))
    x0, y0, x1, y1 = _crop_rect(rgb.shape, layout, scrim_pad + stroke + 2 * r + 2)
    crop = rgb[y0:y1, x0:x1].astype(np.float32)
    glyph_u8 = _draw_mask((x1 - x0, y1 - y0), layout, (x0, y0), font_path)
    glyph = glyph_u8.astype(np.float32) / 255.0
    ring = glyph_ring(glyph_u8, r)
    if not ring.any():
        raise InputError("text box is outside the image")
    under = rgb[y0:y1, x0:x1][ring | (glyph_u8 > 0)]  # the photo under the glyphs and right around them
    colour, _ = best_text_colour(under)
    partner = opposite_colour(colour)
    before = worst_case_ratio(colour, rgb[y0:y1, x0:x1][ring])

    def finish(base: np.ndarray) -> tuple[np.ndarray, float]:
        out = np.clip(_blend(base, colour, glyph) + 0.5, 0, 255).astype(np.uint8)
        return out, worst_case_ratio(colour, out[ring])

    trials: list[tuple[list[dict], np.ndarray, float]] = []
    plain, plain_ratio = finish(crop)
    trials.append(([], plain, plain_ratio))
    ratio = plain_ratio
    if ratio < WCAG_TARGET and ("stroke" in effects or "shadow" in effects):
        outline = _draw_mask((x1 - x0, y1 - y0), layout, (x0, y0), font_path, stroke).astype(np.float32) / 255.0
        if "stroke" in effects:
            out, ratio = finish(_blend(crop, partner, outline))
            trials.append(([{"type": "stroke", "width": stroke, "colour": hex_colour(partner)}], out, ratio))
        if ratio < WCAG_TARGET and "shadow" in effects:
            off = max(1, round(0.04 * size))
            sigma = max(1.0, 0.5 * stroke)
            halo = cv2.GaussianBlur(outline, (0, 0), sigma)
            halo = np.clip(halo * 1.6, 0, 1) * 0.9  # soft but dense next to the glyph
            halo = cv2.warpAffine(halo, np.array([[1, 0, off], [0, 1, off]], dtype=np.float32), (x1 - x0, y1 - y0))
            out, ratio = finish(_blend(crop, partner, halo))
            trials.append(([{"type": "shadow", "offset": off, "blur_sigma": round(sigma, 2), "opacity": 0.9,
                             "colour": hex_colour(partner)}], out, ratio))
    if ratio < WCAG_TARGET and "scrim" in effects:
        for alpha in SCRIM_ALPHAS:
            box = np.zeros(glyph.shape, dtype=np.uint8)
            sx0, sy0 = bx - scrim_pad - x0, by - scrim_pad - y0
            sx1, sy1 = bx + bw + scrim_pad - x0, by + bh + scrim_pad - y0
            cv2.rectangle(box, (sx0, sy0), (sx1 - 1, sy1 - 1), 1, thickness=-1)
            out, ratio = finish(_blend(crop, partner, box.astype(np.float32) * alpha))
            scrim_box = [int(sx0 + x0), int(sy0 + y0), int(sx1 - sx0), int(sy1 - sy0)]
            trials.append(([{"type": "scrim", "alpha": alpha, "box": scrim_box, "colour": hex_colour(partner)}],
                           out, ratio))
            if ratio >= WCAG_TARGET:
                break
    # First trial that reaches the target (they are ordered cheapest first), else the best one.
    chosen, out, after = next((t for t in trials if t[2] >= WCAG_TARGET), max(trials, key=lambda t: t[2]))
    result = rgb.copy()
    result[y0:y1, x0:x1] = out
    ys, xs = np.nonzero(glyph_u8)
    layout.update({
        "font": font_file_name(font_path), "colour": hex_colour(colour), "effects": chosen,
        "contrast_before": round(before, 3), "contrast_after": round(after, 3),
        "text_mask_bbox": [int(xs.min() + x0), int(ys.min() + y0), int(xs.max() + x0 + 1), int(ys.max() + y0 + 1)],
        "line_height": line_height_px(size), "ring_px": r, "fits": fits,
        # Every word of the copy is drawn; copy_fits says whether that was possible at a legible size.
        "copy_fits": bool(fits and size >= scale_floor and proposal.get("fits", True)),
    })
    return result, layout
