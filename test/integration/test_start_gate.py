"""The start gate under a race: the English copy and the image committing in the same instant."""
import threading

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.engine_app import counting_handlers
from test.integration.helpers import session_for, wait_for


def _lost_claims() -> float:
    return REGISTRY.get_sample_value("pipeline_dispatches_total", {"stage": "vlm_analyze", "http_status": "409"}) or 0


def _blocked_on_a_lock(db, pid: int) -> bool:
    db.rollback()
    return db.execute(text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p"),
                      {"p": pid}).scalar() is True


def _started(db, variant: str) -> bool:
    db.rollback()
    return db.execute(text("SELECT count(*) FROM stage_runs WHERE job_variants_id = :v AND step = 'vlm_analyze'"),
                      {"v": variant}).scalar() > 0


@pytest.mark.parametrize("copy_checked_early", [False, True], ids=["plain", "copy-side-checked-first"])
def test_copy_and_image_committing_together_still_start_the_variant(db, db_url, tmp_path, copy_checked_early):
    # The text part's transaction has written the copy (its wake-up trigger found no waiting variant) and
    # not committed yet; the image part commits the variant in between. Without the sweeper, only a
    # notification can start the variant: the one sent by whichever of the two commits last.
    # copy-side-checked-first: the copy's commit-time check has already run (SET CONSTRAINTS ... IMMEDIATE
    # fires it now), as when both reach their commit together; only the commit lock can save that case.
    settings = app_settings(db_url, tmp_path, enable_sweeper=False)
    with serve(create_app(settings, handlers_factory=counting_handlers), settings.port):
        job_id, (variant,) = seedlib.create_job(db, settings.assets_dir, variants_count=1, ad_copy_eng=None)
        db.execute(text(seedlib.IMG_GEN_RUNNING), {"job_variants_id": variant})
        db.commit()
        text_part, image_part = session_for(db_url), session_for(db_url)
        try:
            seedlib.add_text_part(text_part, job_id, "Fresh coffee")  # open transaction
            if copy_checked_early:
                text_part.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
            image_pid = image_part.execute(text("SELECT pg_backend_pid()")).scalar()
            lost_before = _lost_claims()

            def commit_image():
                image_part.execute(text(seedlib.IMG_GEN_DONE), {"job_variants_id": variant})
                image_part.commit()
            committing = threading.Thread(target=commit_image)
            committing.start()
            # Either the image commit went through and its claim was refused (no copy yet), or the
            # database holds it back until the copy commits.
            wait_for(lambda: _lost_claims() > lost_before or _blocked_on_a_lock(db, image_pid), 20,
                     what="the image part's claim refused, or its commit held back")
            text_part.commit()
            committing.join(20)
            assert not committing.is_alive()
            wait_for(lambda: _started(db, variant), 10, what="vlm_analyze claimed with the sweeper off")
        finally:
            for session in (text_part, image_part):
                session.rollback()
                session.close()
                session.get_bind().dispose()
