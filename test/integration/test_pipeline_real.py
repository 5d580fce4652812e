"""The real stages (default backends) through the engine: seeded job to finished Instagram post."""
import uuid

import httpx
from PIL import Image
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.integration.helpers import job_finished, job_state, wait_for


def _count(db, sql, **params):
    db.rollback()
    return db.execute(text(sql), params).scalar()


def test_three_variant_job_reaches_the_feed(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings), settings.port):
        job_id, variants = seedlib.start_job(db, settings.assets_dir, variants_count=3)
        wait_for(lambda: job_finished(db, job_id), 120, interval=0.2, what="the job's feed")
        base = f"http://127.0.0.1:{settings.port}"
        detail = httpx.get(f"{base}/api/yh/jobs/{job_id}").json()

        for variant in detail["variants"]:
            assert (variant["current_step"], variant["status"]) == ("iou_eval", "done"), variant
            assert set(variant["evaluations"]) == {"llava_judge", "ocr", "readability", "iou"}
            path = settings.assets_dir / variant["overlaid_image_url"].removeprefix("/assets/")
            with Image.open(path) as img:
                assert img.size[0] > 100
            assert httpx.get(base + variant["overlaid_image_url"]).status_code == 200
            # Every Instagram format rendered, stored as a render of its own with its format named (issue 28).
            sizes = {f["format"]: (f["width"], f["height"]) for f in variant["formats"]}
            assert sizes == {"1:1": (1080, 1080), "4:5": (1080, 1350), "9:16": (1080, 1920)}, variant["formats"]
            for f in variant["formats"]:
                with Image.open(settings.assets_dir / f["image_url"].removeprefix("/assets/")) as img:
                    assert img.size == sizes[f["format"]]
                assert httpx.get(base + f["image_url"]).status_code == 200
                # Checked in the overlay stage: contrast, faces and the service's reader on the format's own render.
                checks = f["checks"]
                assert checks["contrast_after"] >= 4.5 and checks["text_over_face"] is False and checks["whole"], f
                assert checks["ocr"]["status"] == "measured" and checks["ocr"]["passed"], checks["ocr"]
            assert _count(db, "SELECT count(*) FROM renders WHERE overlay_id = :o AND format = 'original'",
                          o=variant["overlay_id"]) == 1
        page = httpx.get(f"{base}/dashboard/jobs/{job_id}").text
        assert page.count('data-testid="img-format"') == 3 * len(detail["variants"])
        assert page.count('data-testid="format-ocr"') == 3 * len(detail["variants"])
        assert sum(v["selected"] for v in detail["variants"]) == 1
        assert _count(db, "SELECT count(*) FROM instagram_feeds WHERE job_id = :j", j=job_id) == 1
        assert _count(db, "SELECT count(*) FROM txt_ad_copy_generations WHERE job_id = :j AND "
                          "generation_stage = 'eng_to_kor'", j=job_id) == 1
        feed = detail["instagram_feed"]
        assert feed["hashtags"].startswith("#") and feed["provider"] == "offline"
        assert any("\uac00" <= ch <= "\ud7a3" for ch in detail["ad_copy_kor"])
        assert _count(db, "SELECT count(DISTINCT provider) FROM vlm_traces WHERE job_id = :j", j=job_id) == 1
        assert _count(db, "SELECT count(*) FROM yolo_runs WHERE job_id = :j", j=job_id) == 3

        # A caller's overlay_id must be the variant's latest overlay: checked before any claim.
        variant = detail["variants"][0]
        body = {"job_id": job_id, "job_variants_id": variant["job_variants_id"]}
        stranger = httpx.post(f"{base}/api/yh/ocr/evaluate", json={**body, "overlay_id": str(uuid.uuid4())})
        assert stranger.status_code == 404
        own = httpx.post(f"{base}/api/yh/ocr/evaluate", json={**body, "overlay_id": variant["overlay_id"]})
        assert own.status_code == 409  # the right overlay, but the variant is not at (vlm_judge, done)
        assert _count(db, "SELECT count(*) FROM jobs_variants WHERE job_id = :j AND current_step = 'iou_eval' "
                          "AND status = 'done'", j=job_id) == 3

        # Re-running an evaluation for the same overlay replaces its row instead of adding one.
        first = variants[0]
        db.execute(text("UPDATE jobs_variants SET current_step = 'ocr_eval', status = 'done' WHERE job_variants_id = :v"),
                   {"v": first})
        db.commit()
        wait_for(lambda: _count(db, "SELECT count(*) FROM stage_runs WHERE job_variants_id = :v AND step = 'iou_eval' "
                                    "AND status = 'done'", v=first) == 2, 60, what="evaluations re-ran")
        assert _count(db, "SELECT count(*) FROM evaluations e JOIN overlay_layouts o USING (overlay_id) "
                          "WHERE o.job_variants_id = :v", v=first) == 4

        # Running the two job stages again replaces the feed; it never adds a second one.
        db.execute(text("UPDATE jobs SET current_step = 'iou_eval', status = 'done' WHERE job_id = :j"), {"j": job_id})
        db.commit()
        wait_for(lambda: job_state(db, job_id) == ("instagram_feed_gen", "done") and _count(
            db, "SELECT count(*) FROM stage_runs WHERE job_id = :j AND step = 'instagram_feed_gen'", j=job_id) == 2,
            60, what="job stages re-ran")
        assert _count(db, "SELECT count(*) FROM instagram_feeds WHERE job_id = :j", j=job_id) == 1
        assert _count(db, "SELECT count(*) FROM txt_ad_copy_generations WHERE job_id = :j AND "
                          "generation_stage = 'eng_to_kor'", j=job_id) == 1
