-- Named queries of the migration runner's own bookkeeping (services/engine/migrations.py, scripts/migrate.py):
-- the version table, the lock, the lock timeout. The migrations themselves are db/migrations/NNNN_name.sql
-- (checksummed: never edited), which this loader does not read.

-- name: create_version_table
CREATE TABLE IF NOT EXISTS service_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(), notes TEXT);

-- name: version_table_exists
SELECT to_regclass('service_migrations') IS NOT NULL;

-- name: applied_migrations
SELECT * FROM service_migrations ORDER BY version;

-- name: record_migration
INSERT INTO service_migrations (version, name, checksum, notes) VALUES ($1, $2, $3, $4)
ON CONFLICT (version) DO NOTHING;

-- name: server_version
-- The server's version as a number (140000 = PostgreSQL 14): older servers are refused.
SHOW server_version_num;

-- name: migration_try_lock
-- Session-level: the lock must outlive the per-file transactions. Polled, never waited for inside a
-- statement: a waiting statement is an open transaction that CREATE INDEX CONCURRENTLY (held by the
-- migrating process) would wait for in turn. $1 the lock id
SELECT pg_try_advisory_lock($1);

-- name: migration_unlock
SELECT pg_advisory_unlock($1);

-- name: set_local_lock_timeout
-- A migration statement waits at most $1 (e.g. '2000ms') for a lock, then the runner backs off and
-- retries: SET LOCAL lock_timeout, for the migration's transaction only.
SELECT set_config('lock_timeout', $1, true);

-- name: set_lock_timeout
-- The same for a migration that runs statement by statement outside a transaction (SET lock_timeout);
-- reset_lock_timeout ends it.
SELECT set_config('lock_timeout', $1, false);

-- name: reset_lock_timeout
RESET lock_timeout;

-- name: index_is_invalid
-- A failed CREATE INDEX CONCURRENTLY leaves an INVALID index that IF NOT EXISTS would keep. $1 index name
SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relname = $1 AND pg_table_is_visible(c.oid);

-- name: drop_index_concurrently
-- A template (str.format): the code fills in the index name (from the migration's CREATE INDEX statement).
-- An identifier cannot be a parameter, and DROP INDEX CONCURRENTLY cannot run inside a function or a DO block.
DROP INDEX CONCURRENTLY IF EXISTS "{index}";

-- ===== scripts/migrate.py status: what in the database conflicts with the migrations =====

-- name: relation_exists
SELECT to_regclass($1) IS NOT NULL;

-- name: trigger_count
SELECT count(*) FROM pg_trigger WHERE tgname = $1;

-- name: duplicate_feeds
-- Jobs with more than one feed (migration 0004 enforces one per job): groups, rows, two sample keys.
SELECT count(*), coalesce(sum(n), 0), (array_agg(k ORDER BY k))[1:2]
FROM (SELECT job_id::text AS k, count(*) AS n FROM instagram_feeds
      GROUP BY job_id HAVING count(*) > 1) d;

-- name: duplicate_evaluations
-- (overlay, type) pairs with more than one evaluation (migration 0004 enforces one per pair).
SELECT count(*), coalesce(sum(n), 0), (array_agg(k ORDER BY k))[1:2]
FROM (SELECT overlay_id::text AS k, count(*) AS n FROM evaluations
      GROUP BY overlay_id, evaluation_type HAVING count(*) > 1) d;

-- ===== scripts/migrate.py verify / repair (services/engine/schema_check.py) =====

-- name: verify_function_source
-- The body of a function as stored ($1 'name(argtypes)'), NULL when it does not exist.
SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure($1);

-- name: verify_trigger
-- A trigger as PostgreSQL prints it, and whether it is enabled ('D' disabled). $1 trigger, $2 table
SELECT pg_get_triggerdef(oid) AS def, tgenabled::text AS tgenabled FROM pg_trigger
WHERE tgname = $1 AND tgrelid = to_regclass($2) AND NOT tgisinternal;

-- name: verify_index
-- An index as PostgreSQL prints it, and whether it is valid (not left by an interrupted build). $1 index
SELECT pg_get_indexdef(indexrelid) AS def, indisvalid FROM pg_index WHERE indexrelid = to_regclass($1);

-- name: verify_temp_table
-- A template (str.format, names from the migration files): an empty copy of a table's columns, in the
-- reference transaction (rolled back), to build a migration's trigger or index on and print it.
CREATE TEMP TABLE "{temp}" (LIKE "{table}");

-- name: verify_temp_trigger
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = $1 AND tgrelid = to_regclass('pg_temp.' || $2);

-- name: verify_temp_index
SELECT pg_get_indexdef(to_regclass('pg_temp.' || $1));

-- name: repair_enable_trigger
-- A template (str.format): names from the migration files.
ALTER TABLE "{table}" ENABLE TRIGGER "{trigger}";

-- name: repair_drop_trigger
-- A template: a constraint trigger has no CREATE OR REPLACE; dropped and created in one transaction.
DROP TRIGGER IF EXISTS "{trigger}" ON "{table}";

-- name: repair_rename_index
-- A template: the index rebuilt under a spare name takes the migration's name.
ALTER INDEX "{index}" RENAME TO "{name}";
