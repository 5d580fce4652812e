"""Write db/schema.sql: what the migrations build, as pg_dump prints it (normalised so it diffs cleanly).

Run after adding or merging a migration: python -m scripts.schema_snapshot
(test/integration/test_schema_snapshot.py fails until the snapshot matches the migrations).
"""
import argparse
import asyncio
import difflib
import os
import re
import shutil
import subprocess

import asyncpg

from config import ROOT
from services.ops import store as ops_store
from services.ops.testing import fresh_database

SNAPSHOT = ROOT / "db" / "schema.sql"
REGENERATE = "python -m scripts.schema_snapshot"
HEADER = f"-- What db/migrations build (pg_dump --schema-only, normalised). Generated: {REGENERATE}\n"
# Lines that name the pg_dump/server version or are session settings of the dump, not the schema; \restrict
# (pg_dump 15.14+) carries a random key.
_NOISE = re.compile(r"^(-- Dumped (from|by) |\\(un)?restrict |SET |SELECT pg_catalog\.set_config\()")


def normalise(dump: str) -> str:
    """The dump without version lines, session settings and runs of blank lines."""
    lines = [line.rstrip() for line in dump.splitlines() if not _NOISE.match(line)]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    text = re.sub(r"^--\n-- PostgreSQL database dump\n--\n*", "", text)
    text = re.sub(r"\n*--\n-- PostgreSQL database dump complete\n--$", "", text)
    return HEADER + "\n" + text + "\n"


def pg_dump(url: str) -> str:
    """pg_dump --schema-only of `url` without owners and privileges (roles differ between servers)."""
    exe = shutil.which("pg_dump")
    if exe is None:
        raise RuntimeError("pg_dump is not installed (scripts/setup.sh --dev installs postgresql-client)")
    done = subprocess.run([exe, "--schema-only", "--no-owner", "--no-privileges", "--dbname", url],
                          capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"pg_dump failed: {done.stderr.strip()}")
    return done.stdout


def dump_schema(url: str) -> str:
    """The normalised schema of the database at `url`."""
    return normalise(pg_dump(url))


def difference(schema: str) -> str:
    """Why `schema` is not db/schema.sql (the start of a diff and the command that fixes it); "" when it is."""
    snapshot = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    if schema == snapshot:
        return ""
    diff = difflib.unified_diff(snapshot.splitlines(), schema.splitlines(), "db/schema.sql", "db/migrations", lineterm="")
    return (f"db/schema.sql is not what db/migrations build: after adding or merging a migration run {REGENERATE}"
            " and commit db/schema.sql\n" + "\n".join(list(diff)[:60]))


async def build(admin_url: str) -> str:
    """The normalised schema of a fresh database with every migration applied."""
    name = f"schema_snapshot_{os.getpid()}"
    url = await fresh_database(admin_url, name)
    try:
        return await asyncio.to_thread(dump_schema, url)
    finally:
        conn = await asyncpg.connect(admin_url)
        await ops_store.drop_database(conn, name=name)
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("TEST_DATABASE_URL",
                                                           "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="an admin URL of a PostgreSQL server (a scratch database is created and dropped)")
    parser.add_argument("--check", action="store_true", help="exit 1 when db/schema.sql is out of date")
    args = parser.parse_args(argv)
    schema = asyncio.run(build(args.server))
    if args.check:
        why = difference(schema)
        print(why or "db/schema.sql is up to date")
        return 1 if why else 0
    SNAPSHOT.write_text(schema)
    print(f"wrote {SNAPSHOT.relative_to(ROOT)} ({schema.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
