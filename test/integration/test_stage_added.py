"""Adding a stage is one handler module + one row: a throwaway stage, added so to a copy of the code, runs."""
import shutil
from pathlib import Path

import httpx
from sqlalchemy import text

from scripts import seedlib
from services.ops.testing import ROOT, AppProcess
from test.conftest import free_port
from test.integration.helpers import job_finished, wait_for

# The whole new stage's code: what docs/adding-a-stage.md tells a maintainer to write (its one write is
# literal SQL only because this module lives in a temporary copy; a real stage names it in db/stages.sql).
HANDLER = '''"""A throwaway stage: stamps the variant's overlay with the job's English copy length."""
from services.engine.stage_types import StageHandler


class Stamp(StageHandler):
    """Reads the copy, counts it (in a thread), writes one evaluation row of its own type."""

    def __init__(self, models):
        self.settings = models.settings

    async def load(self, conn, ctx):
        copy = await conn.fetchval("SELECT ad_copy_eng FROM txt_ad_copy_generations WHERE job_id = $1 "
                                   "AND ad_copy_eng IS NOT NULL ORDER BY created_at LIMIT 1", ctx.job_id)
        return {"copy": copy or ""}

    def run(self, inputs):
        return {"characters": len(inputs["copy"])}

    async def save(self, conn, ctx, output):
        await conn.execute("INSERT INTO evaluations (job_id, evaluation_type, metrics) VALUES ($1, 'stamp', $2)",
                           ctx.job_id, {"variant": str(ctx.job_variants_id), **output})
        return {"stamped": True, **output}
'''
ROW = '''    Stage(name="stamp", after="readability_eval", endpoint="/api/yh/stamp", level="variant",
          timeout_seconds=30, concurrency=2, handler="services.stages.stamp:Stamp",
          summary="A throwaway stage (test/integration/test_stage_added.py)"),
'''


def _copy_with_stage(tree: Path) -> None:
    """The service's code in `tree`, plus the new handler module and its row (the next row now follows it)."""
    for name in ("main.py", "config.py", "database.py", "models.py"):
        shutil.copy(ROOT / name, tree / name)
    for name in ("services", "routers", "db"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "services/stages/stamp.py").write_text(HANDLER)
    pipeline = tree / "services/engine/pipeline.py"
    source = pipeline.read_text()
    iou_row = '    Stage(name="iou_eval", after="readability_eval",'
    assert source.count(iou_row) == 1, "the stage table's iou_eval row changed: update this test"
    pipeline.write_text(source.replace(iou_row, ROW + iou_row.replace('"readability_eval"', '"stamp"')))


def test_a_new_stage_runs_through_the_engine(db, db_url, tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    _copy_with_stage(tree)
    app = AppProcess(db_url, free_port(), tmp_path / "assets", module="main", worker_processes=0,
                     pythonpath=str(tree))
    app.start(wait=120, cwd=tree)  # main:app of the copy, with the registry that builds handlers from the rows
    try:
        # The router made its endpoint from the row, answering with the generic result model.
        schema = httpx.get(f"{app.base}/openapi.json").json()
        assert "/api/yh/stamp" in schema["paths"]
        answer = schema["paths"]["/api/yh/stamp"]["post"]["responses"]["200"]["content"]["application/json"]
        assert answer["schema"]["$ref"].endswith("/StampOut")
        job_id, (variant,) = seedlib.start_job(db, app.assets_dir, variants_count=1)
        wait_for(lambda: job_finished(db, job_id), 150, interval=0.2, what="the job's feed")
        db.rollback()
        steps = [r[0] for r in db.execute(text(
            "SELECT step FROM stage_runs WHERE job_variants_id = :v AND status = 'done' ORDER BY started_at"),
            {"v": variant})]
        assert steps == ["vlm_analyze", "yolo_detect", "planner", "overlay", "vlm_judge", "ocr_eval",
                         "readability_eval", "stamp", "iou_eval"]
        metrics = db.execute(text("SELECT metrics FROM evaluations WHERE job_id = :j AND evaluation_type = 'stamp'"),
                             {"j": job_id}).scalar_one()
        assert metrics["variant"] == variant and metrics["characters"] > 0
        progress = httpx.get(f"{app.base}/api/yh/jobs/{job_id}").json()["variants"][0]
        assert (progress["current_step"], progress["status"]) == ("iou_eval", "done")
    finally:
        app.stop()
