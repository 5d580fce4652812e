"""A worker process with several slots (the vlm group): calls run at once in one process, health comes unasked."""
import asyncio
import os
import time

from config import Settings
from services.engine.stage_types import StageHandler
from services.engine.workers import WorkerGroup, WorkerKilled


class _Odd(Exception):
    def __init__(self, code, detail):  # pickles, but cannot be rebuilt from its args
        super().__init__(f"odd {code}: {detail}")


class _Sleepy(StageHandler):
    process_group = "vlm"
    reports_health = True

    def run(self, inputs):
        if inputs.get("odd"):
            raise _Odd(7, "model said no")
        time.sleep(inputs["sleep"])
        return {"pid": os.getpid(), "started": time.time()}

    def health(self):
        return {"gpu": {"available": False, "reason": "no CUDA device", "pid": os.getpid()}}


def sleepy_handlers(settings):
    """Module level: the spawned worker imports it by name."""
    return {"vlm_analyze": _Sleepy(), "vlm_judge": _Sleepy()}, {}


async def _group(slots: int) -> WorkerGroup:
    group = WorkerGroup("vlm", 1, sleepy_handlers, Settings(_env_file=None), slots=slots)
    await group.start()
    return group


def test_one_process_runs_its_slots_at_once_and_reports_health():
    async def main():
        group = await _group(4)
        try:
            started = time.monotonic()
            results = await asyncio.gather(*(group.call(s, {"sleep": 1.5}, 60) for s in ["vlm_analyze", "vlm_judge"] * 2))
            elapsed = time.monotonic() - started
            deadline = time.monotonic() + 30
            while not group.health and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return results, elapsed, group.health, group.status()
        finally:
            group.close()

    results, elapsed, health, status = asyncio.run(main())
    assert len({r["pid"] for r in results}) == 1  # one process
    assert max(r["started"] for r in results) - min(r["started"] for r in results) < 1.0  # together, not 4 x 1.5 s
    assert elapsed < 4 * 1.5
    assert health["gpu"]["reason"] == "no CUDA device" and health["gpu"]["pid"] == results[0]["pid"]
    assert status["slots"] == 4 and status["alive"] == 1


def test_a_call_past_its_hard_limit_kills_the_process_and_fails_its_neighbours_once():
    async def main():
        group = await _group(2)
        try:
            calls = [group.call("vlm_analyze", {"sleep": 30}, 1.0), group.call("vlm_judge", {"sleep": 30}, 60)]
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            deadline = time.monotonic() + 60
            while group.status()["alive"] < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            after = await group.call("vlm_analyze", {"sleep": 0}, 60)  # the replacement serves
            return outcomes, group.status(), after
        finally:
            group.close()

    outcomes, status, after = asyncio.run(main())
    assert all(isinstance(o, WorkerKilled) for o in outcomes), outcomes
    assert "hard limit 1 s" in str(outcomes[0]) and "by vlm_analyze on the same process" in str(outcomes[1])
    assert status["restarts"] == 1 and status["alive"] == 1 and after["pid"] > 0


def test_an_error_the_parent_cannot_unpickle_fails_the_call_not_the_process():
    async def main():
        group = await _group(2)
        try:
            try:
                await group.call("vlm_analyze", {"odd": True}, 60)
            except RuntimeError as exc:
                error = exc
            return error, await group.call("vlm_judge", {"sleep": 0}, 60), group.status()
        finally:
            group.close()

    error, after, status = asyncio.run(main())
    assert str(error) == "_Odd: odd 7: model said no"
    assert status["restarts"] == 0 and after["pid"] in status["pids"]
