"""Every backend of a port passes that port's one test (PgQueuer-style), built the way the stages build it."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from config import Settings
from services.backends.factory import make_detector, make_faces, make_llm, make_ocr, make_subject_detector, make_vlm
from services.backends.ports import Detector, Llm, Ocr, UnavailableBackend, Vlm
from services.imaging.detect import Detection
from services.imaging.imageio import load_rgb
from services.imaging.saliency import saliency_map
from services.text.llm import LlmResult
from test.tiny_llava import build_tiny_llava
from test.unit.samples import SAMPLES
from test.unit.test_detect import yolo_weights  # noqa: F401 - the fixture: random-weight YOLOv8n, no download

ANALYZE_KEYS = {"backend", "suitable", "copy_fits", "subject", "subject_box", "free_regions", "reason", "measurements"}
JUDGE_KEYS = {"backend", "legibility", "placement", "harmony", "covers_product", "overall", "reason"}
MEASURED = {"contrast_ratio": 7.2, "rea": 0.8, "occ": 0.05, "max_iou": 0.0, "face_overlap": 0.0}
REPLIES = {  # what a served model answers, per response schema (the VLM's two) or for any other call (the LLM's)
    "ad_image_analysis": {"suitable": True, "copy_fits": True, "subject": "a cup", "subject_box": [0.25, 0.5, 0.75, 1.0],
                          "free_regions": [[0.0, 0.0, 1.0, 0.25]], "reason": "calm area at the top"},
    "ad_image_judgement": {"legibility": 8.5, "placement": 7.0, "harmony": 7.5, "covers_product": False,
                           "overall": 7.75, "reason": "clear text on a calm sky"},
    None: {"ad_copy_kor": "갓 볶은 원두 커피", "hashtags": ["#커피"]}}


def _settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="module")
def chat_server():
    """/v1/models and /v1/chat/completions on loopback, answering every request with REPLIES."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self._send({"object": "list", "data": [{"id": "served-test", "object": "model"}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            schema = (body.get("response_format") or {}).get("json_schema", {}).get("name")
            self._send({"id": "c", "object": "chat.completion", "created": 0, "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop", "message": {
                            "role": "assistant", "content": json.dumps(REPLIES.get(schema, REPLIES[None]))}}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

        def _send(self, reply):
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def coffee() -> np.ndarray:
    return load_rgb(SAMPLES / "coffee.png")


@pytest.fixture(params=["default", "llava", "openai"])
def vlm(request, tmp_path_factory) -> Vlm:
    if request.param == "llava":
        path = build_tiny_llava(tmp_path_factory.mktemp("llava") / "tiny-llava")
        return make_vlm(_settings(vlm_backend="llava", llava_model_path=str(path), fallback_to_default=False))[0]
    if request.param == "openai":
        url = request.getfixturevalue("chat_server")
        return make_vlm(_settings(vlm_backend="openai", vlm_base_url=url, vlm_model="served-test"))[0]
    return make_vlm(_settings())[0]


def test_every_vlm_answers_the_two_questions(vlm, coffee):
    assert isinstance(vlm, Vlm) and isinstance(vlm.name, str) and vlm.describe()
    h, w = coffee.shape[:2]
    analysis = vlm.analyze(coffee, "Fresh coffee daily")
    assert ANALYZE_KEYS <= set(analysis)
    assert isinstance(analysis["suitable"], bool) and isinstance(analysis["copy_fits"], bool)
    for x1, y1, x2, y2 in analysis["free_regions"]:
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    judgement = vlm.judge(coffee, [20, 20, 200, 60], MEASURED)
    assert JUDGE_KEYS <= set(judgement)
    assert all(isinstance(judgement[k], float) and 0 <= judgement[k] <= 10
               for k in ("legibility", "placement", "harmony", "overall"))
    assert isinstance(judgement["covers_product"], bool)


@pytest.fixture(params=["saliency", "yolo", "faces", "with_faces"])
def detector(request) -> Detector:
    if request.param == "yolo":
        weights = request.getfixturevalue("yolo_weights")
        return make_subject_detector(_settings(detector_backend="yolo", yolo_weights_path=str(weights),
                                               fallback_to_default=False))[0]
    if request.param == "faces":
        return make_faces(_settings())[0]
    if request.param == "with_faces":
        return make_detector(_settings())[0]
    return make_subject_detector(_settings())[0]


@pytest.mark.parametrize("sample", ["coffee", "astronaut"])
def test_every_detector_gives_boxes_inside_the_frame(detector, sample):
    rgb = load_rgb(SAMPLES / f"{sample}.png")
    h, w = rgb.shape[:2]
    assert isinstance(detector, Detector) and detector.describe()["name"]
    for found in (detector.detect(rgb, saliency_map(rgb)), detector.detect(rgb)):
        for d in found:
            assert isinstance(d, Detection) and isinstance(d.label, str) and 0 <= d.score <= 1
            x1, y1, x2, y2 = d.box
            assert -1 <= x1 < x2 <= w + 1 and -1 <= y1 < y2 <= h + 1, d


def _korean_model_dir() -> str:
    return _settings().ocr_korean_model_dir


@pytest.fixture(params=["english", "korean"])
def ocr(request) -> Ocr:
    if request.param == "korean":
        if not _korean_model_dir():
            pytest.skip("no Korean recogniser configured (OCR_KOREAN_MODEL_DIR)")
        return make_ocr(_settings(ocr_korean_model_dir=_korean_model_dir()), korean=True)[0]
    return make_ocr(_settings())[0]


def test_every_ocr_reads_one_answer_per_box(ocr):
    grey = np.full((60, 400), 255, np.uint8)
    cv2.putText(grey, "COFFEE", (10, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 0, 3)
    assert isinstance(ocr, Ocr) and isinstance(ocr.name, str)
    words = ocr.read_words(grey, [[0, 200, 0, 60], [0, 400, 0, 60]])
    assert len(words) == 2
    assert all(isinstance(text, str) and 0 <= float(conf) <= 1 for text, conf in words)


@pytest.fixture(params=["offline", "openai"])
def llm(request) -> Llm:
    if request.param == "openai":
        url = request.getfixturevalue("chat_server")
        return make_llm(_settings(openai_base_url=url, openai_model="served-test", openai_max_retries=0))[0]
    return make_llm(_settings(openai_base_url="", openai_api_key=""))[0]


def test_every_llm_returns_a_traceable_json_object(llm):
    assert isinstance(llm, Llm) and llm.name and llm.model
    context = {"ad_copy_eng": "Fresh coffee daily", "tone": "친근한", "desc_kor": "커피", "store_title": "카페"}
    result = llm.complete_json([{"role": "user", "content": "Translate: Fresh coffee daily"}], operation="eng_to_kor",
                               temperature=0.0, max_tokens=100, context=context)
    assert isinstance(result, LlmResult) and isinstance(result.data, dict) and result.data.get("ad_copy_kor")
    assert result.provider == llm.name and result.model == llm.model and result.latency_ms >= 0


def test_a_backend_that_did_not_load_keeps_every_port_and_raises_its_reason(tmp_path):
    missing = str(Path(tmp_path) / "nope")
    vlm, status = make_vlm(_settings(vlm_backend="llava", llava_model_path=missing, fallback_to_default=False))
    det, _ = make_subject_detector(_settings(detector_backend="yolo", yolo_weights_path=missing,
                                             fallback_to_default=False))
    for backend in (vlm, det):
        assert isinstance(backend, UnavailableBackend) and status["loaded"] is False
    assert isinstance(vlm, Vlm) and isinstance(det, Detector)
    with pytest.raises(RuntimeError, match="unavailable"):
        det.detect(np.zeros((8, 8, 3), np.uint8))
