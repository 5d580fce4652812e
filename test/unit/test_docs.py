"""README.md and docs/*.md name only repository paths and commands that exist."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# A backticked span, or a markdown link target: where the docs name files.
SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")
COMMAND = re.compile(r"\b(?:python|bash)\s+([\w./-]+\.(?:py|sh))\b")
MODULE = re.compile(r"\bpython\s+-m\s+([\w.]+)")
SUFFIXES = (".py", ".sql", ".sh", ".md", ".yml", ".yaml", ".toml", ".txt", ".png", ".json")
BARE_SUFFIXES = (".py", ".sql", ".sh", ".md", ".yml")  # a bare file name with one of these is ours
ROOT_ENTRIES = {p.name for p in ROOT.iterdir()} - {".git", ".venv", ".pytest_cache"}
# Placeholders (NNNN_name.sql, scripts/NAME.py) and files that exist only on a deployed machine.
PLACEHOLDER = re.compile(r"(^|[/_.])(NNNN|NAME|NN|N|X)([/_.]|$)")
NOT_IN_REPO = {".env"}
# Tools' own modules, not this repository's.
FOREIGN_MODULES = {"pytest", "pip", "venv", "uvicorn", "http.server"}


def _is_path_like(token: str) -> bool:
    """A token that names a file or folder of this repository (not a URL, placeholder or route)."""
    if any(c in token for c in "<>{}|=:,;[]\"' ") or token.startswith(("http", "-", "/", "~", "$", "../")):
        return False
    if PLACEHOLDER.search(token) or token in NOT_IN_REPO:
        return False
    token = token.split("(")[0]  # `services/engine/pipeline.concurrency(stage)`: the module part
    parts = token.rstrip("/").split("/")
    if "/" not in token:
        return token.endswith(BARE_SUFFIXES)
    if any(part.isdigit() for part in parts):
        return False  # arithmetic (5/10) or a fraction, not a path
    return token.endswith(SUFFIXES) or parts[0] in ROOT_ENTRIES


def _resolve(token: str, doc: Path) -> bool:
    """Whether a named path exists, relative to the repository root or the document's folder."""
    token = token.split("#")[0].split("(")[0].rstrip(".")
    if not token:
        return True
    if "/" not in token:  # a bare file name: it must exist somewhere in the repository
        return any(ROOT.glob(f"**/{token}"))
    if "*" in token:  # a glob must match something
        return any(ROOT.glob(token)) or any(doc.parent.glob(token))
    if (ROOT / token).exists() or (doc.parent / token).exists():
        return True
    # `services/engine/pipeline.concurrency`: a module attribute named with a dot
    head = token.rpartition(".")[0]
    return "/" in head and (ROOT / f"{head}.py").exists()


def named_paths(text: str) -> set[str]:
    """Every repository path a document names in backticks or links."""
    found = set()
    for span in SPAN.findall(text):
        for token in span.split():
            token = token.rstrip(".,)")
            if _is_path_like(token):
                found.add(token.split("(")[0])
    for target in LINK.findall(text):
        if not target.startswith(("http", "#", "mailto:")):
            found.add(target)
    return found


def named_commands(text: str) -> set[str]:
    """Every `python scripts/...`, `bash scripts/...` or `python -m ...` the document names."""
    found = set()
    for span in SPAN.findall(text) + FENCE.findall(text):
        found.update("-m " + m for m in MODULE.findall(span) if m.split(".")[0] not in FOREIGN_MODULES)
        found.update(t for t in COMMAND.findall(span) if not PLACEHOLDER.search(t))
    return found


def _command_exists(command: str) -> bool:
    if command.startswith("-m "):
        module = command[3:].replace(".", "/")
        return (ROOT / f"{module}.py").exists() or (ROOT / module / "__init__.py").exists()
    return (ROOT / command).exists()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_paths_exist(doc: Path) -> None:
    missing = sorted(p for p in named_paths(doc.read_text()) if not _resolve(p, doc))
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_commands_exist(doc: Path) -> None:
    missing = sorted(c for c in named_commands(doc.read_text()) if not _command_exists(c))
    assert not missing, f"{doc.name} names commands whose script does not exist: {missing}"


def _anchors(doc: Path) -> set[str]:
    """GitHub's anchors for a document's headings: lower case, punctuation dropped, spaces to dashes."""
    heads = re.findall(r"^#+ (.+)$", FENCE.sub("", doc.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_linked_sections_exist(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text()):
        path, _, anchor = target.partition("#")
        if anchor and not target.startswith("http") and (not path or path.endswith(".md")):
            linked = doc if not path else (doc.parent / path)
            if linked.exists() and anchor not in _anchors(linked):
                broken.append(target)
    assert not broken, f"{doc.name} links to sections that do not exist: {broken}"


def test_the_checks_can_fail() -> None:
    """The parser finds made-up paths and commands, and skips URLs, placeholders and routes."""
    text = "See `services/nowhere.py` and `services/stages_*.py`, run `python scripts/nope.py --x`,"
    text += " `python -m scripts.gone` and `bash scripts/none.sh`; not `http://x/y.py`,"
    text += " `/assets/<path>`, `{job_id}/x.md`, `db/migrations/NNNN_name.sql` or `grace/4`."
    assert named_paths(text) == {
        "services/nowhere.py", "services/stages_*.py", "scripts/nope.py", "scripts/none.sh"}
    assert named_commands(text) == {"scripts/nope.py", "-m scripts.gone", "scripts/none.sh"}
    for missing in ("services/nowhere.py", "services/stages_*.py", "services/pipeline.concurrency"):
        assert not _resolve(missing, ROOT / "README.md")
    for present in ("services/engine/pipeline.py", "services/stages/*.py", "pipeline.py"):
        assert _resolve(present, ROOT / "README.md")
    assert not _command_exists("-m scripts.gone") and _command_exists("-m scripts.bench_vlm_batch")
