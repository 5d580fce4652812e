"""The dashboard: a real 3-variant job shown in headless Chromium, and plain-HTTP checks of the pages."""
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from main import create_app
from routers import dashboard
from scripts import seedlib
from test.conftest import app_settings, serve
from test.engine_app import counting_handlers
from test.integration.helpers import job_finished, wait_for

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _require_browser():
    """Playwright's sync API for Debian's Chromium; anything missing is a failure, not a skip (CI installs both)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the `playwright` Python package is missing: pip install playwright")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's browser with `apt-get install -y chromium` "
                    "(`playwright install` is not used)")
    return sync_playwright


def _db_value(db, sql, **params):
    db.rollback()
    return db.execute(text(sql), params).scalar()


def test_dashboard_in_chromium_shows_a_finished_job(db, db_url, tmp_path):
    sync_playwright = _require_browser()
    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings), settings.port):
        job_id, _ = seedlib.start_job(db, settings.assets_dir, variants_count=3)
        wait_for(lambda: job_finished(db, job_id), 120, interval=0.2, what="the job's feed")
        base = f"http://127.0.0.1:{settings.port}"
        detail = httpx.get(f"{base}/api/yh/jobs/{job_id}").json()
        selected_id = str(_db_value(db, "SELECT job_variants_id FROM jobs_variants WHERE job_id = :j AND selected",
                                    j=job_id))
        kor = _db_value(db, "SELECT ad_copy_kor FROM txt_ad_copy_generations WHERE job_id = :j "
                            "AND generation_stage = 'eng_to_kor' AND status = 'done'", j=job_id)
        hashtags = _db_value(db, "SELECT hashtags FROM instagram_feeds WHERE job_id = :j", j=job_id)

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            requests, problems = [], []
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/dashboard/jobs/{job_id}", wait_until="load")

            images = page.eval_on_selector_all("img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth])")
            assert len(images) == 16, images  # original + overlaid + the 1:1, 4:5, 9:16 formats per variant, the post's image
            assert all(width > 0 for _, width in images), images
            assert page.get_by_test_id("img-format").count() == 9
            assert page.get_by_test_id("job-step").inner_text() == detail["current_step"] == "instagram_feed_gen"
            assert page.get_by_test_id("job-status").inner_text() == "done"
            assert page.get_by_test_id("job-progress").inner_text() == "100%"
            assert page.locator("meta[http-equiv=refresh]").count() == 0  # finished: no more refreshing
            assert page.get_by_test_id("selected-variant-id").inner_text() == selected_id
            assert page.get_by_test_id("selected-badge").count() == 1

            assert page.get_by_test_id("variant").count() == 3
            page.eval_on_selector_all("details", "els => els.forEach(e => { e.open = true; })")  # engineering detail
            for variant in detail["variants"]:
                card = page.locator(f'[data-variant-id="{variant["job_variants_id"]}"]')
                assert card.get_by_test_id("variant-step").inner_text() == variant["current_step"]
                assert card.get_by_test_id("variant-status").inner_text() == variant["status"]
                assert card.get_by_test_id("selected-badge").count() == (1 if variant["selected"] else 0)
                for step in card.get_by_test_id("step-row").all():
                    assert step.get_by_test_id("step-status").inner_text() == "done", step.inner_text()
                contrast = variant["evaluations"]["readability"]["contrast_ratio"]
                row = card.locator("[data-testid=eval-readability] [data-testid=metric-contrast_ratio]")
                assert float(row.get_attribute("data-value")) == contrast
                assert row.get_by_test_id("metric-value").inner_text() == f"{contrast:.4g}"
                for kind in ("llava_judge", "ocr", "readability", "iou"):
                    assert card.get_by_test_id(f"eval-{kind}").get_by_test_id("eval-passed").inner_text() in (
                        "PASS", "FAIL")
                assert card.get_by_test_id("note-recognised_text").count() == 1
            assert page.get_by_test_id("ad-copy-kor").inner_text() == kor == detail["ad_copy_kor"]
            assert [t.inner_text() for t in page.get_by_test_id("hashtag").all()] == hashtags.split()
            assert page.get_by_test_id("feed-provider").inner_text() == detail["instagram_feed"]["provider"]

            page.evaluate("document.fonts.ready.then(() => true)")  # Hangul from /dashboard/font.otf
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard_job.png"), full_page=True)

            page.goto(f"{base}/dashboard", wait_until="load")
            row = page.locator(f'[data-testid=job-row][data-job-id="{job_id}"]')
            assert row.get_by_test_id("job-status").inner_text() == "done"
            assert row.get_by_test_id("job-variants").inner_text() == "3/3"
            page.screenshot(path=str(ARTIFACTS / "dashboard_list.png"))
            row.get_by_test_id("job-link").click()
            page.wait_for_url(f"{base}/dashboard/jobs/{job_id}")
            browser.close()
        assert not problems, problems
        assert all(url.startswith(base) for url in requests), [u for u in requests if not u.startswith(base)]


def test_dashboard_http_is_filtered_escaped_and_its_forms_need_a_token(db, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_FAIL_STAGE", "planner")  # counting handlers: planner always raises
    settings = app_settings(db_url, tmp_path, max_retries=1)
    with serve(create_app(settings, handlers_factory=counting_handlers), settings.port):
        job_x, _ = seedlib.create_job(db, settings.assets_dir, tenant_id="x", variants_count=2)
        job_y, _ = seedlib.create_job(db, settings.assets_dir, tenant_id="<script>alert(1)</script>", variants_count=1)
        base = f"http://127.0.0.1:{settings.port}"

        everything = httpx.get(f"{base}/dashboard")
        assert everything.status_code == 200 and everything.headers["content-type"].startswith("text/html")
        assert job_x in everything.text and job_y in everything.text
        assert "<script>alert(1)</script>" not in everything.text and "&lt;script&gt;" in everything.text
        only_x = httpx.get(f"{base}/dashboard", params={"tenant_id": "x"}).text
        assert job_x in only_x and job_y not in only_x
        assert "No jobs" in httpx.get(f"{base}/dashboard", params={"tenant_id": "nobody", "lang": "en"}).text

        page = httpx.get(f"{base}/dashboard/jobs/{job_x}")
        assert page.status_code == 200
        assert 'http-equiv="refresh"' in page.text  # not finished: the page refreshes itself
        for html in (everything.text, page.text):  # a form that changes something carries its CSRF token
            assert 'method="post"' not in html or 'name="csrf_token"' in html
        assert httpx.get(f"{base}/dashboard/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
        assert httpx.get(f"{base}/dashboard/jobs/not-a-uuid").status_code == 422

        failing, _ = seedlib.start_job(db, settings.assets_dir, tenant_id="x", variants_count=2)
        wait_for(lambda: _db_value(db, "SELECT status FROM jobs WHERE job_id = :j", j=failing) == "failed", 30,
                 what="every variant failed")
        failed_page = httpx.get(f"{base}/dashboard/jobs/{failing}").text
        assert "RuntimeError: planner always fails (test)" in failed_page and "no retries left" in failed_page
        assert 'data-testid="job-variants">2/2<' in failed_page and 'http-equiv="refresh"' not in failed_page

        assert httpx.post(f"{base}/dashboard", json={}).status_code == 405
        assert httpx.post(f"{base}/dashboard/jobs/{job_x}").status_code == 405  # the review page itself takes no posts
        assert httpx.post(f"{base}/dashboard/jobs/{job_x}/actions/retry").status_code == 403  # no CSRF token
        assert all(r.methods == {"GET"} for r in dashboard.router.routes)
        assert httpx.get(f"{base}/dashboard/font.otf").headers["content-type"] == "font/otf"  # Hangul, served locally
