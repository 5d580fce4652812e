"""updated_at: the trigger fills it when a writer forgets it and keeps a value the writer sets (migration 0008)."""
from datetime import UTC, datetime

from sqlalchemy import text

from scripts import seedlib

BACKFILLED = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def _updated(db, table: str, key: str, value) -> datetime:
    return db.execute(text(f"SELECT updated_at FROM {table} WHERE {key} = :k"), {"k": value}).scalar()


def test_an_explicit_updated_at_is_kept_and_a_forgotten_one_is_filled(db, tmp_path):
    job_id, (variant,) = seedlib.create_job(db, tmp_path, variants_count=1)
    generation = db.execute(text("SELECT pk FROM txt_ad_copy_generations WHERE job_id = :j LIMIT 1"), {"j": job_id}).scalar()
    for table, key, value in (("jobs_variants", "job_variants_id", variant), ("jobs", "job_id", job_id),
                              ("txt_ad_copy_generations", "pk", generation)):
        # A backfill that keeps the original timestamp, in the same statement as a state change.
        db.execute(text(f"UPDATE {table} SET status = 'failed', updated_at = :t WHERE {key} = :k"),
                   {"t": BACKFILLED, "k": value})
        db.commit()
        assert _updated(db, table, key, value) == BACKFILLED, table
        # A writer that forgets it: the trigger fills the current time, as before.
        db.execute(text(f"UPDATE {table} SET status = 'done' WHERE {key} = :k"), {"k": value})
        db.commit()
        now = db.execute(text("SELECT now()")).scalar()
        assert (now - _updated(db, table, key, value)).total_seconds() < 60, table
