"""The service's schema migrations (db/migrations): what is applied, what is pending, what in the database
conflicts with them; apply them (or print their SQL with --dry-run); check every function, trigger and index
they create (verify) and recreate what is missing or different, online (repair).

    python scripts/migrate.py status
    python scripts/migrate.py apply [--dry-run]
    python scripts/migrate.py verify      exit 1 when something is missing or differs
    python scripts/migrate.py repair      idempotent: a second run has nothing to do
"""
import argparse
import asyncio
import sys

import asyncpg

from services.engine import migrations, schema_check, store_schema

LEGACY_TRIGGER = "check_all_variants_done_trigger"


def _where(url: str) -> str:
    """The URL without its password."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}@{host}"


async def _exists(conn, table: str) -> bool:
    return await store_schema.relation_exists(conn, name=table)


async def conflicts(conn: asyncpg.Connection, done: dict) -> list[str]:
    """What in the database breaks a rule the migrations enforce, and what they do about it."""
    lines = []
    version = await store_schema.server_version(conn)
    ok = version >= migrations.MIN_SERVER_VERSION
    lines.append(f"PostgreSQL {version // 10000}: " + ("ok" if ok else
                 f"TOO OLD, the schema needs {migrations.MIN_SERVER_VERSION // 10000} or newer"))
    enforced = "enforced for rows written since migration 0004" if 4 in done else \
        "migration 0004 enforces the rule for rows written from then on"
    for table, key, what in (("instagram_feeds", "job_id", "job(s) with more than one feed"),
                             ("evaluations", "overlay_id", "(overlay, type) pair(s) with more than one evaluation")):
        if not await _exists(conn, table):
            continue
        groups, rows, sample = await store_schema.duplicates(conn, table=table)
        if groups:
            lines.append(f"duplicates: {groups} {what} in {table} ({rows} rows; {key} e.g. "
                         f"{', '.join(sample)}): old rows kept unchanged; one per key {enforced}")
        else:
            lines.append(f"duplicates: none in {table}")
    present = await store_schema.trigger_count(conn, name=LEGACY_TRIGGER)
    notes = (done.get(4) or {}).get("notes") or ""
    if present:
        lines.append(f"legacy trigger: {LEGACY_TRIGGER} (seed 002) is installed: it moves a job to (iou_eval, done) "
                     "while variants are still at img_gen; migration 0004 drops it")
    elif LEGACY_TRIGGER in notes:
        lines.append(f"legacy trigger: {LEGACY_TRIGGER} (seed 002) was dropped by migration 0004 at "
                     f"{done[4]['applied_at']:%Y-%m-%d %H:%M:%S%z}; the job-level rule is services/engine/jobstate.py")
    else:
        lines.append(f"legacy trigger: {LEGACY_TRIGGER} (seed 002) not installed")
    return lines


async def status(conn: asyncpg.Connection, url: str) -> None:
    files = migrations.discover()
    done = {v: dict(r) for v, r in (await migrations.applied(conn)).items()}
    print(f"database: {_where(url)}")
    print("applied:")
    for m in files:
        if m.version in done:
            row = done[m.version]
            changed = "" if row["checksum"] == m.checksum else "  (file CHANGED since it was applied)"
            print(f"  {m.filename}  {row['applied_at']:%Y-%m-%d %H:%M:%S%z}{changed}")
    if not done:
        legacy = await _exists(conn, "service_schema")
        print("  none" + (" (set up by the old loader: the files are idempotent and apply cleanly)" if legacy else ""))
    pending = [m for m in files if m.version not in done]
    print("pending:")
    for m in pending:
        print(f"  {m.filename}" + ("" if m.transactional else "  (no transaction: CREATE INDEX CONCURRENTLY)"))
    if not pending:
        print("  none")
    print("conflicts:")
    for line in await conflicts(conn, done):
        print(f"  {line}")


async def apply(conn: asyncpg.Connection, dry_run: bool, lock_timeout: float) -> int:
    if dry_run:
        for m in await migrations.pending(conn):
            mode = "in one transaction" if m.transactional else "statement by statement, no transaction"
            print(f"-- ===== {m.filename} ({mode}, lock_timeout {lock_timeout:g} s) =====")
            print(m.sql.rstrip() + "\n")
        return 0
    try:
        ran = await migrations.migrate(conn, lock_timeout=lock_timeout)
    except migrations.MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(f"applied {m.filename}" for m in ran) or "nothing to apply")
    return 0


async def verify(conn: asyncpg.Connection, url: str) -> int:
    items = await schema_check.verify(conn)
    print(f"database: {_where(url)}")
    for kind, heading in (("function", "functions"), ("trigger", "triggers"), ("index", "indexes")):
        group = [i for i in items if i.kind == kind]
        print(f"{heading} ({len(group)}):")
        for item in group:
            print(f"  {item.state.upper():8} {item.label}  [{item.source}]" + (f"  {item.detail}" if item.detail else ""))
    bad = [i for i in items if i.state not in ("ok", "pending")]
    pending = sum(i.state == "pending" for i in items)
    if pending:
        print(f"{pending} object(s) of migrations not applied yet: python scripts/migrate.py apply")
    print(f"{len(bad)} missing or different: python scripts/migrate.py repair" if bad else
          "every function, trigger and index of the applied migrations is in place")
    return 1 if bad else 0


async def repair(conn: asyncpg.Connection, lock_timeout: float) -> int:
    lines = await schema_check.repair(conn, await schema_check.verify(conn), lock_timeout)
    print("\n".join(lines) or "nothing to repair: every function, trigger and index is in place")
    left = [i for i in await schema_check.verify(conn) if i.state not in ("ok", "pending")]
    for item in left:
        print(f"still {item.state}: {item.kind} {item.label}  {item.detail}", file=sys.stderr)
    return 1 if left else 0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Schema migrations of the service (db/migrations).")
    parser.add_argument("command", choices=("status", "apply", "verify", "repair"))
    parser.add_argument("--dry-run", action="store_true", help="apply: print the SQL of the pending migrations only")
    parser.add_argument("--database-url", help="default: DATABASE_URL (or the embedded server)")
    parser.add_argument("--lock-timeout", type=float, default=None,
                        help="seconds a statement may wait for a lock before backing off and retrying "
                             "(default MIGRATE_LOCK_TIMEOUT_SECONDS)")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    import database
    from config import get_settings

    url = args.database_url or database.database_url()
    lock_timeout = args.lock_timeout if args.lock_timeout is not None else get_settings().migrate_lock_timeout_seconds
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        print(f"error: database unreachable at {_where(url)}: {exc}", file=sys.stderr)
        return 1
    try:
        if args.command == "status":
            await status(conn, url)
            return 0
        if args.command == "verify":
            return await verify(conn, url)
        if args.command == "repair":
            return await repair(conn, lock_timeout)
        return await apply(conn, args.dry_run, lock_timeout)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
