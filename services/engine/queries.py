"""Named SQL queries loaded from db/queries.sql (one `-- name: x` header per query)."""
import re

from config import ROOT

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def load_queries(text: str) -> dict[str, str]:
    """Split a .sql file into {name: sql}; comment lines inside a query are kept."""
    parts = _HEADER.split(text)
    return {name: sql.strip() for name, sql in zip(parts[1::2], parts[2::2])}


Q: dict[str, str] = load_queries((ROOT / "db" / "queries.sql").read_text())
