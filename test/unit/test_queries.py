"""The named queries of db/*.sql: every name asked for exists, every query is asked for, no SQL elsewhere."""
import ast
import re
from pathlib import Path

import pytest

from services.engine.queries import Q, QueryFileError, load_query_files

ROOT = Path(__file__).resolve().parents[2]

# A string that starts, after whitespace and SQL comments, with a statement keyword and SQL-looking text after
# it. Keywords are matched in upper case, as the project writes SQL, so prose ("Start the loop", the HTTP
# method "DELETE") is not SQL. An f-string is read with "x" for each placeholder (f"DROP DATABASE {name}"), and
# each of its constant parts is checked too (f"{cte} SELECT ..."), but only for the statement forms with real
# SQL structure: a short form such as LISTEN/SHOW/ROLLBACK + one word must start the string, so the message
# f"terminated {n} LISTEN connections" is not taken for SQL.
_LEADING = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)
_STATEMENT = re.compile(r"""\A(?:
    SELECT\s+\S
  | INSERT\s+INTO\s
  | UPDATE\s+\w+(?:\s+\w+)?\s+SET\s
  | DELETE\s+FROM\s
  | WITH\s+(?:RECURSIVE\s+)?\w+(?:\s*\([^)]*\))?\s+AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(
  | (?:CREATE|DROP|ALTER)\s+(?:OR\s+REPLACE\s+|TEMP(?:ORARY)?\s+|UNLOGGED\s+|UNIQUE\s+|MATERIALIZED\s+)*
        (?:TABLE|INDEX|VIEW|FUNCTION|PROCEDURE|TRIGGER|DATABASE|SCHEMA|EXTENSION|TYPE|SEQUENCE|ROLE|POLICY|SYSTEM)\b
  | SET\s+(?:LOCAL\s+|SESSION\s+)?\w+(?:\.\w+)?\s*(?:=|\bTO\b)
  | (?:LOCK|TRUNCATE)\s+(?:TABLE\s+)?\w+
  | COPY\s+\w+.*\b(?:FROM|TO)\b
  | (?:START\s+TRANSACTION|SAVEPOINT\s+\w|RELEASE\s+SAVEPOINT|ROLLBACK\s+TO|REFRESH\s+MATERIALIZED|COMMENT\s+ON)\b
  | DO\s+\$
  | (?:GRANT|REVOKE)\s+[\w\s,]+\bON\b
  | CALL\s+\w+\s*\(
)""", re.VERBOSE | re.DOTALL)
_SHORT = re.compile(r"""\A(?:
    (?:LISTEN|UNLISTEN|NOTIFY)\s+(?:"?\w+"?|\*)\s*(?:,.*)?;?\s*\Z
  | (?:RESET|SHOW)\s+\w+\s*;?\s*\Z
  | (?:BEGIN|COMMIT|ROLLBACK|ABORT|END)(?:\s+(?:WORK|TRANSACTION))?\s*;?\s*\Z
  | (?:VACUUM|ANALYZE|EXPLAIN|REINDEX|CLUSTER|CHECKPOINT|DISCARD)\b
  | (?:PREPARE|EXECUTE|DEALLOCATE)\s+\w+
)""", re.VERBOSE | re.DOTALL)
# SQL that must stay in Python: (file, the statement's first 40 characters) -> why. Keep it tiny.
ALLOWED: dict[tuple[str, str], str] = {}


def _runtime_sources() -> list[Path]:
    """The app's and scripts' Python files (tests do not count as users)."""
    skip = {".venv", ".git", "test"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def _trees() -> list[ast.AST]:
    return [ast.parse(p.read_text(), str(p)) for p in _runtime_sources()]


def _is_sql(text: str, short_forms: bool = True) -> bool:
    """Whether the text starts with a SQL statement (the short forms only when `short_forms`)."""
    text = _LEADING.sub("", text, count=1)
    return bool(_STATEMENT.match(text) or (short_forms and _SHORT.match(text)))


def _sql_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every string in the tree that is a SQL statement (f-strings read as described above)."""
    found, parts = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            constants = [v for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
            parts.update(map(id, constants))
            text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
            if _is_sql(text) or any(_is_sql(c.value, short_forms=False) for c in constants):
                found.append((node.lineno, text))
    found += [(node.lineno, node.value) for node in ast.walk(tree) if isinstance(node, ast.Constant)
              and isinstance(node.value, str) and id(node) not in parts and _is_sql(node.value)]
    return found


def test_every_name_asked_for_exists():
    asked = {node.slice.value for tree in _trees() for node in ast.walk(tree)
             if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "Q"
             and isinstance(node.slice, ast.Constant)}
    assert asked, "no Q[...] lookups found: the scan is broken"
    assert not asked - Q.keys(), f"unknown queries: {sorted(asked - Q.keys())}"


def test_every_query_is_used():
    # A name counts as used when it appears as a string in the code: Q["x"] or a name chosen first (release_*).
    strings = {node.value for tree in _trees() for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert not Q.keys() - strings, f"queries nothing uses: {sorted(Q.keys() - strings)}"


def test_no_sql_statement_outside_db():
    found = []
    for path in _runtime_sources():
        rel = str(path.relative_to(ROOT))
        for line, text in _sql_literals(ast.parse(path.read_text(), rel)):
            if (rel, " ".join(text.split())[:40]) not in ALLOWED:
                found.append(f"{rel}:{line}: {' '.join(text.split())[:70]}")
    assert not found, f"{len(found)} SQL statement(s) in Python; move them to db/*.sql:\n" + "\n".join(sorted(found))


@pytest.mark.parametrize("code", [
    '"SELECT 1"', '"""\n    -- why\n    SELECT count(*) FROM jobs"""', '"INSERT INTO t (a) VALUES ($1)"',
    '"UPDATE jobs_variants\\nSET status = 1"', '"UPDATE jobs j SET x = 1"', '"DELETE FROM detections WHERE 1"',
    '"WITH claimed AS (UPDATE t SET a = 1 RETURNING a) SELECT 1"', '"CREATE TABLE IF NOT EXISTS t (a int)"',
    'f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"', 'f"CREATE DATABASE {name}"', '"ALTER TABLE t ADD c int"',
    '"LISTEN job_state_changed"', '"NOTIFY ch, \'x\'"', '"UNLISTEN *"', '"SET lock_timeout = \'2s\'"',
    'f"SET LOCAL lock_timeout = \'{ms}ms\'"', '"SET session_replication_role = replica"', '"RESET lock_timeout"',
    '"SHOW server_version_num"', '"TRUNCATE stage_runs"', '"LOCK TABLE jobs"', '"ROLLBACK"', '"BEGIN"',
    '"VACUUM ANALYZE jobs"', '"EXPLAIN " + sql', 'f"EXPLAIN {sql}"', '"COPY jobs TO STDOUT"', '"DO $$ BEGIN END $$"',
    'f"LISTEN {channel}"', 'f"{cte}\\nSELECT a FROM t"', 'f"{x} DELETE FROM t WHERE a = 1"',
])
def test_the_scan_recognises_sql(code):
    assert _sql_literals(ast.parse(code)), code


@pytest.mark.parametrize("code", [
    '"Start the periodic loop."', '"LISTEN connection terminated"', '"DELETE"', '"SET"', '"Select the best"',
    '"NOTIFY messages received"', '"Create a test job whose text part is done"', '"copy"', '"WITH (FORCE)"',
    "\"LISTEN 'job_variant_state_changed' started\"", '"Update the row"', '"UPDATE the row now"',
    'f"terminated {n} LISTEN connections"', 'f"{Q[\'explain_prefix\']} {sql}"', 'f"{n} ROLLBACK"',
])
def test_the_scan_leaves_prose_alone(code):
    assert not _sql_literals(ast.parse(code)), code


def test_a_name_in_two_files_is_refused(tmp_path):
    (tmp_path / "a.sql").write_text("-- name: same\nSELECT 1;\n")
    (tmp_path / "b.sql").write_text("-- name: other\nSELECT 2;\n-- name: same\nSELECT 3;\n")
    with pytest.raises(QueryFileError, match="'same' is defined in both a.sql and b.sql"):
        load_query_files(tmp_path)


def test_a_name_twice_in_one_file_is_refused(tmp_path):
    (tmp_path / "a.sql").write_text("-- name: same\nSELECT 1;\n-- name: same\nSELECT 2;\n")
    with pytest.raises(QueryFileError, match="'same' is defined twice in a.sql"):
        load_query_files(tmp_path)


def test_every_file_is_read_but_not_the_migrations(tmp_path):
    # A query keeps its own comments; the file's heading and a section heading before the next query are not its.
    (tmp_path / "a.sql").write_text("-- The file's heading.\n\n-- name: one\n-- why\nSELECT 1;  -- kept\n\n"
                                    "-- ===== a section =====\n\n-- name: prefix\nEXPLAIN\n")
    (tmp_path / "b.sql").write_text("-- name: two\nSELECT 2;\n")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_x.sql").write_text("-- name: three\nSELECT 3;\n")
    assert load_query_files(tmp_path) == {"one": "-- why\nSELECT 1;  -- kept", "prefix": "EXPLAIN", "two": "SELECT 2;"}
