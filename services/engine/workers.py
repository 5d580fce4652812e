"""Supervised worker processes: stage work that can be stopped (killed at its hard limit, replaced on a crash)."""
import asyncio
import itertools
import logging
import multiprocessing
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from services.engine.fairqueue import FairIdle
from services.engine.worker_child import _child

log = logging.getLogger(__name__)
_CTX = multiprocessing.get_context("spawn")  # no fork of a process holding threads, locks and a CUDA context


class WorkerKilled(Exception):
    """The call passed its hard limit; its worker process was killed (retried like any failure)."""


class WorkerCrashed(Exception):
    """The worker process died during the call (signal, out of memory, native crash)."""

    crashed = True  # counted towards MAX_CRASHES


def vlm_process_group(backend: str) -> str | None:
    """LLaVA gets a process of its own (one model on the GPU); a served VLM is I/O: a thread."""
    backend = (backend or "default").strip().lower()
    return {"openai": None, "llava": "vlm"}.get(backend, "cpu")


class WorkerAborted(Exception):
    """The run was revoked (cancelled) while its worker computed: the process was killed (not a failure)."""


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    started: float = field(default_factory=time.monotonic)
    pending: dict = field(default_factory=dict)  # call_id -> Future of (kind, value), answered by the reader
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    killed: str | None = None  # why the parent killed it (the other calls on it fail with that)
    gone: bool = False  # replaced: its remaining entries in the idle queue are skipped
    aborted: str | None = None  # why it was killed on purpose (its replacement's reason)


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class WorkerGroup:
    """A fixed number of processes for the stages of one group; a dead or killed one is replaced.

    Each process takes `slots` calls at once (1 but for the vlm group, whose LLaVA batches them)."""

    def __init__(self, name: str, size: int, factory, settings, slots: int = 1):
        self.name, self.size, self.factory, self.settings = name, size, factory, settings
        self.slots = max(1, slots)
        # One entry per free slot; issue 26: runs of all stages wait here, served round robin between tenants.
        self._idle = FairIdle()
        self._threads = ThreadPoolExecutor(size * self.slots + 1, thread_name_prefix=f"workers-{name}")
        self._all: set = set()
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self.restarts = 0
        self.last_restart: str | None = None
        self.models_status: dict = {}
        self.health: dict = {}  # the latest report of a worker whose handlers report health
        self._closed = False
        self._respawns: set[asyncio.Task] = set()  # held: the loop keeps only weak references to tasks

    def _spawn(self) -> _Worker:
        """Start one process and wait until its models are loaded (blocking: called in a thread)."""
        parent, child = _CTX.Pipe()
        process = _CTX.Process(target=_child, args=(self.factory, self.settings, self.name, child, self.slots),
                               name=f"worker-{self.name}", daemon=True)
        process.start()
        child.close()
        try:
            kind, status = parent.recv()
        except EOFError:
            process.join(5)
            raise RuntimeError(f"worker {self.name} died while starting: {_describe_exit(process.exitcode)}") from None
        self.models_status.update(status)
        worker = _Worker(process, parent)
        with self._lock:
            self._all.add(worker)
        threading.Thread(target=self._read, args=(worker,), name=f"reader-{self.name}", daemon=True).start()
        return worker

    def _read(self, worker: _Worker) -> None:
        """Hand each answer to its call; when the process dies, fail the calls still waiting on it."""
        try:
            while True:
                call_id, kind, value = worker.conn.recv()
                if call_id is None:
                    self.health = value
                    continue
                with self._lock:
                    future = worker.pending.pop(call_id, None)
                if future is not None:
                    future.set_result((kind, value))
        except (EOFError, OSError, TypeError):  # the process died, or we closed the pipe (TypeError: handle None)
            pass
        worker.process.join(10)
        error: Exception = WorkerKilled(worker.killed) if worker.killed else \
            WorkerCrashed(f"worker crashed: {_describe_exit(worker.process.exitcode)}")
        with self._lock:
            pending, worker.pending = list(worker.pending.values()), {}
        for future in pending:
            future.set_exception(error)

    async def start(self) -> None:
        """Start every process of the group (in parallel) and wait until all are ready."""
        loop = asyncio.get_running_loop()
        for worker in await asyncio.gather(*(loop.run_in_executor(self._threads, self._spawn)
                                             for _ in range(self.size))):
            self._release(worker)

    def _release(self, worker: _Worker, n: int | None = None) -> None:
        for _ in range(self.slots if n is None else n):
            self._idle.put_nowait(worker)

    async def call(self, stage: str, inputs, hard_limit: float, abort: asyncio.Event | None = None,
                   tenant: str | None = None):
        """Run handlers[stage].run(inputs) in a free process; kill it at `hard_limit` seconds or when
        `abort` is set (the run was cancelled: its work must stop now, not at the hard limit); `tenant`: its turn
        for a free process (round robin between tenants, issue 26)."""
        worker = await self._next_worker(stage, abort, tenant)  # the hard limit counts from here: waiting is not work
        while worker.gone:  # a slot of a process since replaced: dropped, and not counted as the tenant's
            self._idle.finished(tenant)
            worker = await self._next_worker(stage, abort, tenant)
        future = asyncio.get_running_loop().run_in_executor(self._threads, self._exchange, worker, stage, inputs,
                                                            hard_limit)
        # The worker goes back (or is replaced) when the exchange ends, even if our caller stopped waiting.
        future.add_done_callback(lambda f: self._settle(worker, stage, f, tenant))
        shielded = asyncio.shield(future)
        if abort is not None:
            stop = asyncio.ensure_future(abort.wait())
            await asyncio.wait({shielded, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if abort.is_set() and not future.done():
                worker.aborted = f"{stage}: killed, its run was revoked (cancelled)"
                # Calls sharing the process (vlm slots) fail as killed, not crashed: retried, not counted.
                worker.killed = f"killed: {stage} on the same process was revoked (cancelled)"
                worker.process.kill()  # the exchange sees the pipe close; _settle replaces the process
                shielded.add_done_callback(lambda f: f.cancelled() or f.exception())
                raise WorkerAborted(worker.aborted)
        kind, value = await shielded
        if kind == "error":
            raise value
        return value

    async def _next_worker(self, stage: str, abort: asyncio.Event | None, tenant: str | None = None) -> _Worker:
        """A free process (in the tenant's turn); a run revoked while it waits for one gives up without taking
        (and killing) it."""
        if abort is None:
            return await self._idle.get(tenant)
        take, stop = asyncio.ensure_future(self._idle.get(tenant)), asyncio.ensure_future(abort.wait())
        await asyncio.wait({take, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not take.done():
            take.cancel()
        if take.done() and not take.cancelled():
            if not abort.is_set():
                return take.result()
            self._idle.release(take.result(), tenant)  # revoked in the same instant: the process goes back unused
        raise WorkerAborted(f"{stage}: its run was revoked (cancelled) before it reached a worker")

    def _settle(self, worker: _Worker, stage: str, future, tenant: str | None) -> None:
        self._idle.finished(tenant)
        exc = None if future.cancelled() else future.exception()
        if isinstance(exc, (WorkerKilled, WorkerCrashed)):
            self._replace(worker, worker.aborted or f"{stage}: {exc}")
        elif not worker.gone:
            self._release(worker, 1)

    def _exchange(self, worker: _Worker, stage: str, inputs, hard_limit: float):
        started = time.monotonic()
        call_id = next(self._ids)
        answer: Future = Future()
        with self._lock:
            worker.pending[call_id] = answer
        try:
            with worker.send_lock:
                worker.conn.send((call_id, stage, inputs))
        except (TypeError, AttributeError, ValueError) as exc:  # unpicklable inputs: nothing was sent
            with self._lock:
                worker.pending.pop(call_id, None)
            return "error", TypeError(f"{stage}: inputs cannot be sent to a worker process: {exc}")
        except OSError:  # the process is gone: the reader fails the call with the reason
            pass
        try:
            return answer.result(timeout=hard_limit)
        except FutureTimeout:
            with self._lock:
                worker.pending.pop(call_id, None)
            reason = f"killed after {time.monotonic() - started:.0f} s (hard limit {hard_limit:.0f} s)"
            worker.killed = f"{reason}, by {stage} on the same process"
            worker.process.kill()
            worker.process.join(10)
            raise WorkerKilled(reason) from None

    def _replace(self, worker: _Worker, reason: str) -> None:
        """Forget a dead worker and start its replacement in the background (once per worker)."""
        with self._lock:
            if worker.gone:
                return
            worker.gone = True
            self._all.discard(worker)
        worker.conn.close()
        self.restarts += 1
        self.last_restart = reason
        log.warning("worker %s replaced: %s", self.name, reason)
        if self._closed:
            return
        loop = asyncio.get_running_loop()

        async def respawn():
            while not self._closed:
                try:
                    self._release(await loop.run_in_executor(self._threads, self._spawn))
                    return
                except Exception:
                    log.exception("worker %s could not be restarted", self.name)
                    await asyncio.sleep(1)
        task = asyncio.ensure_future(respawn())
        self._respawns.add(task)
        task.add_done_callback(self._respawns.discard)

    def status(self) -> dict:
        """For /healthz: processes alive, restarts and why the last one happened."""
        with self._lock:
            alive = [w.process.pid for w in self._all if w.process.is_alive()]
        return {"size": self.size, "slots": self.slots, "alive": len(alive), "pids": alive,
                "restarts": self.restarts, "last_restart": self.last_restart}

    def pids(self) -> list[int]:
        """Process ids of the group (memory reports, tests)."""
        with self._lock:
            return [w.process.pid for w in self._all]

    def close(self) -> None:
        """Stop every process (the pipes close; a busy one is killed)."""
        self._closed = True
        with self._lock:
            workers = list(self._all)
        for worker in workers:
            worker.conn.close()
        for worker in workers:
            worker.process.join(2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)
        self._threads.shutdown(wait=False, cancel_futures=True)


class WorkerPool:
    """One WorkerGroup per process group the handlers name; `sizes` says how many processes each gets."""

    def __init__(self, factory, settings, groups: set[str], sizes: dict[str, int], slots: dict[str, int] | None = None):
        self.groups = {g: WorkerGroup(g, sizes.get(g, 1), factory, settings, (slots or {}).get(g, 1))
                       for g in sorted(groups)}

    async def start(self) -> None:
        """Start every group."""
        await asyncio.gather(*(g.start() for g in self.groups.values()))

    async def call(self, group: str, stage: str, inputs, hard_limit: float, abort: asyncio.Event | None = None,
                   tenant: str | None = None):
        """Run a stage's work in `group` under a hard limit (and stop it when `abort` is set)."""
        return await self.groups[group].call(stage, inputs, hard_limit, abort, tenant)

    def models_status(self) -> dict:
        """What the workers loaded (merged into the models' status on /healthz)."""
        merged: dict = {}
        for group in self.groups.values():
            merged.update(group.models_status)
        return merged

    def health(self) -> dict:
        """The latest health reports of the workers (the GPU as the LLaVA process sees it), merged."""
        merged: dict = {}
        for group in self.groups.values():
            merged.update(group.health)
        return merged

    def status(self) -> dict:
        """Per group: size, slots, alive, restarts, last restart reason."""
        return {name: g.status() for name, g in self.groups.items()}

    def pids(self) -> list[int]:
        """Every worker process id."""
        return [pid for g in self.groups.values() for pid in g.pids()]

    def close(self) -> None:
        """Stop every group."""
        for group in self.groups.values():
            group.close()
