"""The completion signal: NOTIFY job_finished and a signed webhook from the outbox, delivered exactly once per job
(by delivery id) even when the service is SIGKILLed between the commit and the delivery."""
import json
import select
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
from sqlalchemy import text

from scripts import seedlib
from services.ops.outbox import ID_HEADER, SIGNATURE_HEADER, verify_signature
from test.conftest import free_port
from test.integration.helpers import job_finished, wait_for
from test.integration.procs import AppProcess

SECRET = "whsec-test-0123456789"


class Receiver:
    """A webhook endpoint: while `hold` is set it keeps requests open (then 503); afterwards it verifies and 200s."""

    def __init__(self) -> None:
        self.held: list[str] = []  # delivery ids of requests kept open
        self.accepted: list[dict] = []  # {"id", "verified", "payload"}
        self.hold, self.release = threading.Event(), threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                delivery = self.headers.get(ID_HEADER)
                if outer.hold.is_set():
                    with outer.lock:
                        outer.held.append(delivery)
                    outer.release.wait(30)
                    self.send_response(503)
                    self.end_headers()
                    return
                verified = verify_signature(SECRET, self.headers.get(SIGNATURE_HEADER), body)
                with outer.lock:
                    outer.accepted.append({"id": delivery, "verified": verified, "payload": json.loads(body)})
                self.send_response(200 if verified else 400)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/creative"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _listen(db_url: str):
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    conn.cursor().execute("LISTEN job_finished")
    return conn


def _notifications(conn, until, timeout: float = 60) -> list[dict]:
    """job_finished payloads received until `until(payloads)` holds."""
    got: list[dict] = []

    def poll():
        select.select([conn], [], [], 0.2)
        conn.poll()
        while conn.notifies:
            got.append(json.loads(conn.notifies.pop(0).payload))
        return until(got)
    wait_for(poll, timeout, interval=0, what="job_finished notifications")
    return got


def test_one_verified_delivery_per_job_even_when_killed_between_commit_and_delivery(db, db_url, tmp_path):
    receiver = Receiver()
    listener = _listen(db_url)
    env = dict(webhook_url=receiver.url, webhook_secret=SECRET, webhook_timeout_seconds=3,
               webhook_retry_base_seconds=0.5, webhook_poll_seconds=0.2, worker_processes=0)
    receiver.hold.set()
    first = AppProcess(db_url, free_port(), tmp_path, module="main", **env).start(wait=120)
    second = None
    try:
        jobs = [seedlib.start_job(db, tmp_path, variants_count=1) for _ in range(2)]
        for job_id, _ in jobs:
            wait_for(lambda job_id=job_id: job_finished(db, job_id), 120, interval=0.2, what="the job's post")
        # Both deliveries are in flight (committed, sent, unanswered): kill the process now.
        wait_for(lambda: len(set(receiver.held)) == 2, 30, interval=0.05, what="both deliveries in flight")
        first.kill()
        receiver.hold.clear()
        receiver.release.set()
        second = AppProcess(db_url, free_port(), tmp_path, module="main", **env).start(wait=120)
        wait_for(lambda: len({a["id"] for a in receiver.accepted}) >= 2, 60, interval=0.1,
                 what="the restarted service delivered the outbox rows")
        notes = _notifications(listener, lambda got: len(got) >= 2)
    finally:
        first.kill()
        if second:
            second.stop()
        receiver.close()
        listener.close()

    assert all(a["verified"] for a in receiver.accepted), receiver.accepted
    by_job: dict[str, set] = {}
    for a in receiver.accepted:
        by_job.setdefault(a["payload"]["job_id"], set()).add(a["id"])
    assert set(by_job) == {job_id for job_id, _ in jobs}
    assert all(len(ids) == 1 for ids in by_job.values()), by_job  # one delivery id per job
    assert {i for ids in by_job.values() for i in ids} == set(receiver.held)  # the same id as the cut-off one
    assert sorted(n["job_id"] for n in notes) == sorted(by_job)  # one NOTIFY per job
    for job_id, (variant,) in jobs:
        payload = next(a["payload"] for a in receiver.accepted if a["payload"]["job_id"] == job_id)
        db.rollback()
        overlaid, feed = db.execute(text(
            "SELECT a.image_url, f.instagram_feed_id FROM jobs_variants v JOIN image_assets a "
            "ON a.image_asset_id = v.overlaid_img_asset_id JOIN instagram_feeds f ON f.job_id = v.job_id "
            "WHERE v.job_variants_id = :v"), {"v": variant}).one()
        assert payload["outcome"] == "done" and payload["tenant_id"] == "ye_pipeline_test_tenant", payload
        assert payload["selected_variant_id"] == variant
        assert payload["overlaid_image_url"] == overlaid and payload["instagram_feed_id"] == str(feed)
        note = next(n for n in notes if n["job_id"] == job_id)
        assert note == payload
        (row,) = db.execute(text("SELECT delivery_id, attempts, delivered_at FROM job_outbox WHERE job_id = :j"),
                            {"j": job_id}).all()
        assert str(row[0]) == payload["delivery_id"] and row[2] is not None and row[1] >= 2
