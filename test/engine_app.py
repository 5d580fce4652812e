"""The no-op app the tests start (`uvicorn test.engine_app:app`); it lives in services/noop_app.py for the scripts."""
from services.noop_app import EXECUTIONS_DDL, CountingHandler, app, counting_handlers  # noqa: F401
