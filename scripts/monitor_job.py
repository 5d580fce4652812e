"""Follow one job through the pipeline with per-variant progress bars, then print what it produced.

Exit codes: 0 the job reached (instagram_feed_gen, done) with its feed row; 1 the job (or every variant)
failed for good; 2 timeout; 3 no such job; 130 interrupted.
"""
import argparse
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.engine.jobs_view import job_progress
from services.engine.pipeline import FINAL_STAGE, LAST_VARIANT_STAGE, stage_progress

DONE, FAILED, TIMEOUT, NOT_FOUND, INTERRUPTED = 0, 1, 2, 3, 130


class JobNotFound(Exception):
    """The job id names no job."""


class DbSource:
    """Job state read straight from PostgreSQL (works without the API)."""

    def __init__(self):
        from config import get_settings

        self.assets_dir = get_settings().assets_dir
        self.db = None

    def _session(self):
        from database import SessionLocal

        if self.db is None:
            self.db = SessionLocal()
        self.db.rollback()  # a fresh snapshot on every poll
        return self.db

    def snapshot(self, job_id: str, full: bool = False) -> dict:
        from scripts import store

        db = self._session()
        try:
            job = store.monitor_job(db, job_id=job_id)
            if job is None:
                raise JobNotFound(job_id)
            variants = store.monitor_variants(db, job_id=job_id)
            snap = dict(job, variants=variants, retry_pending=job["next_retry_at"] is not None)
            for v in variants:
                v["final_failure"] = v["status"] == "failed" and v["next_retry_at"] is None
            if full or (job["current_step"], job["status"]) == (FINAL_STAGE, "done"):
                feed = store.monitor_feed(db, job_id=job_id)
                snap.update(_texts(store.monitor_texts(db, job_id=job_id)), instagram_feed=feed)
            return snap
        except Exception:
            self.close()  # a broken connection: start over on the next poll
            raise

    def image_location(self, url: str) -> str:
        return str(Path(self.assets_dir) / url.removeprefix("/assets/"))

    def close(self):
        if self.db is not None:
            try:
                self.db.close()
            finally:
                self.db = None


class ApiSource:
    """Job state from the jobs API (GET /api/yh/jobs/{id})."""

    def __init__(self, base_url: str):
        import httpx

        from config import get_settings

        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(base_url=self.base_url, timeout=10)
        self.max_retries = get_settings().max_retries

    def snapshot(self, job_id: str, full: bool = False) -> dict:
        response = self.client.get(f"/api/yh/jobs/{job_id}")
        if response.status_code == 404:
            raise JobNotFound(job_id)
        response.raise_for_status()
        snap = response.json()
        # The API has no next_retry_at: a failure is final when its last attempt used up the retries
        # (or it was an InputError, which is never retried).
        job_runs = [r for r in snap.get("timeline", []) if r["step"] == snap["current_step"]]
        snap["retry_pending"] = snap["status"] == "failed" and not (
            snap["current_step"] == LAST_VARIANT_STAGE or _final(job_runs, snap.get("last_error"), self.max_retries))
        for v in snap["variants"]:
            runs = [r for r in v.get("timeline", []) if r["step"] == v["current_step"]]
            v["final_failure"] = v["status"] == "failed" and (
                v["current_step"] in ("img_gen", "user_img_input") or _final(runs, v.get("last_error"), self.max_retries))
        return snap

    def image_location(self, url: str) -> str:
        return self.base_url + url

    def close(self):
        self.client.close()


def _final(runs: list, last_error: str | None, max_retries: int) -> bool:
    if (last_error or "").startswith("InputError"):
        return True
    return bool(runs) and runs[-1]["status"] in ("failed", "lost") and runs[-1]["attempt"] > max_retries


def _texts(texts: dict) -> dict:
    return {"ad_copy_eng": (texts.get("ad_copy_eng") or {}).get("ad_copy_eng"),
            "refined_ad_copy_eng": (texts.get("refined_ad_copy") or {}).get("refined_ad_copy_eng"),
            "ad_copy_kor": (texts.get("eng_to_kor") or {}).get("ad_copy_kor")}


def outcome(snap: dict) -> int | None:
    """DONE or FAILED once the job has finished for good, None while it is still moving."""
    if (snap["current_step"], snap["status"]) == (FINAL_STAGE, "done"):
        return DONE if snap.get("instagram_feed") else None
    if snap["status"] == "failed" and not snap["retry_pending"]:
        return FAILED
    variants = snap["variants"]
    if variants and all(v["final_failure"] for v in variants):
        return FAILED
    return None


def _state_text(step, status, retries=0, error=None) -> str:
    color = {"done": "green", "running": "yellow", "failed": "red"}.get(status or "", "white")
    text = f"[{color}]{escape(str(step))} ({escape(str(status))})[/]"
    if retries:
        text += f" retries {retries}"
    if status == "failed" and error:
        text += f" [dim]{escape(error[:60])}[/]"
    return text


class View:
    """Progress bars on a terminal; one line per state change otherwise (logs, pipes)."""

    def __init__(self, console: Console, job_id: str, plain: bool | None = None):
        self.console = console
        self.job_id = job_id
        self.plain = not console.is_terminal if plain is None else plain
        self.progress: Progress | None = None
        self.tasks: dict = {}
        self.seen: dict = {}

    def __enter__(self):
        if not self.plain:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=30),
                                     TextColumn("{task.percentage:>3.0f}%"), TextColumn("{task.fields[state]}"),
                                     TimeElapsedColumn(), console=self.console, refresh_per_second=8)
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()

    def update(self, snap: dict) -> None:
        rows = [("job", "job", job_progress(snap["current_step"], snap["status"],
                                            [(v["current_step"], v["status"]) for v in snap["variants"]]),
                 _state_text(snap["current_step"], snap["status"], snap.get("retry_count"), snap.get("last_error")))]
        for v in snap["variants"]:
            rows.append((str(v["job_variants_id"]), f"variant {v['creation_order']}",
                         stage_progress(v["current_step"], v["status"]),
                         _state_text(v["current_step"], v["status"], v.get("retry_count"), v.get("last_error"))))
        for key, label, fraction, state in rows:
            if self.plain:
                if self.seen.get(key) != state:
                    self.seen[key] = state
                    self.console.print(f"{time.strftime('%H:%M:%S')} {label:<10} {state}", soft_wrap=True)
                continue
            if key not in self.tasks:
                self.tasks[key] = self.progress.add_task(f"{label:<10}", total=100, state=state)
            self.progress.update(self.tasks[key], completed=round(fraction * 100, 1), state=state)


def print_summary(console: Console, snap: dict, source, result: int, elapsed: float) -> None:
    """What the job produced: variant states, overlaid images, Korean copy, the Instagram post."""
    headline = {DONE: "[bold green]finished[/]", FAILED: "[bold red]failed[/]",
                TIMEOUT: "[bold yellow]timed out[/]", INTERRUPTED: "[bold yellow]interrupted[/]"}[result]
    console.print(f"\nJob {snap['job_id']} {headline} after {elapsed:.1f} s: "
                  f"{escape(str(snap['current_step']))} ({escape(str(snap['status']))})", soft_wrap=True)
    if snap.get("last_error"):
        console.print(f"  job error: {escape(snap['last_error'])}", soft_wrap=True)
    table = Table("variant", "step", "status", "retries", "selected", "last error")
    for v in snap["variants"]:
        status = v["status"] + (" (final)" if v["final_failure"] else "")
        table.add_row(str(v["creation_order"]), escape(str(v["current_step"])), escape(status),
                      str(v.get("retry_count") or 0), "yes" if v.get("selected") else "",
                      escape((v.get("last_error") or "")[:80]))
    console.print(table)
    images = [(v["creation_order"], v["overlaid_image_url"], v.get("selected")) for v in snap["variants"]
              if v.get("overlaid_image_url")]
    if images:
        console.print("[bold]Overlaid images[/]")
        for order, url, selected in images:
            mark = " (selected)" if selected else ""
            console.print(f"  variant {order}{mark}: {escape(source.image_location(url))}", soft_wrap=True)
    for label, key in (("English copy", "ad_copy_eng"), ("Refined English copy", "refined_ad_copy_eng"),
                       ("Korean copy", "ad_copy_kor")):
        if snap.get(key):
            console.print(f"[bold]{label}[/]: {escape(snap[key])}", soft_wrap=True)
    feed = snap.get("instagram_feed")
    if feed:
        console.print("[bold]Instagram post[/]", soft_wrap=True)
        console.print(escape(feed["instagram_ad_copy"]), soft_wrap=True)
        console.print(f"[bold]Hashtags[/]: {escape(feed['hashtags'])}", soft_wrap=True)


def watch(job_id: str, timeout: float = 600, console: Console | None = None, base_url: str | None = None,
          interval: float = 1.0, plain: bool | None = None) -> int:
    """Poll the job until it finishes, fails for good or `timeout` passes; print the summary; return the exit code."""
    console = console or Console()
    try:
        job_id = str(uuid.UUID(str(job_id)))
    except ValueError:
        console.print(f"[red]error[/]: {escape(str(job_id))} is not a job id (UUID)")
        return NOT_FOUND
    source = ApiSource(base_url) if base_url else DbSource()
    started = time.monotonic()
    deadline = started + timeout
    snap, result, error_shown = None, None, None
    try:
        with View(console, job_id, plain) as view:
            while True:
                try:
                    snap = source.snapshot(job_id)
                    error_shown = None
                    view.update(snap)
                    result = outcome(snap)
                except JobNotFound:
                    console.print(f"[red]error[/]: job {job_id} not found")
                    return NOT_FOUND
                except Exception as exc:  # noqa: BLE001 - a database or API outage: keep trying until the deadline
                    message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    if message != error_shown:
                        console.print(f"[yellow]cannot read the job state, retrying[/]: {escape(message[:200])}")
                        error_shown = message
                if result is not None:
                    break
                if time.monotonic() >= deadline:
                    result = TIMEOUT
                    break
                time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        result = INTERRUPTED
    try:
        if snap is not None:
            try:
                snap = source.snapshot(job_id, full=True)
            except Exception:  # noqa: BLE001 - keep the last good snapshot for the summary
                pass
            snap.setdefault("instagram_feed", None)
            print_summary(console, snap, source, result, time.monotonic() - started)
        elif result == TIMEOUT:
            console.print(f"[yellow]timed out after {timeout:.0f} s without reading the job state[/]")
    finally:
        source.close()
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Follow a job through the pipeline (per-variant progress bars), then print the overlaid "
                    "images, the Korean copy and the Instagram post.",
        epilog="exit codes: 0 finished with its feed, 1 failed for good, 2 timeout, 3 no such job")
    parser.add_argument("--job-id", required=True, help="the job to follow")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait (default 600)")
    parser.add_argument("--base-url", help="read the state from this app's jobs API (e.g. http://127.0.0.1:8000) "
                                           "instead of straight from the database")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls (default 1)")
    parser.add_argument("--plain", action="store_true", help="print state changes as lines instead of bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return watch(args.job_id, args.timeout, Console(), args.base_url, args.interval, True if args.plain else None)


if __name__ == "__main__":
    raise SystemExit(main())
