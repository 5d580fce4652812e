"""Unit tests for fonts, contrast maths and the text-box planner (no database)."""
from pathlib import Path

import numpy as np
import pytest

from services.errors import InputError
from services.imaging import iou
from services.imaging.contrast import (
    apca_lc,
    best_text_colour,
    luminance,
    relative_luminance,
    wcag_ratio,
    worst_case_ratio,
)
from services.imaging.fonts import default_font_path, load_font, min_font_px
from services.imaging.imageio import load_rgb
from services.imaging.planner import OVERLAP_PENALTY, plan
from services.imaging.saliency import saliency_map
from services.text.hangul import has_hangul
from test.unit.samples import DETECTIONS, SAMPLES, TEXT_EN, TEXT_KO


@pytest.fixture(scope="module", params=sorted(DETECTIONS))
def photo(request):
    """(name, rgb, saliency) for each sample photo."""
    rgb = load_rgb(SAMPLES / f"{request.param}.png")
    return request.param, rgb, saliency_map(rgb)


# --- fonts ---------------------------------------------------------------------------------------

def test_default_font_is_noto_sans_kr_and_cached():
    path = default_font_path()
    assert Path(path).is_file() and Path(path).name == "NotoSansKR-Regular.otf"
    assert load_font(None, 20) is load_font(path, 20)
    assert load_font(None, 20) is not load_font(None, 21)


def test_has_hangul():
    assert has_hangul("맛있는 coffee")
    assert not has_hangul("Fresh espresso 123 !")


def test_min_font_px_floor():
    assert min_font_px(400) == 14
    assert min_font_px(1024) == 23


# --- contrast ------------------------------------------------------------------------------------

def test_wcag_ratio_known_values():
    assert wcag_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0, abs=1e-6)
    assert wcag_ratio((255, 255, 255), (0, 0, 0)) == pytest.approx(21.0, abs=1e-6)
    assert wcag_ratio((120, 30, 200), (120, 30, 200)) == pytest.approx(1.0, abs=1e-9)
    assert wcag_ratio((0x77, 0x77, 0x77), (255, 255, 255)) == pytest.approx(4.48, abs=0.005)
    assert wcag_ratio((0x76, 0x76, 0x76), (255, 255, 255)) > 4.5  # the familiar AA edge


def test_vectorised_luminance_matches_scalar():
    px = np.random.default_rng(0).integers(0, 256, (50, 3), dtype=np.uint8)
    assert np.allclose(luminance(px), [relative_luminance(p) for p in px.astype(float)])


def test_apca_reference_values():
    assert apca_lc((0, 0, 0), (255, 255, 255)) == pytest.approx(106.04, abs=0.01)
    assert apca_lc((255, 255, 255), (0, 0, 0)) == pytest.approx(-107.88, abs=0.01)
    assert apca_lc((0x88, 0x88, 0x88), (255, 255, 255)) == pytest.approx(63.06, abs=0.01)
    assert apca_lc((100, 100, 100), (100, 100, 100)) == 0.0


def test_worst_case_is_robust_to_a_stray_pixel_but_not_to_a_patch():
    bg = np.full((1000, 3), 255, dtype=np.uint8)
    bg[0] = 0  # one stray black pixel next to black text
    assert worst_case_ratio((0, 0, 0), bg) > 20
    bg[:100] = 0  # a real dark patch (10 %) must decide the verdict
    assert worst_case_ratio((0, 0, 0), bg) < 1.1


def test_best_text_colour_picks_the_contrasting_side():
    dark, ratio = best_text_colour(np.full((100, 3), 25, dtype=np.uint8))
    assert relative_luminance(dark) > 0.8 and ratio >= 7
    light, ratio = best_text_colour(np.full((100, 3), 230, dtype=np.uint8))
    assert relative_luminance(light) < 0.05 and ratio >= 7


# --- planner -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [TEXT_EN, TEXT_KO])
def test_plan_prefers_calm_free_regions(photo, text):
    name, rgb, sal = photo
    dets = DETECTIONS[name]
    cands = plan(rgb, sal, dets, text)
    assert len(cands) >= 8
    assert [c["score"] for c in cands] == sorted((c["score"] for c in cands), reverse=True)
    best = cands[0]
    x, y, w, h = best["box"]
    assert 0 <= x and 0 <= y and x + w <= rgb.shape[1] and y + h <= rgb.shape[0]
    assert float(sal[y:y + h, x:x + w].mean()) < float(sal.mean())
    assert iou.evaluate(best["box"], dets, sal)["max_ioa"]["value"] == 0.0
    assert best["font_size"] >= min_font_px(rgb.shape[0]) and best["fits"]
    assert " ".join(best["lines"]).split() == text.split()
    assert set(best["scores"]) >= {"saliency", "object_overlap", "busyness", "contrast", "margin", "alignment"}
    assert best["align"] in {"left", "center", "right"}


def test_plan_offers_varied_positions_sizes_and_line_breaks(photo):
    name, rgb, sal = photo
    cands = plan(rgb, sal, DETECTIONS[name], TEXT_EN)
    assert len({c["region"] for c in cands}) >= 5
    assert len({len(c["lines"]) for c in cands}) >= 2
    assert len({c["font_size"] for c in cands}) >= 3


def test_overlapping_candidates_lose_to_every_free_one(photo):
    name, rgb, sal = photo
    cands = plan(rgb, sal, DETECTIONS[name], TEXT_EN)
    free = [c["score"] for c in cands if c["scores"]["object_overlap"] == 0]
    covering = [c["score"] for c in cands if c["scores"]["object_overlap"] > 0]
    assert free
    if covering:
        assert min(free) > max(covering)
        assert max(covering) < -OVERLAP_PENALTY / 2


def test_plan_avoids_a_detection_that_covers_the_calm_area():
    # A flat image with a "product" detection on the left half: the copy must go to the right half.
    rgb = np.full((400, 600, 3), 200, dtype=np.uint8)
    sal = np.zeros((400, 600), dtype=np.float32)
    det = [{"box": [0, 0, 300, 400], "label": "product", "score": 1.0}]
    best = plan(rgb, sal, det, TEXT_EN)[0]
    assert best["box"][0] >= 300 and best["scores"]["object_overlap"] == 0


def test_long_copy_keeps_the_legibility_floor():
    rgb = np.full((200, 200, 3), 30, dtype=np.uint8)
    sal = np.zeros((200, 200), dtype=np.float32)
    cands = plan(rgb, sal, [], " ".join(["espresso"] * 14))
    assert len(cands) >= 8
    assert all(c["font_size"] >= 14 for c in cands)
    fitting = [c["score"] for c in cands if c["fits"]]
    overflowing = [c["score"] for c in cands if not c["fits"]]
    assert fitting  # the bands and corners cannot hold it at 14 px, but the safe area can
    if overflowing:
        assert min(fitting) > max(overflowing)
    # Copy that fits nowhere at the floor keeps every word (smaller, fits: false), never cut.
    long_copy = " ".join(["espresso"] * 60)
    whole = plan(rgb, sal, [], long_copy)
    assert whole and not any(c["fits"] for c in whole)
    assert all(" ".join(c["lines"]).split() == long_copy.split() for c in whole)
    with pytest.raises(InputError):  # only copy that fits not even at 8 px is refused
        plan(rgb, sal, [], " ".join(["espresso"] * 600))


def test_plan_rejects_empty_copy():
    rgb = np.zeros((100, 100, 3), dtype=np.uint8)
    with pytest.raises(InputError):
        plan(rgb, np.zeros((100, 100), np.float32), [], "   ")


def test_the_planner_scores_every_block_in_one_batch_as_it_would_one_at_a_time():
    # The batched slide (one vectorised call for every block) must pick the same positions as a call per block.
    from skimage import data

    from services.imaging.placement import build_maps
    from services.imaging.planner import _slides

    rgb = data.coffee()
    m = build_maps(rgb, saliency_map(rgb), [{"box": [100, 80, 300, 260], "label": "cup"}])
    requests = [((30, 30, 600, 200), 240, 60, 1), ((30, 30, 610, 450), 120, 90, 2), ((300, 200, 610, 450), 200, 40, 3)]
    assert _slides(m, requests) == [_slides(m, [r])[0] for r in requests]


def test_one_box_area_for_the_planner_and_the_iou_evaluation():
    # The planner's face overlap, box_iou and box_overlap each computed a box's area; they share iou.box_area.
    assert iou.box_area((10, 20, 40, 60)) == 1200 and iou.box_area((40, 20, 10, 60)) == 0
    assert iou.box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == 50 / 150
    assert iou.box_overlap([0, 0, 10, 10], [5, 0, 15, 10]) == (50 / 150, 0.5)


def test_one_size_search_serves_the_overlay_and_the_hierarchy():
    from services.imaging import hierarchy, overlay, typescale

    calls: list[int] = []

    def fits(size: int) -> bool:
        calls.append(size)
        return size <= 37
    assert typescale.largest_fitting(1, 100, fits) == 37 and len(calls) <= 8  # a binary search, not a scan
    assert typescale.largest_fitting(40, 100, fits) is None
    assert typescale.largest_fitting(5, 20, fits) == 20
    # Both fits go through it (the overlay re-wraps at each size, a shape keeps its lines): no second search.
    assert overlay.largest_fitting is typescale.largest_fitting is hierarchy.largest_fitting
