"""Reads beyond loopback need the key or a dashboard session; tenant read keys see one tenant; forms need their CSRF token."""
import re
import threading

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings
from test.engine_app import counting_handlers
from test.integration.helpers import wait_for
from test.integration.test_security_http import _outside_ip

KEY, PASSWORD, TENANT_A_KEY = "s3cret-key", "dashboard-pass", "tenant-a-read-key"


@pytest.fixture
def bound_everywhere(db_url, tmp_path):
    """The app bound to 0.0.0.0 (compose's APP_BIND_ADDRESS) with a key; yields (outside URL, loopback URL, settings)."""
    ip = _outside_ip()
    if ip is None:
        pytest.skip("this machine has no non-loopback interface to bind")
    settings = app_settings(db_url, tmp_path, api_key=KEY, dashboard_password=PASSWORD,
                            tenant_read_keys={"tenant-a": TENANT_A_KEY},
                            enable_job_state_listener=False, enable_sweeper=False)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, handlers_factory=counting_handlers), host="0.0.0.0",
                                           port=settings.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 60, what="server started")
        yield f"http://{ip}:{settings.port}", f"http://127.0.0.1:{settings.port}", settings
    finally:
        server.should_exit = True
        thread.join(30)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client: httpx.Client, secret: str) -> httpx.Response:
    """Log in through the form, as a browser does (its CSRF cookie and token first)."""
    page = client.get("/dashboard/login")
    return client.post("/dashboard/login", data={"password": secret, "csrf_token": _csrf(page.text), "next": "/dashboard"})


def _reads(job_id: str, image_url: str) -> list[str]:
    return ["/api/yh/jobs", f"/api/yh/jobs/{job_id}", "/dashboard", f"/dashboard/jobs/{job_id}", image_url,
            f"/api/yh/jobs/{job_id}/bundle", "/openapi.json"]


def test_on_a_non_loopback_bind_every_read_needs_the_key_or_a_session(bound_everywhere, db):
    outside, loopback, settings = bound_everywhere
    job_id, (variant_id, *_) = seedlib.create_job(db, settings.assets_dir, tenant_id="tenant-a", variants_count=2)
    image_url = db.execute(text("SELECT image_url FROM image_assets WHERE job_id = :j LIMIT 1"), {"j": job_id}).scalar()
    with httpx.Client(base_url=outside) as anonymous:
        for path in _reads(job_id, image_url):
            answer = anonymous.get(path)
            assert answer.status_code == 401, (path, answer.status_code)
            assert "Fresh roasted" not in answer.text and "해오름" not in answer.text, path
        assert 'name="password"' in anonymous.get("/dashboard").text  # a browser is shown the login form
        assert anonymous.get("/healthz").status_code == 200  # OPS_ENDPOINTS_OPEN: monitoring scrapes it
        assert anonymous.get("/metrics").status_code == 200
        assert anonymous.get("/dashboard", headers={"X-API-Key": "wrong"}).status_code == 401
    with httpx.Client(base_url=outside, headers={"X-API-Key": KEY}) as keyed:
        for path in _reads(job_id, image_url):
            assert keyed.get(path).status_code == 200, path
    for secret in (KEY, PASSWORD):
        with httpx.Client(base_url=outside) as browser:
            assert login(browser, "not it").status_code == 401
            done = login(browser, secret)
            assert done.status_code == 303 and done.headers["location"] == "/dashboard"
            cookie = done.headers["set-cookie"]
            assert "dash_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie, cookie
            for path in _reads(job_id, image_url):
                assert browser.get(path).status_code == 200, path
            page = browser.get(f"/dashboard/jobs/{job_id}")
            assert "해오름 커피" in page.text  # the store's name on the review page
            token = _csrf(page.text)
            assert browser.post("/dashboard/logout", data={}).status_code == 403  # no CSRF token
            assert browser.get("/dashboard").status_code == 200
            assert browser.post("/dashboard/logout", data={"csrf_token": token}).status_code == 303
            stolen = {"dash_session": done.cookies["dash_session"]}
            assert httpx.get(f"{outside}/api/yh/jobs", cookies=stolen).status_code == 401  # revoked in the database
    with httpx.Client(base_url=loopback) as local:  # this machine itself: reads stay open (READ_AUTH=network)
        assert local.get("/api/yh/jobs").status_code == 200 and local.get("/dashboard").status_code == 200


def test_a_tenant_key_reads_its_own_tenant_only(bound_everywhere, db):
    outside, _, settings = bound_everywhere
    mine, _ = seedlib.create_job(db, settings.assets_dir, tenant_id="tenant-a", variants_count=1)
    theirs, _ = seedlib.create_job(db, settings.assets_dir, tenant_id="tenant-b", variants_count=1)
    url = {j: db.execute(text("SELECT image_url FROM image_assets WHERE job_id = :j"), {"j": j}).scalar()
           for j in (mine, theirs)}
    with httpx.Client(base_url=outside, headers={"X-API-Key": TENANT_A_KEY}) as tenant:
        listed = {j["job_id"] for j in tenant.get("/api/yh/jobs").json()}
        assert listed == {mine}
        assert {j["job_id"] for j in tenant.get("/api/yh/jobs", params={"tenant_id": "tenant-b"}).json()} == {mine}
        assert tenant.get(f"/api/yh/jobs/{mine}").status_code == 200
        for path in (f"/api/yh/jobs/{theirs}", f"/dashboard/jobs/{theirs}", url[theirs], f"/api/yh/jobs/{theirs}/bundle"):
            answer = tenant.get(path)
            assert answer.status_code == 404 and "tenant-b" not in answer.text, path
        assert tenant.get(url[mine]).status_code == 200
        board = tenant.get("/dashboard", params={"tenant_id": "tenant-b"}).text
        assert mine in board and theirs not in board
        assert tenant.post(f"/api/yh/jobs/{mine}/retry", json={}).status_code == 401  # a read key writes nothing
    with httpx.Client(base_url=outside) as browser:  # the tenant key as a dashboard login: same scope, no actions
        assert login(browser, TENANT_A_KEY).status_code == 303
        assert browser.get(f"/dashboard/jobs/{theirs}").status_code == 404
        page = browser.get(f"/dashboard/jobs/{mine}")
        assert page.status_code == 200 and "confirm/retry" not in page.text
        refused = browser.post(f"/dashboard/jobs/{mine}/actions/retry", data={"csrf_token": _csrf(page.text)})
        assert refused.status_code == 403


def test_a_dashboard_form_without_its_csrf_token_is_refused(bound_everywhere, db):
    outside, _, settings = bound_everywhere
    job_id, _ = seedlib.create_job(db, settings.assets_dir, variants_count=1)
    db.execute(text("UPDATE jobs_variants SET status = 'failed', current_step = 'planner', retry_count = 3 "
                    "WHERE job_id = :j"), {"j": job_id})
    db.commit()

    def retry_count():
        db.rollback()
        return db.execute(text("SELECT retry_count FROM jobs_variants WHERE job_id = :j"), {"j": job_id}).scalar()
    with httpx.Client(base_url=outside) as browser:
        assert login(browser, KEY).status_code == 303
        confirm = browser.get(f"/dashboard/jobs/{job_id}/confirm/retry")
        assert confirm.status_code == 200 and f'action="/dashboard/jobs/{job_id}/actions/retry"' in confirm.text
        action = f"/dashboard/jobs/{job_id}/actions/retry"
        for fields in ({}, {"csrf_token": ""}, {"csrf_token": "guessed"}):
            answer = browser.post(action, data=fields)
            assert answer.status_code == 403 and "CSRF" in answer.text, fields
        assert retry_count() == 3  # nothing happened
        done = browser.post(action, data={"csrf_token": _csrf(confirm.text)})
        assert done.status_code == 303
        assert retry_count() == 0  # requeued by the same code as POST /api/yh/jobs/{id}/retry
        page = browser.get(f"/dashboard/jobs/{job_id}", params={"lang": "en"})
        assert 'data-testid="flash" data-ok="true" data-action="retry"' in page.text and "variants_requeued" in page.text
        assert browser.post(f"/dashboard/jobs/{job_id}/actions/rerun",
                            data={"csrf_token": _csrf(confirm.text), "from_step": "nonsense"}).status_code == 422
        cancel = browser.get(f"/dashboard/jobs/{job_id}/confirm/cancel")
        assert browser.post(f"/dashboard/jobs/{job_id}/actions/cancel",
                            data={"csrf_token": _csrf(cancel.text)}).status_code == 303
        page = browser.get(f"/dashboard/jobs/{job_id}", params={"lang": "en"}).text
        assert 'data-testid="flash" data-ok="true" data-action="cancel"' in page
        assert 'data-outcome="cancelled"' in page and "action-cancel" not in page  # final: no second cancel offered
        assert 'data-testid="action" data-action="retry"' in page
        assert 'data-testid="action" data-action="cancel"' in page
        db.rollback()
        actors = db.execute(text("SELECT actor FROM operator_actions WHERE job_id = :j"), {"j": job_id}).scalars().all()
        assert len(actors) == 2 and all(a.startswith("dashboard:api_key") for a in actors), actors
    with httpx.Client(base_url=outside) as stranger:  # no session: the token of someone else's page is no use
        stranger.get("/dashboard/login")
        assert stranger.post(action, data={"csrf_token": _csrf(confirm.text)}).status_code in (401, 403)
    assert retry_count() == 0
