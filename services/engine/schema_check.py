"""What the migrations create (functions, triggers, indexes) against what the database has; repair it online.

The reference is each object's last definition in db/migrations. Triggers and indexes are compared as
PostgreSQL prints them (pg_get_triggerdef, pg_get_indexdef): the migration's statement is run on a
temporary copy of its table in a transaction that is rolled back, so no normalising of SQL text by hand.
"""
import asyncio
import logging
import random
import re
from dataclasses import dataclass

import asyncpg

from services.engine import migrations
from services.engine import store_schema as store

log = logging.getLogger(__name__)
_FUNCTION = re.compile(r"^CREATE\s+OR\s+REPLACE\s+FUNCTION\s+(\w+)\s*\(([^)]*)\).*?AS\s+(\$\w*\$)(.*)\3", re.I | re.S)
_TRIGGER = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(CONSTRAINT\s+)?TRIGGER\s+(\w+)\s[^;]*?\sON\s+(\w+)[^;]*", re.I)
# The first CREATE INDEX of a name in a file counts: 0006's second one is inside a format() string.
_INDEX = re.compile(r"CREATE\s+(UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+ON\s+(\w+)"
                    r"(?:[^;']|'[^']*')*", re.I)
# A parameter written "name type": to_regprocedure takes the types only (multi-word types start with these).
_TYPE_FIRST_WORDS = {"double", "timestamp", "time", "character", "bit", "interval"}
_ON_TABLE = re.compile(r"(\sON\s+)(\w+)", re.I)
# Forms a migration may leave on purpose: 0006 limits the unique index to newer rows when history has duplicates.
_ACCEPTED = {"uq_refined_ad_copy_per_job": (re.compile(r" AND \(pk > \d+\)\)$"), ")")}


@dataclass
class Item:
    """One object a migration creates, and how the database compares."""

    kind: str  # function | trigger | index
    name: str
    table: str  # the table of a trigger or index; the argument list of a function
    statement: str  # the migration's statement that creates it
    source: str  # the migration file of its last definition
    constraint: bool = False
    state: str = "ok"  # ok | missing | differs | disabled | invalid | pending | unchecked
    detail: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}({self.table})" if self.kind == "function" else f"{self.name} ON {self.table}"


def catalogue(files: list[migrations.Migration] | None = None) -> list[Item]:
    """Every function, trigger and index the migration files create, each at its last definition."""
    found: dict[tuple[str, str], Item] = {}
    for m in files if files is not None else migrations.discover():
        seen: set[str] = set()
        for statement in migrations.split_statements(m.sql):
            body = re.sub(r"^(\s*--[^\n]*\n)+", "", statement)
            if match := _FUNCTION.match(body):
                found[("function", match[1])] = Item("function", match[1], _arg_types(match[2]), body, m.filename)
        for match in _TRIGGER.finditer(m.sql):
            found[("trigger", match[2])] = Item("trigger", match[2], match[3], match[0].strip(), m.filename,
                                                constraint=bool(match[1]))
        for match in _INDEX.finditer(m.sql):
            if match[2] not in seen:  # the first form in a file; the next file's definition replaces it
                seen.add(match[2])
                found[("index", match[2])] = Item("index", match[2], match[3], match[0].strip(), m.filename)
    order = {"function": 0, "trigger": 1, "index": 2}
    return sorted(found.values(), key=lambda i: (order[i.kind], i.name))


def _arg_types(params: str) -> str:
    """A function's parameter list as argument types only ("step TEXT, n INT" -> "TEXT, INT")."""
    types = []
    for param in filter(None, (p.strip() for p in params.split(","))):
        words = param.split()
        if words[0].upper() == "OUT":  # not part of the signature (0013's provider_acquire returns two)
            continue
        if words[0].upper() in ("IN", "INOUT", "VARIADIC"):
            words = words[1:]
        named = len(words) > 1 and words[0].lower() not in _TYPE_FIRST_WORDS
        types.append(" ".join(words[1:] if named else words))
    return ", ".join(types)


def _trigger_def(text: str, table: str) -> str:
    """pg_get_triggerdef with the table (schema-qualified or not, or its temporary copy) as `_`."""
    return re.sub(rf" ON (\S+\.)?{re.escape(table)} ", " ON _ ", text)


def _index_def(text: str | None, name: str) -> str | None:
    """pg_get_indexdef with the table's schema left out, and the accepted variants of an index folded."""
    if text is None:
        return None
    text = re.sub(r" ON \S+ USING ", " ON _ USING ", text)
    if name in _ACCEPTED:
        pattern, repl = _ACCEPTED[name]
        text = pattern.sub(repl, text)
    return text


async def _reference(conn: asyncpg.Connection, items: list[Item]) -> dict[tuple[str, str], str | None]:
    """The expected pg_get_triggerdef / pg_get_indexdef of each trigger and index, from temporary tables."""
    expected: dict[tuple[str, str], str | None] = {}
    tx = conn.transaction()
    await tx.start()
    try:
        temps: dict[str, str] = {}
        for item in items:
            if item.kind == "function" or item.table in temps:
                continue
            temps[item.table] = f"verify_{item.table}"
            async with conn.transaction():
                try:
                    await store.create_temp_copy(conn, temp=temps[item.table], table=item.table)
                except asyncpg.PostgresError:
                    temps[item.table] = ""  # the table itself is missing: its objects are reported missing
        for item in items:
            if item.kind == "function" or not temps[item.table]:
                continue
            sql = _ON_TABLE.sub(r"\g<1>" + temps[item.table], item.statement, count=1)
            sql = re.sub(r"\s(CONCURRENTLY|IF\s+NOT\s+EXISTS)\s", " ", sql, flags=re.I)
            try:
                async with conn.transaction():
                    await conn.execute(sql)
                    if item.kind == "trigger":
                        text = await store.temp_trigger_definition(conn, trigger=item.name, temp=temps[item.table])
                        expected[(item.kind, item.name)] = _trigger_def(text, temps[item.table])
                    else:
                        text = await store.temp_index_definition(conn, index=item.name)
                        expected[(item.kind, item.name)] = _index_def(text, item.name)
                    raise _Undo
            except _Undo:
                pass
            except asyncpg.PostgresError as exc:
                expected[(item.kind, item.name)] = f"could not be compared: {type(exc).__name__}: {exc}"
    finally:
        await tx.rollback()
    return expected


class _Undo(Exception):
    """Rolls one reference object's savepoint back (its name is then free for the next one)."""


async def verify(conn: asyncpg.Connection, files: list[migrations.Migration] | None = None) -> list[Item]:
    """Each object of the migrations with its state: ok, missing, differs, disabled, invalid or pending."""
    files = files if files is not None else migrations.discover()
    items = catalogue(files)
    recorded = await migrations.applied(conn)
    versions = {m.filename: m.version for m in files}
    for item in items:  # the live objects first: the reference's temporary ones would shadow them by name
        if recorded and versions[item.source] not in recorded:
            item.state, item.detail = "pending", f"{item.source} is not applied yet (python scripts/migrate.py apply)"
        elif item.kind == "function":
            source = await store.function_source(conn, signature=f"{item.name}({item.table})")
            expected = _FUNCTION.match(item.statement)[4]  # type: ignore[index]
            if source is None:
                item.state = "missing"
            elif source.strip() != expected.strip():
                item.state, item.detail = "differs", f"its body is not the one of {item.source}"
        elif item.kind == "trigger":
            row = await store.trigger_definition(conn, trigger=item.name, table=item.table)
            if row is None:
                item.state = "missing"
            else:
                item.detail, enabled = _trigger_def(row.definition, item.table), row.flag
                item.state = "disabled" if enabled == "D" else "ok"
        else:
            index = await store.index_definition(conn, index=item.name)
            if index is None:
                item.state = "missing"
            else:
                item.detail = _index_def(index.definition, item.name) or ""
                item.state = "ok" if index.flag else "invalid"
    expected = await _reference(conn, [i for i in items if i.kind != "function" and i.state in ("ok", "disabled")])
    for item in items:
        key = (item.kind, item.name)
        if key in expected and item.state in ("ok", "disabled"):
            if (expected[key] or "").startswith("could not be compared"):
                item.state, item.detail = "unchecked", expected[key] or ""
            elif expected[key] != item.detail:
                shown = [(t or "").replace(" ON _ ", f" ON {item.table} ") for t in (item.detail, expected[key])]
                item.state, item.detail = "differs", f"is {shown[0]!r}; {item.source} makes {shown[1]!r}"
            elif item.state == "ok":
                item.detail = ""
            else:
                item.detail = "present but DISABLED (ALTER TABLE ... DISABLE TRIGGER)"
    return items


async def _with_lock_retry(conn: asyncpg.Connection, work, lock_timeout: float, attempts: int = 8) -> None:
    """Short lock_timeout, then back off and retry: a long transaction never queues writers behind a repair."""
    for attempt in range(1, attempts + 1):
        try:
            await store.set_lock_timeout(conn, seconds=lock_timeout)
            try:
                await work()
            finally:
                await store.reset_lock_timeout(conn)
            return
        except asyncpg.LockNotAvailableError:
            if attempt == attempts:
                raise
            await asyncio.sleep(min(10.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2))


async def repair(conn: asyncpg.Connection, items: list[Item], lock_timeout: float = 2.0) -> list[str]:
    """Recreate what verify found missing, different, disabled or invalid; one line per action.

    Online-safe: functions and triggers by CREATE OR REPLACE (a constraint trigger, which has none, is
    dropped and created in one transaction), indexes CONCURRENTLY (a different one is built under a new
    name first, then swapped), every lock taken with a short lock_timeout and retried."""
    done = []
    for item in items:
        if item.state in ("ok", "pending", "unchecked"):
            continue
        try:
            await _with_lock_retry(conn, lambda item=item: _repair_one(conn, item), lock_timeout)
            done.append(f"repaired {item.kind} {item.label} ({item.state}; from {item.source})")
        except asyncpg.PostgresError as exc:
            done.append(f"FAILED {item.kind} {item.label}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    return done


async def _repair_one(conn: asyncpg.Connection, item: Item) -> None:
    if item.kind == "function":
        await conn.execute(item.statement)
    elif item.kind == "trigger":
        if item.state == "disabled":
            await store.enable_trigger(conn, table=item.table, trigger=item.name)
        elif item.constraint:
            async with conn.transaction():
                await store.drop_trigger(conn, table=item.table, trigger=item.name)
                await conn.execute(item.statement)
        else:
            await conn.execute(re.sub(r"^(CREATE)\s+(?:OR\s+REPLACE\s+)?(TRIGGER)", r"\1 OR REPLACE \2",
                                      item.statement, flags=re.I))
    else:
        build = re.sub(r"^CREATE\s+(UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?\w+",
                       lambda m: f"CREATE {m[1] or ''}INDEX CONCURRENTLY {{name}}", item.statement, flags=re.I)
        if item.state == "invalid":
            await store.drop_index_concurrently(conn, index=item.name)
        if item.state != "differs":
            await conn.execute(build.replace("{name}", item.name))
            return
        spare = f"{item.name[:50]}_repair"
        await store.drop_index_concurrently(conn, index=spare)  # left by an interrupted repair
        await conn.execute(build.replace("{name}", spare))
        await store.drop_index_concurrently(conn, index=item.name)
        await store.rename_index(conn, index=spare, name=item.name)
