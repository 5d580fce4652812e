"""The chaos run, short: 3 processes, listener kills, a PostgreSQL restart and a SIGKILLed worker."""
import json
import subprocess
import sys

import pytest

from test.integration.procs import ROOT


@pytest.mark.slow
def test_short_chaos_run_loses_nothing():
    proc = subprocess.run([sys.executable, "scripts/chaos_run.py", "--jobs", "6", "--timeout", "400"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    summary = json.loads(out[out.index("{"):out.rindex("}") + 1])
    assert summary["duplicate_successful_runs"] == 0 and summary["variants_not_finished"] == 0
    assert summary["lost_runs"] >= 1  # the SIGKILLed stage really was cut off, then re-ran
