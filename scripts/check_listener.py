"""Seed 003's listener checks: app up with its listener connected, triggers installed, and (optionally) a live
trigger test: a one-variant job flipped to img_gen (done) must move past img_gen within a few seconds.

Exits 0 when every check passes, 1 otherwise.
"""
import argparse
import time

import httpx

from scripts import store

TRIGGERS = {
    "job_variant_state_change_trigger": "variant state changes -> NOTIFY job_variant_state_changed",
    "job_state_change_trigger": "job state changes -> NOTIFY job_state_changed (job-level stages)",
}
TEST_TENANT = "listener_check_tenant"


class Checks:
    """Collects PASS/FAIL lines."""

    def __init__(self):
        self.failed = 0

    def report(self, ok: bool, what: str, detail: str = "") -> bool:
        print(f"[{'PASS' if ok else 'FAIL'}] {what}" + (f": {detail}" if detail else ""), flush=True)
        self.failed += not ok
        return ok


def check_app(checks: Checks, base_url: str) -> bool:
    """The app answers /healthz and its LISTEN connection is up."""
    try:
        response = httpx.get(f"{base_url}/healthz", timeout=10)
        health = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        checks.report(False, f"app reachable at {base_url}", f"{type(exc).__name__}: {exc}")
        return False
    checks.report(response.status_code in (200, 503), f"app reachable at {base_url}",
                  f"HTTP {response.status_code}, database {'ok' if health.get('database') else 'DOWN'}")
    connected = health.get("listener_connected")
    detail = {True: "connected", False: "not connected (reconnecting?)",
              None: "disabled (ENABLE_JOB_STATE_LISTENER=false)"}.get(connected, str(connected))
    return checks.report(connected is True, "listener", detail)


def check_triggers(checks: Checks, db) -> bool:
    """The NOTIFY triggers exist and are enabled."""
    ok = True
    for name, purpose in TRIGGERS.items():
        enabled = store.trigger_enabled(db, name=name)
        if enabled is None:
            ok &= checks.report(False, f"trigger {name}", "missing: python scripts/migrate.py verify lists what is "
                                "missing, python scripts/migrate.py repair recreates it (online, safe to repeat)")
        else:
            ok &= checks.report(enabled, f"trigger {name}", purpose if enabled else
                                "present but DISABLED: python scripts/migrate.py repair enables it")
    return ok


def test_trigger(checks: Checks, db, wait: float) -> bool:
    """Seed a one-variant job, flip it to img_gen (done) and wait for the pipeline to take it."""
    from config import get_settings
    from scripts import seedlib

    job_id, (variant_id,) = seedlib.create_job(db, get_settings().assets_dir, tenant_id=TEST_TENANT, variants_count=1)
    seedlib.simulate_image_part(db, job_id)
    print(f"       test job {job_id}, variant {variant_id} set to img_gen (done); waiting up to {wait:.0f} s",
          flush=True)
    started = time.monotonic()
    state = None
    while time.monotonic() - started < wait:
        db.rollback()
        state = store.variant_step(db, variant_id=variant_id)
        if state[0] != "img_gen":
            return checks.report(True, "trigger test", f"variant moved to {state[0]} ({state[1]}) "
                                                       f"after {time.monotonic() - started:.1f} s")
        time.sleep(0.2)
    return checks.report(False, "trigger test", f"variant still at {state[0]} ({state[1]}) after {wait:.0f} s: "
                                                "is the app listening on this same database (DATABASE_URL)?")


def parse_args(argv=None) -> argparse.Namespace:
    from config import get_settings

    parser = argparse.ArgumentParser(
        description="Check that the pipeline reacts to state changes: app and listener up (/healthz), NOTIFY "
                    "triggers installed; with --test-trigger, seed a 1-variant job and watch it leave img_gen.")
    parser.add_argument("--base-url", default=get_settings().base_url,
                        help="the app (default: STAGE_BASE_URL or http://HOST:PORT, here %(default)s)")
    parser.add_argument("--test-trigger", action="store_true",
                        help="seed a 1-variant job, flip it to img_gen (done), verify it moves on")
    parser.add_argument("--wait", type=float, default=10.0, help="seconds the trigger test waits (default 10)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base_url = args.base_url.rstrip("/")
    checks = Checks()
    app_ok = check_app(checks, base_url)

    from database import SessionLocal

    db = SessionLocal()
    try:
        try:
            store.ping(db)
            db_ok = checks.report(True, "database reachable (DATABASE_URL or the embedded server)")
        except Exception as exc:  # noqa: BLE001 - report any connection failure as a failed check
            db_ok = checks.report(False, "database reachable", f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        triggers_ok = check_triggers(checks, db) if db_ok else False
        if args.test_trigger:
            if app_ok and triggers_ok:
                test_trigger(checks, db, args.wait)
            else:
                checks.report(False, "trigger test", "skipped: the checks above must pass first")
    finally:
        db.close()
    print("all checks passed" if not checks.failed else f"{checks.failed} check(s) failed")
    return 0 if not checks.failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
