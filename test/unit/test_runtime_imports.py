"""Scripts and services run from the runtime install, which has no test/ package: they never import it."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_scripts_and_services_never_import_test():
    files = sorted((ROOT / "scripts").glob("*.py")) + sorted((ROOT / "services").glob("*.py")) + [ROOT / "main.py"]
    offenders = {f.name: sorted(n for n in _imports(f) if n == "test" or n.startswith("test."))
                 for f in files}
    assert len(files) > 20
    assert {f: n for f, n in offenders.items() if n} == {}
