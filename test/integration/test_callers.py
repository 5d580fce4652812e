"""The earlier team's callers against the real app: stage by stage over HTTP, as their scripts called it."""
import uuid

import httpx
import numpy as np
import pytest
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from services.imaging.fonts import shipped_fonts
from services.imaging.imageio import load_rgb
from services.imaging.overlay import text_mask
from test.conftest import app_settings, serve
from test.engine_app import counting_handlers

KOREAN = "갓 볶은 원두로 내린 핸드드립 커피"
TOFU_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # Latin only: Hangul would be .notdef boxes


def _one(db, sql, **params):
    db.rollback()
    return db.execute(text(sql), params).mappings().one()


def _done(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "done", body
    assert {"stage", "status", "attempt", "run_token", "result", "error"} <= set(body)  # the envelope stays
    return body["result"]


def _overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _ink_agreement(rendered: np.ndarray, layout: dict, words: str, font: str, colour: tuple) -> float:
    """Jaccard of the glyph cores drawn with `font` and the pixels that carry the text colour."""
    core = text_mask(rendered.shape, layout, words, font) >= 250  # fully covered: exactly the text colour
    x, y, w, h = layout["box"]
    region = np.zeros(core.shape, bool)
    region[max(0, y - 4):y + h + 4, max(0, x - 4):x + w + 4] = True
    ink = (np.abs(rendered.astype(int) - colour).max(axis=2) <= 6) & region
    return (core & ink).sum() / max(1, (core | ink).sum())


def test_earlier_callers_shapes_end_to_end(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path, enable_job_state_listener=False, enable_sweeper=False)
    with serve(create_app(settings), settings.port):
        image = seedlib.ROOT / "assets" / "samples" / "coffee.png"
        job_id, (vid,) = seedlib.start_job(db, settings.assets_dir, variants_count=1, ad_copy_eng=None,
                                           image_paths=[image])
        base = f"http://127.0.0.1:{settings.port}"

        def post(endpoint: str, **extra) -> httpx.Response:
            return httpx.post(base + endpoint, json={"job_id": job_id, "job_variants_id": vid, **extra}, timeout=120)

        # The start gate names what it waits for.
        gated = post("/api/yh/llava/stage1/validate")
        assert gated.status_code == 409
        assert "waiting for the text part's ad_copy_eng" in gated.json()["detail"]
        assert "(img_gen, done)" in gated.json()["detail"]
        seedlib.add_text_part(db, job_id, seedlib.DEFAULT_AD_COPY)
        db.commit()

        analyzed = _done(post("/api/yh/llava/stage1/validate"))
        trace = _one(db, "SELECT operation_type, job_variants_id FROM vlm_traces WHERE vlm_trace_id = :t",
                     t=analyzed["vlm_trace_id"])
        assert trace["operation_type"] == "analyze" and str(trace["job_variants_id"]) == vid
        assert analyzed["is_valid"] is bool(analyzed["suitable"])

        detected = _done(post("/api/yh/yolo/detect"))
        db.rollback()
        rows = db.execute(text("SELECT detection_id, box FROM detections WHERE job_variants_id = :v ORDER BY pk"),
                          {"v": vid}).all()
        assert detected["detection_ids"] == [str(r[0]) for r in rows] and len(rows) >= 1
        assert detected["boxes"] == [[float(v) for v in r[1]] for r in rows]
        assert detected["forbidden_mask_url"] == _one(
            db, "SELECT forbidden_mask_url FROM yolo_runs WHERE job_variants_id = :v", v=vid)["forbidden_mask_url"]

        planned = _done(post("/api/yh/planner"))
        proposals = planned["proposals"]
        assert planned["proposal_id"] == proposals[0]["proposal_id"] and len(proposals) >= 2
        assert len({p["proposal_id"] for p in proposals}) == len(proposals)
        best = proposals[0]["box"]
        pick = next(p for p in proposals[1:] if not _overlap(p["box"], best))

        # A caller's typo is refused before the claim: the variant stays where it was.
        bad = [({"proposal_id": str(uuid.uuid4())}, 404), ({"proposal_id": "not-a-uuid"}, 422),
               ({"x_align": "middle"}, 422), ({"y_align": "left"}, 422), ({"font_name": "Comic Sans"}, 422),
               ({"text": "   "}, 422)]
        for extra, status in bad:
            assert post("/api/yh/overlay", **extra).status_code == status, extra
        state = _one(db, "SELECT current_step, status FROM jobs_variants WHERE job_variants_id = :v", v=vid)
        assert (state["current_step"], state["status"]) == ("planner", "done")

        overlaid = _done(post("/api/yh/overlay", text=KOREAN, proposal_id=pick["proposal_id"], x_align="right",
                              y_align="top", font_name="Noto Serif KR"))
        row = _one(db, "SELECT proposal_id, layout FROM overlay_layouts WHERE overlay_id = :o",
                   o=overlaid["overlay_id"])
        layout = row["layout"]
        assert layout["text"] == overlaid["text"] == KOREAN
        assert "".join(layout["lines"]).replace(" ", "") == KOREAN.replace(" ", "")
        assert layout["render"]["url"] == overlaid["render"]["url"] == overlaid["image_url"]
        assert layout["render"]["image_asset_id"] == overlaid["render"]["image_asset_id"]
        assert layout["proposal_id"] == overlaid["proposal_id"] == pick["proposal_id"]
        assert str(row["proposal_id"]) == planned["proposal_id"]  # the planner_proposals row it came from
        assert layout["font"] == "NotoSerifKR-Regular.otf" and layout["align"] == "right"
        # The proposal moved the box: the block sits at the top right of the picked box, not in the best one.
        bx, by, bw, bh = layout["box"]
        px, py, pw, ph = pick["box"]
        assert not _overlap(layout["box"], best)
        if layout["fits"]:
            assert by == py and bx + bw == px + pw
        # Hangul glyphs, not tofu: the text-coloured pixels are the serif Hangul glyphs.
        rendered = load_rgb(settings.assets_dir / overlaid["render"]["url"].removeprefix("/assets/"))
        colour = tuple(int(layout["colour"][i:i + 2], 16) for i in (1, 3, 5))
        hangul = _ink_agreement(rendered, layout, KOREAN, shipped_fonts()["NotoSerifKR-Regular"], colour)
        tofu = _ink_agreement(rendered, layout, KOREAN, TOFU_FONT, colour)
        assert hangul > 0.8 and tofu < 0.3, (hangul, tofu)

        oid = overlaid["overlay_id"]
        evaluations = {}
        for endpoint, kind in (("/api/yh/llava/stage2/judge", "llava_judge"), ("/api/yh/ocr/evaluate", "ocr"),
                               ("/api/yh/readability/evaluate", "readability"), ("/api/yh/iou/evaluate", "iou")):
            result = _done(post(endpoint, overlay_id=oid))
            stored = _one(db, "SELECT evaluation_type, overlay_id, metrics FROM evaluations WHERE evaluation_id = :e",
                          e=result["evaluation_id"])
            assert stored["evaluation_type"] == result["evaluation_type"] == kind and str(stored["overlay_id"]) == oid
            evaluations[kind] = (result, stored["metrics"])

        result, ocr = evaluations["ocr"]
        # Hangul and no Korean recogniser configured: not measured (the English one read 0.11 of it), not failed.
        assert ocr["status"] == "not_measured" and ocr["passed"] is None and result["status"] == "not_measured"
        assert ocr["ocr_accuracy"] is ocr["similarity"] is result["ocr_accuracy"] is None
        assert ocr["original_text"] == KOREAN and ocr["recognized_text"] == ocr["recognised_text"]
        result, read = evaluations["readability"]
        ratio = read["contrast_ratio"]
        assert read["wcag_aa_compliant"] is (ratio >= 4.5) and read["wcag_aaa_compliant"] is (ratio >= 7.0)
        assert read["text_color"] == layout["colour"] and read["readability_score"] == round(min(ratio / 7, 1), 4)
        result, overlap = evaluations["iou"]
        per = overlap["per_detection"]
        food = [d["iou"] for d in per if d["label"] == "salient_subject"]
        assert overlap["iou_with_food"] == (pytest.approx(max(food), abs=1e-6) if food else 0.0)
        assert overlap["overlap_detected"] is (overlap["max_iou"] > 0)
        assert overlap["max_iou_detection_id"] in ([None] if not overlap["overlap_detected"]
                                                   else detected["detection_ids"])
        assert evaluations["llava_judge"][0]["vlm_trace_id"]

        # One variant finished: the job stages run on their own job_id.
        def post_job(endpoint: str) -> httpx.Response:
            return httpx.post(base + endpoint, json={"job_id": job_id}, timeout=120)

        kor = _done(post_job("/api/yh/gpt/eng-to-kor"))
        assert _one(db, "SELECT ad_copy_kor, llm_trace_id FROM txt_ad_copy_generations WHERE ad_copy_gen_id = :g",
                    g=kor["ad_copy_gen_id"]) == {"ad_copy_kor": kor["ad_copy_kor"], "llm_trace_id": uuid.UUID(
                        kor["llm_trace_id"])}
        feed = _done(post_job("/api/yh/instagram/feed"))
        stored = _one(db, "SELECT instagram_ad_copy, hashtags, llm_trace_id FROM instagram_feeds WHERE job_id = :j",
                      j=job_id)
        assert (stored["instagram_ad_copy"], stored["hashtags"], str(stored["llm_trace_id"])) == (
            feed["instagram_ad_copy"], feed["hashtags"], feed["llm_trace_id"])
        assert feed["hashtags"].startswith("#")


def test_409s_say_which_state_holds_the_row(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path, enable_job_state_listener=False, enable_sweeper=False)
    with serve(create_app(settings, counting_handlers), settings.port):
        job_id, (vid,) = seedlib.create_job(db, settings.assets_dir, variants_count=1)
        base = f"http://127.0.0.1:{settings.port}"

        def refusal(step: str, status: str, retry_sql: str = "NULL") -> str:
            db.execute(text(f"UPDATE jobs_variants SET current_step = :s, status = :st, next_retry_at = {retry_sql} "
                            "WHERE job_variants_id = :v"), {"s": step, "st": status, "v": vid})
            db.commit()
            r = httpx.post(f"{base}/api/yh/yolo/detect", json={"job_id": job_id, "job_variants_id": vid})
            assert r.status_code == 409, r.text
            return r.json()["detail"]

        assert "the row is at (user_img_input, done)" in refusal("user_img_input", "done")
        assert "another run holds it" in refusal("yolo_detect", "running")
        assert "retry is due in" in refusal("yolo_detect", "failed", "clock_timestamp() + interval '1 hour'")
        assert "failed for good" in refusal("yolo_detect", "failed")
        # The text part is done here, so vlm_analyze's 409 is about the state, not the gate.
        r = httpx.post(f"{base}/api/yh/llava/stage1/validate", json={"job_id": job_id, "job_variants_id": vid})
        assert r.status_code == 409 and "waiting" not in r.json()["detail"]


def test_openapi_documents_each_stage_result_with_examples(tmp_path):
    from config import Settings
    from services.engine.pipeline import STAGES

    schema = create_app(Settings(_env_file=None, assets_dir=tmp_path)).openapi()
    parts = schema["components"]["schemas"]
    expected = {"vlm_analyze": {"vlm_trace_id", "is_valid"},
                "yolo_detect": {"detection_ids", "boxes", "forbidden_mask_url"},
                "planner": {"proposals", "proposal_id"}, "overlay": {"overlay_id", "render", "text"},
                "ocr_eval": {"evaluation_id"}, "iou_eval": {"evaluation_id"}, "vlm_judge": {"evaluation_id"},
                "readability_eval": {"evaluation_id"}, "ad_copy_gen_kor": {"llm_trace_id", "ad_copy_kor"},
                "instagram_feed_gen": {"llm_trace_id", "instagram_ad_copy", "hashtags"}}
    for stage in STAGES:
        ok = schema["paths"][stage.endpoint]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        out = parts[ok["$ref"].rsplit("/", 1)[1]]
        assert {"stage", "status", "attempt", "run_token", "result", "error"} <= set(out["properties"])
        result = parts[out["properties"]["result"]["anyOf"][0]["$ref"].rsplit("/", 1)[1]]
        assert expected[stage.name] <= set(result["required"]), stage.name
        assert expected[stage.name] <= set(result["examples"][0]), stage.name
    overlay_in = schema["paths"]["/api/yh/overlay"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    body = parts[overlay_in["$ref"].rsplit("/", 1)[1]]["properties"]
    assert {"text", "proposal_id", "x_align", "y_align", "font_name"} <= set(body)
