"""Issue 23 item 9: the earlier service's readers, run as the team's printers run them (float(...) on the old keys,
the proposal's xywh, layout.proposals, stage fields at the top level), and the settle window's 409."""
from __future__ import annotations

import time

import httpx
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.integration.test_rewinds import _insert_job_at_img_gen_done


def _rows(db, sql: str, **params) -> list:
    db.rollback()
    return db.execute(text(sql), params).mappings().all()


def _number(value) -> float:
    """What the printers do: float(value); a dict (or a bool posing as a number) is a broken reader."""
    assert not isinstance(value, (dict, list, bool)), value
    return float(value)


def _flag(value) -> bool:
    assert isinstance(value, bool), value
    return value


def print_results(db, job_id: str) -> list[str]:
    """The full-pipeline printer's result part: per variant its proposals, layout and four evaluations."""
    lines = []
    for v in _rows(db, "SELECT job_variants_id FROM jobs_variants WHERE job_id = :j ORDER BY creation_order", j=job_id):
        vid = v["job_variants_id"]
        proposal = _rows(db, "SELECT layout FROM planner_proposals WHERE job_variants_id = :v", v=vid)[0]["layout"]
        for p in proposal["proposals"]:
            x, y, w, h = (_number(c) for c in p["xywh"])
            assert isinstance(p["source"], str) and p["color"] in ("#FFFFFF", "#000000")
            lines.append(f"proposal {p['proposal_id']}: ({x:.0f},{y:.0f},{w:.0f},{h:.0f}) score={_number(p['score']):.3f} "
                         f"source={p['source']} color={p['color']}")
        overlay = _rows(db, "SELECT overlay_id, layout FROM overlay_layouts WHERE job_variants_id = :v", v=vid)[0]
        lines.append(f"overlay: {overlay['layout']['render']['url']} text={overlay['layout']['text']!r}")
        for e in _rows(db, "SELECT evaluation_type, metrics FROM evaluations WHERE overlay_id = :o", o=overlay["overlay_id"]):
            m = e["metrics"]
            if e["evaluation_type"] == "ocr":
                lines.append(f"OCR: similarity={_number(m['similarity']):.4f} accuracy={_number(m['ocr_accuracy']):.2%} "
                             f"words={_number(m['word_match_rate']):.2%} cer={_number(m['cer']):.4f} "
                             f"chars={_number(m['character_match_rate']):.2%} conf={_number(m['ocr_confidence']):.2f} "
                             f"'{m['recognized_text']}' vs '{m['original_text']}'")
            elif e["evaluation_type"] == "readability":
                lines.append(f"readability: contrast={_number(m['contrast_ratio']):.2f}:1 "
                             f"score={_number(m['readability_score']):.2f} AA={_flag(m['wcag_aa_compliant'])} "
                             f"AAA={_flag(m['wcag_aaa_compliant'])} colour={m['text_color']}")
            elif e["evaluation_type"] == "iou":
                lines.append(f"iou: food={_number(m['iou_with_food']):.4f} max_iou={_number(m['max_iou']):.4f} "
                             f"occ={_number(m['occ']):.4f} overlap={_flag(m['overlap_detected'])}")
            else:
                issues = m["issues"]
                assert isinstance(issues, list) and all(isinstance(i, str) for i in issues)
                lines.append(f"judge: overall={_number(m['overall']):.1f} legibility={_number(m['legibility']):.1f} "
                             f"on_brief={_flag(m['on_brief'])} occlusion={_number(m['occlusion']):.3f} "
                             f"contrast_ok={_flag(m['contrast_ok'])} cta={_flag(m['cta_present'])} "
                             f"covers_product={_flag(m['covers_product'])} issues={', '.join(issues) or '-'}")
            # Units, thresholds and pass flags are under a key of their own, not in place of the number.
            details = m["metric_details"]
            assert all(isinstance(d, dict) and "value" not in d for d in details.values()) and details
    return lines


def test_earlier_readers_and_stage_answers(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path, enable_job_state_listener=False, enable_sweeper=False,
                            start_settle_seconds=2.0)
    with serve(create_app(settings), settings.port):
        job_id, (vid,) = _insert_job_at_img_gen_done(db, settings.assets_dir, variants_count=1)
        base = f"http://127.0.0.1:{settings.port}"

        def post(endpoint: str, **extra) -> dict:
            body = {"job_id": job_id, **({"job_variants_id": vid} if "gpt" not in endpoint and "instagram" not in
                                           endpoint else {}), **extra}
            answer = httpx.post(base + endpoint, json=body, timeout=120)
            assert answer.status_code == 200, answer.text
            out = answer.json()
            assert out["status"] == "done", out
            # The per-stage fields at the top level, as the earlier callers read them, equal to result's.
            assert {k: out[k] for k in out["result"] if k not in ("status",)} == {
                k: v for k, v in out["result"].items() if k != "status"}
            return out

        # Just inserted at (img_gen, done): settling; the 409 says so and when the row will be claimed.
        early = httpx.post(base + "/api/yh/llava/stage1/validate", json={"job_id": job_id, "job_variants_id": vid})
        assert early.status_code == 409
        detail = early.json()["detail"]
        assert "settling" in detail and "start_settle_seconds (2 s)" in detail and " s)" in detail, detail
        deadline = time.monotonic() + 30
        while (answer := httpx.post(base + "/api/yh/llava/stage1/validate",
                                    json={"job_id": job_id, "job_variants_id": vid})).status_code == 409:
            assert "settling" in answer.json()["detail"] and time.monotonic() < deadline
            time.sleep(0.2)
        analyzed = answer.json()
        assert isinstance(analyzed["vlm_trace_id"], str) and isinstance(analyzed["is_valid"], bool)

        detected = post("/api/yh/yolo/detect")
        assert detected["detection_ids"] and detected["forbidden_mask_url"].startswith("/assets/")
        planned = post("/api/yh/planner")
        assert planned["proposals"][0]["proposal_id"] == planned["proposal_id"]
        assert planned["proposals"][0]["xywh"] == planned["proposals"][0]["box"]
        overlaid = post("/api/yh/overlay")
        assert overlaid["render"]["url"] == overlaid["image_url"] and overlaid["overlay_id"]
        judged = post("/api/yh/llava/stage2/judge", overlay_id=overlaid["overlay_id"])
        assert isinstance(judged["overall"], float) and isinstance(judged["on_brief"], bool)
        read_back = post("/api/yh/ocr/evaluate", overlay_id=overlaid["overlay_id"])
        assert isinstance(read_back["ocr_accuracy"], float) and isinstance(read_back["word_match_rate"], float)
        readable = post("/api/yh/readability/evaluate", overlay_id=overlaid["overlay_id"])
        assert isinstance(readable["contrast_ratio"], float)
        overlap = post("/api/yh/iou/evaluate", overlay_id=overlaid["overlay_id"])
        assert isinstance(overlap["iou_with_food"], float)
        kor = post("/api/yh/gpt/eng-to-kor")
        assert kor["ad_copy_kor"] and kor["llm_trace_id"]
        feed = post("/api/yh/instagram/feed")
        assert feed["instagram_ad_copy"] and feed["hashtags"].startswith("#")

    lines = print_results(db, job_id)
    assert sum(line.startswith("proposal ") for line in lines) >= 8
    kinds = [line.split(":")[0] for line in lines if not line.startswith(("proposal", "overlay"))]
    assert sorted(kinds) == sorted(["OCR", "readability", "iou", "judge"])
    ocr = _rows(db, "SELECT metrics FROM evaluations WHERE evaluation_type = 'ocr'")[0]["metrics"]
    assert ocr["ocr_accuracy"] == ocr["similarity"] and ocr["status"] == "measured"
    assert ocr["metric_details"]["similarity"] == {"unit": "ratio", "direction": "higher_is_better", "threshold": 0.9,
                                                   "definition": "1 - levenshtein / max(len)"}
    judge = _rows(db, "SELECT metrics FROM evaluations WHERE evaluation_type = 'llava_judge'")[0]["metrics"]
    assert judge["cta_present"] is True  # the demo copy ends "Visit us today!"
    assert judge["on_brief"] is (judge["overall"] >= 6.0) and judge["occlusion"] == round(judge["occlusion"], 6)
    assert seedlib.DEFAULT_AD_COPY.endswith("Visit us today!")
