"""Starting app processes (uvicorn) against a test database: the runtime's services/ops/testing.py."""
from services.ops.testing import ROOT, AppProcess  # noqa: F401
