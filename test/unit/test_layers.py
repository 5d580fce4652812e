"""The layer rule of services/: which package may import which, no cycles, nothing outside test/ imports test."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CAPABILITIES = ("services.imaging", "services.text")
# What each layer must not import (prefix match on the imported module).
FORBIDDEN = {
    "services.imaging": ("asyncpg", "services.engine", "services.stages", "services.backends", "services.ops"),
    "services.text": ("asyncpg", "services.engine", "services.stages", "services.backends", "services.ops"),
    "services.engine": ("services.stages", "services.imaging", "services.text", "services.backends"),
}
BACKEND_MAY_IMPORT = ("services.backends", "services.errors", *CAPABILITIES)


def _module(path: Path) -> str:
    """Dotted module name of a file under ROOT."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (`from a import b` counts a.b if a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names
                         if (ROOT / node.module.replace(".", "/") / f"{alias.name}.py").is_file())
    return found


def _sources() -> list[Path]:
    """The project's Python files (not the virtualenv)."""
    return [p for p in ROOT.rglob("*.py") if not {".venv", ".git", "node_modules"} & set(p.relative_to(ROOT).parts)]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_each_layer_imports_only_what_it_may():
    broken = []
    for path in _sources():
        mod = _module(path)
        for layer, banned in FORBIDDEN.items():
            if _under(mod, layer):
                broken += [f"{mod} imports {name}" for name in _imports(path) if any(_under(name, b) for b in banned)]
        if _under(mod, "services.backends"):
            broken += [f"{mod} imports {name}" for name in _imports(path)
                       if _under(name, "services") and name != "services"
                       and not any(_under(name, ok) for ok in BACKEND_MAY_IMPORT)]
    assert not broken, "\n".join(sorted(broken))


# Backend implementations: the app reaches them only through the ports and factory of services/backends.
IMPLEMENTATIONS = {"DefaultVlm", "LlavaVlm", "ServedVlm", "SaliencyDetector", "YoloDetector", "FaceDetector",
                   "OcrReader", "OpenAIProvider", "OfflineWriter"}
THROUGH_PORTS = ("services.stages", "services.engine", "services.ops", "routers", "main")


def _names_used(path: Path) -> set[str]:
    """Every name a file imports or reads as an attribute (`ocr.OcrReader` counts as OcrReader)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
    return found


def test_the_app_holds_backends_only_through_their_ports():
    broken = [f"{_module(p)} uses {name} (use services/backends/factory.py's make_<kind>)" for p in _sources()
              if any(_under(_module(p), layer) for layer in THROUGH_PORTS)
              for name in sorted(_names_used(p) & IMPLEMENTATIONS)]
    assert not broken, "\n".join(broken)


def test_nothing_outside_test_imports_test():
    broken = [f"{_module(p)} imports {name}" for p in _sources() if not _under(_module(p), "test")
              for name in _imports(p) if _under(name, "test")]
    assert not broken, "\n".join(sorted(broken))


def test_no_import_cycles_among_services():
    graph = {_module(p): {n for n in _imports(p) if _under(n, "services")} for p in (ROOT / "services").rglob("*.py")}
    done, stack, cycles = set(), [], []

    def visit(m):
        """Depth-first walk; meeting a module already on the stack is a cycle."""
        if m in stack:
            cycles.append(" -> ".join(stack[stack.index(m):] + [m]))
        elif m not in done:
            stack.append(m)
            for n in sorted(graph[m] & graph.keys() - {m}):
                visit(n)
            stack.pop()
            done.add(m)

    for m in sorted(graph):
        visit(m)
    assert not cycles, "\n".join(cycles)


def test_nothing_patches_sys_path():
    # The repo root reaches the import path through the venv's .pth (scripts/setup.sh) or PYTHONPATH (image).
    def patches(node):
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "path"
                and isinstance(node.func.value.value, ast.Name) and node.func.value.value.id == "sys")
    broken = [f"{p.relative_to(ROOT)}:{n.lineno}" for p in _sources()
              for n in ast.walk(ast.parse(p.read_text(), str(p))) if patches(n)]
    assert not broken, "sys.path patched in: " + ", ".join(sorted(broken))
