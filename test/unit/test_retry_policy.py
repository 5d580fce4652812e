"""Which failures the runner retries, and how long it waits."""
import uuid

from config import Settings
from services.engine.pipeline import BY_NAME
from services.engine.runner import StageRunner
from services.engine.stage_types import StageContext
from services.errors import InputError
from services.text.llm import LlmUnavailableError


def _ctx(attempt: int) -> StageContext:
    return StageContext(BY_NAME["planner"], uuid.uuid4(), uuid.uuid4(), "t", uuid.uuid4(), attempt)


def test_retry_policy():
    runner = StageRunner(None, Settings(_env_file=None, max_retries=2, retry_base_seconds=1.0), {})
    assert 0.8 <= runner.retry_delay(_ctx(1), RuntimeError("boom")) <= 1.2
    assert 1.6 <= runner.retry_delay(_ctx(2), RuntimeError("boom")) <= 2.4  # exponential
    assert runner.retry_delay(_ctx(3), RuntimeError("boom")) is None  # MAX_RETRIES used up
    assert runner.retry_delay(_ctx(1), InputError("no image")) is None  # bad input: never
    assert runner.retry_delay(_ctx(1), LlmUnavailableError("401", retryable=False)) is None
    assert runner.retry_delay(_ctx(1), LlmUnavailableError("503", retryable=True)) is not None
