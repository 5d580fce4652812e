"""The served VLM (VLM_BACKEND=openai) through the engine, against a chat-completions server on loopback:
the image, schema and model in each request, malformed output re-asked, 429 retried, timeouts, traces."""
from __future__ import annotations

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from services.backends.served import Analysis, Judgement, ServedVlm
from test.conftest import app_settings, serve
from test.integration.helpers import job_finished, job_state, wait_for

MODEL = "llava-test"
SIDE = 256  # VLM_IMAGE_SIDE in these tests: every sample image (300-512 px short side) is shrunk to it
REPLIES = {
    "ad_image_analysis": {"suitable": True, "copy_fits": True, "subject": "a cup", "subject_box": [0.25, 0.5, 0.75, 1.0],
                          "free_regions": [[0.0, 0.0, 1.0, 0.25]], "reason": "calm area at the top"},
    "ad_image_judgement": {"legibility": 8.5, "placement": 7.0, "harmony": 7.5, "covers_product": False,
                           "overall": 7.75, "reason": "clear text on a calm sky"},
}
USAGE = {"ad_image_analysis": {"prompt_tokens": 601, "completion_tokens": 41, "total_tokens": 642},
         "ad_image_judgement": {"prompt_tokens": 611, "completion_tokens": 23, "total_tokens": 634}}
SCHEMAS = {"ad_image_analysis": Analysis, "ad_image_judgement": Judgement}


def _rows(db, sql: str, **params) -> list:
    db.rollback()  # a fresh snapshot
    return db.execute(text(sql), params).mappings().all()


class VisionServer:
    """/v1/models and /v1/chat/completions on 127.0.0.1; per schema a script of replies, then "ok"."""

    def __init__(self, script: dict[str, list[str]] | None = None) -> None:
        self.script = {k: list(v) for k, v in (script or {}).items()}  # "ok" | "malformed" | "429" | "hang"
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()  # ends hanging requests when the test is over
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                name = body["response_format"]["json_schema"]["name"]
                with outer._lock:
                    queue = outer.script.get(name) or ["ok"]
                    action = queue.pop(0) if len(queue) > 1 else queue[0]
                    outer.requests.append({"path": self.path, "schema": name, "action": action, "json": body})
                if action == "hang":
                    outer.release.wait(10)
                if action == "429":
                    return self._send(429, {"error": {"message": "Rate limit reached", "type": "rate_limit"}},
                                      {"retry-after-ms": "10"})
                content = '{"suitable": "perhaps", "copy_fits": tru' if action == "malformed" else json.dumps(
                    REPLIES[name])
                self._send(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": content}}],
                                 "usage": USAGE[name]})

            def _send(self, status: int, reply: dict, headers: dict | None = None) -> None:
                payload = json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    for key, value in {"content-type": "application/json", "content-length": str(len(payload)),
                                       **(headers or {})}.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def seen(self, schema: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["schema"] == schema]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def vision_server(request):
    server = VisionServer(getattr(request, "param", None))
    yield server
    server.close()


def _settings(db_url, tmp_path, server: VisionServer, **overrides):
    return app_settings(db_url, tmp_path, vlm_backend="openai", vlm_base_url=server.url, vlm_model=MODEL,
                        vlm_api_key="vlm-key", vlm_image_side=SIDE, vlm_concurrency=4, **overrides)


def _image(request_json: dict) -> Image.Image:
    """The picture inside a chat request's data URL."""
    parts = request_json["messages"][0]["content"]
    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    assert url.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


@pytest.mark.parametrize("vision_server", [{"ad_image_analysis": ["malformed", "ok"],
                                            "ad_image_judgement": ["429", "ok"]}], indirect=True)
def test_served_vlm_through_the_engine(db, db_url, tmp_path, vision_server):
    settings = _settings(db_url, tmp_path, vision_server)
    with serve(create_app(settings), settings.port):
        vlm = httpx.get(f"http://127.0.0.1:{settings.port}/healthz", timeout=10).json()["models"]["vlm"]
        job_id, variants = seedlib.start_job(db, settings.assets_dir, variants_count=3)
        wait_for(lambda: job_finished(db, job_id), 90, interval=0.2, what="the job's feed")
    assert vlm["backend"] == "openai" and vlm["loaded"] is True and vlm["error"] is None
    assert vlm["server"]["reachable"] is True and vlm["server"]["model_listed"] is True
    assert vlm["model"] == MODEL and vlm["base_url"] == vision_server.url and vlm["concurrency"] == 4

    # Each request: the model, the strict schema of its stage, the prompt and the image shrunk to SIDE.
    originals = {str(r["job_variants_id"]): (r["width"], r["height"]) for r in _rows(
        db, "SELECT v.job_variants_id, a.width, a.height FROM jobs_variants v JOIN image_assets a "
            "ON a.image_asset_id = v.img_asset_id WHERE v.job_id = :j", j=job_id)}
    sizes = set()
    for request in vision_server.requests:
        body = request["json"]
        assert request["path"] == "/v1/chat/completions" and body["model"] == MODEL
        assert body["response_format"] == {"type": "json_schema", "json_schema": {
            "name": request["schema"], "schema": SCHEMAS[request["schema"]].model_json_schema(), "strict": True}}
        image = _image(body)
        assert image.format == "JPEG" and min(image.size) == SIDE
        sizes.add(image.size)
    ratios = {round(w / h, 2) for w, h in originals.values()}
    assert {round(w / h, 2) for w, h in sizes} == ratios  # shrunk, never cropped or stretched
    assert seedlib.DEFAULT_AD_COPY in vision_server.seen("ad_image_analysis")[0]["json"]["messages"][0]["content"][1][
        "text"]

    # Malformed output was asked again once, with the bad reply and what was wrong with it.
    analyses = vision_server.seen("ad_image_analysis")
    assert [r["action"] for r in analyses] == ["malformed"] + ["ok"] * 3
    reasked = [r["json"]["messages"] for r in analyses if len(r["json"]["messages"]) == 3]
    assert len(reasked) == 1 and reasked[0][1]["content"].startswith('{"suitable": "perhaps"')
    assert "invalid" in reasked[0][2]["content"]
    # The 429 was retried by the SDK inside one stage attempt.
    assert [r["action"] for r in vision_server.seen("ad_image_judgement")] == ["429"] + ["ok"] * 3
    runs = _rows(db, "SELECT step, status, attempt FROM stage_runs WHERE step IN ('vlm_analyze', 'vlm_judge') "
                     "AND job_id = :j", j=job_id)
    assert len(runs) == 6 and {(r["status"], r["attempt"]) for r in runs} == {("done", 1)}

    traces = _rows(db, "SELECT * FROM vlm_traces WHERE job_id = :j ORDER BY pk", j=job_id)
    assert sorted(t["operation_type"] for t in traces) == ["analyze"] * 3 + ["judge"] * 3
    for trace in traces:
        schema = "ad_image_analysis" if trace["operation_type"] == "analyze" else "ad_image_judgement"
        response, request = trace["response"], trace["request"]
        assert trace["provider"] == "openai" and response["backend"] == "openai"
        assert request["model"] == MODEL and request["base_url"] == vision_server.url
        assert min(request["image_px"]) == SIDE and request["image_bytes"] > 0
        assert trace["latency_ms"] > 0 and response["model"] == MODEL
        usage = response["usage"]
        times = response["asked"]  # tokens of both replies when the first was malformed
        assert usage == {k: v * times for k, v in USAGE[schema].items()}
        for key, value in REPLIES[schema].items():
            if key not in ("subject_box", "free_regions"):
                assert response[key] == value, key
    assert sorted(t["response"]["asked"] for t in traces if t["operation_type"] == "analyze") == [1, 1, 2]
    assert sorted(t["response"]["attempts"] for t in traces if t["operation_type"] == "judge") == [1, 1, 2]
    for trace in (t for t in traces if t["operation_type"] == "analyze"):
        w, h = originals[str(trace["job_variants_id"])]
        assert trace["response"]["subject_box"] == [round(0.25 * w), round(0.5 * h), round(0.75 * w), h]
        assert trace["response"]["free_regions"] == [[0, 0, w, round(0.25 * h)]]

    judged = _rows(db, "SELECT e.metrics FROM evaluations e JOIN overlay_layouts o USING (overlay_id) "
                       "JOIN jobs_variants v USING (job_variants_id) WHERE v.job_id = :j "
                       "AND e.evaluation_type = 'llava_judge'", j=job_id)
    assert len(judged) == 3
    for row in judged:
        metrics = row["metrics"]
        assert metrics["backend"] == "openai" and metrics["overall"] == 7.75
        assert metrics["legibility"] == 8.5 and metrics["reason"] == REPLIES["ad_image_judgement"]["reason"]
        assert metrics["covers_product"] is False and metrics["passed"] is True


@pytest.mark.parametrize("vision_server", [{"ad_image_analysis": ["malformed"]}], indirect=True)
def test_malformed_output_twice_fails_the_stage_with_the_reason(db, db_url, tmp_path, vision_server):
    settings = _settings(db_url, tmp_path, vision_server)
    with serve(create_app(settings), settings.port):
        job_id, (variant_id,) = seedlib.start_job(db, settings.assets_dir, variants_count=1)
        wait_for(lambda: job_state(db, job_id) == ("iou_eval", "failed"), 60, interval=0.2, what="the job to fail")
    variant = _rows(db, "SELECT * FROM jobs_variants WHERE job_variants_id = :v", v=variant_id)[0]
    assert (variant["current_step"], variant["status"]) == ("vlm_analyze", "failed")
    assert "twice replied" in variant["last_error"] and "suitable" in variant["last_error"]
    assert variant["next_retry_at"] is None  # asked twice already: not retried again
    assert len(vision_server.seen("ad_image_analysis")) == 2
    assert _rows(db, "SELECT count(*) AS n FROM vlm_traces WHERE job_id = :j", j=job_id)[0]["n"] == 0


@pytest.mark.parametrize("vision_server", [{"ad_image_analysis": ["hang"]}], indirect=True)
def test_a_timeout_fails_the_stage_with_the_reason(db, db_url, tmp_path, vision_server):
    settings = _settings(db_url, tmp_path, vision_server, vlm_timeout_seconds=0.5, vlm_max_retries=1, max_retries=0)
    with serve(create_app(settings), settings.port):
        job_id, (variant_id,) = seedlib.start_job(db, settings.assets_dir, variants_count=1)
        wait_for(lambda: job_state(db, job_id) == ("iou_eval", "failed"), 60, interval=0.2, what="the job to fail")
    variant = _rows(db, "SELECT * FROM jobs_variants WHERE job_variants_id = :v", v=variant_id)[0]
    assert (variant["current_step"], variant["status"]) == ("vlm_analyze", "failed")
    assert "timed out after 0.5 s" in variant["last_error"] and MODEL in variant["last_error"]
    assert len(vision_server.seen("ad_image_analysis")) == 2  # the SDK's one retry, then the stage failed


def test_health_check_names_a_missing_model_and_an_unreachable_server(vision_server):
    listed = ServedVlm(vision_server.url, MODEL).check_server()
    assert listed["reachable"] is True and listed["model_listed"] is True and listed["models"] == [MODEL]
    other = ServedVlm(vision_server.url, "llava-other").check_server()
    assert other["reachable"] is True and other["model_listed"] is False and "llava-other" in other["error"]
    vision_server.close()
    down = ServedVlm(vision_server.url, MODEL).check_server(timeout=1.0)
    assert down["reachable"] is False and down["model_listed"] is False and "Connection" in down["error"]
