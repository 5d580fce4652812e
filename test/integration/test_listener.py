"""The listener alone (sweeper off): after its connection is killed it reconnects, LISTENs and dispatches."""
import time

from sqlalchemy import text

from main import create_app
from scripts import seedlib
from test.conftest import app_settings, serve
from test.integration.helpers import job_finished, listener_pids, wait_for


def kill_listener(db, app) -> None:
    """Terminate the LISTEN connection and wait until a new one is listening."""
    (old,) = listener_pids(db)
    connects = app.state.listener.connects
    assert db.execute(text("SELECT pg_terminate_backend(:p)"), {"p": old}).scalar()
    db.commit()
    # `connects` counts LISTENs done (it is raised after add_listener); the pid proves a new connection.
    wait_for(lambda: app.state.listener.connects > connects and listener_pids(db) - {old}, 20,
             what="the listener reconnected")


def dispatch_gaps(db, job_id: str) -> list[float]:
    """Seconds between one stage's commit and the next stage's claim, for every variant of the job."""
    db.rollback()
    return [float(g) for (g,) in db.execute(text("""
        SELECT EXTRACT(EPOCH FROM started_at - lag(finished_at) OVER (PARTITION BY job_variants_id
                                                                       ORDER BY started_at))
        FROM stage_runs WHERE job_id = :j AND job_variants_id IS NOT NULL"""), {"j": job_id}) if g is not None]


def test_listener_alone_dispatches_after_its_connection_is_killed(db, db_url, tmp_path):
    from test.engine_app import counting_handlers

    # No sweeper at all: every stage below starts only because a NOTIFY reached the listener.
    settings = app_settings(db_url, tmp_path, enable_sweeper=False)
    app = create_app(settings, handlers_factory=counting_handlers)
    with serve(app, settings.port):
        for _ in range(2):
            kill_listener(db, app)
        assert app.state.listener.connects == 3
        job_id, variants = seedlib.create_job(db, settings.assets_dir, variants_count=2, one_image=True)
        seedlib.simulate_image_part(db, job_id)
        started = time.monotonic()
        # Bounded, not a speed goal: with the sweeper off a job that is not dispatched never finishes.
        wait_for(lambda: job_finished(db, job_id), 30, what="every stage dispatched by the reconnected listener")
        gaps = dispatch_gaps(db, job_id)
        print(f"after two reconnects: job took {time.monotonic() - started:.2f} s, "
              f"commit-to-next-claim gaps max {max(gaps):.3f} s")
        assert len(gaps) == 2 * 7
        assert max(gaps) < 5  # NOTIFY-driven: milliseconds; a sweeper-driven gap would be its interval
    assert db.execute(text("SELECT count(*) FROM test_executions")).scalar() == 2 * 8 + 2  # each stage once
