"""The earlier team's metric names: values derived from today's metrics (no database)."""
import pytest

from services.imaging import legacy_metrics
from services.imaging.ocr import ocr_metrics


def test_ocr_names_mirror_similarity_confidence_and_cer():
    m = ocr_metrics("Fresh Coffee", "Fresh Cofee", [0.8, 0.6])
    earlier = legacy_metrics.ocr(m)
    assert earlier["ocr_accuracy"] == m["similarity"]["value"] == pytest.approx(11 / 12, abs=1e-4)
    assert earlier["ocr_confidence"] == pytest.approx(0.7)
    assert earlier["character_match_rate"] == pytest.approx(1 - 1 / 12, abs=1e-4)
    assert earlier["recognized_text"] == "Fresh Cofee" and earlier["original_text"] == "Fresh Coffee"
    assert legacy_metrics.ocr(ocr_metrics("ab", "abcdefg", []))["character_match_rate"] == 0.0  # CER > 1


@pytest.mark.parametrize("ratio, aa, aaa, score", [(3.0, False, False, 0.4286), (4.5, True, False, 0.6429),
                                                   (7.0, True, True, 1.0), (12.0, True, True, 1.0)])
def test_readability_names_follow_the_worst_case_contrast(ratio, aa, aaa, score):
    earlier = legacy_metrics.readability({"contrast_ratio": {"value": ratio}}, {"colour": "#ffffff"})
    assert earlier == {"readability_score": score, "wcag_aa_compliant": aa, "wcag_aaa_compliant": aaa,
                       "text_color": "#ffffff"}


def test_iou_names_food_overlap_and_the_detection_id():
    dets = [{"box": [0, 0, 10, 10], "label": "person", "detection_id": "d-person"},
            {"box": [5, 0, 15, 10], "label": "pizza", "detection_id": "d-pizza"}]
    earlier = legacy_metrics.iou([0, 0, 10, 10], dets)  # the text box is exactly the person
    assert earlier["iou_with_food"] == pytest.approx(1 / 3, abs=1e-6)  # only the pizza counts as food
    assert earlier["overlap_detected"] is True and earlier["max_iou_detection_id"] == "d-person"
    # No food detection at all: 0.0 (nothing food-like is covered), a number as the earlier service wrote it.
    assert legacy_metrics.iou([0, 0, 10, 10], dets[:1])["iou_with_food"] == 0.0
    apart = legacy_metrics.iou([50, 50, 5, 5], dets)
    assert apart == {"iou_with_food": 0.0, "overlap_detected": False, "max_iou_detection_id": None}


def test_word_match_rate_is_the_share_of_words_read_back_exactly():
    assert legacy_metrics.word_match_rate("Fresh Coffee today", "fresh cofee today") == pytest.approx(2 / 3, abs=1e-4)
    assert legacy_metrics.word_match_rate("a a b", "a b") == pytest.approx(2 / 3, abs=1e-4)  # each read word once
    assert legacy_metrics.ocr(ocr_metrics("Fresh Coffee", "Fresh Coffee", [0.9]))["word_match_rate"] == 1.0


def test_judge_names_say_what_keeps_a_creative_from_passing():
    measured = {"contrast_ratio": 2.1, "occ": 0.4, "face_overlap": 0.0}
    earlier = legacy_metrics.judge(measured, False, True, 3.5, 6.0, "Summer sale: visit us today")
    assert earlier["on_brief"] is False and earlier["contrast_ok"] is False and earlier["cta_present"] is True
    assert earlier["occlusion"] == 0.4 and len(earlier["issues"]) == 4
    calm = legacy_metrics.judge({"contrast_ratio": 9.0, "occ": 0.1}, True, False, 7.0, 6.0, "Iced coffee season")
    assert calm == {"on_brief": True, "occlusion": 0.1, "contrast_ok": True, "cta_present": False, "issues": []}
