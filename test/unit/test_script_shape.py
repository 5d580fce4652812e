"""Every script in scripts/ has one entry-point shape, and the operator's scripts are subcommands of scripts/ops.py."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.ops import FOLDED

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = {"__init__", "seedlib", "history", "llava_build", "store", "store_bench"}  # imported by scripts and tests, never run
SHAPE = "def main(argv: list[str] | None = None) -> int"
GUARD = "if __name__ == '__main__':\n    raise SystemExit(main())"


def _scripts() -> list[Path]:
    return sorted(p for p in (ROOT / "scripts").glob("*.py") if p.stem not in LIBRARIES)


def _shape_problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    mains = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    found = []
    if not mains:
        found.append(f"{path.name}: no top-level `{SHAPE}`")
    else:
        args = mains[0].args
        params = [(a.arg, ast.unparse(a.annotation) if a.annotation else None) for a in args.args]
        defaults = [ast.unparse(d) for d in args.defaults]
        returns = ast.unparse(mains[0].returns) if mains[0].returns else None
        if params != [("argv", "list[str] | None")] or defaults != ["None"] or returns != "int" or \
                args.kwonlyargs or args.vararg or args.kwarg:
            found.append(f"{path.name}: main is not `{SHAPE}`")
    if ast.unparse(tree.body[-1]) != GUARD:
        found.append(f"{path.name}: does not end with `{GUARD}`")
    return found


def test_every_script_has_the_one_main_shape():
    scripts = _scripts()
    assert len(scripts) >= 20, [p.name for p in scripts]
    assert [p for path in scripts for p in _shape_problems(path)] == []


def test_the_libraries_are_not_entry_points():
    for name in LIBRARIES:
        assert '__name__ == "__main__"' not in (ROOT / "scripts" / f"{name}.py").read_text(), name


def test_an_old_shape_is_caught(tmp_path):
    old = tmp_path / "old.py"
    old.write_text('import sys\n\n\ndef main() -> None:\n    pass\n\n\nif __name__ == "__main__":\n    sys.exit(main())\n')
    assert _shape_problems(old) == [f"old.py: main is not `{SHAPE}`", f"old.py: does not end with `{GUARD}`"]


def _help(*args: str) -> subprocess.CompletedProcess:
    # --help must need no database: DATABASE_URL points at nothing.
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args, "--help"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_one_cli_lists_every_operator_command():
    out = _help("scripts/ops.py")
    assert out.returncode == 0, out.stderr
    for name in ("status", "cancel", "rerun", "replay", "webhook", *FOLDED):
        assert f"    {name}" in out.stdout, name


@pytest.mark.parametrize("command", ["migrate", "create-job", "image-part"])
def test_a_folded_command_answers_with_its_own_options(command):
    out = _help("scripts/ops.py", command)
    assert out.returncode == 0, out.stderr
    own = _help(f"scripts/{FOLDED[command][0].split('.')[1]}.py")
    # The same description and options; only the usage line differs (its program name, hence its wrapping).
    assert out.stdout.split("\n\n", 1)[1] == own.stdout.split("\n\n", 1)[1]


@pytest.mark.parametrize("script", ["bench_stages", "bench_sweeper", "type_scale_figure"])
def test_a_developer_script_answers_help(script):
    out = _help("-m", f"scripts.{script}")
    assert out.returncode == 0 and out.stdout.startswith("usage:"), out.stderr
