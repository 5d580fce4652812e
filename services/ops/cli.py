"""The operator CLI's job actions (`python scripts/ops.py ...`): the HTTP API's actions, straight on the database.

Exit codes: 0 done; 1 refused by the job's state (409); 3 unknown job or variant (404); 2 bad arguments (422)."""
import argparse
import asyncio
import getpass
import json
import socket
import sys
from datetime import datetime
from uuid import UUID

import asyncpg

import database
from config import Settings
from services.engine import jobs_view
from services.engine.pipeline import STAGES
from services.ops import actions, store
from services.ops.replay import MAX_PER_CALL, replay

EXIT = {404: 3, 409: 1, 422: 2}
TAIL_CHANNELS = ("job_state_changed", "job_variant_state_changed", "job_finished")


def command_line(argv: list[str] | None) -> list[str]:
    """`argv`, or the process's own arguments."""
    return sys.argv[1:] if argv is None else list(argv)


def _parser(folded: dict[str, str] | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ops.py", description="The operator's CLI: the HTTP API's job actions straight on "
                                "the database, and the operator scripts (docs/operations.md#the-operator-cli).")
    p.add_argument("--database-url", help="default: DATABASE_URL")
    p.add_argument("--actor", help="who you are, recorded with each action (default: user@host)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("status", help="one job in full, or recent jobs")
    s.add_argument("job_id", nargs="?", type=UUID)
    s.add_argument("--tenant")
    s.add_argument("--finished", choices=("true", "false"))
    s.add_argument("--outcome", choices=("done", "failed", "cancelled"))
    s.add_argument("--limit", type=int, default=20)
    t = sub.add_parser("tail", help="print state changes and completions as they happen (one JSON line each)")
    t.add_argument("--job", type=UUID, help="only this job")
    t.add_argument("--count", type=int, help="stop after this many lines")
    t.add_argument("--timeout", type=float, help="stop after this many seconds")
    r = sub.add_parser("retry", help="re-run what failed from its failed step")
    r.add_argument("job_id", type=UUID)
    c = sub.add_parser("cancel", help="cancel a job (or one variant); a running stage is stopped")
    c.add_argument("job_id", type=UUID)
    c.add_argument("--variant", type=UUID)
    c.add_argument("--reason")
    rr = sub.add_parser("rerun", help="re-run from a step; earlier results are kept")
    rr.add_argument("job_id", type=UUID)
    rr.add_argument("--from", dest="from_step", required=True, choices=[s.name for s in STAGES])
    rr.add_argument("--variant", type=UUID, help="only this variant (default: every variant)")
    rp = sub.add_parser("replay", help="re-run every job failed for good that matches")
    rp.add_argument("--step", choices=[s.name for s in STAGES])
    rp.add_argument("--tenant")
    rp.add_argument("--since", type=datetime.fromisoformat, help="failed at or after (ISO 8601)")
    rp.add_argument("--until", type=datetime.fromisoformat, help="failed before (ISO 8601)")
    rp.add_argument("--limit", type=int, default=50, help=f"at most this many (1..{MAX_PER_CALL})")
    rp.add_argument("--dry-run", action="store_true", help="only say how many and which")
    se = sub.add_parser("select", help="select another finished variant; the post is written again")
    se.add_argument("job_id", type=UUID)
    se.add_argument("variant", type=UUID)
    w = sub.add_parser("webhook", help="the completion webhook's outbox")
    wsub = w.add_subparsers(dest="webhook_command", required=True)
    d = wsub.add_parser("deliveries", help="deliveries, newest first")
    d.add_argument("--job", type=UUID)
    d.add_argument("--pending", action="store_true", help="only undelivered ones")
    d.add_argument("--limit", type=int, default=20)
    for name, about in (folded or {}).items():  # run by scripts/ops.py before this parser: listed for --help
        sub.add_parser(name, help=f"{about}; its own options: ops.py {name} --help", add_help=False)
    return p


async def _run(args, settings: Settings) -> object:
    url = args.database_url or settings.database_url or database.database_url(settings)
    who = actions.Actor(args.actor or f"{getpass.getuser()}@{socket.gethostname()}", "cli")
    if args.command == "tail":
        await _tail(url, args)
        return None
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2, init=database.init_connection)
    try:
        async with pool.acquire() as conn:
            if args.command == "status" and args.job_id:
                detail = await jobs_view.job_detail(pool, args.job_id)
                if detail is None:
                    raise actions.ActionError(404, f"job {args.job_id} not found")
                return detail
            if args.command == "status":
                finished = None if args.finished is None else args.finished == "true"
                return await jobs_view.list_jobs(pool, args.tenant, None, args.limit, finished, args.outcome)
            if args.command == "retry":
                return await actions.retry(conn, args.job_id, who)
            if args.command == "cancel":
                # The replica running a stage of it stops that stage at its next heartbeat (its lease is gone).
                return await actions.cancel(conn, args.job_id, who, args.variant, args.reason)
            if args.command == "rerun":
                return await actions.rerun(conn, args.job_id, args.from_step, who, args.variant)
            if args.command == "select":
                return await actions.select(conn, args.job_id, args.variant, who)
            if args.command == "replay":
                return await replay(pool, who, tenant_id=args.tenant, step=args.step, since=args.since,
                                    until=args.until, limit=args.limit, dry_run=args.dry_run)
            rows = await store.outbox_list(conn, job_id=args.job, pending_only=args.pending, limit=args.limit)
            return [{**dict(r), "state": "delivered" if r["delivered_at"] else "gave up" if r["gave_up_at"]
                     else "pending"} for r in rows]
    finally:
        await pool.close()


async def _tail(url: str, args) -> None:
    """LISTEN on the state channels and print each event; NOTIFY payloads are small JSON objects."""
    conn = await asyncpg.connect(url)
    done = asyncio.Event()
    printed = 0

    def on_notify(_conn, _pid, channel, payload):
        nonlocal printed
        event = json.loads(payload)
        if args.job and event.get("job_id") != str(args.job):
            return
        print(json.dumps({"channel": channel, **event}, ensure_ascii=False), flush=True)
        printed += 1
        if args.count and printed >= args.count:
            done.set()
    for channel in TAIL_CHANNELS:
        await conn.add_listener(channel, on_notify)
    print(json.dumps({"listening": list(TAIL_CHANNELS)}), flush=True)
    try:
        await asyncio.wait_for(done.wait(), timeout=args.timeout)
    except TimeoutError:
        pass
    finally:
        await conn.close()


def main(argv: list[str] | None = None, folded: dict[str, str] | None = None) -> int:
    """Parse, run, print the result as JSON; the exit code says what happened (`folded`: scripts/ops.py's
    other subcommands, for the help text; they take no global option)."""
    parser = _parser(folded)
    args, unknown = parser.parse_known_args(argv)
    if args.command in (folded or {}):
        parser.error(f"{args.command} takes no global option: ops.py {args.command} ...")
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        out = asyncio.run(_run(args, Settings()))
    except actions.ActionError as exc:
        print(f"error {exc.status}: {exc.detail}", file=sys.stderr)
        return EXIT.get(exc.status, 1)
    except KeyboardInterrupt:
        return 130
    if out is not None:
        print(json.dumps(out, indent=2, ensure_ascii=False, default=str))
    return 0
