"""The FastAPI app: stage endpoints, jobs API, dashboard; the engine starts in the lifespan."""
import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

import database
from config import Settings, get_settings
from models import HealthOut
from routers import actions, dashboard, dashboard_actions, dashboard_auth, downloads, jobs, priority, stages, web
from services.backends.gpu import gpu_report
from services.engine import store_sweep
from services.engine.dispatch import Dispatcher
from services.engine.handler_check import HandlerMismatch, check_handlers
from services.engine.listener import Listener
from services.engine.pipeline import BY_NAME
from services.engine.replicas import Replicas, unserved_stages
from services.engine.runner import WORKER, StageRunner
from services.engine.supervise import drain_on_sigterm, start_workers
from services.engine.sweeper import Sweeper, waiting_report
from services.ops import metrics, ratelimit
from services.ops.access import Access
from services.ops.address import SelfAddress, is_loopback, uvicorn_server
from services.ops.assets import assets_problem
from services.ops.logs import setup_logging
from services.ops.outbox import WebhookDeliverer
from services.ops.security import Guard

log = logging.getLogger("app")

def create_app(settings: Settings | None = None, handlers_factory=None) -> FastAPI:
    """Build the app; tests pass their own handlers_factory(settings) -> (handlers, status)."""
    settings = settings or get_settings()
    setup_logging(settings.log_level, settings.log_as_json)
    address = SelfAddress(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        server = uvicorn_server()  # what the launcher (not HOST) will bind; other launchers: the Guard checks each socket
        if server and not settings.api_key and not server.config.uds and not is_loopback(server.config.host):
            raise RuntimeError(f"API_KEY must be set when the service listens on {server.config.host} (not loopback)")
        url = await asyncio.to_thread(database.database_url, settings)
        try:
            pool = await database.create_pool(url, settings)
        except database.StartupError as exc:
            log.critical("%s", exc)  # one line the operator can act on (the traceback follows from uvicorn)
            raise
        factory = handlers_factory
        if factory is None:
            from services.stages.registry import build_handlers as factory
        handlers, models_status = await asyncio.to_thread(factory, settings)
        try:
            check_handlers(handlers)  # a stage without a handler would otherwise fail only at its first request
        except HandlerMismatch as exc:
            log.critical("%s", exc)
            await pool.close()
            raise
        workers = await start_workers(factory, settings, handlers, models_status)
        dispatcher = Dispatcher(pool, settings, address=address)
        runner = StageRunner(pool, settings, handlers, on_retry_scheduled=lambda ctx, delay: dispatcher.submit_later(
            delay, ctx.stage, ctx.job_id, ctx.job_variants_id, ctx.tenant_id), workers=workers)
        sweeper = Sweeper(pool, dispatcher, settings)
        replicas = Replicas(pool, settings, address.instance_id, WORKER)  # stage roles: who serves what
        await replicas.beat()
        replicas.start()
        listener = None
        if settings.enable_job_state_listener:
            def on_event(level, event, received):
                dispatcher.on_state(level, event.job_id, event.job_variants_id, event.tenant_id,
                                    event.current_step, event.status, received)
            listener = Listener(url, on_event, on_connect=sweeper.wake,
                                max_backoff=settings.listener_reconnect_max_seconds,
                                reconnect_delay=settings.job_state_listener_reconnect_delay)
            listener.start()
        if settings.enable_sweeper:
            sweeper.start()
        deliverer = WebhookDeliverer(pool, settings) if settings.webhook_url else None
        if deliverer:
            deliverer.start()
        address.start(server)
        # SIGTERM: stop claiming at once (uvicorn only stops at the end of its graceful wait).
        drain_on_sigterm(runner, lambda: asyncio.ensure_future(sweeper.stop()),
                         lambda: asyncio.ensure_future(replicas.stop()))
        app.state.__dict__.update(settings=settings, address=address, pool=pool, runner=runner, dispatcher=dispatcher,
                                  listener=listener, sweeper=sweeper, models_status=models_status, workers=workers,
                                  handlers=handlers)
        if problem := await asyncio.to_thread(assets_problem, settings.assets_dir):
            log.error("%s; every variant will fail until it is fixed (/healthz reports it)", problem)
        log.info("service ready (database %s)", "embedded" if not settings.database_url else "external")
        try:
            yield
        finally:
            runner.draining = True
            await address.stop()
            if listener:
                await listener.stop()
            await sweeper.stop()
            await replicas.stop()
            if deliverer:
                await deliverer.stop()
            await runner.release_all()  # anything still running (a server that did not wait) goes back
            await dispatcher.drain(timeout=min(5.0, settings.shutdown_grace_seconds))
            if workers:
                await asyncio.to_thread(workers.close)
            await pool.close()

    app = FastAPI(title="ad-creative pipeline", version="1.0.0", lifespan=lifespan,
                  description="Turns generated ad images into finished Instagram-ready creatives.",
                  docs_url=None, redoc_url=None)
    app.include_router(stages.router)
    app.include_router(jobs.router)
    app.include_router(actions.router)
    app.include_router(downloads.router)
    app.include_router(priority.router)  # issue 26
    app.include_router(dashboard.router)
    app.include_router(dashboard_auth.router)
    app.include_router(dashboard_actions.router)
    try:
        settings.assets_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. a mount missing under a read-only parent: /healthz says so, the app still starts
        log.error("assets directory %s cannot be created: %s", settings.assets_dir, exc)
    web.install(app, settings.assets_dir)
    # Added first, so it runs inside the Guard: host, bind, key and size checks come before any credential lookup.
    app.add_middleware(Access, settings=settings, login_page=dashboard_auth.login_required_page)
    app.add_middleware(Guard, settings=settings, address=address)

    @app.get("/healthz", response_model=HealthOut, tags=["ops"])
    async def healthz(request: Request, response: Response,
                      challenge: Annotated[str | None, Query(max_length=64)] = None):
        """Database reachable, listener connected, lag of the oldest pending row, model backends, dispatch target."""
        state = request.app.state
        try:
            lag = await store_sweep.oldest_pending(state.pool, steps=[s for s in BY_NAME] + ["img_gen"], timeout=5)
            async with state.pool.acquire(timeout=5) as conn:
                waiting = await waiting_report(conn, state.settings)
                unserved = await unserved_stages(conn, state.settings.lease_seconds)
            limits = await ratelimit.report(state.pool, state.settings)
            db_ok = True
        except Exception:  # noqa: BLE001 - health reports the failure instead of raising it
            lag, db_ok, waiting, unserved, limits = None, False, {}, {}, {}
        connected = state.listener.connected if state.listener else None
        draining = state.runner.draining
        problem = await asyncio.to_thread(assets_problem, state.settings.assets_dir)
        ok = db_ok and connected is not False and address.problem is None and not draining and problem is None
        response.status_code = 200 if ok else 503
        models = {**state.models_status, **(state.workers.models_status() if state.workers else {})}
        if state.workers:
            for name, group in state.workers.status().items():
                metrics.WORKER_RESTARTS.labels(name).set(group["restarts"])
        # Ready, but something waits that will not end by itself (no copy; a stage no live replica serves).
        degraded = any(waiting.values()) or bool(unserved)
        return HealthOut(ok=ok, database=db_ok, listener_connected=connected, draining=draining,
                         degraded=degraded, waiting=waiting, stages=sorted(state.settings.served_stages,
                                                                           key=list(BY_NAME).index),
                         unserved_stages=unserved, gpu=gpu_health(state),
                         oldest_pending_seconds=float(lag) if lag is not None else None,
                         models=web.public_status(models),
                         workers=state.workers.status() if state.workers else {},
                         instance=address.instance_id, proof=address.proof(challenge),
                         dispatch_target=address.target, dispatch_problem=address.problem,
                         assets_dir=str(state.settings.assets_dir), assets_problem=problem, rate_limits=limits,
                         queued={stage: {t: n for t, (n, _) in tenants.items()}
                                 for stage, tenants in state.dispatcher.queue_depths().items()})

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def prometheus_metrics(request: Request):
        gpu_health(request.app.state)  # sets the GPU gauges
        state = request.app.state
        depths = state.dispatcher.queue_depths()
        for stage in BY_NAME:  # this process's fair queues (the database-wide depth comes from the sweeper)
            metrics.DISPATCH_QUEUED.labels(stage).set(sum(n for n, _ in depths.get(stage, {}).values()))
        try:
            await ratelimit.report(state.pool, state.settings)
        except Exception:  # noqa: BLE001 - the gauges keep their last values; /healthz reports the database
            pass
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def gpu_health(state) -> dict:
    """The GPU as the process holding the model sees it (the vlm worker, else this one), with the OOM count."""
    health = state.workers.health() if state.workers else {}
    for name, handler in state.handlers.items():  # LLaVA in a thread of this process (WORKER_PROCESSES=0)
        if name in state.settings.served_stages and handler.reports_health and "gpu" not in health:
            health = {**health, **handler.health()}
    gpu = health.get("gpu") or {**gpu_report(), "oom_count": 0, "device": None}
    metrics.set_gpu(gpu)
    return gpu


app = create_app()


def server_options(settings: Settings) -> dict:
    """uvicorn options from the settings: the one place HOST/PORT become a socket."""
    return dict(host=settings.host, port=settings.port, timeout_graceful_shutdown=settings.shutdown_grace_seconds)


if __name__ == "__main__":
    import uvicorn

    # log_config=None: uvicorn's own lines (start, access) go through the service's handler too: stdout, LOG_FORMAT.
    uvicorn.run(app, log_config=None, **server_options(get_settings()))
