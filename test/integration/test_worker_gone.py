"""A worker process past its hard limit is gone (killed and reaped), not merely forgotten by the pool.

The supervised-worker tests count the processes the pool still tracks; this one asks the operating
system: the process that ran the stage must not exist any more once the call has failed.
"""
import asyncio
import os
import time
from pathlib import Path

import pytest

from config import Settings
from services.engine.workers import WorkerGroup, WorkerKilled
from services.ops.noop_app import counting_handlers


def _exists(pid: int) -> bool:
    """True while the process exists in any form (running, sleeping, or a zombie nobody reaped)."""
    return Path(f"/proc/{pid}").exists()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "gone"


async def _until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["hang", "busy"])
async def test_worker_past_its_hard_limit_is_killed_not_forgotten(monkeypatch, how):
    # The no-op planner misbehaves for row "victim": blocks forever, or spins in C holding the GIL.
    for name, value in dict(TEST_PROCESS_STAGES="planner", TEST_MISBEHAVE_STAGE="planner", TEST_MISBEHAVE=how,
                            TEST_MISBEHAVE_ROW="victim").items():
        monkeypatch.setenv(name, value)  # the spawned worker inherits the environment
    before = set(_spawned_children())  # another test's leftovers are not this group's
    group = WorkerGroup("cpu", 1, counting_handlers, Settings(_env_file=None))
    try:
        await group.start()
        (first,) = group.pids()
        assert await group.call("planner", {"row": "other", "attempt": 1}, hard_limit=60) is None
        with pytest.raises(WorkerKilled, match=r"hard limit 1 s"):
            await group.call("planner", {"row": "victim", "attempt": 1}, hard_limit=1)
        # Checked at once: the kill and the reaping happen before the call fails, not some time later.
        assert not _exists(first), f"pid {first} still exists ({_state(first)}) after its hard limit"
        (second,) = await _until(lambda: group.status()["alive"] == 1 and group.pids(), 60,
                                 "the replacement worker")
        assert second != first and group.status()["restarts"] == 1
        assert await group.call("planner", {"row": "other", "attempt": 1}, hard_limit=60) is None
        # The replacement is the only worker process this test's process has.
        children = [pid for pid in _spawned_children() if pid not in before]
        assert children == [second], children
    finally:
        pids = group.pids()
        await asyncio.to_thread(group.close)
    assert not any(_exists(pid) for pid in pids), [(pid, _state(pid)) for pid in pids]


def _spawned_children() -> list[int]:
    """Worker processes (multiprocessing spawn) whose parent is this test process."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == os.getpid()
            and "spawn_main" in _cmdline(int(p))]


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return ""
