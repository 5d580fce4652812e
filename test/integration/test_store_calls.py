"""The engine store's claim, finish and tally calls against PostgreSQL: keyword arguments in, typed records out."""
import asyncio
import uuid

import asyncpg

import database
from scripts import seedlib
from services.engine import store


async def test_claim_finish_and_tally_return_typed_records(db, db_url, tmp_path):
    job, (variant,) = await asyncio.to_thread(seedlib.start_job, db, tmp_path, variants_count=1)
    job_id, variant_id = uuid.UUID(job), uuid.UUID(variant)
    conn = await asyncpg.connect(db_url)
    await database.init_connection(conn)
    try:
        claim = dict(variant_id=variant_id, job_id=job_id, stage="vlm_analyze", after="img_gen", lease_seconds=30,
                     start_gate=True, worker="test", tenant_id=None, settle_seconds=0)
        won = await store.claim_variant(conn, **claim)
        assert isinstance(won, store.Claim) and won.attempt == 1 and won.tenant_id == "ye_pipeline_test_tenant"
        assert await store.claim_variant(conn, **claim) is None  # (vlm_analyze, running) now: one claim per state
        state = await store.variant_state(conn, variant_id=variant_id)
        assert (state["current_step"], state["status"], state["text_ready"]) == ("vlm_analyze", "running", True)
        assert await store.finish_variant(conn, variant_id=variant_id, run_token=uuid.uuid4(), stage="vlm_analyze") is None
        assert await store.finish_variant(conn, variant_id=variant_id, run_token=won.run_token,
                                          stage="vlm_analyze") == job_id
        assert await store.variant_tally(conn, job_id=job_id) == store.Tally(total=1, done=0, dead=0)
        async with conn.transaction():
            locked = await store.lock_job(conn, job_id=job_id)
        assert isinstance(locked, store.JobLock) and locked.cancelled_at is None
        assert await store.lock_job(conn, job_id=uuid.uuid4()) is None
    finally:
        await conn.close()
