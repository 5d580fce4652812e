"""A semaphore with two queues: retries and re-sends go before first attempts."""
import asyncio
from collections import deque


class Slots:
    """At most `size` holders; a waiter marked `first` is served before every ordinary waiter.

    Why: with hundreds of rows queued for one stage, a retry (a row whose worker died, or whose
    attempt failed) would otherwise wait behind all of them, and recovering it would take as long as
    the queue. Its job is also older than the ones behind it.
    """

    def __init__(self, size: int):
        self.size = size
        self._free = size
        self._waiting: tuple[deque, deque] = (deque(), deque())  # (first, ordinary)

    def waiting(self) -> int:
        """Waiters not yet served (cancelled ones included until they are skipped)."""
        return len(self._waiting[0]) + len(self._waiting[1])

    async def acquire(self, first: bool = False) -> None:
        """Wait for a slot; `first` jumps the ordinary queue."""
        if self._free > 0 and not self.waiting():
            self._free -= 1
            return
        granted = asyncio.get_running_loop().create_future()
        self._waiting[0 if first else 1].append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release()  # handed a slot in the same tick we were cancelled: pass it on
            raise

    def release(self) -> None:
        """Hand the slot to the next waiter (retries first), or free it."""
        for queue in self._waiting:
            while queue:
                granted = queue.popleft()
                if not granted.done():  # a cancelled waiter's future is done: skip it
                    granted.set_result(None)
                    return
        self._free += 1
