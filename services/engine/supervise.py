"""Wiring the engine's supervision into the app: worker processes at start-up, drain on SIGTERM."""
import asyncio
import logging
import signal

from services.engine.workers import WorkerPool, process_group

log = logging.getLogger(__name__)


async def start_workers(factory, settings, handlers: dict, models_status: dict) -> WorkerPool | None:
    """Start a worker group per process_group the handlers name; warm up the handlers that stay in threads."""
    groups = {process_group(h) for h in handlers.values()} - {None} if settings.worker_processes > 0 else set()
    for handler in handlers.values():
        if (not groups or process_group(handler) is None) and hasattr(handler, "warm_up"):
            models_status.update(await asyncio.to_thread(handler.warm_up) or {})
    if not groups:
        return None
    workers = WorkerPool(factory, settings, groups, sizes={"cpu": settings.worker_processes})
    await workers.start()
    log.info("worker processes: %s", workers.status())
    return workers


def drain_on_sigterm(runner, *also) -> None:
    """Chain a SIGTERM handler in front of uvicorn's: the runner drains at once, then uvicorn shuts down."""
    try:
        previous = signal.getsignal(signal.SIGTERM)
    except ValueError:
        return
    loop = asyncio.get_running_loop()

    def on_term(signum, frame):
        def drain():
            runner.begin_drain()
            for callback in also:
                callback()
        loop.call_soon_threadsafe(drain)
        if callable(previous):
            previous(signum, frame)

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (an app served from a test thread): lifespan shutdown releases
        log.debug("SIGTERM drain not installed (not the main thread)")
