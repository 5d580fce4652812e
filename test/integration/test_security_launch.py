"""Real processes started the ways people start them: the address they dispatch to, the open-bind refusal,
and memory staying flat when a huge body is refused before it is read."""
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from main import server_options
from scripts import seedlib
from test.conftest import app_settings, free_port
from test.integration.helpers import job_finished, wait_for
from test.integration.procs import ROOT, AppProcess

KEY = "launch-key"


class Capture(ThreadingHTTPServer):
    """A listener that records every request and answers 200 `{}` (as a foreign service on the configured port)."""

    def __init__(self):
        self.seen: list[tuple[str, str, str | None]] = []  # (method, path, X-API-Key)
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                capture.seen.append((self.command, self.path, self.headers.get("X-API-Key")))
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
            do_GET = do_POST = _record

            def log_message(self, *args):
                pass
        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def capture():
    server = Capture()
    yield server
    server.shutdown()


@pytest.fixture
def launch(db_url, tmp_path):
    """Start `uvicorn test.engine_app:app` (no-op stages) with extra CLI args and env; stopped afterwards."""
    procs = []

    def start(port: int, *args, wait=True, env=None, **settings):
        proc = AppProcess(db_url, port, tmp_path / "assets", **settings)
        proc.env.update(env or {})  # settings that differ from what uvicorn is told on the command line
        procs.append(proc)
        cmd = [sys.executable, "-m", "uvicorn", "test.engine_app:app", "--port", str(port), *args,
               "--log-level", "warning"]
        if wait:
            return proc.start(cmd=cmd)
        proc.proc = subprocess.Popen(cmd, cwd=ROOT, env=proc.env, stderr=subprocess.PIPE, text=True)
        return proc
    yield start
    for proc in procs:
        proc.stop()


def test_started_on_another_port_the_pipeline_runs_and_nothing_goes_to_the_configured_port(launch, capture, db):
    port = free_port()
    # PORT (the setting) names the capture listener; uvicorn really binds `port`.
    app = launch(port, "--host", "127.0.0.1", env={"PORT": str(capture.port)}, api_key=KEY)
    job_id, _ = seedlib.start_job(db, app.assets_dir, variants_count=2)
    wait_for(lambda: job_finished(db, job_id), 120, interval=0.2, what="the job finished")
    health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
    assert health["ok"] and health["dispatch_target"] == f"http://127.0.0.1:{port}", health
    assert capture.seen == [] or all(key is None and method == "GET" for method, _, key in capture.seen), capture.seen


def test_a_target_that_is_not_this_service_gets_nothing_and_healthz_says_why(launch, capture, db):
    app = launch(free_port(), "--host", "127.0.0.1", api_key=KEY,
                 stage_base_url=f"http://127.0.0.1:{capture.port}")
    seedlib.start_job(db, app.assets_dir, variants_count=1)

    def held() -> float:
        text = httpx.get(f"{app.base}/metrics").text
        return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "pipeline_dispatches_total" and s.labels.get("http_status") == "held")
    wait_for(held, 60, interval=0.2, what="a dispatch held back")
    health = httpx.get(f"{app.base}/healthz")
    assert health.status_code == 503 and not health.json()["ok"]
    assert "another service" in health.json()["dispatch_problem"], health.json()
    assert capture.seen and all(m == "GET" and p.startswith("/healthz?challenge=") and k is None
                                for m, p, k in capture.seen), capture.seen


def test_an_open_bind_without_a_key_refuses_to_start(launch):
    refused = launch(free_port(), "--host", "0.0.0.0", wait=False)  # HOST (the setting) is 127.0.0.1
    assert refused.proc.wait(120) != 0
    assert "API_KEY must be set" in refused.proc.stderr.read()
    # All of 127.0.0.0/8 is loopback, whatever HOST says.
    loop = launch(free_port(), "--host", "127.0.0.2", env={"HOST": "0.0.0.0"}, wait=False)
    wait_for(lambda: loop.proc.poll() is not None or _answers(f"http://127.0.0.2:{loop.port}/healthz"), 120,
             interval=0.2, what="the 127.0.0.2 app up")
    assert loop.proc.poll() is None


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _post_raw(port: int, head: bytes, body_chunks) -> bytes:
    """Send a request over a raw socket, stopping when the server answers; returns the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed while we were still sending: that is the point
        try:
            return sock.recv(65536).split(b"\r\n", 1)[0]
        except OSError:
            return b""


@pytest.mark.parametrize("api_key", ["", KEY])
def test_a_15_mb_body_is_refused_before_it_is_read(launch, api_key):
    app = launch(free_port(), "--host", "127.0.0.1", api_key=api_key)
    body = b"[" + b"{}," * 5_000_000 + b"{}]"  # 15 MB of tiny JSON objects: ~400 MB once parsed
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    before = _rss_kb(app.proc.pid)
    head = (f"POST /api/yh/planner HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    expected = b"401" if api_key else b"413"
    assert expected in _post_raw(app.port, head, chunks)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    head = b"POST /api/yh/planner HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" \
           b"Transfer-Encoding: chunked\r\n" + (f"X-API-Key: {KEY}\r\n".encode() if api_key else b"") + b"\r\n"
    assert b"413" in _post_raw(app.port, head, [chunked[i:i + 65536] for i in range(0, len(chunked), 65536)])
    grown_mb = (_rss_kb(app.proc.pid) - before) / 1024
    print(f"RSS growth after two 15 MB bodies: {grown_mb:.1f} MB")
    assert grown_mb < 40, grown_mb
    assert _answers(f"{app.base}/healthz")


def test_python_main_py_binds_the_settings_and_dispatches_there(db_url, tmp_path):
    settings = app_settings(db_url, tmp_path, shutdown_grace_seconds=7)
    assert server_options(settings) == {"host": "127.0.0.1", "port": settings.port, "timeout_graceful_shutdown": 7}
    app = AppProcess(db_url, settings.port, tmp_path / "assets")
    try:
        app.start(wait=300, cmd=[sys.executable, "main.py"])  # real model backends load here
        health = wait_for(lambda: httpx.get(f"{app.base}/healthz").json(), 60, what="healthz")
        wait_for(lambda: httpx.get(f"{app.base}/healthz").json()["dispatch_target"], 60, what="target verified")
        assert httpx.get(f"{app.base}/healthz").json()["dispatch_target"] == app.base, health
    finally:
        app.stop()
