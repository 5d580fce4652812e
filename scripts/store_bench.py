"""The database calls of the benchmarks, the chaos run and the history seeding (db/scripts.sql,
db/bench_fairness.sql): counts and timings read on the database clock, bulk inserts, faults.

Sync functions take a SQLAlchemy session (`:name` parameters); the async ones an asyncpg connection.
"""
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from config import Settings
from services.engine.pipeline import BY_NAME, JOB_ADVANCED_STEPS, STAGES, VARIANT_STEPS
from services.engine.queries import Q

# Each must count 0 after a chaos run (db/scripts.sql says why).
INVARIANTS = {"duplicate_successful_runs": "chaos_duplicate_successful_runs",
               "variants_not_finished": "chaos_variants_not_finished", "rows_running": "chaos_rows_running",
               "feeds_missing": "chaos_feeds_missing", "evaluations_missing": "chaos_evaluations_missing"}
# What count() counts: the name of the query in db/scripts.sql.
_COUNTS = {"finished_jobs": "count_finished_jobs", "settled_jobs": "count_settled_jobs",
           "failed_jobs": "count_failed_jobs", "stage_runs": "count_stage_runs", "done_runs": "count_done_runs",
           "lost_runs": "count_lost_runs", "failed_runs": "count_failed_runs", "retried_runs": "count_retried_runs",
           "failed_rows": "bench_failed_rows"}


def _scalar(db: Session, name: str, params: dict | None = None) -> Any:
    return db.execute(text(Q[name]), params or {}).scalar()


def count(db: Session, *, what: str) -> int:
    """One of the counts: finished_jobs, settled_jobs (finished or failed for good), failed_jobs, stage_runs,
    done_runs, lost_runs, failed_runs, retried_runs (attempt > 1), failed_rows (jobs and variants failed)."""
    return _scalar(db, _COUNTS[what])


def invariants(db: Session) -> dict[str, int]:
    """{invariant: rows breaking it} after a chaos run; every value must be 0."""
    return {name: _scalar(db, query) for name, query in INVARIANTS.items()}


def transition_latencies(db: Session, *, since: Any = None) -> list[float]:
    """Sorted ms from a stage's commit to the next stage's claim, of every done run (or of claims after `since`)."""
    if since is None:
        return sorted(float(r[0]) for r in db.execute(text(Q["transition_latencies"])))
    return sorted(float(r[0]) for r in db.execute(text(Q["bench_transitions_since"]), {"t": since}))


def truncate_stage_runs(db: Session) -> None:
    """Forget every stage run (between a benchmark's phases)."""
    db.execute(text(Q["truncate_stage_runs"]))


def wall_seconds(db: Session, *, until_step: str | None = None) -> float | None:
    """First claim to last commit, on the database clock; `until_step` 'vlm_judge': to that step's last commit."""
    return _scalar(db, "vlm_judged_seconds" if until_step == "vlm_judge" else "stage_runs_wall_seconds")


def done_run_times(db: Session) -> list[tuple[str, float, float]]:
    """(step, started, finished) epoch seconds of every done run, by start."""
    return [tuple(r) for r in db.execute(text(Q["done_run_times"])).all()]  # type: ignore[misc]


def job_states(db: Session) -> list[tuple]:
    """(kind, step, status, count) of every job and variant."""
    return [tuple(r) for r in db.execute(text(Q["chaos_states"])).all()]


def short_statement_timeout(db: Session) -> None:
    """A report on a database in trouble answers within seconds or says why."""
    db.execute(text(Q["report_statement_timeout"]))


def terminate_listeners(db: Session) -> int:
    """Kill every app process's LISTEN connection on this database; how many."""
    return _scalar(db, "terminate_listeners")


def running_variant_runs(db: Session) -> list[tuple]:
    """(run_token, job_variants_id, step, worker) of the variant runs going on, the slowest stage first."""
    return [tuple(r) for r in db.execute(text(Q["running_variant_runs"])).all()]


def run_is_running(db: Session, *, run_token: Any) -> bool | None:
    """Whether that run is still running (None: no such run)."""
    return _scalar(db, "run_is_running", {"t": run_token})


def seconds_since_stage_done(db: Session, *, variant_id: str, step: str) -> float | None:
    """Seconds since the variant's `step` committed."""
    return _scalar(db, "seconds_since_stage_done", {"v": variant_id, "s": step})


def db_now(db: Session) -> Any:
    """The database clock."""
    return _scalar(db, "bench_db_now")


def feed_created_at(db: Session, *, job_id: str) -> Any:
    """When the job's post was written, None before."""
    return _scalar(db, "bench_feed_created_at", {"j": job_id})


def tenant_finished(db: Session, *, tenant_id: str) -> tuple[int, float | None]:
    """(jobs of the tenant with a post, first claim to last post in seconds)."""
    return tuple(db.execute(text(Q["bench_tenant_finished"]), {"t": tenant_id}).one())  # type: ignore[return-value]


def first_claim(db: Session, *, job_id: str) -> Any:
    """When the job's first stage run started."""
    return _scalar(db, "bench_first_claim", {"j": job_id})


def job_store_and_asset(db: Session, *, job_id: str) -> tuple[Any, Any]:
    """(store_id, a variant's img_asset_id) of the job."""
    return tuple(db.execute(text(Q["bench_job_store_and_asset"]), {"j": job_id}).one())  # type: ignore[return-value]


def bulk_jobs(db: Session, *, tenant_id: str, store_id: Any, jobs: int, variants_per_job: int, image_asset_id: Any) -> int:
    """`jobs` jobs with their variants and English copy at (user_img_input, done), in one statement; variants made."""
    return _scalar(db, "bench_bulk_jobs", {"t": tenant_id, "s": store_id, "n": jobs, "per": variants_per_job,
                                           "a": image_asset_id})


def bulk_img_gen(db: Session, *, status: str) -> None:
    """The image part's statement for every waiting variant at once (img_gen `running`, then `done`)."""
    db.execute(text(Q["bench_bulk_img_gen"]), {"status": status})


async def seed_history(conn: Any, *, jobs: int, variants_per_job: int, batch: int) -> None:
    """`jobs` jobs finished 30 days ago with their variants, triggers off (no NOTIFY storm), then VACUUM ANALYZE."""
    await conn.execute(Q["history_tenant"])
    await conn.execute(Q["triggers_off"])
    try:
        for start in range(0, jobs, batch):
            await conn.execute(Q["seed_finished_history"], min(batch, jobs - start), variants_per_job)
    finally:
        await conn.execute(Q["triggers_on"])
    await conn.execute(Q["analyze_jobs"])
    await conn.execute(Q["analyze_variants"])


def sweep_statements(settings: Settings) -> dict[str, tuple[str, tuple]]:
    """Every statement of one sweep and of /healthz with the arguments the service passes (to time them)."""
    variant_after = [s.after for s in STAGES if s.level == "variant"]
    variant_stages = [s.name for s in STAGES if s.level == "variant"]
    job_after = [s.after for s in STAGES if s.level == "job"]
    job_stages = [s.name for s in STAGES if s.level == "job"]
    backoff = (settings.max_crashes, settings.retry_base_seconds, settings.retry_max_seconds)
    return {
        "expire_variant_leases": (Q["expire_variant_leases"], (settings.max_retries, variant_stages, *backoff)),
        "expire_job_leases": (Q["expire_job_leases"], (settings.max_retries, job_stages, *backoff)),
        "unadvanced_jobs": (Q["unadvanced_jobs"], (list(JOB_ADVANCED_STEPS), variant_stages)),
        "stalled_variants": (Q["stalled_variants"], (settings.sweep_grace_seconds, variant_after, variant_stages)),
        "stalled_jobs": (Q["stalled_jobs"], (settings.sweep_grace_seconds, job_after, job_stages)),
        "waiting_counts": (Q["waiting_counts"], (list(VARIANT_STEPS),)),
        "oldest_pending (/healthz)": (Q["oldest_pending"], ([s for s in BY_NAME] + ["img_gen"],)),
        "queue_depths": (Q["queue_depths"], (variant_after, variant_stages, job_after, job_stages)),  # issue 26
    }


async def explain(conn: Any, *, sql: str, args: tuple) -> str:
    """The plan PostgreSQL chooses for `sql` with these arguments."""
    return "\n".join(r[0] for r in await conn.fetch(f"{Q['explain_prefix']} {sql}", *args))
