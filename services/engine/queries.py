"""Named SQL queries loaded from db/*.sql (one `-- name: x` header per query; db/migrations/ is not read)."""
import re
from pathlib import Path

from config import ROOT

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
_TRAILING_COMMENTS = re.compile(r"(?:\n[ \t]*(?:--[^\n]*)?)+\Z")  # a section heading before the next query


class QueryFileError(ValueError):
    """A query name defined twice (in one file or across files)."""


def load_queries(text: str, source: str = "<text>") -> dict[str, str]:
    """Split a .sql file into {name: sql}; comment lines inside a query are kept, those after its end are not."""
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, sql in zip(parts[1::2], parts[2::2]):
        if name in queries:
            raise QueryFileError(f"query {name!r} is defined twice in {source}")
        queries[name] = _TRAILING_COMMENTS.sub("", sql.rstrip()).strip()
    return queries


def load_query_files(directory: Path) -> dict[str, str]:
    """Every query of every directory/*.sql (not subdirectories); a name defined in two files is an error."""
    queries: dict[str, str] = {}
    origin: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        for name, sql in load_queries(path.read_text(), path.name).items():
            if name in queries:
                raise QueryFileError(f"query {name!r} is defined in both {origin[name]} and {path.name}")
            queries[name], origin[name] = sql, path.name
    return queries


Q: dict[str, str] = load_query_files(ROOT / "db")
