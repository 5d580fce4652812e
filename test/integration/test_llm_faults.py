"""A misbehaving chat-completions server through the stages: timeouts and prose instead of JSON are
retried by the engine, then fail the stage with the reason stored."""
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.integration.helpers import job_state, wait_for
from test.integration.test_text_stages import UNFIT_COPY, ChatServer


def _ready_for_text_stages(db, job_id: str) -> None:
    """Variants finished: the job's (iou_eval, done) NOTIFY starts ad_copy_gen_kor."""
    db.execute(text("UPDATE jobs_variants SET current_step = 'iou_eval', status = 'done' WHERE job_id = :j"),
               {"j": job_id})
    db.execute(text("UPDATE jobs SET current_step = 'iou_eval', status = 'done' WHERE job_id = :j"), {"j": job_id})
    db.commit()


def _runs(db, job_id: str, step: str) -> list[tuple]:
    db.rollback()
    return db.execute(text("SELECT status, error FROM stage_runs WHERE job_id = :j AND step = :s ORDER BY started_at"),
                      {"j": job_id, "s": step}).all()


def _failed_for_good(db, job_id: str) -> bool:
    db.rollback()
    return db.execute(text("SELECT current_step = 'ad_copy_gen_kor' AND status = 'failed' AND next_retry_at IS NULL "
                           "FROM jobs WHERE job_id = :j"), {"j": job_id}).scalar()


def test_llm_timeouts_and_prose_fail_the_stage_with_the_reason(db, db_url, tmp_path):
    chat = ChatServer()
    settings = app_settings(db_url, tmp_path, openai_base_url=f"http://127.0.0.1:{chat.port}/v1",
                            openai_api_key="test", openai_timeout_seconds=0.5, openai_max_retries=0, max_retries=1)
    try:
        with serve(create_app(settings), settings.port):
            cases = (("hang", "timeout"), ("prose", "not a JSON object"))
            for mode, reason in cases:
                chat.misbehave = {"eng_to_kor": mode}
                job_id, _ = seedlib.create_job(db, settings.assets_dir, variants_count=1)
                _ready_for_text_stages(db, job_id)
                wait_for(lambda: _failed_for_good(db, job_id), 30, interval=0.1,
                         what=f"ad_copy_gen_kor failed for good ({mode})")
                row = db.execute(text("SELECT retry_count, next_retry_at, last_error FROM jobs WHERE job_id = :j"),
                                 {"j": job_id}).one()
                assert row[0] == 1 and row[1] is None and reason in row[2], (mode, row)
                runs = _runs(db, job_id, "ad_copy_gen_kor")  # both attempts, each with its reason
                assert [status for status, _ in runs] == ["failed", "failed"] and all(
                    reason in (error or "") for _, error in runs), (mode, runs)

            # The copy refinement inside vlm_analyze: prose fails that variant's stage the same way.
            chat.misbehave = {"refine_copy": "prose"}
            job_id, (variant,) = seedlib.start_job(db, settings.assets_dir, variants_count=1, ad_copy_eng=UNFIT_COPY)
            wait_for(lambda: job_state(db, job_id) == ("iou_eval", "failed"), 60, interval=0.1,
                     what="the job failed with its only variant")
    finally:
        chat.close()
    row = db.execute(text("SELECT current_step, status, retry_count, last_error FROM jobs_variants "
                          "WHERE job_variants_id = :v"), {"v": variant}).one()
    assert row[:3] == ("vlm_analyze", "failed", 1) and "refine_copy" in row[3] and "not a JSON object" in row[3], row
    assert len(chat.seen("refine_copy")) == 2
