"""An app with no-op stage handlers that count executions (the tests, the engine benchmark, the chaos run)."""
import os
import threading
import time

from main import create_app
from services.engine.stage_types import StageHandler
from services.ops import store
from services.ops.store import EXECUTIONS_DDL  # noqa: F401 - where the tests and benchmarks import it from


class CountingHandler(StageHandler):
    """Records the execution, optionally sleeps or fails, writes nothing else."""

    def __init__(self, stage: str, settings=None):
        self.stage = stage
        # TEST_LLM_STAGES: these stages make one real call through the text stages' provider (OPENAI_BASE_URL,
        # rate limits included), e.g. to a services/ops/fake_provider.py server (issue 26's rate-limit tests).
        self.llm = None
        if settings is not None and stage in os.environ.get("TEST_LLM_STAGES", "").split(","):
            from services.backends.factory import make_llm
            from services.ops.ratelimit import limited_client
            self.llm = make_llm(settings, limited_client("openai", settings, settings.openai_timeout_seconds, 150))[0]
        self.sleep = float(os.environ.get("TEST_SLOW_SECONDS", "0")) if os.environ.get("TEST_SLOW_STAGE") == stage else 0
        self.fail = os.environ.get("TEST_FAIL_STAGE") == stage
        if stage in os.environ.get("TEST_PROCESS_STAGES", "").split(","):
            self.process_group = "cpu"  # run in a supervised worker process
        # TEST_MISBEHAVE (hang | busy | abort) on this stage, for TEST_MISBEHAVE_ROW's first attempts
        self.misbehave = os.environ.get("TEST_MISBEHAVE") if os.environ.get("TEST_MISBEHAVE_STAGE") == stage else None

    async def load(self, conn, ctx):
        await store.record_test_execution(conn, stage=self.stage, row_id=ctx.job_variants_id or ctx.job_id,
                                          run_token=ctx.run_token, pid=os.getpid())
        return {"row": str(ctx.job_variants_id or ctx.job_id), "attempt": ctx.attempt}

    def run(self, inputs):
        if self.misbehave and inputs["row"] == os.environ.get("TEST_MISBEHAVE_ROW") and \
                inputs["attempt"] <= int(os.environ.get("TEST_MISBEHAVE_ATTEMPTS", "1")):
            _misbehave(self.misbehave)
        if self.sleep:
            time.sleep(self.sleep)
        if self.llm is not None:
            self.llm.complete_json([{"role": "user", "content": f"{self.stage} for {inputs['row']}"}],
                                   operation=self.stage, temperature=0.0, max_tokens=50)
        if self.fail:
            # TEST_FAIL_TEXT=hostile: an error text PostgreSQL refuses as it is (NUL, lone surrogate, 1 MB)
            extra = "\x00 nul \ud800 surrogate " + "x" * 1_000_000 if os.environ.get("TEST_FAIL_TEXT") == "hostile" else ""
            raise RuntimeError(f"{self.stage} always fails (test){extra}")
        return None

    async def save(self, conn, ctx, output):
        return {"noop": True}


def _misbehave(how: str) -> None:
    """What a broken model does: hang forever, spin in C holding the GIL, or crash the process."""
    if how == "hang":
        threading.Event().wait()
    elif how == "busy":
        sum(range(10 ** 12))  # one C call: the GIL is never released
    elif how == "abort":
        os.abort()


def counting_handlers(settings):
    """Handlers for every stage, plus the executions table."""
    from services.engine.pipeline import STAGES

    return {s.name: CountingHandler(s.name, settings) for s in STAGES}, {"backend": "test-noop"}


app = create_app(handlers_factory=counting_handlers)
