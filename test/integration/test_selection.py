"""The job's best variant is chosen among the variants that finished; a failed one never wins."""
import asyncio
import uuid

import asyncpg

import database
from scripts import seedlib
from services.engine.selection import EVALUATION_TYPES, select_best_variant


async def _evaluate(conn, job_id, variant_id, score: float, passed: bool) -> None:
    """An overlay with every evaluation type at the given score."""
    overlay = await conn.fetchval("INSERT INTO overlay_layouts (job_variants_id, layout) VALUES ($1, '{}') "
                                  "RETURNING overlay_id", variant_id)
    for kind in EVALUATION_TYPES:
        metrics = {"passed": passed, "overall": {"value": score}, "similarity": {"value": score / 10}}
        await conn.execute("INSERT INTO evaluations (job_id, overlay_id, evaluation_type, metrics) "
                           "VALUES ($1, $2, $3, $4)", job_id, overlay, kind, metrics)


async def test_a_failed_variant_is_never_selected(db, db_url, tmp_path):
    job, variants = await asyncio.to_thread(seedlib.create_job, db, tmp_path, variants_count=3, one_image=True)
    job_id = uuid.UUID(job)
    failed_late, failed_early, finished = (uuid.UUID(v) for v in variants)  # creation order 1, 2, 3
    conn = await asyncpg.connect(db_url)
    await database.init_connection(conn)  # the service's JSONB codec
    try:
        # Failed at its last step with the best evaluations of the three; failed early with none (it would
        # win the creation-order tie-break); finished with poor evaluations: only the last one may be chosen.
        for variant, step, status in ((failed_late, "iou_eval", "failed"), (failed_early, "vlm_analyze", "failed"),
                                      (finished, "iou_eval", "done")):
            await conn.execute("UPDATE jobs_variants SET current_step = $2, status = $3 WHERE job_variants_id = $1",
                               variant, step, status)
        await _evaluate(conn, job_id, failed_late, 10.0, True)
        await _evaluate(conn, job_id, finished, 1.0, False)
        async with conn.transaction():
            assert await select_best_variant(conn, job_id) == finished
        selected = await conn.fetch("SELECT job_variants_id FROM jobs_variants WHERE job_id = $1 AND selected", job_id)
        assert [r[0] for r in selected] == [finished]
        # With no finished variant there is nothing to select.
        await conn.execute("UPDATE jobs_variants SET status = 'failed', selected = FALSE WHERE job_id = $1", job_id)
        assert await select_best_variant(conn, job_id) is None
        assert await conn.fetchval("SELECT count(*) FROM jobs_variants WHERE job_id = $1 AND selected", job_id) == 0
    finally:
        await conn.close()
