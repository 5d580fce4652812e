"""The app does not start when the stage table (pipeline.py) and the handlers built from its rows disagree."""
from dataclasses import replace

import asyncpg
import pytest

from config import Settings
from main import create_app
from services.engine.handler_check import HandlerMismatch, check_handlers, problems
from services.engine.pipeline import BY_NAME, STAGES
from services.engine.stage_types import StageHandler
from services.stages.registry import build_handlers, handler_class
from test.conftest import app_settings
from test.engine_app import counting_handlers


def test_the_real_handlers_match_the_stage_table():
    handlers, _ = build_handlers(Settings(_env_file=None))
    assert sorted(handlers) == sorted(s.name for s in STAGES)
    assert problems(handlers) == []


def test_every_difference_is_named():
    handlers, _ = counting_handlers(None)
    del handlers["ocr_eval"]
    handlers["ocr_evaluate"] = handlers["iou_eval"]

    class NoSave(StageHandler):
        async def load(self, conn, ctx): ...
        def run(self, inputs): ...
        def check_request(self, conn, request): ...  # the runner awaits it: must be async
        process_group = 3  # type: ignore[assignment]

    handlers["planner"] = NoSave()
    found = problems(handlers)
    assert "stage ocr_eval (services/engine/pipeline.py) has no handler" in found
    assert "handler ocr_evaluate is not a stage of services/engine/pipeline.py" in found
    assert "handler planner (NoSave) lacks save" in found
    assert any(p.startswith("handler planner (NoSave): check_request must be an async def") for p in found)
    assert any(p.startswith("handler planner (NoSave): process_group must be") for p in found)
    with pytest.raises(HandlerMismatch, match="the stage table and the handlers do not match: .*ocr_eval"):
        check_handlers(handlers)


def test_a_hook_of_the_wrong_shape_is_named():
    class Misshapen(StageHandler):
        async def load(self, conn): ...  # the runner passes (conn, ctx)
        async def run(self, inputs): ...  # runs in a thread or a worker: a coroutine would never be awaited
        async def save(self, conn, ctx, output): ...
        def warm_up(self, models): ...  # called with nothing
        io_bound = "yes"  # type: ignore[assignment]

    handlers, _ = counting_handlers(None)
    handlers["overlay"] = Misshapen()
    assert [p for p in problems(handlers) if "overlay" in p] == [
        "handler overlay (Misshapen): load must take (conn, ctx)",
        "handler overlay (Misshapen): run must be a plain def (it runs in a thread or a worker process)",
        "handler overlay (Misshapen): warm_up must take ()",
        "handler overlay (Misshapen): io_bound must be True or False"]


def test_a_handler_not_of_the_base_class_is_refused():
    class Duck:  # every hook the engine calls, but not a StageHandler: its defaults (check_request...) are missing
        async def load(self, conn, ctx): ...
        def run(self, inputs): ...
        async def save(self, conn, ctx, output): ...

    handlers, _ = counting_handlers(None)
    handlers["planner"] = Duck()
    assert problems(handlers) == ["handler planner (Duck) is not a StageHandler (services/engine/stage_types.py)"]


def test_the_handlers_come_from_the_rows():
    handlers, _ = build_handlers(Settings(_env_file=None))
    for stage in STAGES:
        module, _, name = stage.handler.partition(":")
        assert (type(handlers[stage.name]).__module__, type(handlers[stage.name]).__name__) == (module, name)
    with pytest.raises(HandlerMismatch, match="stage planner: 'services.stages.image:Nothing' is not a StageHandler"):
        handler_class(replace(BY_NAME["planner"], handler="services.stages.image:Nothing"))
    with pytest.raises(HandlerMismatch, match="handler module 'services.stages.gone' does not import"):
        handler_class(replace(BY_NAME["planner"], handler="services.stages.gone:Planner"))


async def test_a_missing_handler_stops_the_start(db_url, tmp_path):
    def without_ocr(settings):
        handlers, status = counting_handlers(settings)
        del handlers["ocr_eval"]
        return handlers, status

    app = create_app(app_settings(db_url, tmp_path), handlers_factory=without_ocr)
    with pytest.raises(HandlerMismatch, match=r"stage ocr_eval \(services/engine/pipeline.py\) has no handler"):
        async with app.router.lifespan_context(app):
            pytest.fail("the app started without a handler for ocr_eval")
    conn = await asyncpg.connect(db_url)
    try:  # the refused start closed its pool: only this connection is left on the database
        assert await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()") == 1
    finally:
        await conn.close()


async def test_the_full_handler_set_starts(db_url, tmp_path):
    app = create_app(app_settings(db_url, tmp_path), handlers_factory=counting_handlers)
    async with app.router.lifespan_context(app):
        assert sorted(app.state.handlers) == sorted(s.name for s in STAGES)
