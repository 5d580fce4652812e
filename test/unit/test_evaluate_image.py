"""Unit tests for rendering, readability and overlap evaluation of ad copy (no database)."""
import time

import numpy as np
import pytest

from services.imaging import iou, readability
from services.imaging.contrast import parse_hex
from services.imaging.fonts import load_font
from services.imaging.imageio import load_rgb
from services.imaging.overlay import render, text_mask
from services.imaging.planner import plan
from services.imaging.saliency import saliency_map
from test.unit.samples import DETECTIONS, SAMPLES, TEXT_EN, TEXT_KO

METRIC_KEYS = {"value", "unit", "direction", "threshold", "passed", "gates", "description"}


def _check_shape(result: dict) -> None:
    """Every entry but the top-level "passed" is a self-describing metric."""
    assert isinstance(result["passed"], bool)
    for name, m in result.items():
        if name != "passed":
            assert set(m) == METRIC_KEYS, name


def _paint(rgb: np.ndarray, layout: dict, text: str) -> np.ndarray:
    """Composite the layout's glyphs in its colour, with no effect at all."""
    alpha = text_mask(rgb.shape, layout, text)[..., None].astype(np.float32) / 255.0
    out = rgb * (1 - alpha) + np.array(parse_hex(layout["colour"]), np.float32) * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# --- render + readability on photos ----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(DETECTIONS))
@pytest.mark.parametrize("text", [TEXT_EN, TEXT_KO])
def test_rendered_copy_is_readable_and_clear_of_objects(name, text):
    rgb = load_rgb(SAMPLES / f"{name}.png")
    sal = saliency_map(rgb)
    best = plan(rgb, sal, DETECTIONS[name], text)[0]
    out, layout = render(rgb, text, best)
    assert out.shape == rgb.shape and not np.array_equal(out, rgb)
    assert set(layout) >= {"box", "font", "font_size", "colour", "effects", "lines", "align", "contrast_before",
                           "contrast_after", "text_mask_bbox"}
    assert layout["font"] == "NotoSansKR-Regular.otf" and layout["font_size"] >= 14
    assert layout["lines"] == best["lines"]  # the planned line breaks survive rendering
    ev = readability.evaluate(out, layout, text)
    _check_shape(ev)
    assert ev["contrast_ratio"]["value"] >= 4.5  # measured on the rendered pixels, worst case
    assert ev["passed"]
    # The evaluation measures the same thing the renderer promised.
    assert ev["contrast_ratio"]["value"] == pytest.approx(layout["contrast_after"], rel=0.02)
    ov = iou.evaluate(layout["box"], DETECTIONS[name], sal)
    _check_shape(ov)
    assert ov["max_ioa"]["value"] <= 0.1 and ov["passed"]
    # Pixels change only around the text (the crop), never elsewhere.
    x1, y1, x2, y2 = layout["text_mask_bbox"]
    changed = np.argwhere(np.any(out != rgb, axis=2))
    pad = layout["font_size"]
    assert changed[:, 0].min() >= y1 - pad and changed[:, 0].max() < y2 + pad
    assert changed[:, 1].min() >= x1 - pad and changed[:, 1].max() < x2 + pad


# --- hard backgrounds need an effect ---------------------------------------------------------------

def _half_black_white() -> np.ndarray:
    bg = np.zeros((300, 600, 3), dtype=np.uint8)
    bg[:, 300:] = 255
    return bg


def _noise() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (300, 600, 3), dtype=np.uint8)


@pytest.mark.parametrize("bg_name", ["half", "noise"])
@pytest.mark.parametrize("effects", [("stroke", "shadow", "scrim"), ("shadow", "scrim"), ("scrim",)])
def test_effect_raises_measured_contrast_on_hard_backgrounds(bg_name, effects):
    bg = _half_black_white() if bg_name == "half" else _noise()
    proposal = {"box": [60, 120, 480, 50], "font_size": 36, "align": "center", "lines": [TEXT_EN]}
    out, layout = render(bg, TEXT_EN, proposal, effects=effects)
    assert layout["contrast_before"] < 4.5
    assert layout["effects"] and layout["effects"][0]["type"] in effects
    assert layout["contrast_after"] > layout["contrast_before"]
    ev = readability.evaluate(out, layout, TEXT_EN)
    assert ev["contrast_ratio"]["value"] >= 4.5 and ev["passed"]


def test_no_effect_when_plain_text_already_contrasts():
    bg = np.full((200, 400, 3), 240, dtype=np.uint8)
    out, layout = render(bg, TEXT_EN, {"box": [20, 70, 360, 40], "font_size": 28, "align": "left"})
    assert layout["effects"] == [] and layout["contrast_before"] >= 4.5
    assert sum(parse_hex(layout["colour"])) < 100  # dark text on a light background


# --- deliberately unreadable text ------------------------------------------------------------------

def test_tiny_low_contrast_text_fails_readability():
    bg = np.full((300, 500, 3), 0x88, dtype=np.uint8)
    layout = {"box": [40, 140, 200, 12], "lines": ["Fresh espresso"], "font_size": 8, "align": "left",
              "colour": "#808080", "effects": []}
    ev = readability.evaluate(_paint(bg, layout, "Fresh espresso"), layout, "Fresh espresso")
    assert not ev["passed"]
    assert ev["contrast_ratio"]["value"] < 1.2 and not ev["contrast_ratio"]["passed"]
    assert not ev["text_height_px"]["passed"]
    assert abs(ev["apca_lc"]["value"]) < 15


def test_large_but_low_contrast_text_still_fails():
    bg = np.full((300, 500, 3), 0x88, dtype=np.uint8)
    layout = {"box": [40, 120, 420, 50], "lines": ["Fresh espresso"], "font_size": 40, "align": "left",
              "colour": "#a0a0a0", "effects": []}
    ev = readability.evaluate(_paint(bg, layout, "Fresh espresso"), layout, "Fresh espresso")
    assert ev["large_text"]["value"] is True and ev["threshold"]["value"] == 3.0
    assert ev["text_height_px"]["passed"] and not ev["passed"]


# --- Korean ----------------------------------------------------------------------------------------

def test_korean_renders_real_glyphs_not_tofu():
    shape = (120, 400, 3)
    layout = {"box": [20, 30, 360, 60], "lines": ["맛있는"], "font_size": 48, "align": "left"}
    hangul = text_mask(shape, layout, "맛있는") > 127
    notdef = text_mask(shape, dict(layout, lines=["\U0010fffd" * 3]), "\U0010fffd" * 3) > 127
    assert hangul.sum() > 200 and notdef.sum() > 0
    jaccard = (hangul & notdef).sum() / (hangul | notdef).sum()
    assert jaccard < 0.5  # the .notdef box glyph looks nothing like Hangul
    # Three different syllables give three different masks (tofu would repeat one box).
    font = load_font(None, 48)
    masks = [np.asarray(font.getmask(ch)) for ch in "맛있는"]
    assert len({m.tobytes() for m in masks}) == 3
    assert np.asarray(font.getmask("맛")).tobytes() != np.asarray(font.getmask("\U0010fffd")).tobytes()


# --- IoU / IoA / Occ -------------------------------------------------------------------------------

def test_iou_ioa_on_constructed_boxes():
    sal = np.zeros((100, 100), dtype=np.float32)
    same = iou.evaluate([10, 10, 20, 20], [{"box": [10, 10, 30, 30], "label": "a", "score": 1.0}], sal)
    assert same["max_iou"]["value"] == pytest.approx(1.0) and same["max_ioa"]["value"] == pytest.approx(1.0)
    assert not same["passed"]
    apart = iou.evaluate([0, 0, 10, 10], [{"box": [50, 50, 60, 60], "label": "a", "score": 1.0}], sal)
    assert apart["max_iou"]["value"] == 0.0 and apart["max_ioa"]["value"] == 0.0 and apart["passed"]
    half = iou.evaluate([0, 0, 10, 10], [{"box": [5, 0, 15, 10], "label": "a", "score": 1.0},
                                         {"box": [90, 90, 99, 99], "label": "b", "score": 0.5}], sal)
    assert half["max_iou"]["value"] == pytest.approx(1 / 3, abs=1e-6)  # 50 / (100 + 100 - 50)
    assert half["max_ioa"]["value"] == pytest.approx(0.5, abs=1e-6)
    per = half["per_detection"]["value"]
    assert [d["label"] for d in per] == ["a", "b"] and per[1]["iou"] == 0.0
    # A big detection fully containing the text: IoU small but IoA 1.
    inside = iou.evaluate([40, 40, 10, 10], [{"box": [0, 0, 100, 100], "label": "bg", "score": 1.0}], sal)
    assert inside["max_iou"]["value"] == pytest.approx(0.01) and inside["max_ioa"]["value"] == 1.0


def test_occ_on_constructed_saliency():
    sal = np.zeros((100, 100), dtype=np.float32)
    sal[:, 50:] = 1.0
    assert iou.evaluate([40, 0, 20, 10], [], sal)["occ"]["value"] == pytest.approx(0.5)
    calm = iou.evaluate([0, 0, 40, 40], [], sal)
    assert calm["occ"]["value"] == 0.0 and calm["passed"] and calm["max_ioa"]["value"] == 0.0
    busy = iou.evaluate([60, 0, 30, 30], [], sal)
    assert busy["occ"]["value"] == 1.0 and not busy["passed"] and not busy["occ"]["passed"]


def _timing() -> None:
    """Print plan/render/readability/iou timings on a 1024x1024 astronaut (not a test)."""
    import cv2

    rgb = cv2.resize(load_rgb(SAMPLES / "astronaut.png"), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    sal = saliency_map(rgb)
    dets = [{"box": [40, 20, 740, 1024], "label": "person", "score": 0.9}]
    for text in (TEXT_EN, TEXT_KO):
        def best_of(fn, n=7):
            fn()  # warm caches (fonts, widths) as a running service would have them
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                result = fn()
                times.append(time.perf_counter() - t0)
            return result, 1000 * float(np.median(times))

        cands, t_plan = best_of(lambda: plan(rgb, sal, dets, text))
        (out, layout), t_render = best_of(lambda: render(rgb, text, cands[0]))
        _, t_read = best_of(lambda: readability.evaluate(out, layout, text))
        _, t_iou = best_of(lambda: iou.evaluate(layout["box"], dets, sal))
        print(f"{text[:16]!r:20} plan {t_plan:6.1f} ms  render {t_render:5.1f} ms  "
              f"readability {t_read:5.1f} ms  iou {t_iou:5.2f} ms  ({len(cands)} candidates, "
              f"{layout['font_size']} px, effects {[e['type'] for e in layout['effects']]})")


if __name__ == "__main__":
    _timing()
