"""The worker process's side of services/engine/workers.py: build the handlers, answer calls, report health."""
import os
import pickle
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def _round_trips(exc: BaseException) -> bool:
    """Whether the parent can unpickle it (an exception whose __init__ needs other arguments cannot)."""
    try:
        pickle.loads(pickle.dumps(exc))
        return True
    except Exception:  # noqa: BLE001 - any failure: send a plain RuntimeError with its text instead
        return False


HEALTH_SECONDS = 2.0  # how often a worker whose handlers report health (the GPU) sends it unasked


def _child(factory, settings, group: str, conn, slots: int = 1) -> None:
    """Worker main: build the handlers once, warm up this group's, then run calls until the pipe closes.

    Calls are tagged (call_id, stage, inputs) and answered (call_id, kind, value); with `slots` > 1 they run
    in that many threads at once (the vlm group: the LLaVA backend batches them). Handlers with `reports_health`
    report it every HEALTH_SECONDS as (None, "health", dict)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C reaches the whole process group; the parent decides
    # In the multi-process group the processes are the parallelism: an OpenMP pool in each on top would
    # oversubscribe the cores (EasyOCR under torch went 41 -> 57 jobs/min with one). LLaVA keeps its threads.
    if group == "cpu":
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    handlers, _ = factory(settings)
    status: dict = {}
    ours = [h for h in handlers.values() if h.process_group == group]
    for handler in ours:
        status.update(handler.warm_up() or {})
    send_lock = threading.Lock()

    def send(message) -> None:
        with send_lock:
            try:
                conn.send(message)
            except (TypeError, AttributeError, ValueError, RecursionError) as exc:  # unpicklable: nothing was sent
                conn.send((message[0], "error", RuntimeError(f"{type(exc).__name__}: {exc} (result of a call)")))

    def serve(call_id, stage, inputs) -> None:
        try:
            reply = ("ok", handlers[stage].run(inputs))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            reply = ("error", exc if _round_trips(exc) else RuntimeError(f"{type(exc).__name__}: {exc}"))
        try:
            send((call_id, *reply))
        except OSError:  # the parent is gone
            pass

    def report() -> None:
        reporters = [h.health for h in ours if h.reports_health]
        while reporters:
            merged: dict = {}
            for health in reporters:
                try:
                    merged.update(health() or {})
                except Exception as exc:  # noqa: BLE001 - a report must never stop the worker
                    merged["health_error"] = f"{type(exc).__name__}: {exc}"
            try:
                send((None, "health", merged))
            except OSError:
                return
            time.sleep(HEALTH_SECONDS)

    calls = ThreadPoolExecutor(slots, thread_name_prefix="call") if slots > 1 else None
    try:
        conn.send(("ready", status))
        threading.Thread(target=report, name="health", daemon=True).start()
        while True:
            call_id, stage, inputs = conn.recv()
            if calls is not None:
                calls.submit(serve, call_id, stage, inputs)
            else:
                serve(call_id, stage, inputs)
    except (EOFError, OSError):  # the parent closed the pipe (shutdown) or is gone: nothing left to do
        return
