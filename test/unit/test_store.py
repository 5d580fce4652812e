"""The data layer has names: only the store modules index the query map `Q`; everyone else calls their functions."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("services", "routers", "scripts", "main.py", "database.py")


def _is_store(rel: str) -> bool:
    """A store module (services/engine/store*.py and the like) or the loader that defines Q."""
    return Path(rel).name.startswith("store") or rel == "services/engine/queries.py"


def _sources() -> list[str]:
    """The checked Python files, relative to ROOT."""
    paths: list[Path] = []
    for name in CHECKED:
        path = ROOT / name
        paths += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [p.relative_to(ROOT).as_posix() for p in paths]


def _uses_of_q(source: str, rel: str = "<code>") -> list[str]:
    """Each `Q[...]` and `queries.Q` use and each import of Q in a file, as 'path:line what'."""
    found = []
    for node in ast.walk(ast.parse(source, rel)):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "Q":
            found.append(f"{rel}:{node.lineno} indexes Q")
        elif isinstance(node, ast.Attribute) and node.attr == "Q":
            found.append(f"{rel}:{node.lineno} reads queries.Q")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("queries") \
                and any(alias.name == "Q" for alias in node.names):
            found.append(f"{rel}:{node.lineno} imports Q")
    return found


def test_only_store_modules_index_the_query_map():
    broken = [use for rel in _sources() if not _is_store(rel) for use in _uses_of_q((ROOT / rel).read_text(), rel)]
    assert not broken, "call a store function instead:\n" + "\n".join(broken)


def test_the_scan_sees_each_way_of_reaching_q():
    code = ("from services.engine.queries import Q\nimport services.engine.queries as queries\n"
            "async def f(conn):\n    await conn.fetchrow(Q['claim_variant'], 1)\n    return queries.Q['ping']\n")
    assert sorted(use.split(" ", 1)[1] for use in _uses_of_q(code)) == ["imports Q", "indexes Q", "reads queries.Q"]


def test_store_functions_take_keyword_arguments():
    """Past the connection, a store function's parameters are keyword-only: a call names what it passes."""
    positional = []
    for rel in _sources():
        if not _is_store(rel) or rel.endswith("queries.py"):
            continue
        for node in ast.walk(ast.parse((ROOT / rel).read_text(), rel)):
            if isinstance(node, (ast.AsyncFunctionDef, ast.FunctionDef)) and not node.name.startswith("_") \
                    and len(node.args.args) > 1:
                positional.append(f"{rel}:{node.lineno} {node.name}")
    assert not positional, "make these keyword-only (a `*` after conn):\n" + "\n".join(positional)
