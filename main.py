"""The FastAPI app: stage endpoints, jobs API, dashboard; the engine starts in the lifespan."""
import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

import database
from config import Settings, get_settings
from models import HealthOut
from routers import dashboard, jobs, stages
from services.dispatch import Dispatcher
from services.listener import Listener
from services.logs import setup_logging
from services.pipeline import BY_NAME
from services.queries import Q
from services.runner import StageRunner
from services.supervise import drain_on_sigterm, start_workers
from services import metrics
from services.sweeper import Sweeper, waiting_report

log = logging.getLogger("app")
LOOPBACK = ("127.0.0.1", "localhost", "::1")

def create_app(settings: Settings | None = None, handlers_factory=None) -> FastAPI:
    """Build the app; tests pass their own handlers_factory(settings) -> (handlers, status)."""
    settings = settings or get_settings()
    setup_logging(settings.log_level, settings.log_json)
    if settings.host not in LOOPBACK and not settings.api_key:
        # Stage and admin endpoints change data: open only on localhost (issue: "off by default on localhost").
        raise RuntimeError(f"API_KEY must be set when the service listens on {settings.host} (not loopback)")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        url = await asyncio.to_thread(database.database_url, settings)
        pool = await database.create_pool(url)
        factory = handlers_factory
        if factory is None:
            from services.handlers import build_handlers as factory
        handlers, models_status = await asyncio.to_thread(factory, settings)
        workers = await start_workers(factory, settings, handlers, models_status)
        dispatcher = Dispatcher(pool, settings)
        runner = StageRunner(pool, settings, handlers, on_retry_scheduled=lambda ctx, delay: dispatcher.submit_later(
            delay, ctx.stage, ctx.job_id, ctx.job_variants_id, ctx.tenant_id), workers=workers)
        sweeper = Sweeper(pool, dispatcher, settings)
        listener = None
        if settings.enable_job_state_listener:
            def on_event(level, event, received):
                dispatcher.on_state(level, event.job_id, event.job_variants_id, event.tenant_id,
                                    event.current_step, event.status, received)
            listener = Listener(url, on_event, on_connect=sweeper.wake,
                                max_backoff=settings.listener_reconnect_max_seconds)
            listener.start()
        if settings.enable_sweeper:
            sweeper.start()
        # SIGTERM: stop claiming at once (uvicorn only stops at the end of its graceful wait).
        drain_on_sigterm(runner, lambda: asyncio.ensure_future(sweeper.stop()))
        app.state.__dict__.update(settings=settings, pool=pool, runner=runner, dispatcher=dispatcher,
                                  listener=listener, sweeper=sweeper, models_status=models_status, workers=workers)
        log.info("service ready on %s (database %s)", settings.base_url, "embedded" if not settings.database_url else "external")
        try:
            yield
        finally:
            runner.draining = True
            if listener:
                await listener.stop()
            await sweeper.stop()
            await runner.release_all()  # anything still running (a server that did not wait) goes back
            await dispatcher.drain(timeout=min(5.0, settings.shutdown_grace_seconds))
            if workers:
                await asyncio.to_thread(workers.close)
            await pool.close()

    app = FastAPI(title="ad-creative pipeline", version="1.0.0", lifespan=lifespan,
                  description="Turns generated ad images into finished Instagram-ready creatives.")
    app.include_router(stages.router)
    app.include_router(jobs.router)
    app.include_router(dashboard.router)
    settings.assets_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/assets", StaticFiles(directory=settings.assets_dir), name="assets")

    @app.get("/healthz", response_model=HealthOut, tags=["ops"])
    async def healthz(request: Request, response: Response):
        """Database reachable, listener connected, lag of the oldest pending row, model backends."""
        state = request.app.state
        try:
            lag = await state.pool.fetchval(Q["oldest_pending"], [s for s in BY_NAME] + ["img_gen"], timeout=5)
            async with state.pool.acquire(timeout=5) as conn:
                waiting = await waiting_report(conn, state.settings)
            db_ok = True
        except Exception:  # noqa: BLE001 - health reports the failure instead of raising it
            lag, db_ok, waiting = None, False, {}
        connected = state.listener.connected if state.listener else None
        draining = state.runner.draining
        ok = db_ok and connected is not False and not draining
        response.status_code = 200 if ok else 503
        models = {**state.models_status, **(state.workers.models_status() if state.workers else {})}
        if state.workers:
            for name, group in state.workers.status().items():
                metrics.WORKER_RESTARTS.labels(name).set(group["restarts"])
        degraded = any(waiting.values())  # ready, but something waits that will not end by itself
        return HealthOut(ok=ok, database=db_ok, listener_connected=connected, draining=draining,
                         degraded=degraded, waiting=waiting,
                         oldest_pending_seconds=float(lag) if lag is not None else None, models=models,
                         workers=state.workers.status() if state.workers else {})

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def prometheus_metrics():
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


app = create_app()

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host=get_settings().host, port=get_settings().port,
                timeout_graceful_shutdown=int(get_settings().shutdown_grace_seconds))
