"""The named queries of db/queries.sql: every name the code asks for exists, every query is asked for."""
import ast
from pathlib import Path

from services.engine.queries import Q

ROOT = Path(__file__).resolve().parents[2]


def _runtime_sources() -> list[Path]:
    """The app's and scripts' Python files (tests do not count as users)."""
    skip = {".venv", ".git", "test"}
    return [p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts)]


def _trees() -> list[ast.AST]:
    return [ast.parse(p.read_text(), str(p)) for p in _runtime_sources()]


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
