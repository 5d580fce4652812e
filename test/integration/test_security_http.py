"""Hostile HTTP input on a real app: assets only as images, browser-safe headers, no form posts or foreign
Host, clean 401/422/503 answers, forged NOTIFY payloads logged on one line, foreign image URLs shown as text."""
import os
import shutil
import socket
import threading
import uuid

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.engine_app import counting_handlers
from test.integration.helpers import job_finished, wait_for

KEY = "s3cret"


@pytest.fixture
def quiet_app(db_url, tmp_path):
    """The app with no-op stages and no engine (nothing runs by itself); yields (settings, base URL, app)."""
    def start(**overrides):
        settings = app_settings(db_url, tmp_path, enable_job_state_listener=False, enable_sweeper=False, **overrides)
        app = create_app(settings, handlers_factory=counting_handlers)
        return settings, app
    return start


def test_assets_are_served_only_as_images(quiet_app, tmp_path):
    settings, app = quiet_app()
    assets = settings.assets_dir
    shutil.copy(seedlib.SAMPLE_IMAGES[0], assets / "real.png")
    shutil.copy(seedlib.SAMPLE_IMAGES[0], assets / "real.jpg")  # a PNG named .jpg: the bytes decide
    (assets / "evil.html").write_text("<script>alert(document.cookie)</script>")
    (assets / "evil.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    (assets / "html.png").write_text("<html><script>alert(1)</script></html>")  # right name, wrong bytes
    (tmp_path / "outside.png").write_bytes(seedlib.SAMPLE_IMAGES[0].read_bytes())
    os.symlink(tmp_path / "outside.png", assets / "link_out.png")
    os.symlink(assets / "loop_b.png", assets / "loop_a.png")
    os.symlink(assets / "loop_a.png", assets / "loop_b.png")
    with serve(app, settings.port):
        base = f"http://127.0.0.1:{settings.port}/assets"
        for name in ("real.png", "real.jpg"):
            ok = httpx.get(f"{base}/{name}")
            assert ok.status_code == 200 and ok.headers["content-type"] == "image/png", name
            assert ok.headers["x-content-type-options"] == "nosniff"
            assert "default-src 'none'" in ok.headers["content-security-policy"]
            assert ok.content == seedlib.SAMPLE_IMAGES[0].read_bytes()
        for name in ("evil.html", "evil.svg", "html.png", "link_out.png", "loop_a.png", "missing.png", "",
                     "../outside.png", "%2e%2e/outside.png"):
            refused = httpx.get(f"{base}/{name}")
            assert refused.status_code == 404, (name, refused.status_code)
            assert "script" not in refused.text


def test_html_pages_carry_security_headers_and_docs_need_no_cdn(quiet_app):
    settings, app = quiet_app()
    with serve(app, settings.port), httpx.Client(base_url=f"http://127.0.0.1:{settings.port}") as client:
        for path in ("/dashboard", "/docs", f"/dashboard/jobs/{uuid.uuid4()}"):
            page = client.get(path)
            assert page.headers["content-type"].startswith("text/html"), path
            csp = page.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, path
            assert page.headers["referrer-policy"] == "no-referrer" and page.headers["x-frame-options"] == "DENY"
            assert "http://" not in page.text and "https://" not in page.text, path  # nothing from another origin
        assert client.get("/docs/static/swagger-ui-bundle.js").status_code == 200
        assert "SwaggerUIBundle" in client.get("/docs/init.js").text
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/redoc").status_code == 404  # ReDoc only exists as a CDN page


def test_form_posts_and_foreign_hosts_are_refused(quiet_app, db):
    settings, app = quiet_app()
    job_id, _ = seedlib.create_job(db, settings.assets_dir, variants_count=1)
    db.execute(text("UPDATE jobs_variants SET status = 'failed', current_step = 'planner' WHERE job_id = :j"),
               {"j": job_id})
    db.commit()
    with serve(app, settings.port), httpx.Client(base_url=f"http://127.0.0.1:{settings.port}") as client:
        retry = f"/api/yh/jobs/{job_id}/retry"
        # What a cross-site <form method=post> can send: no custom header, a "simple" content type.
        for content_type in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"):
            answer = client.post(retry, content=b"", headers={"Content-Type": content_type})
            assert answer.status_code == 415, (content_type, answer.text)
        assert client.post(retry).status_code == 415  # no body at all
        db.rollback()
        assert db.execute(text("SELECT next_retry_at FROM jobs_variants WHERE job_id = :j"), {"j": job_id}).scalar() is None
        assert client.post(retry, headers={"X-Requested-With": "cli"}).json()["variants_requeued"] == 1
        assert client.post(retry, json={}).status_code == 200

        # DNS rebinding: the browser sends the attacker's name as Host.
        assert client.get("/api/yh/jobs", headers={"Host": "evil.example"}).status_code == 400
        assert client.get("/dashboard", headers={"Host": "evil.example:8000"}).status_code == 400
        assert client.get("/api/yh/jobs", headers={"Host": f"localhost:{settings.port}"}).status_code == 200
    settings, app = quiet_app(allowed_hosts="pipeline.internal")
    with serve(app, settings.port), httpx.Client(base_url=f"http://127.0.0.1:{settings.port}") as client:
        assert client.get("/api/yh/jobs", headers={"Host": "pipeline.internal"}).status_code == 200
        assert client.get("/api/yh/jobs", headers={"Host": "evil.example"}).status_code == 400
        assert client.get("/api/yh/jobs").status_code == 200  # the local IP the connection arrived on


def test_hostile_values_give_clean_4xx_and_db_errors_say_little(quiet_app, db):
    settings, app = quiet_app(api_key=KEY)
    job_id, (variant_id, *_) = seedlib.create_job(db, settings.assets_dir, variants_count=1)
    with serve(app, settings.port), httpx.Client(base_url=f"http://127.0.0.1:{settings.port}") as client:
        body = ('{"job_id": "%s", "job_variants_id": "%s", "tenant_id": "\\ud800"}' % (job_id, variant_id)).encode()
        answer = client.post("/api/yh/planner", content=body,
                             headers={"Content-Type": "application/json", "X-API-Key": KEY})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", "tenant_id"]
        for key in (b"\xff\xfe", "schl\u00fcssel".encode("utf-8"), b"s3cret\xe9"):
            assert client.post("/api/yh/planner", json={}, headers={"X-API-Key": key}).status_code == 401, key

        async def database_down(stage, body):
            raise ConnectionRefusedError(111, "Connect call failed ('10.1.2.3', 5432) user=postgres dbname=prod")
        app.state.runner.run = database_down
        down = client.post("/api/yh/planner", json={"job_id": job_id, "job_variants_id": variant_id},
                           headers={"X-API-Key": KEY})
        assert down.status_code == 503 and down.json() == {"detail": "database unavailable"}


def test_forged_notify_payload_logs_one_escaped_line(db_url, tmp_path, db, capfd):
    settings = app_settings(db_url, tmp_path, enable_sweeper=False)
    err = []
    with serve(create_app(settings, handlers_factory=counting_handlers), settings.port):
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{settings.port}/healthz").json()["listener_connected"], 30,
                 what="listener connected")
        forged = 'x"}\n2026-01-01 00:00:00,000 INFO app admin password reset for root'
        def forged_logged() -> bool:
            # Sent again on every poll: a NOTIFY that races the listener's start is not the point here.
            db.execute(text("SELECT pg_notify('job_variant_state_changed', :p)"), {"p": forged})
            db.commit()
            # The app logs to stdout through its own handler (setup_logging): read what reached the terminal.
            err.append(capfd.readouterr().out)
            return "malformed NOTIFY" in "".join(err)
        wait_for(forged_logged, 30, what="the malformed NOTIFY logged")
    lines = [line for line in "".join(err).splitlines() if "admin password reset" in line]
    # Each forged payload is one escaped line: no line of its own starts with the forged timestamp.
    assert lines and all("malformed NOTIFY" in line and "\\n2026-01-01" in line for line in lines), lines


def test_dashboard_renders_only_local_asset_urls_as_images(quiet_app, db):
    settings, app = quiet_app()
    job_id, (foreign, local) = seedlib.create_job(db, settings.assets_dir, variants_count=2)
    db.execute(text("""UPDATE image_assets SET image_url = 'http://tracker.example/pixel.png' WHERE image_asset_id =
                       (SELECT img_asset_id FROM jobs_variants WHERE job_variants_id = :v)"""), {"v": foreign})
    db.commit()
    with serve(app, settings.port):
        page = httpx.get(f"http://127.0.0.1:{settings.port}/dashboard/jobs/{job_id}").text
    assert 'src="http://tracker.example' not in page and "http://tracker.example/pixel.png" in page
    assert page.count('data-testid="img-original"') == 1  # the local one is still an image
    assert 'data-testid="img-original-url"' in page


def _outside_ip() -> str | None:
    """A non-loopback address of this machine (the route to a documentation address; nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.254", 9))
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def test_a_launcher_binding_every_interface_without_a_key_answers_only_on_loopback(quiet_app):
    ip = _outside_ip()
    if ip is None:
        pytest.skip("no non-loopback interface")
    settings, app = quiet_app()  # HOST=127.0.0.1, no key; the launcher (not main.py) binds 0.0.0.0 in a thread
    server = uvicorn.Server(uvicorn.Config(app, host="0.0.0.0", port=settings.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 60, what="server started")
        outside = httpx.post(f"http://{ip}:{settings.port}/api/yh/jobs/{uuid.uuid4()}/retry", json={})
        assert outside.status_code == 403 and "API_KEY" in outside.text
        assert httpx.get(f"http://{ip}:{settings.port}/api/yh/jobs").status_code == 403
        assert httpx.get(f"http://127.0.0.1:{settings.port}/api/yh/jobs").status_code == 200
    finally:
        server.should_exit = True
        thread.join(30)


def test_swagger_ui_renders_in_chromium_under_its_csp(quiet_app):
    from test.integration.test_dashboard import CHROMIUM, CHROMIUM_ARGS, _require_browser

    sync_playwright = _require_browser()
    settings, app = quiet_app()
    with serve(app, settings.port), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems, outside = [], []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: outside.append(r.url) if f":{settings.port}/" not in r.url
                    and not r.url.startswith("data:") else None)
            page.goto(f"http://127.0.0.1:{settings.port}/docs")
            page.wait_for_selector(".opblock", timeout=60_000)  # operations rendered from /openapi.json
            assert page.locator(".opblock").count() >= 10
        finally:
            browser.close()
    assert not [p for p in problems if "Content Security Policy" in p], problems
    assert outside == []


def test_a_stage_host_sharing_the_key_gets_the_work_and_one_with_another_key_gets_nothing(db_url, tmp_path, db):
    stage_host = app_settings(db_url, tmp_path / "gpu", api_key=KEY, enable_job_state_listener=False,
                              enable_sweeper=False, assets_dir=tmp_path / "assets")
    impostor = app_settings(db_url, tmp_path / "imp", api_key="another-key", enable_job_state_listener=False,
                            enable_sweeper=False, assets_dir=tmp_path / "assets")
    with serve(create_app(stage_host, handlers_factory=counting_handlers), stage_host.port), \
            serve(create_app(impostor, handlers_factory=counting_handlers), impostor.port):
        engine = app_settings(db_url, tmp_path, api_key=KEY, stage_base_url=f"http://127.0.0.1:{stage_host.port}")
        with serve(create_app(engine, handlers_factory=counting_handlers), engine.port):
            job_id, _ = seedlib.start_job(db, engine.assets_dir, variants_count=1)
            wait_for(lambda: job_finished(db, job_id), 120, interval=0.2, what="the job finished on the stage host")
            proven = httpx.get(f"http://127.0.0.1:{engine.port}/healthz").json()
        assert proven["ok"] and proven["dispatch_target"] == f"http://127.0.0.1:{stage_host.port}", proven
        # The same engine pointed at an instance with another key holds everything (its key never leaves).
        engine = app_settings(db_url, tmp_path, api_key=KEY, stage_base_url=f"http://127.0.0.1:{impostor.port}")
        with serve(create_app(engine, handlers_factory=counting_handlers), engine.port):
            wait_for(lambda: "another service" in (httpx.get(f"http://127.0.0.1:{engine.port}/healthz").json()
                                                   ["dispatch_problem"] or ""), 30, what="the impostor refused")
            assert httpx.get(f"http://127.0.0.1:{engine.port}/healthz").status_code == 503
