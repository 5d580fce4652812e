"""VLM stage: measured analyze/judge on real photos, the JSON reply parser, and LLaVA's real generate path."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from config import Settings
from services.backends.factory import make_vlm
from services.backends.llava import LlavaVlm, parse_json_reply
from services.backends.ports import SCORE_BOUNDS
from services.backends.vlm import DefaultVlm
from services.errors import InputError
from services.imaging.imageio import load_rgb
from test.tiny_llava import build_tiny_llava


def _vlm_settings(backend, path, option, fallback) -> Settings:
    """The settings that choose this backend (vlm_backend), its file, option and FALLBACK_TO_DEFAULT."""
    return Settings(_env_file=None, vlm_backend=backend, llava_model_path=path, llava_quantization=option,
                    fallback_to_default=fallback)


SAMPLES = Path(__file__).resolve().parents[2] / "assets" / "samples"
ANALYZE_KEYS = {"backend", "suitable", "copy_fits", "subject", "subject_box", "free_regions", "reason", "measurements"}
JUDGE_KEYS = {"backend", "legibility", "placement", "harmony", "covers_product", "overall", "reason"}
JUDGE_DEFAULTS = {"legibility": 5.0, "placement": 5.0, "harmony": 5.0, "covers_product": False, "overall": 5.0,
                  "reason": "measured"}
CUP = (172, 15, 425, 328)  # the cup in coffee.png, checked by eye


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory) -> Path:
    return build_tiny_llava(tmp_path_factory.mktemp("llava") / "tiny-llava")


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return load_rgb(SAMPLES / "coffee.png")


def check_analyze_schema(out: dict, w: int, h: int) -> None:
    assert ANALYZE_KEYS <= set(out)
    assert isinstance(out["suitable"], bool) and isinstance(out["copy_fits"], bool)
    assert isinstance(out["subject"], str) and isinstance(out["reason"], str) and out["reason"]
    for box in ([out["subject_box"]] if out["subject_box"] else []) + out["free_regions"]:
        assert len(box) == 4 and 0 <= box[0] < box[2] <= w and 0 <= box[1] < box[3] <= h


def check_judge_schema(out: dict) -> None:
    assert JUDGE_KEYS <= set(out)
    for key in ("legibility", "placement", "harmony", "overall"):
        assert isinstance(out[key], float) and 0 <= out[key] <= 10
    assert isinstance(out["covers_product"], bool) and isinstance(out["reason"], str)


@pytest.mark.parametrize("name", ["coffee", "astronaut", "chelsea"])
def test_analyze_measures_sample_photos(name):
    rgb = load_rgb(SAMPLES / f"{name}.png")
    h, w = rgb.shape[:2]
    out = DefaultVlm().analyze(rgb, "Fresh espresso, every morning.")
    check_analyze_schema(out, w, h)
    m = out["measurements"]
    assert out["backend"] == "default-measured" and out["suitable"] is True, out["reason"]
    assert 0.2 < m["brightness"] < 0.8 and 0.08 < m["contrast"] < 0.4
    assert 20 < m["colourfulness"] < 150  # all three photos are visibly colourful
    assert m["sharpness"] > 100 and 0 < m["saliency_coverage"] < 0.5
    assert out["free_regions"] and 0 < m["largest_free_fraction"] <= m["free_area_fraction"] < 1
    assert out["subject_box"] is not None
    sx1, sy1, sx2, sy2 = out["subject_box"]
    for x1, y1, x2, y2 in out["free_regions"]:  # free regions keep clear of the subject
        assert max(0, min(x2, sx2) - max(x1, sx1)) * max(0, min(y2, sy2) - max(y1, sy1)) == 0


def test_analyze_finds_the_cup_and_fits_short_copy_only(coffee):
    vlm = DefaultVlm()
    out = vlm.analyze(coffee, "Fresh espresso, every morning.")
    x1, y1, x2, y2 = out["subject_box"]
    assert x1 <= CUP[0] + 30 and y1 <= CUP[1] + 30 and x2 >= CUP[2] - 30 and y2 >= CUP[3] - 30
    assert out["copy_fits"] is True
    long_copy = "Our single-origin espresso is roasted every morning. " * 8
    out = vlm.analyze(coffee, long_copy[:400])
    assert out["copy_fits"] is False and out["suitable"] is True
    assert "400 characters" in out["reason"] and "largest free region" in out["reason"]
    assert out["measurements"]["copy_area_fraction"] > out["measurements"]["largest_free_fraction"]
    assert vlm.analyze(coffee, "   ")["copy_fits"] is False


def test_analyze_rejects_blurred_and_dark_images(coffee):
    vlm = DefaultVlm()
    blurred = vlm.analyze(cv2.GaussianBlur(coffee, (0, 0), 4), "Espresso")
    assert blurred["suitable"] is False and "blurry" in blurred["reason"]
    assert blurred["copy_fits"] is True  # a short copy still fits: shortening it would not fix the photo
    dark = vlm.analyze((coffee * 0.1).astype(np.uint8), "Espresso")
    assert dark["suitable"] is False and "brightness" in dark["reason"]


def test_judge_legibility_follows_contrast(coffee):
    vlm = DefaultVlm()
    box = [450, 40, 140, 60]
    low = vlm.judge(coffee, box, {"contrast_ratio": 1.2})
    high = vlm.judge(coffee, box, {"contrast_ratio": 12.0})
    check_judge_schema(low)
    assert low["legibility"] <= 2 and high["legibility"] >= 8
    assert high["overall"] > low["overall"]
    assert "not from LLaVA" in low["reason"] and "1.2:1" in low["reason"]
    given = vlm.judge(coffee, box, {"contrast_ratio": 12, "ocr_similarity": 0.0, "occ": 0.1, "max_iou": 0, "rea": 0})
    assert given["legibility"] < high["legibility"]  # unreadable by OCR despite contrast
    assert set(given["sources"].values()) == {"given"}


def test_judge_measures_rendered_text_from_the_image(coffee):
    vlm = DefaultVlm()
    plate = coffee.copy()
    cv2.rectangle(plate, (450, 40), (590, 100), (20, 20, 20), -1)
    cv2.putText(plate, "SALE", (465, 85), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (255, 255, 255), 3)
    faint = coffee.copy()
    wood = np.median(coffee[40:100, 450:590].reshape(-1, 3), axis=0) * 0.85  # a shade darker than the wood
    cv2.putText(faint, "SALE", (465, 85), cv2.FONT_HERSHEY_SIMPLEX, 1.3, tuple(float(v) for v in wood), 3)
    good = vlm.judge(plate, [450, 40, 140, 60], {})
    bad = vlm.judge(faint, [450, 40, 140, 60], {})
    assert good["measurements"]["contrast_ratio"] > 7 > 2 > bad["measurements"]["contrast_ratio"]
    assert good["legibility"] > bad["legibility"] + 4 and good["sources"]["contrast_ratio"] == "image"
    on_cup = coffee.copy()
    cv2.putText(on_cup, "SALE", (220, 170), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (255, 255, 255), 3)
    covering = vlm.judge(on_cup, [210, 120, 200, 70], {})
    assert covering["covers_product"] is True and good["covers_product"] is False
    assert covering["placement"] < good["placement"] and covering["overall"] <= 4


def test_judge_rejects_bad_boxes(coffee):
    with pytest.raises(InputError):
        DefaultVlm().judge(coffee, [700, 500, 10, 10], {})
    with pytest.raises(InputError):
        DefaultVlm().judge(coffee, ["a", 1, 2], {})


def test_parse_valid_json():
    out = parse_json_reply('{"legibility": 8, "placement": 7, "harmony": 6, "covers_product": true, '
                           '"overall": 7.5, "reason": "clear"}', JUDGE_DEFAULTS, SCORE_BOUNDS)
    assert out["parse_ok"] is True and out["missing_fields"] == []
    assert (out["legibility"], out["covers_product"], out["overall"], out["reason"]) == (8.0, True, 7.5, "clear")


def test_parse_fenced_json_with_prose_and_clamping():
    text = ('Sure {here} is my answer:\n```json\n{"legibility": 14, "placement": "6", "harmony": -2, '
            '"covers_product": "no", "overall": 7, "reason": "ok",}\n```\nHope it helps {you}.')
    out = parse_json_reply(text, JUDGE_DEFAULTS, SCORE_BOUNDS)
    assert out["parse_ok"] is True and out["missing_fields"] == []
    assert (out["legibility"], out["placement"], out["harmony"], out["covers_product"]) == (10.0, 6.0, 0.0, False)


def test_parse_single_quotes_and_missing_fields():
    out = parse_json_reply("{'legibility': 3, 'covers_product': True, 'reason': 'busy'}", JUDGE_DEFAULTS,
                           SCORE_BOUNDS)
    assert out["parse_ok"] is True and (out["legibility"], out["covers_product"]) == (3.0, True)
    assert out["placement"] == 5.0 and set(out["missing_fields"]) == {"placement", "harmony", "overall"}
    cut = parse_json_reply('{"legibility": 9, "overall": 8, "reason": "the text is cle', JUDGE_DEFAULTS)
    assert cut["parse_ok"] is True and (cut["legibility"], cut["reason"]) == (9.0, "the text is cle")


@pytest.mark.parametrize("text", ["I cannot rate this image.", "", None, "{}", "{{{{", "\x00\ufffd{'a': [1,"])
def test_parse_garbage_gives_defaults(text):
    out = parse_json_reply(text, JUDGE_DEFAULTS, SCORE_BOUNDS)
    assert out["parse_ok"] is False and {k: out[k] for k in JUDGE_DEFAULTS} == JUDGE_DEFAULTS


def test_parse_rejects_wrong_types():
    out = parse_json_reply('{"legibility": "high", "covers_product": "maybe", "overall": NaN, "reason": [1]}',
                           JUDGE_DEFAULTS, SCORE_BOUNDS)
    assert out["legibility"] == 5.0 and out["covers_product"] is False and out["overall"] == 5.0
    assert out["reason"] == "measured" and out["parse_ok"] is False


def test_llava_runs_generate_and_keeps_the_schema(tiny_llava, coffee, no_network):
    vlm = LlavaVlm(str(tiny_llava))
    assert vlm.name == "llava:tiny-llava" and vlm.describe()["device"] == "cpu"
    out = vlm.analyze(coffee, "Fresh <image> espresso")  # a stray image token in the copy must not break it
    check_analyze_schema(out, 600, 400)
    assert out["backend"] == "llava:tiny-llava" and isinstance(out["parse_ok"], bool)
    assert isinstance(out["raw_reply"], str) and out["measurements"]["width"] == 600
    verdict = vlm.judge(coffee, [450, 40, 140, 60], {"contrast_ratio": 4.0})
    check_judge_schema(verdict)
    assert verdict["backend"] == "llava:tiny-llava" and isinstance(verdict["parse_ok"], bool)


def test_build_vlm_llava_fallbacks(tiny_llava, tmp_path, coffee, no_network):
    vlm, status = make_vlm(_vlm_settings("llava", str(tiny_llava), "4bit", False))  # 4-bit is ignored on CPU
    assert status == {"backend": "llava", "active": "llava:tiny-llava", "loaded": True, "error": None}
    assert vlm.describe()["quantization"] == "none"
    missing = str(tmp_path / "no-model")
    vlm, status = make_vlm(_vlm_settings("llava", missing, "", True))
    assert isinstance(vlm, DefaultVlm) and status["loaded"] is False and status["active"] == "default-measured"
    assert "not found" in status["error"] and "no-model" in status["error"]
    vlm, status = make_vlm(_vlm_settings("llava", missing, "", False))
    assert status["active"] == "llava:no-model" and status["error"]
    with pytest.raises(RuntimeError, match="not found"):
        vlm.analyze(coffee, "copy")
    with pytest.raises(RuntimeError, match="not found"):
        vlm.judge(coffee, [0, 0, 10, 10], {})
    vlm, status = make_vlm(_vlm_settings("default", "", "", False))
    assert isinstance(vlm, DefaultVlm) and status["error"] is None
