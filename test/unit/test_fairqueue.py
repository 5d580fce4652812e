"""The per-stage fair queue: retries first, fewest runs in flight, round robin (weighted) between tenants, urgent
first per tenant."""
import pytest

from services.engine.fairqueue import FairQueue, parse_weights


def _drain(queue: FairQueue) -> list:
    out = []
    while len(queue):
        out.append(queue.pop())
    return out


def test_a_tenant_alone_gets_every_run_in_arrival_order():
    queue = FairQueue()
    for i in range(5):
        queue.push(f"a{i}", "a")
    assert _drain(queue) == ["a0", "a1", "a2", "a3", "a4"]


def test_a_late_tenant_is_served_next_not_after_the_backlog():
    queue = FairQueue()
    for i in range(60):
        queue.push(f"a{i}", "a")
    queue.pop()
    queue.push("b0", "b")
    assert queue.pop() == "b0"
    queue.push("b1", "b")
    queue.push("b2", "b")
    assert _drain(queue)[:4] == ["a1", "b1", "a2", "b2"]  # two tenants share it, turn by turn


def test_retries_first_then_round_robin():
    queue = FairQueue()
    for i in range(3):
        queue.push(f"a{i}", "a")
        queue.push(f"b{i}", "b")
    queue.push("retry", "a", first=True)
    order = _drain(queue)
    assert order[0] == "retry"
    assert order[1:] == ["b0", "a0", "b1", "a1", "b2", "a2"]  # a's retry counted as a's turn


def test_urgent_goes_ahead_within_its_tenant_only():
    queue = FairQueue()
    for i in range(4):
        queue.push(f"a{i}", "a")
        queue.push(f"b{i}", "b")
    queue.push("a-urgent", "a", urgent=True)
    order = _drain(queue)
    assert order.index("a-urgent") == 0
    assert order[1] == "b0"  # urgency does not buy tenant a a second turn
    assert [r for r in order if r.startswith("b")] == ["b0", "b1", "b2", "b3"]


def test_weights_give_runs_in_proportion():
    queue = FairQueue({"big": 3.0})
    for i in range(30):
        queue.push(("big", i), "big")
        queue.push(("small", i), "small")
    first = [tenant for tenant, _ in (queue.pop() for _ in range(20))]
    assert first.count("big") == 15 and first.count("small") == 5


def _run(queue: FairQueue) -> str:
    """Pop a record and finish its run at once (a run that takes no time)."""
    record = queue.pop()
    queue.finished(record[0])
    return record


def test_an_idle_tenant_banks_no_credit():
    queue = FairQueue()
    queue.push("b0", "b")
    assert _run(queue) == "b0"
    for i in range(10):
        queue.push(f"a{i}", "a")
    for _ in range(5):
        _run(queue)  # a alone: five runs while b was away
    queue.push("b1", "b")
    queue.push("b2", "b")
    assert [_run(queue) for _ in range(4)] == ["b1", "a5", "b2", "a6"]  # b does not get five in a row


def test_the_tenant_with_fewer_runs_in_flight_goes_first():
    queue = FairQueue()
    for i in range(20):
        queue.push(f"a{i}", "a")
    held = [queue.pop() for _ in range(4)]  # a's backlog holds four slots
    for i in range(3):
        queue.push(f"b{i}", "b")  # a small shop's 3-variant job arrives
    assert [queue.pop() for _ in range(3)] == ["b0", "b1", "b2"]  # each variant takes the next free slot
    assert [queue.pop() for _ in range(2)] == ["a4", "a5"]  # b has nothing more: a alone uses every slot
    for record in held + ["b0", "b1", "b2", "a4", "a5"]:
        queue.finished(record[0])
    assert queue._running == {}  # nothing is kept for finished runs


def test_weights_scale_the_share_of_slots_in_flight():
    queue = FairQueue({"big": 2.0})
    for i in range(10):
        queue.push(("big", i), "big")
        queue.push(("small", i), "small")
    order = [tenant for tenant, _ in (queue.pop() for _ in range(6))]  # six slots, none finished
    assert order.count("big") == 4 and order.count("small") == 2


def test_depth_and_bounded_bookkeeping():
    queue = FairQueue()
    for i in range(3):
        queue.push(i, "a")
    queue.push("x", "b", first=True)
    depth = queue.depth()
    assert depth["a"][0] == 3 and depth["b"][0] == 1 and depth["a"][1] >= 0
    for i in range(5000):  # many tenants passing through leave no bookkeeping behind
        queue.push(i, f"t{i}")
        queue.pop()
    assert len(queue._pass) < 1100 and len(queue._served) < 1100


def test_parse_weights():
    assert parse_weights("a=1, b=2.5") == {"a": 1.0, "b": 2.5}
    assert parse_weights("") == {}
    with pytest.raises(ValueError):
        parse_weights("a=0")
    with pytest.raises(ValueError):
        parse_weights("nonsense")


def test_free_worker_processes_go_to_waiting_tenants_in_turn():
    import asyncio

    from services.engine.fairqueue import FairIdle

    async def main():
        idle, order = FairIdle(), []

        async def run(name: str, tenant: str):
            worker = await idle.get(tenant)
            order.append(name)
            idle.release(worker, tenant)

        idle.put_nowait("w1")
        first = await idle.get("a")  # the one process is busy
        tasks = [asyncio.create_task(run(f"a{i}", "a")) for i in range(4)]
        await asyncio.sleep(0)
        doomed = asyncio.create_task(run("gone", "c"))
        await asyncio.sleep(0)
        doomed.cancel()  # a waiter that gave up is skipped, and loses nothing
        tasks.append(asyncio.create_task(run("b0", "b")))
        await asyncio.sleep(0)
        idle.release(first, "a")
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=5)
        assert idle.qsize() == 1
        return order

    assert asyncio.run(main()) == ["a0", "b0", "a1", "a2", "a3"]


def test_a_free_process_goes_to_the_tenant_with_fewest_busy():
    import asyncio

    from services.engine.fairqueue import FairIdle

    async def main():
        idle = FairIdle()
        for name in ("w1", "w2", "w3"):
            idle.put_nowait(name)
        held = [await idle.get("a") for _ in range(3)]  # a's backlog holds every process
        waiters = [asyncio.create_task(idle.get(t)) for t in ("a", "a", "b", "b")]
        await asyncio.sleep(0)
        idle.release(held[0], "a")
        await asyncio.sleep(0)
        first = [i for i, w in enumerate(waiters) if w.done()]
        idle.release(held[1], "a")
        await asyncio.sleep(0)
        return first, [i for i, w in enumerate(waiters) if w.done()]

    # The first free process goes to b (none busy against a's two), though a waited longer; the second to
    # a (one busy each: then round robin).
    assert asyncio.run(main()) == ([2], [0, 2])


def test_a_stages_slots_are_per_tenant_and_twice_that_in_all():
    import asyncio

    from services.engine.fairqueue import FairSlots

    async def main():
        slots, running = FairSlots(2), []

        async def run(name: str, tenant: str, gate: asyncio.Event):
            async with slots.hold(tenant):
                running.append(name)
                await gate.wait()

        gate = asyncio.Event()
        backlog = [asyncio.create_task(run(f"a{i}", "a", gate)) for i in range(6)]
        await asyncio.sleep(0.01)
        alone = list(running)  # a tenant alone holds the stage's concurrency, as before
        late = [asyncio.create_task(run(f"b{i}", "b", gate)) for i in range(3)]
        c = asyncio.create_task(run("c0", "c", gate))
        await asyncio.sleep(0.01)
        with_b = list(running)  # b takes slots of its own at once: it does not wait for a's to finish
        gate.set()
        await asyncio.wait_for(asyncio.gather(*backlog, *late, c), timeout=5)
        return alone, with_b, slots.free()

    alone, with_b, free = asyncio.run(main())
    assert alone == ["a0", "a1"]
    assert with_b == ["a0", "a1", "b0", "b1"]  # b at its own two; c waits: the total (4) is held
    assert free == 2
