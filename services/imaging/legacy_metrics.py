"""The earlier team's metric names, written next to today's metrics (bare values; README "Formulas")."""
from services.imaging.iou import box_overlap

WCAG_AA = 4.5  # WCAG 2.x AA for normal text
WCAG_AAA = 7.0  # ... and AAA
# Labels that are the advertised product: COCO's food and tableware classes, and the default
# detector's salient subject (on a product photo the subject is the product).
FOOD_LABELS = frozenset({
    "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake",
    "bowl", "cup", "wine glass", "bottle", "food", "product", "salient_subject",
})

# The earlier names per evaluation type (also echoed in the stage's response).
NAMES = {"ocr": ("ocr_accuracy", "ocr_confidence", "character_match_rate", "recognized_text", "original_text"),
         "readability": ("readability_score", "wcag_aa_compliant", "wcag_aaa_compliant", "text_color"),
         "iou": ("iou_with_food", "overlap_detected", "max_iou_detection_id")}


def _value(metrics: dict, key: str):
    item = metrics.get(key)
    return item.get("value") if isinstance(item, dict) else item


def ocr(metrics: dict) -> dict:
    """ocr_accuracy (= similarity), ocr_confidence, character_match_rate (1 - CER, at least 0), both texts."""
    return {"ocr_accuracy": _value(metrics, "similarity"), "ocr_confidence": _value(metrics, "confidence"),
            "character_match_rate": round(max(0.0, 1.0 - float(_value(metrics, "cer"))), 4),
            "recognized_text": metrics.get("recognised_text"), "original_text": metrics.get("expected_text")}


def readability(metrics: dict, layout: dict) -> dict:
    """readability_score (contrast / 7, capped at 1), WCAG AA/AAA on the worst-case contrast, text colour."""
    ratio = float(_value(metrics, "contrast_ratio"))
    return {"readability_score": round(min(ratio / WCAG_AAA, 1.0), 4), "wcag_aa_compliant": ratio >= WCAG_AA,
            "wcag_aaa_compliant": ratio >= WCAG_AAA, "text_color": layout.get("colour")}


def iou(text_box_xywh: list, detections: list[dict]) -> dict:
    """iou_with_food (max IoU with a food/product detection, None without one), overlap_detected,
    max_iou_detection_id (the detection with the largest IoU, None when nothing overlaps)."""
    scored = [(box_overlap(text_box_xywh, d["box"])[0], d) for d in detections]
    food = [value for value, d in scored if str(d.get("label", "")).lower() in FOOD_LABELS]
    best_value, best = max(scored, key=lambda s: s[0], default=(0.0, None))
    return {"iou_with_food": round(max(food), 6) if food else None, "overlap_detected": best_value > 0,
            "max_iou_detection_id": str(best["detection_id"]) if best_value > 0 and best.get("detection_id") else None}
