"""An app with no-op stage handlers that count executions (tests and the engine benchmark only)."""
import os
import time

from main import create_app

# Every execution of a stage is recorded here, so tests can prove "ran exactly once".
EXECUTIONS_DDL = """
CREATE TABLE IF NOT EXISTS test_executions (
    id BIGSERIAL PRIMARY KEY, stage TEXT NOT NULL, row_id UUID NOT NULL, run_token UUID NOT NULL,
    pid INTEGER NOT NULL, at TIMESTAMPTZ DEFAULT clock_timestamp())
"""


class CountingHandler:
    """Records the execution, optionally sleeps or fails, writes nothing else."""

    def __init__(self, stage: str):
        self.stage = stage
        self.sleep = float(os.environ.get("TEST_SLOW_SECONDS", "0")) if os.environ.get("TEST_SLOW_STAGE") == stage else 0
        self.fail = os.environ.get("TEST_FAIL_STAGE") == stage

    async def load(self, conn, ctx):
        await conn.execute("INSERT INTO test_executions (stage, row_id, run_token, pid) VALUES ($1, $2, $3, $4)",
                           self.stage, ctx.job_variants_id or ctx.job_id, ctx.run_token, os.getpid())
        return None

    def run(self, inputs):
        if self.sleep:
            time.sleep(self.sleep)
        if self.fail:
            raise RuntimeError(f"{self.stage} always fails (test)")
        return None

    async def save(self, conn, ctx, output):
        return {"noop": True}


def counting_handlers(settings):
    """Handlers for every stage, plus the executions table."""
    from services.pipeline import STAGES

    return {s.name: CountingHandler(s.name) for s in STAGES}, {"backend": "test-noop"}


app = create_app(handlers_factory=counting_handlers)
