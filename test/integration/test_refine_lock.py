"""One refined copy per job: the advisory lock under contention, and the unique index behind it."""
import asyncio
import uuid

import asyncpg
import pytest

from database import create_pool
from scripts import seedlib
from services.engine.migrations import MIGRATIONS_DIR
from services.engine.runner import StageRunner
from services.stages.image import VlmAnalyze
from services.stages.registry import Models
from test.conftest import app_settings
from test.integration.test_text_stages import UNFIT_COPY

SCHEMA_FILE = MIGRATIONS_DIR / "0006_start_gate_and_refine_lock.sql"
REFINED_ROWS = ("SELECT count(*) FROM txt_ad_copy_generations WHERE job_id = $1 "
                "AND generation_stage = 'refined_ad_copy' AND status = 'done'")


class _SaveTogether(VlmAnalyze):
    """vlm_analyze whose commits all start together: every variant refined before any copy is stored."""

    def __init__(self, models, barrier: asyncio.Barrier):
        super().__init__(models)
        self.barrier = barrier

    async def save(self, conn, ctx, out):
        assert out["refined"] is not None  # each variant found the copy unfit and called the writer
        await asyncio.wait_for(self.barrier.wait(), 30)  # every finishing transaction is open now
        return await super().save(conn, ctx, out)


async def test_concurrent_first_stages_store_one_refined_copy(db, db_url, tmp_path):
    # Four variants, four runners (as four processes would be; vlm_analyze runs one at a time per process).
    settings = app_settings(db_url, tmp_path)
    models = await asyncio.to_thread(Models, settings)
    job_id, variants = await asyncio.to_thread(seedlib.start_job, db, tmp_path / "assets", variants_count=4,
                                               ad_copy_eng=UNFIT_COPY, one_image=True)
    barrier = asyncio.Barrier(len(variants))
    pool = await create_pool(db_url)
    try:
        runners = [StageRunner(pool, settings, {"vlm_analyze": _SaveTogether(models, barrier)}) for _ in variants]
        outcomes = await asyncio.gather(*(
            r.run("vlm_analyze", {"job_id": uuid.UUID(job_id), "job_variants_id": uuid.UUID(v)})
            for r, v in zip(runners, variants)))
        assert [(o["status"], o["attempt"]) for o in outcomes] == [("done", 1)] * len(variants), outcomes
        assert await pool.fetchval(REFINED_ROWS, uuid.UUID(job_id)) == 1
        stored = await pool.fetchval("SELECT refined_ad_copy_eng FROM txt_ad_copy_generations WHERE job_id = $1 "
                                     "AND generation_stage = 'refined_ad_copy'", uuid.UUID(job_id))
        # Every variant reports (and later stages read) the one stored copy; every writer call is traced.
        assert {o["result"]["refined_ad_copy_eng"] for o in outcomes} == {stored}
        assert await pool.fetchval("SELECT count(*) FROM llm_traces WHERE job_id = $1 "
                                   "AND operation_type = 'refine_copy'", uuid.UUID(job_id)) == len(variants)
    finally:
        await pool.close()


async def _insert_refined(conn, job_id) -> None:
    await conn.execute("INSERT INTO txt_ad_copy_generations (job_id, generation_stage, ad_copy_eng, "
                       "refined_ad_copy_eng, status) VALUES ($1, 'refined_ad_copy', 'long', 'short', 'done')", job_id)


async def test_schema_refuses_a_second_refined_copy(db, db_url, tmp_path):
    job_id, _ = await asyncio.to_thread(seedlib.create_job, db, tmp_path, variants_count=1)
    conn = await asyncpg.connect(db_url)
    try:
        await _insert_refined(conn, uuid.UUID(job_id))
        with pytest.raises(asyncpg.UniqueViolationError):
            await _insert_refined(conn, uuid.UUID(job_id))
        # Rows that are not a finished refined copy are not limited.
        await conn.execute("INSERT INTO txt_ad_copy_generations (job_id, generation_stage, status) "
                           "VALUES ($1, 'refined_ad_copy', 'failed'), ($1, 'refined_ad_copy', 'failed')",
                           uuid.UUID(job_id))
    finally:
        await conn.close()


async def test_index_builds_over_history_with_duplicates(db, db_url, tmp_path):
    old_job, _ = await asyncio.to_thread(seedlib.create_job, db, tmp_path, variants_count=1)
    new_job, _ = await asyncio.to_thread(seedlib.create_job, db, tmp_path, variants_count=1)
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("DROP INDEX uq_refined_ad_copy_per_job")  # as before this file existed
        for _ in range(2):
            await _insert_refined(conn, uuid.UUID(old_job))  # duplicates written before the lock
        for _ in range(2):  # applied over that history, then again: neither run fails
            await conn.execute(SCHEMA_FILE.read_text())
        assert await conn.fetchval(REFINED_ROWS, uuid.UUID(old_job)) == 2  # history left as it was
        await _insert_refined(conn, uuid.UUID(new_job))
        with pytest.raises(asyncpg.UniqueViolationError):  # new rows are still checked
            await _insert_refined(conn, uuid.UUID(new_job))
    finally:
        await conn.close()
