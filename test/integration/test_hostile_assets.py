"""Hostile images fail their own variant with the reason stored; the others finish; the app stays up."""
import io
import os

import httpx
import numpy as np
from PIL import Image
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.integration.helpers import job_finished, wait_for


def _write_hostile(assets, outside):
    """Each hostile case as an image_url, with the reason we expect to see stored."""
    (outside / "secret.png").write_bytes((seedlib.SAMPLE_IMAGES[0]).read_bytes())
    os.symlink(outside / "secret.png", assets / "link_out.png")
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")  # 400 Mpx, a few kB compressed
    (assets / "bomb.png").write_bytes(bomb.getvalue())
    good = seedlib.SAMPLE_IMAGES[0].read_bytes()
    (assets / "truncated.png").write_bytes(good[: len(good) // 3])
    (assets / "text.png").write_text("this is not an image\n")
    Image.new("RGB", (1, 1), "red").save(assets / "tiny.png")
    Image.fromarray(np.full((200, 12_000, 3), 128, np.uint8)).save(assets / "wide.png")
    # 81 Mpx: under Pillow's own bomb limit and the side limit; only MAX_IMAGE_PIXELS stops it.
    Image.new("1", (9_000, 9_000)).save(assets / "big.png")
    return {
        "/assets/../secret.png": "escapes",
        f"{outside}/secret.png": "outside",
        "/assets/link_out.png": "escapes",
        "/assets/bomb.png": "decompression bomb",
        "/assets/truncated.png": "unreadable",
        "/assets/text.png": "unreadable",
        "/assets/tiny.png": "too small",
        "/assets/wide.png": "over the limit",
        "/assets/big.png": "9000x9000: over the limit",
        "/assets/missing.png": "does not exist",
    }


def test_hostile_assets_fail_their_variant_only(db, db_url, tmp_path):
    settings = app_settings(db_url, tmp_path)
    settings.assets_dir.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    cases = _write_hostile(settings.assets_dir, outside)
    with serve(create_app(settings), settings.port):
        job_id, variants = seedlib.create_job(db, settings.assets_dir, variants_count=len(cases) + 1)
        hostile = dict(zip(variants[1:], cases.items()))
        for variant, (url, _) in hostile.items():
            asset = db.execute(text("INSERT INTO image_assets (image_type, image_url) VALUES ('generated', :u) "
                                    "RETURNING image_asset_id"), {"u": url}).scalar()
            db.execute(text("UPDATE jobs_variants SET img_asset_id = :a WHERE job_variants_id = :v"),
                       {"a": asset, "v": variant})
        db.commit()
        seedlib.simulate_image_part(db, job_id)
        wait_for(lambda: job_finished(db, job_id), 120, interval=0.2, what="job finished with one good variant")
        assert httpx.get(f"http://127.0.0.1:{settings.port}/healthz").json()["ok"] is True
    rows = {str(r[0]): r[1:] for r in db.execute(text(
        "SELECT job_variants_id, current_step, status, last_error, next_retry_at, retry_count FROM jobs_variants "
        "WHERE job_id = :j"), {"j": job_id})}
    assert rows[variants[0]][:2] == ("iou_eval", "done")
    for variant, (url, reason) in hostile.items():
        step, status, error, next_retry, retries = rows[variant]
        assert (step, status) == ("vlm_analyze", "failed"), (url, rows[variant])
        assert reason in error and "InputError" in error, (url, error)
        assert next_retry is None and retries == 0  # bad input is not retried
    assert not (outside / "overlaid").exists()
