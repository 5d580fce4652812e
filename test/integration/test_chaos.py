"""The chaos run, short: 3 processes, listener kills, a PostgreSQL restart and a SIGKILLed worker.

Its own limit lies inside this test's pytest-timeout, with room for its report and its cleanup: a stuck run
fails with where every job stands, and leaves no app process or PostgreSQL behind.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts import seedlib
from scripts.chaos_run import Chaos
from test.integration.procs import ROOT

# After its limit the run prints its report, stops 3 app processes (SIGKILL after 20 s) and PostgreSQL.
CLEANUP_SECONDS = 60
TERM_SECONDS = 30  # what the test gives a run it had to SIGTERM to clean up before the SIGKILL


def _pytest_limit(request) -> float:
    """pytest-timeout's limit for this test: its marker, else --timeout, else the ini's `timeout`."""
    marker = request.node.get_closest_marker("timeout")
    if marker:
        return float(marker.args[0])
    return float(request.config.getoption("timeout", None) or request.config.getini("timeout"))


def _chaos(tmp_path: Path, *args: str, wait: float) -> tuple[int | None, str]:
    """Run scripts/chaos_run.py; past `wait` (or on pytest's own timeout) SIGTERM it, so it still cleans up.

    Its output goes to a file, not a pipe: a process it left behind must not keep this test waiting."""
    log = tmp_path / "chaos.out"
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "scripts/chaos_run.py", *args], cwd=ROOT, text=True,
                                stdout=sink, stderr=subprocess.STDOUT)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(TERM_SECONDS)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    return proc.returncode, log.read_text(errors="replace")


def _report(out: str) -> dict:
    """The run's last JSON block (json.dumps(indent=2): from a line "{" to a line "}"); logs share the stream."""
    lines = out.splitlines()
    start = max(i for i, line in enumerate(lines) if line == "{")
    end = next(i for i in range(start, len(lines)) if lines[i] == "}")
    return json.loads("\n".join(lines[start:end + 1]))


def _processes_of(workdir: str) -> list[tuple[int, str]]:
    """Live processes whose command line or environment names the run's directory (its apps, its PostgreSQL)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
        if state != "Z" and workdir.encode() in cmdline + environ:
            found.append((int(entry.name), cmdline.replace(b"\0", b" ").decode(errors="replace")[:200]))
    return found


@pytest.mark.slow
@pytest.mark.timeout(450)  # 6 jobs took 140-240 s here (start-up included) on 2 loaded cores
def test_short_chaos_run_loses_nothing(request, tmp_path):
    # The run's limit, its cleanup and a SIGTERM's grace all fit inside pytest's limit for this test.
    limit = _pytest_limit(request) - CLEANUP_SECONDS - TERM_SECONDS - 10
    code, out = _chaos(tmp_path, "--jobs", "6", "--timeout", str(limit), wait=limit + CLEANUP_SECONDS)
    assert code == 0, out[-6000:]
    summary = _report(out)
    assert summary["duplicate_successful_runs"] == 0 and summary["variants_not_finished"] == 0
    assert summary["lost_runs"] >= 1  # the SIGKILLed stage really was cut off, then re-ran


@pytest.mark.slow
def test_chaos_run_past_its_limit_reports_and_cleans_up(tmp_path):
    limit = 20  # mostly lands while an app process starts (each takes 5-25 s here), far from the jobs' end
    started = time.monotonic()
    code, out = _chaos(tmp_path, "--jobs", "3", "--timeout", str(limit), wait=limit + CLEANUP_SECONDS)
    elapsed = time.monotonic() - started
    workdir = re.search(r"chaos workdir: (\S+)", out)
    assert workdir, out[-3000:]
    left = _processes_of(workdir.group(1))
    for pid, _ in left:  # the test's own safety net: what the run left behind goes now
        os.kill(pid, signal.SIGKILL)
    assert left == [], left  # every app process and the PostgreSQL server are gone
    assert code == 2, out[-3000:]
    assert re.search(rf"chaos run: TIMED OUT after {limit} s while \w", out), out[-3000:]
    report = _report(out)
    assert report["timed_out_after_seconds"] == limit and report["phase"], report
    assert "where_every_job_stands" in report and "events" in report, report
    assert elapsed < limit + CLEANUP_SECONDS, elapsed


def test_chaos_report_says_where_every_job_stands(db, db_url, tmp_path):
    job_id, _ = seedlib.create_job(db, tmp_path, variants_count=2)
    seedlib.simulate_image_part(db, job_id)
    chaos = Chaos(tmp_path, jobs=1)
    assert chaos.where_every_job_stands() == "no database yet"
    chaos.url = db_url
    assert chaos.where_every_job_stands() == [["job", "user_img_input", "done", 1],
                                              ["variant", "img_gen", "done", 2]]
