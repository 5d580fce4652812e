"""One stage's dispatch queue: retries first, then the tenant with the fewest runs in flight, in weighted round robin,
urgent jobs first per tenant."""
import asyncio
import contextlib
import time
from collections import deque
from typing import Any


def parse_weights(text: str) -> dict[str, float]:
    """TENANT_WEIGHTS "chain_a=1,shop_b=2" -> {tenant: weight}; a tenant not named weighs 1."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        tenant, _, value = part.rpartition("=")
        if not tenant or float(value) <= 0:
            raise ValueError(f"TENANT_WEIGHTS: {part!r} is not tenant=positive number")
        weights[tenant.strip()] = float(value)
    return weights


class FairQueue:
    """Records waiting for one stage: nothing per record but the record (a tuple) and its time of arrival.

    Order of `pop`: retries (`first`) in arrival order, as before: their job is older and a worker crash
    should be recovered in lease + backoff, not lease + the queue. Then the tenant with the fewest runs in
    flight (popped and not yet `finished`, per weight): a small shop's job next to a backlog gets the next
    free slot for each of its variants (max-min share of the slots), so it advances almost as it would
    alone instead of one run per turn. Among tenants with as many in flight, the one whose virtual time
    (runs served / weight, stride scheduling) is lowest, ties to the one served least recently: with
    equal weights that is plain round robin, so one tenant's backlog of thousands holds another tenant's
    job for at most one run per other waiting tenant. A tenant that was idle re-enters at the current
    virtual time (no credit banked while away), and a tenant alone gets every run. Within a tenant,
    urgent records go before normal ones; urgency never changes the order between tenants, so an urgent
    backlog cannot starve anyone else.
    """

    def __init__(self, weights: dict[str, float] | None = None):
        self.weights = weights or {}
        self._retries: deque = deque()
        self._tenants: dict[str, tuple[deque, deque]] = {}  # tenant -> (urgent, normal), only while non-empty
        self._pass: dict[str, float] = {}  # tenant -> virtual time; dropped with the tenant when it empties
        self._served: dict[str, int] = {}  # tenant -> sequence number of its last run (ties: least recent first)
        self._running: dict[str, int] = {}  # tenant -> runs popped and not finished; only while non-zero
        self._vtime = 0.0
        self._seq = 0
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def push(self, record: Any, tenant: str | None, urgent: bool = False, first: bool = False) -> None:
        """Queue `record` (kept as is) for `tenant`."""
        entry = (time.monotonic(), record)
        self._len += 1
        if first:
            self._retries.append((tenant or "", entry))
            return
        key = tenant or ""
        queues = self._tenants.get(key)
        if queues is None:
            queues = self._tenants[key] = (deque(), deque())
            self._pass[key] = max(self._pass.get(key, 0.0), self._vtime)
        queues[0 if urgent else 1].append(entry)

    def pop(self, limit: int | None = None) -> Any:
        """The next record to send; IndexError when empty, or when every waiting tenant has `limit` runs in flight."""
        if self._retries and (limit is None or self._running.get(self._retries[0][0], 0) < limit):
            self._len -= 1
            tenant, (_, record) = self._retries.popleft()
            self._served[tenant] = self._seq = self._seq + 1
            self.started(tenant)
            return record
        waiting = self._tenants if limit is None else [t for t in self._tenants if self._running.get(t, 0) < limit]
        if not waiting:
            raise IndexError("no record in the FairQueue may go now")
        tenant = min(waiting, key=self._turn)
        urgent, normal = self._tenants[tenant]
        _, record = (urgent or normal).popleft()
        self._len -= 1
        self._vtime = self._pass[tenant]
        self._pass[tenant] += 1.0 / self.weights.get(tenant, 1.0)
        self._served[tenant] = self._seq = self._seq + 1
        self.started(tenant)
        if not urgent and not normal:
            del self._tenants[tenant]  # idle tenants cost nothing; its pass stays so it cannot jump the queue
            if len(self._pass) > 4 * len(self._tenants) + 1024:
                self._forget_idle()
        return record

    def _turn(self, tenant: str) -> tuple[float, float, int]:
        """Sort key of a waiting tenant: runs in flight per weight, then virtual time, then least recently served."""
        weight = self.weights.get(tenant, 1.0)
        return self._running.get(tenant, 0) / weight, self._pass[tenant], self._served.get(tenant, 0)

    def started(self, tenant: str | None) -> None:
        """A run of `tenant` holds a slot (popped here, or taken without waiting)."""
        key = tenant or ""
        self._running[key] = self._running.get(key, 0) + 1

    def finished(self, tenant: str | None) -> None:
        """A run of `tenant` handed back its slot."""
        key = tenant or ""
        left = self._running.get(key, 0) - 1
        if left > 0:
            self._running[key] = left
        else:
            self._running.pop(key, None)

    def _forget_idle(self) -> None:
        """Bound the bookkeeping to the active tenants: an idle tenant re-enters at the virtual time, so
        forgetting it gives away at most the turns it was ahead by (one, for a tenant that came and went)."""
        for tenant in [t for t in self._pass if t not in self._tenants]:
            del self._pass[tenant]
            self._served.pop(tenant, None)

    def depth(self) -> dict[str, tuple[int, float]]:
        """{tenant: (records waiting, seconds the oldest has waited)}, retries included."""
        now, out = time.monotonic(), {}
        for tenant, queues in self._tenants.items():
            oldest = min(q[0][0] for q in queues if q)
            out[tenant] = (len(queues[0]) + len(queues[1]), now - oldest)
        for tenant, (at, _) in self._retries:
            n, wait = out.get(tenant, (0, 0.0))
            out[tenant] = (n + 1, max(wait, now - at))
        return out


class FairIdle:
    """Idle worker processes, handed to the runs waiting for one in fair order (the tenant with the fewest
    processes busy first, then round robin).

    The worker group's processes are shared by every stage, so claimed runs of all stages wait here; first
    come first served would put one tenant's run behind every run of another tenant's backlog once more.
    A tenant's process counts as busy from `get` until `release` (or `finished`, when it is not given back).
    """

    def __init__(self) -> None:
        self._free: deque = deque()
        self._waiters = FairQueue()

    def put_nowait(self, item: Any) -> None:
        """A process is free (new, or given back): to the next waiter in fair order, or onto the free list."""
        while len(self._waiters):
            waiter, tenant = self._waiters.pop()
            if waiter.done():  # a waiter that gave up (cancelled) is skipped
                self._waiters.finished(tenant)
                continue
            waiter.set_result(item)
            return
        self._free.append(item)

    def release(self, item: Any, tenant: str | None) -> None:
        """`tenant`'s run is over and gives its process back."""
        self.finished(tenant)
        self.put_nowait(item)

    def finished(self, tenant: str | None) -> None:
        """`tenant`'s run is over (its process, if it died, is replaced by a new one through `put_nowait`)."""
        self._waiters.finished(tenant)

    async def get(self, tenant: str | None = None) -> Any:
        """Wait for a free process; the tenant decides the turn."""
        if self._free:
            self._waiters.started(tenant)
            return self._free.popleft()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.push((waiter, tenant), tenant)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result(), tenant)  # handed a process in the same tick we were cancelled
            raise

    def qsize(self) -> int:
        """Processes free right now."""
        return len(self._free)


class FairSlots:
    """A stage's slots in the runner, where sent requests wait: up to `size` per tenant, `2 * size` in all.

    A stage's concurrency is what one tenant's runs may hold, so a tenant alone runs as before; a second
    tenant's run does not wait for the backlog's runs to give a slot back (they hold them while they wait
    for a worker process): it takes one of its own at once and waits, in its fair turn, for the process.
    With more tenants waiting than the total allows, the fewest in flight go first, then round robin.
    """

    def __init__(self, size: int) -> None:
        self.size, self.total = size, 2 * size
        self._waiters = FairQueue()
        self._held = 0

    @contextlib.asynccontextmanager
    async def hold(self, tenant: str | None):
        """Hold one slot for the block."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.push((waiter, tenant), tenant)
        self._hand_out()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(tenant)  # handed a slot in the same tick we were cancelled
            raise
        try:
            yield
        finally:
            self._release(tenant)

    def _release(self, tenant: str | None) -> None:
        self._held -= 1
        self._waiters.finished(tenant)
        self._hand_out()

    def _hand_out(self) -> None:
        """Give free slots to waiters in fair order, skipping tenants at their `size` and waiters that gave up."""
        while self._held < self.total:
            try:
                waiter, tenant = self._waiters.pop(limit=self.size)
            except IndexError:
                return
            if waiter.done():
                self._waiters.finished(tenant)
                continue
            self._held += 1
            waiter.set_result(None)

    def free(self) -> int:
        """Slots a tenant with nothing in flight could take now."""
        return min(self.size, self.total - self._held)
