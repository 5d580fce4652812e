"""The earlier team's metric names, written next to today's metrics (bare values; docs/data-contract-compat.md)."""
import re

from services.imaging.iou import MAX_OCC, box_overlap

WCAG_AA = 4.5  # WCAG 2.x AA for normal text
WCAG_AAA = 7.0  # ... and AAA
# Labels that are the advertised product: COCO's food and tableware classes, and the default
# detector's salient subject (on a product photo the subject is the product).
FOOD_LABELS = frozenset({
    "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake",
    "bowl", "cup", "wine glass", "bottle", "food", "product", "salient_subject",
})

# The earlier names per evaluation type (also echoed in the stage's response).
NAMES = {"ocr": ("ocr_accuracy", "ocr_confidence", "character_match_rate", "word_match_rate", "recognized_text",
                 "original_text", "similarity", "cer", "status"),
         "readability": ("readability_score", "wcag_aa_compliant", "wcag_aaa_compliant", "text_color", "contrast_ratio"),
         "iou": ("iou_with_food", "overlap_detected", "max_iou_detection_id", "max_iou", "max_ioa", "occ"),
         "llava_judge": ("on_brief", "occlusion", "contrast_ok", "cta_present", "issues", "legibility", "placement",
                         "harmony", "covers_product")}
# A call to action: an imperative or invitation (English and Korean) anywhere in the copy.
CTA = re.compile(r"\b(visit|order|buy|shop|try|taste|come|get|book|call|join|discover|enjoy|grab|stop by|drop by|"
                 r"reserve|download|sign up|follow|dm|swipe|tap|click)\b|방문|주문|구매|예약|오세요|보세요|들러|"
                 r"맛보|만나요|즐겨|드세요|클릭|팔로우", re.IGNORECASE)


def _value(metrics: dict, key: str):
    item = metrics.get(key)
    return item.get("value") if isinstance(item, dict) else item


def ocr(metrics: dict) -> dict:
    """ocr_accuracy (= similarity), ocr_confidence, character_match_rate (1 - CER, at least 0), both texts."""
    measured = _value(metrics, "cer") is not None  # None: not measured for this script (no recogniser for it)
    return {"ocr_accuracy": _value(metrics, "similarity"), "ocr_confidence": _value(metrics, "confidence"),
            "character_match_rate": round(max(0.0, 1.0 - float(_value(metrics, "cer"))), 4) if measured else None,
            "word_match_rate": word_match_rate(metrics.get("expected_text"), metrics.get("recognised_text"))
            if measured else None,
            "recognized_text": metrics.get("recognised_text"), "original_text": metrics.get("expected_text")}


def word_match_rate(expected: str | None, recognised: str | None) -> float:
    """Share of the copy's words read back exactly (case-folded, each recognised word counted once)."""
    want = [w.casefold() for w in re.findall(r"\w+(?:['’]\w+)?", expected or "")]
    got = [w.casefold() for w in re.findall(r"\w+(?:['’]\w+)?", recognised or "")]
    hits = 0
    for word in want:
        if word in got:
            got.remove(word)
            hits += 1
    return round(hits / len(want), 4) if want else 1.0


def readability(metrics: dict, layout: dict) -> dict:
    """readability_score (contrast / 7, capped at 1), WCAG AA/AAA on the worst-case contrast, text colour."""
    ratio = float(_value(metrics, "contrast_ratio"))
    return {"readability_score": round(min(ratio / WCAG_AAA, 1.0), 4), "wcag_aa_compliant": ratio >= WCAG_AA,
            "wcag_aaa_compliant": ratio >= WCAG_AAA, "text_color": layout.get("colour")}


def iou(text_box_xywh: list, detections: list[dict]) -> dict:
    """iou_with_food (max IoU with a food/product detection, 0.0 without one), overlap_detected,
    max_iou_detection_id (the detection with the largest IoU, None when nothing overlaps)."""
    scored = [(box_overlap(text_box_xywh, d["box"])[0], d) for d in detections]
    food = [value for value, d in scored if str(d.get("label", "")).lower() in FOOD_LABELS]
    best_value, best = max(scored, key=lambda s: s[0], default=(0.0, None))
    # 0.0 without a food detection, as the earlier service wrote it (nothing food-like is covered).
    return {"iou_with_food": round(max(food), 6) if food else 0.0, "overlap_detected": best_value > 0,
            "max_iou_detection_id": str(best["detection_id"]) if best_value > 0 and best.get("detection_id") else None}


def judge(measured: dict, contrast_ok: bool, covers_product: bool, overall: float, passing: float, text: str) -> dict:
    """on_brief (overall >= the pass mark), occlusion (= occ), contrast_ok (the readability gate), cta_present (a
    call to action in the rendered copy) and issues (what keeps the creative from passing, in words)."""
    issues = []
    if not contrast_ok:
        issues.append(f"low contrast ({measured['contrast_ratio']:.2f}:1)")
    if covers_product:
        issues.append("text covers the product")
    if measured.get("face_overlap"):
        issues.append("text covers a face")
    if measured["occ"] > MAX_OCC:
        issues.append(f"text over salient content (occ {measured['occ']:.2f} > {MAX_OCC})")
    if overall < passing:
        issues.append(f"overall {overall:.1f} < {passing:g}")
    return {"on_brief": overall >= passing, "occlusion": round(float(measured["occ"]), 6), "contrast_ok": contrast_ok,
            "cta_present": bool(CTA.search(text or "")), "issues": issues}
