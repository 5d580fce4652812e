"""Micro-batching: requests that arrive within a short window run as one batch on one thread."""
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Pending:
    item: object
    arrived: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    result: object = None
    error: BaseException | None = None


class MicroBatcher:
    """Collects up to `max_batch` items, waiting at most `max_wait_ms` after the oldest, and runs them together.

    `run_batch(items) -> results` (same order) runs on the batcher's own thread, one batch at a time (one
    model on one GPU). When it raises an error `is_oom` recognises, the batch is halved and each half tried
    again (`on_oom` first: free the allocator's cache); a single item that still fails fails alone. Any other
    error in a batch of several re-runs its items one by one, so one bad input fails only its own request.
    """

    def __init__(self, run_batch: Callable[[list], list], max_batch: int, max_wait_ms: float,
                 is_oom: Callable[[BaseException], bool] = lambda exc: False, on_oom: Callable[[], None] = lambda: None):
        self.run_batch, self.is_oom, self.on_oom = run_batch, is_oom, on_oom
        self.max_batch = max(1, int(max_batch))
        self.max_wait = max(0.0, float(max_wait_ms)) / 1000
        self._queue: list[_Pending] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        # What happened, for /healthz and the benchmarks.
        self.calls = 0  # run_batch calls, failed ones included
        self.batches: list[int] = []  # size of every batch as collected (before an OOM split), last 1000
        self.waits: list[float] = []  # seconds the oldest item of each batch waited for it to close, last 1000
        self.ooms = 0

    def submit(self, item):
        """Queue `item`, wait for its batch to run, return its result (or raise its error)."""
        pending = _Pending(item)
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            if self._thread is None:  # started on first use: in the process that owns the model
                self._thread = threading.Thread(target=self._loop, name="micro-batcher", daemon=True)
                self._thread.start()
            self._queue.append(pending)
            self._cond.notify_all()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def close(self) -> None:
        """Stop the thread once the queue is empty (it holds `run_batch`, and with it the model)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _collect(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue:
                if self._closed:
                    self._thread = None
                    return None
                self._cond.wait()
            deadline = self._queue[0].arrived + self.max_wait
            while len(self._queue) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
        self.waits = [*self.waits[-999:], time.monotonic() - batch[0].arrived]
        self.batches = [*self.batches[-999:], len(batch)]
        return batch

    def _loop(self) -> None:
        while (batch := self._collect()) is not None:
            self._run(batch)

    def _run(self, batch: list[_Pending]) -> None:
        try:
            self.calls += 1
            results = list(self.run_batch([p.item for p in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")
        except BaseException as exc:  # noqa: BLE001 - every error goes to its requests, the thread lives on
            oom = self.is_oom(exc)
            self.ooms += oom
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].done.set()
                return
            if oom:
                self.on_oom()
                half = len(batch) // 2
                self._run(batch[:half])
                self._run(batch[half:])
            else:
                for pending in batch:
                    self._run([pending])
            return
        for pending, result in zip(batch, results):
            pending.result = result
            pending.done.set()

    def stats(self) -> dict:
        """Batches run, their sizes and the OOMs seen."""
        sizes = self.batches
        return {"max_batch_size": self.max_batch, "max_wait_ms": self.max_wait * 1000, "generate_calls": self.calls,
                "batches": len(sizes), "mean_batch_size": round(sum(sizes) / len(sizes), 2) if sizes else None,
                "oom_count": self.ooms}
