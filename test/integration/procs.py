"""Starting app processes (uvicorn) against a test database: the runtime's services/testing.py."""
from services.testing import ROOT, AppProcess  # noqa: F401
