"""GPU health in /healthz and /metrics: on a machine without CUDA, a clean "no CUDA device" in the same
shape a GPU machine reports, from the process that holds LLaVA (the vlm worker) or the app itself."""
from __future__ import annotations

import httpx
import pytest

from main import create_app
from test.conftest import app_settings, serve
from test.integration.helpers import wait_for
from test.tiny_llava import build_tiny_llava

NO_GPU = {"available": False, "reason": "no CUDA device", "devices": [], "oom_count": 0}


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    return build_tiny_llava(tmp_path_factory.mktemp("llava") / "tiny-llava")


def _metrics(port: int) -> dict[str, float]:
    lines = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text.splitlines()
    return {name: float(value) for name, value in (line.rsplit(" ", 1) for line in lines
                                                   if line.startswith("pipeline_gpu"))}


def test_default_backend_reports_no_cuda_device_from_the_app_process(db_url, tmp_path):
    settings = app_settings(db_url, tmp_path)
    with serve(create_app(settings), settings.port):
        gpu = httpx.get(f"http://127.0.0.1:{settings.port}/healthz", timeout=10).json()["gpu"]
        assert gpu == {**NO_GPU, "device": None}
        assert _metrics(settings.port) == {"pipeline_gpu_available": 0.0, "pipeline_gpu_oom_total": 0.0}


def test_llava_in_its_worker_process_reports_the_gpu_and_takes_a_batch_of_requests(db_url, tmp_path, tiny_llava):
    settings = app_settings(db_url, tmp_path, vlm_backend="llava", llava_model_path=str(tiny_llava),
                            fallback_to_default=False, worker_processes=1, llava_max_batch_size=4)
    with serve(create_app(settings), settings.port):
        url = f"http://127.0.0.1:{settings.port}/healthz"
        # The vlm process sends its report every couple of seconds, unasked.
        health = wait_for(lambda: (h := httpx.get(url, timeout=10).json())["gpu"].get("device") and h, 60,
                          interval=0.2, what="the vlm worker's GPU report")
        assert health["gpu"] == {**NO_GPU, "device": "cpu"}  # LLaVA's own view: it runs on the CPU here
        assert health["workers"]["vlm"]["slots"] == 8  # vlm_analyze 4 + vlm_judge 4 at once, batched
        assert health["models"]["vlm"]["active"] == "llava:tiny-llava"
        assert _metrics(settings.port) == {"pipeline_gpu_available": 0.0, "pipeline_gpu_oom_total": 0.0}
