"""The app does not start when the stage table (pipeline.py) and the handlers (stages/registry.py) disagree."""
import asyncpg
import pytest

from config import Settings
from main import create_app
from services.engine.handler_check import HandlerMismatch, check_handlers, problems
from services.engine.pipeline import STAGES
from services.stages.registry import build_handlers
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

    class NoSave:
        async def load(self, conn, ctx): ...
        def run(self, inputs): ...
        def check_request(self, conn, request): ...  # the runner awaits it: must be async
        process_group = 3

    handlers["planner"] = NoSave()
    found = problems(handlers)
    assert "stage ocr_eval (services/engine/pipeline.py) has no handler (services/stages/registry.py)" in found
    assert "handler ocr_evaluate is not a stage of services/engine/pipeline.py" in found
    assert "handler planner (NoSave) lacks save" in found
    assert any(p.startswith("handler planner (NoSave): check_request must be an async def") for p in found)
    assert any(p.startswith("handler planner (NoSave): process_group must be") for p in found)
    with pytest.raises(HandlerMismatch, match="the stage table and the handlers do not match: .*ocr_eval"):
        check_handlers(handlers)


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
