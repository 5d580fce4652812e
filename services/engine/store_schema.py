"""The schema's database calls: the migration runner's bookkeeping and lock, and the catalogue reads of
scripts/migrate.py verify / repair (services/engine/schema_check.py).

Identifiers (index, table, trigger names from the migration files) cannot be parameters: those
statements are templates in db/migrations_runner.sql, filled in here and nowhere else.
"""
from typing import NamedTuple

from services.engine.queries import Q
from services.engine.store import Conn, Row


class Definition(NamedTuple):
    """A trigger or index as PostgreSQL prints it, and its flag (tgenabled 'D' = disabled; indisvalid)."""
    definition: str
    flag: object


async def version_table_exists(conn: Conn) -> bool:
    """Whether service_migrations exists yet."""
    return await conn.fetchval(Q["version_table_exists"])


async def applied_migrations(conn: Conn) -> list[Row]:
    """service_migrations rows (version, name, checksum, applied_at, notes) in version order, as is."""
    return await conn.fetch(Q["applied_migrations"])


async def create_version_table(conn: Conn) -> None:
    """service_migrations, if missing."""
    await conn.execute(Q["create_version_table"])


async def record_migration(conn: Conn, *, version: int, name: str, checksum: str, notes: str | None) -> None:
    """Record a migration as applied (a second record of the same version is ignored)."""
    await conn.execute(Q["record_migration"], version, name, checksum, notes)


async def server_version(conn: Conn) -> int:
    """The server's version number (140000 = PostgreSQL 14)."""
    return int(await conn.fetchval(Q["server_version"]))


async def try_lock(conn: Conn, *, lock_id: int) -> bool:
    """The session-level migration lock, without waiting."""
    return await conn.fetchval(Q["migration_try_lock"], lock_id)


async def unlock(conn: Conn, *, lock_id: int) -> None:
    """Release the session-level migration lock."""
    await conn.execute(Q["migration_unlock"], lock_id)


async def set_lock_timeout(conn: Conn, *, seconds: float, local: bool = False) -> None:
    """lock_timeout for this session, or (`local`) for the current transaction only."""
    await conn.execute(Q["set_local_lock_timeout" if local else "set_lock_timeout"], f"{int(seconds * 1000)}ms")


async def reset_lock_timeout(conn: Conn) -> None:
    """Back to the server's lock_timeout."""
    await conn.execute(Q["reset_lock_timeout"])


async def index_is_invalid(conn: Conn, *, index: str) -> bool:
    """Whether this index exists and was left INVALID by an interrupted concurrent build."""
    return bool(await conn.fetchval(Q["index_is_invalid"], index))


async def drop_index_concurrently(conn: Conn, *, index: str) -> None:
    """Drop the index, if it exists, concurrently (outside a transaction)."""
    await conn.execute(Q["drop_index_concurrently"].format(index=index))


async def relation_exists(conn: Conn, *, name: str) -> bool:
    """Whether a table (or another relation) of this name exists."""
    return await conn.fetchval(Q["relation_exists"], name)


async def trigger_count(conn: Conn, *, name: str) -> int:
    """How many triggers of this name exist (on any table)."""
    return await conn.fetchval(Q["trigger_count"], name)


async def duplicates(conn: Conn, *, table: str) -> tuple[int, int, list[str]]:
    """Rows breaking a one-per-key rule that migration 0004 enforces from then on, in `instagram_feeds` (per job)
    or `evaluations` (per overlay and type): (groups, rows, two sample keys)."""
    query = {"instagram_feeds": "duplicate_feeds", "evaluations": "duplicate_evaluations"}[table]
    groups, rows, sample = await conn.fetchrow(Q[query])
    return groups, rows, sample


async def function_source(conn: Conn, *, signature: str) -> str | None:
    """The stored body of a function ('name(argtypes)'), None when it does not exist."""
    return await conn.fetchval(Q["verify_function_source"], signature)


async def trigger_definition(conn: Conn, *, trigger: str, table: str) -> Definition | None:
    """The live trigger's definition and tgenabled; None: missing."""
    row = await conn.fetchrow(Q["verify_trigger"], trigger, table)
    return Definition(row["def"], row["tgenabled"]) if row else None


async def index_definition(conn: Conn, *, index: str) -> Definition | None:
    """The live index's definition and indisvalid; None: missing."""
    row = await conn.fetchrow(Q["verify_index"], index)
    return Definition(row["def"], row["indisvalid"]) if row else None


async def create_temp_copy(conn: Conn, *, temp: str, table: str) -> None:
    """An empty temporary table with `table`'s columns (the reference to build an object on and print it)."""
    await conn.execute(Q["verify_temp_table"].format(temp=temp, table=table))


async def temp_trigger_definition(conn: Conn, *, trigger: str, temp: str) -> str | None:
    """pg_get_triggerdef of a trigger built on a temporary table."""
    return await conn.fetchval(Q["verify_temp_trigger"], trigger, temp)


async def temp_index_definition(conn: Conn, *, index: str) -> str | None:
    """pg_get_indexdef of an index built on a temporary table."""
    return await conn.fetchval(Q["verify_temp_index"], index)


async def enable_trigger(conn: Conn, *, table: str, trigger: str) -> None:
    """Enable a disabled trigger."""
    await conn.execute(Q["repair_enable_trigger"].format(table=table, trigger=trigger))


async def drop_trigger(conn: Conn, *, table: str, trigger: str) -> None:
    """Drop the trigger if it exists (a constraint trigger is dropped and created again in one transaction)."""
    await conn.execute(Q["repair_drop_trigger"].format(table=table, trigger=trigger))


async def rename_index(conn: Conn, *, index: str, name: str) -> None:
    """Rename an index (the rebuilt spare takes the migration's name)."""
    await conn.execute(Q["repair_rename_index"].format(index=index, name=name))
