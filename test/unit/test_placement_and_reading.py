"""Calm spots, stacked headlines, the display face for short copy, plates not outlines, and the quality bench's second
reader reading line by line (issue 28)."""
import numpy as np
import pytest
from skimage import data

from config import Settings
from scripts.bench_quality import SecondReader
from services.backends.factory import make_detector
from services.imaging import formats, iou, ocr
from services.imaging.fonts import default_font_path
from services.imaging.overlay import render
from services.imaging.planner import plan
from services.imaging.saliency import saliency_map

OFFER = "Summer sale: 30% off all iced drinks until Sunday"


def _detections(rgb: np.ndarray, sal: np.ndarray) -> list[dict]:
    return [d.to_json() for d in make_detector(Settings(_env_file=None))[0].detect(rgb, sal)]


@pytest.fixture(scope="module")
def second() -> SecondReader:
    return SecondReader()


def test_the_planner_takes_a_calm_spot_over_a_busy_one_of_about_the_same_size():
    # The astronaut with the offer copy: the block went on her suit (Occ 0.175, hero caps 6.1 %) although the flag's
    # corner holds it nearly as large: mean saliency above 0.05 now costs more than the size it buys (at 20 per unit
    # the hero is a step smaller there, caps 4.4 % instead of 5.1 %, and the block calmer: Occ 0.066 instead of 0.080).
    rgb = data.astronaut()
    sal = saliency_map(rgb)
    best = plan(rgb, sal, _detections(rgb, sal), OFFER, default_font_path())[0]
    assert iou.occupancy(best["box"], sal) <= 0.07, best["box"]
    hero = max(st["size"] for st in best["styles"])
    assert hero >= 0.036 * 512 / 0.70, best["styles"]  # still a hero: caps at least the headline step's
    assert hero >= 1.6 * min(st["size"] for st in best["styles"]), best["styles"]


@pytest.mark.parametrize("photo", ["chelsea", "motorcycle"])
def test_an_offer_block_takes_the_calm_part_of_the_photo_over_a_slightly_larger_busy_one(photo):
    # At the generated size (no reframing): the block sat on the cat's fur and on the motorbike's tank edge (Occ
    # 0.070 and 0.073); mean saliency above 0.05 now costs 20 per unit, and the calm side holds it a step smaller.
    rgb = data.chelsea() if photo == "chelsea" else data.stereo_motorcycle()[0]
    sal = saliency_map(rgb)
    best = plan(rgb, sal, _detections(rgb, sal), OFFER, default_font_path())[0]
    assert iou.occupancy(best["box"], sal) <= 0.06, best["box"]
    hero = [st for st in best["styles"] if st["role"] == "hero"]
    assert best["lines"][best["styles"].index(hero[0])] == "30% off"
    assert hero[0]["size"] > max(st["size"] for st in best["styles"] if st["role"] == "support")


@pytest.mark.parametrize("photo", ["coffee", "chelsea"])
def test_a_hero_block_is_set_on_a_plate_and_the_second_reader_reads_the_offer(photo, second):
    # A soft shadow's halo filled the gap between the hero's words on a textured photo: "30%off" (coffee and chelsea
    # in 1:1); on a plate the same blocks read "30% off".
    rgb = getattr(data, photo)()
    sal = saliency_map(rgb)
    got = formats.render_format(rgb, _detections(rgb, sal), OFFER, "1:1", default_font_path(), sal)
    layout = got["layout"]
    assert {e["type"] for e in layout["effects"]} <= {"scrim"}, layout["effects"]
    assert layout["contrast_after"] >= 4.5
    assert ocr.normalise_text(second.read(got["image"], layout["box"])[0]) == ocr.normalise_text(OFFER)


def test_the_second_reader_reads_each_line_on_its_own(second):
    # Batched, every line is padded to the widest line's aspect ratio: this block (the motorcycle framed whole in 1:1)
    # read "30%off" next to its long support line, and "30% off" on its own. A line's reading must not depend on the
    # others.
    rgb = data.stereo_motorcycle()[0]
    sal = saliency_map(rgb)
    frame, _ = formats.reframe(rgb, formats.FORMATS["1:1"], formats.subject_box(_detections(rgb, sal)), sal, fit=True)
    proposal = {"box": [169, 763, 722, 263], "lines": ["Summer sale:", "30% off", "all iced drinks until Sunday"],
                "roles": ["support", "hero", "support"], "font_size": 54, "align": "center", "fits": True}
    image, layout = render(frame, OFFER, proposal, default_font_path(), effects=("shadow",))  # as it was drawn then
    assert layout["lines"] == proposal["lines"], layout
    assert ocr.normalise_text(second.read(image, layout["box"])[0]) == ocr.normalise_text(OFFER)


def test_a_headline_with_no_room_on_one_line_is_stacked_beside_the_subject(second):
    # The bench's 1.91:1 coffee crop: the strip beside the cup (177 px) holds "Iced coffee season" on one line only at
    # body size (3.3 % caps); stacked, a one-word line included, it is a headline at its step there, and both read it.
    rgb = data.coffee()[50:364]
    sal = saliency_map(rgb)
    dets = _detections(rgb, sal)
    text = "Iced coffee season"
    best = plan(rgb, sal, dets, text, default_font_path())[0]
    assert best["lines"] == ["Iced coffee", "season"] and best["headline"], best
    assert best["scores"]["object_overlap"] == 0
    image, layout = render(rgb, text, best, default_font_path())
    cap = 0.70 * max(st["size"] for st in layout["styles"]) / 314  # Poppins Bold's caps: 0.70 em
    assert cap >= 0.048, layout["styles"]
    got = ocr.evaluate(image, {**layout, "text": text}, text, ocr.OcrReader(), default_font_path())
    assert ocr.normalise_text(got["recognised_text"]) == ocr.normalise_text(text), got["recognised_text"]
    assert ocr.normalise_text(second.read(image, layout["box"])[0]) == ocr.normalise_text(text)


@pytest.mark.parametrize("photo,box,size", [("chelsea", [320, 25, 116, 41], 16), ("grass", [26, 334, 203, 71], 28)])
def test_a_support_line_is_not_outlined_and_its_comma_reads_back(photo, box, size):
    # Outlined, the contour over a comma read as a semicolon ("espresso;" in 4 of the bench's 45 medium copies at the
    # generated size) and on brick "morning" as "Iorning"; on a plate the same blocks read right.
    rgb = getattr(data, photo)()
    rgb = np.stack([rgb] * 3, -1) if rgb.ndim == 2 else rgb  # grass is grey
    text = "Fresh espresso, every morning"
    proposal = {"box": box, "lines": ["Fresh espresso,", "every morning"], "roles": ["support", "support"],
                "font_size": size, "align": "center", "fits": True}
    image, layout = render(rgb, text, proposal, default_font_path())
    assert layout["effects"] and all(e["type"] != "stroke" for e in layout["effects"]), layout["effects"]
    assert layout["contrast_after"] >= 4.5
    got = ocr.evaluate(image, {**layout, "text": text}, text, ocr.OcrReader(), default_font_path())
    assert got["recognised_text"] == "Fresh espresso,\nevery morning", got["recognised_text"]


@pytest.mark.parametrize("photo", ["brick", "hubble_deep_field"])
def test_a_short_copy_is_set_in_the_display_face_wherever_that_holds_it(photo, second):
    # On an even texture the regular face's narrower block found a slightly calmer spot, and the Hangul face's Latin
    # "I" read as "l" ("lced coffee season": the second reader, 2 of the bench's 15 short copies at the generated size).
    # The regular face is now only a fallback, for places where the display face does not fit at the copy's step.
    rgb = getattr(data, photo)()
    rgb = np.stack([rgb] * 3, -1) if rgb.ndim == 2 else rgb[..., :3]
    sal = saliency_map(rgb)
    text = "Iced coffee season"
    best = plan(rgb, sal, _detections(rgb, sal), text, default_font_path())[0]
    assert best["roles"] == ["hero"] * len(best["lines"]) and best["headline"], best
    image, layout = render(rgb, text, best, default_font_path())
    assert layout["styles"][0]["font"] == "Poppins-Bold.ttf"
    assert ocr.normalise_text(second.read(image, layout["box"])[0]) == ocr.normalise_text(text)
