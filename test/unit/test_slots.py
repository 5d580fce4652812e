"""Dispatch slots: retries are served before first attempts; a cancelled waiter loses nothing."""
import asyncio

from services.engine.slots import Slots


async def _holder(slots: Slots, name: str, order: list, first: bool = False) -> None:
    await slots.acquire(first)
    order.append(name)
    await asyncio.sleep(0)
    slots.release()


def test_a_retry_goes_before_the_queued_first_attempts():
    async def main():
        slots, order = Slots(1), []
        await slots.acquire()  # the stage is busy
        tasks = [asyncio.create_task(_holder(slots, f"new{i}", order)) for i in range(3)]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(_holder(slots, "retry", order, first=True)))
        await asyncio.sleep(0)
        assert order == [] and slots.waiting() == 4
        slots.release()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
        return order

    assert asyncio.run(main()) == ["retry", "new0", "new1", "new2"]


def test_never_more_holders_than_slots_and_cancelled_waiters_are_skipped():
    async def main():
        slots, busy, peak = Slots(2), [0], [0]

        async def work():
            await slots.acquire()
            busy[0] += 1
            peak[0] = max(peak[0], busy[0])
            await asyncio.sleep(0.001)
            busy[0] -= 1
            slots.release()

        await slots.acquire()
        await slots.acquire()
        doomed = asyncio.create_task(slots.acquire())
        workers = [asyncio.create_task(work()) for _ in range(20)]
        await asyncio.sleep(0)
        doomed.cancel()
        slots.release()
        slots.release()
        await asyncio.wait_for(asyncio.gather(*workers), timeout=5)
        await slots.acquire()  # both slots are free again: nothing leaked to the cancelled waiter
        await asyncio.wait_for(slots.acquire(), timeout=1)
        return peak[0]

    assert asyncio.run(main()) == 2
