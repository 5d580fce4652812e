"""The no-op app the tests start (`uvicorn test.engine_app:app`); it lives in services/ops/noop_app.py for the scripts."""
from services.ops.noop_app import EXECUTIONS_DDL, CountingHandler, app, counting_handlers  # noqa: F401
