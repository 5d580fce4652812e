"""The VLM stages' concurrency follows the backend: served = VLM_CONCURRENCY, in-process LLaVA = LLAVA_MAX_BATCH_SIZE."""
import asyncio

from config import Settings
from services.backends.served import VlmOutputError, encode_image
from services.engine.dispatch import Dispatcher
from services.engine.pipeline import BY_NAME, STAGES, VLM_STAGES, concurrency
from services.engine.runner import StageRunner
from services.engine.stage_types import StageHandler
from services.imaging.imageio import load_rgb
from test.unit.samples import SAMPLES

SERVED = Settings(_env_file=None, vlm_backend="openai", vlm_base_url="http://127.0.0.1:9/v1", vlm_concurrency=16)
IN_PROCESS = Settings(_env_file=None, vlm_backend="llava", vlm_concurrency=16, llava_max_batch_size=4)
DEFAULT = Settings(_env_file=None, vlm_concurrency=16, llava_max_batch_size=4)


class _ServedHandler(StageHandler):
    io_bound = True


def test_served_vlm_stages_take_vlm_concurrency_and_nothing_else_changes():
    for stage in STAGES:
        expected = 16 if stage.name in VLM_STAGES else stage.concurrency
        assert concurrency(stage, SERVED) == expected, stage.name
        assert concurrency(stage, IN_PROCESS) == (4 if stage.name in VLM_STAGES else stage.concurrency), stage.name
        assert concurrency(stage, DEFAULT) == stage.concurrency, stage.name
    assert {concurrency(BY_NAME[name], DEFAULT) for name in VLM_STAGES} == {1}  # the measured default: CPU-bound


def test_runner_and_dispatcher_size_their_slots_from_the_backend():
    handlers = {"vlm_analyze": _ServedHandler(), "vlm_judge": _ServedHandler(), "ocr_eval": StageHandler()}
    runner = StageRunner(None, SERVED, handlers)
    assert runner._slots["vlm_analyze"].free() == 16 and runner._slots["vlm_judge"].free() == 16
    assert runner._slots["ocr_eval"].free() == BY_NAME["ocr_eval"].concurrency
    # The served stages wait on HTTP in threads of their own, one per slot of all tenants together (twice the
    # stage's concurrency, which is per tenant); CPU stages keep the shared pool.
    assert runner._pools["vlm_analyze"]._max_workers == 32 and "ocr_eval" not in runner._pools
    assert StageRunner(None, IN_PROCESS, {})._slots["vlm_analyze"].free() == 4  # LLaVA batches them
    dispatcher = Dispatcher(None, SERVED)
    assert dispatcher.per_tenant["vlm_judge"] == 32  # twice the stage's slots in flight per tenant, as for every stage
    assert dispatcher.senders["vlm_judge"] == 64  # and all tenants together twice that, as the runner's slots
    asyncio.run(dispatcher.client.aclose())


def test_image_is_shrunk_to_the_model_input_and_never_enlarged():
    import base64
    import io

    from PIL import Image

    rgb = load_rgb(SAMPLES / "astronaut.png", 40_000_000, 10_000)
    url, size, nbytes = encode_image(rgb[:, :400], 336)  # 512 x 400: short side 400 -> 336
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.size == size == (336, 430) and nbytes < 60_000
    assert encode_image(rgb[:200, :300], 336)[1] == (300, 200)
    assert VlmOutputError.retryable is False
