"""In-process LLaVA micro-batching on the tiny model: same answers as alone, batches that fill, OOM splits."""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from services.backends.llava import LlavaVlm
from test.tiny_llava import build_tiny_llava

MEASURED = {"contrast_ratio": 5.2, "occ": 0.1, "iou": 0.0, "rea": 0.1}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    return build_tiny_llava(tmp_path_factory.mktemp("llava") / "tiny-llava")


def _images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 255, (48 + 8 * i, 64, 3), dtype=np.uint8) for i in range(n)]


def _requests(n: int) -> list:
    """Analyses and judgements mixed: prompts of different lengths and different max_new_tokens."""
    calls = []
    for i, rgb in enumerate(_images(n)):
        if i % 2:
            calls.append(("judge", rgb, [4, 4, 20 + i, 10], MEASURED))
        else:
            calls.append(("analyze", rgb, "Iced coffee season" + " now" * i))
    return calls


def _run(vlm: LlavaVlm, calls: list) -> list[str]:
    """Every call at once from its own thread (as the vlm worker's slots do); the raw replies in order."""
    start = threading.Barrier(len(calls))

    def one(call):
        start.wait()
        return getattr(vlm, call[0])(*call[1:])["raw_reply"]

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def test_batched_answers_equal_serial_answers(model_dir):
    calls = _requests(8)
    serial_vlm = LlavaVlm(str(model_dir), max_batch_size=1)
    serial = [getattr(serial_vlm, c[0])(*c[1:])["raw_reply"] for c in calls]
    batched_vlm = LlavaVlm(str(model_dir), max_batch_size=8, batch_wait_ms=5000)
    batched = _run(batched_vlm, calls)
    assert batched_vlm._batcher.batches == [8] and batched_vlm._batcher.calls == 1  # one generate for all 8
    assert serial_vlm._batcher.calls == 8
    assert len(set(serial)) > 1  # the replies differ by image and question: equality below means something
    assert batched == serial


def test_a_batch_fills_under_load_and_a_lone_request_waits_at_most_the_window(model_dir):
    vlm = LlavaVlm(str(model_dir), max_batch_size=4, batch_wait_ms=5000)
    _run(vlm, _requests(12))
    assert vlm._batcher.batches == [4, 4, 4]
    assert vlm._batcher.waits[0] < 2.5  # closed when full, not at the 5 s window

    lone = LlavaVlm(str(model_dir), max_batch_size=8, batch_wait_ms=300)
    lone.analyze(_images(1)[0], "Iced coffee season")
    assert lone._batcher.batches == [1]
    assert 0.29 <= lone._batcher.waits[0] <= 0.3 + 1.0  # the window, and not much more (a loaded machine)


def test_an_out_of_memory_error_halves_the_batch_and_retries(model_dir):
    calls = _requests(4)
    serial_vlm = LlavaVlm(str(model_dir), max_batch_size=1)
    serial = [getattr(serial_vlm, c[0])(*c[1:])["raw_reply"] for c in calls]
    vlm = LlavaVlm(str(model_dir), max_batch_size=4, batch_wait_ms=5000)
    real, sizes = vlm._batcher.run_batch, []

    def oom_above_two(items):  # what a GPU with room for two does
        sizes.append(len(items))
        if len(items) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return real(items)

    vlm._batcher.run_batch = oom_above_two
    assert _run(vlm, calls) == serial
    assert sizes == [4, 2, 2]
    assert vlm.health()["gpu"]["oom_count"] == 1 and vlm.health()["batching"]["oom_count"] == 1


def test_an_item_that_runs_out_of_memory_alone_fails_only_then(model_dir):
    vlm = LlavaVlm(str(model_dir), max_batch_size=2, batch_wait_ms=5000)
    sizes = []

    def always_oom(items):
        sizes.append(len(items))
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    vlm._batcher.run_batch = always_oom
    calls = _requests(2)
    with pytest.raises(torch.OutOfMemoryError):
        _run(vlm, calls)
    assert sizes == [2, 1, 1] and vlm._batcher.ooms == 3
    vlm._batcher.run_batch = lambda items: ["{}"] * len(items)  # the batcher's thread survived the errors
    assert vlm.analyze(_images(1)[0], "x")["raw_reply"] == "{}"


def test_gpu_health_on_a_machine_without_cuda_says_so(model_dir):
    health = LlavaVlm(str(model_dir)).health()
    assert health["gpu"] == {"available": False, "reason": "no CUDA device", "devices": [], "oom_count": 0,
                             "device": "cpu"}
    assert health["batching"]["max_batch_size"] == 1


def test_a_model_that_cannot_load_on_the_gpu_says_why(model_dir):
    with pytest.raises(RuntimeError, match=r"LLaVA could not load on cuda \(no CUDA device\): "):
        LlavaVlm(str(model_dir), device="cuda")


def test_closing_stops_the_batching_thread_and_frees_the_model(model_dir):
    import gc
    import weakref

    vlm = LlavaVlm(str(model_dir), max_batch_size=2, batch_wait_ms=10)
    vlm.analyze(_images(1)[0], "x")
    thread, model = vlm._batcher._thread, weakref.ref(vlm._model)
    vlm.close()
    thread.join(10)
    assert not thread.is_alive()
    del vlm
    gc.collect()
    assert model() is None  # nothing holds the weights any more
