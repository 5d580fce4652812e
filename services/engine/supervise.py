"""Wiring the engine's supervision into the app: worker processes at start-up, drain on SIGTERM."""
import asyncio
import logging
import signal

from services.engine.pipeline import BY_NAME, VLM_STAGES, concurrency
from services.engine.workers import WorkerPool

log = logging.getLogger(__name__)


async def start_workers(factory, settings, handlers: dict, models_status: dict) -> WorkerPool | None:
    """Start a worker group per process_group the handlers name; warm up the handlers that stay in threads."""
    served = settings.served_stages  # SERVE_STAGES: a replica loads only the models its stages use
    handlers = {name: h for name, h in handlers.items() if name in served}
    groups = {h.process_group for h in handlers.values()} - {None} if settings.worker_processes > 0 else set()
    for handler in handlers.values():
        if not groups or handler.process_group is None:
            models_status.update(await asyncio.to_thread(handler.warm_up) or {})
    if not groups:
        return None
    # The vlm process takes every VLM stage's slots at once: its LLaVA batches what arrives together.
    vlm_slots = sum(concurrency(BY_NAME[name], settings) for name in VLM_STAGES if name in served)
    workers = WorkerPool(factory, settings, groups, sizes={"cpu": settings.worker_processes},
                         slots={"vlm": vlm_slots})
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
