"""The package's rooms: arrows point down only, errors live in one module, modules stay small.

Allowed directions (README, "Layout"): core <- pipeline <- {monitor, versioning} <- {service, report}
<- commands <- cli. monitor and versioning never import each other; the service imports the
registry and the object store of versioning, nothing else of it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.utils.closure import import_closure, imported_names
from tests.utils.project import REPO_ROOT

PACKAGE = REPO_ROOT / "churnops"
RANK = {
    "core": 0,
    "pipeline": 1,
    "monitor": 2,
    "versioning": 2,
    "service": 3,
    "report": 3,
    "commands": 4,
    "cli": 5,
    "plotpage": 1,
}
MAX_LINES = 300


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(REPO_ROOT).with_suffix("")
        parts = list(rel.parts[:-1]) if rel.name == "__init__" else list(rel.parts)
        out[".".join(parts)] = path
    return out


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_imports_point_down_only() -> None:
    wrong = []
    for module, path in _modules().items():
        room = _room(module)
        if room is None:
            continue
        for name in imported_names(path.read_text(), module, path.name == "__init__.py"):
            target = _room(name) if name.startswith("churnops.") else None
            if target is None or target == room or target not in RANK:
                continue
            if RANK[target] >= RANK[room]:
                wrong.append(f"{module} imports {name}")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_service_runs_the_scorer_and_never_training_or_export() -> None:
    closure = import_closure("churnops.service.app", REPO_ROOT)
    assert "churnops/pipeline/scorer.py" in closure
    assert not {"churnops/pipeline/train.py", "churnops/pipeline/export.py"} & closure


def test_the_service_reads_the_registry_and_the_store_and_no_other_versioning_code() -> None:
    closure = import_closure("churnops.service.app", REPO_ROOT)
    versioning = {p for p in closure if p.startswith("churnops/versioning/")}
    assert {"churnops/versioning/registry.py", "churnops/versioning/store.py"} <= versioning
    allowed = ("__init__", "registry", "store", "remote", "git", "faults")
    assert versioning <= {f"churnops/versioning/{m}.py" for m in allowed}


def test_every_churnops_error_is_defined_in_core_errors() -> None:
    from churnops.core import errors

    ours = {name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, Exception)}
    elsewhere = []
    for module, path in _modules().items():
        if module == "churnops.core.errors":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(isinstance(b, ast.Name) and b.id in ours for b in node.bases):
                elsewhere.append(f"{module}.{node.name}")
    assert not elsewhere, f"ChurnopsError subclasses outside churnops/core/errors.py: {elsewhere}"


def test_a_long_module_says_why_in_its_docstring() -> None:
    """Over ~300 lines, the module docstring must carry a line starting 'Length:' that says why."""
    long = []
    for module, path in _modules().items():
        text = path.read_text()
        doc = ast.get_docstring(ast.parse(text)) or ""
        if text.count("\n") > MAX_LINES and "Length:" not in doc:
            long.append(f"{module} ({text.count(chr(10))} lines)")
    assert not long, f"split these, or say why not in a 'Length:' docstring line: {long}"


def test_the_readme_layout_table_matches_the_tree() -> None:
    """Every package folder has a row; a row that names modules names exactly the ones on disk."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`churnops/"):
            rows[cells[0]] = cells[1]
    folders = sorted(p.parent for p in PACKAGE.glob("*/__init__.py"))
    missing = [f"`churnops/{f.name}/`" for f in folders if not any(k.startswith(f"`churnops/{f.name}/`") for k in rows)]
    assert not missing, f"README's layout table has no row for {missing}"
    wrong = []
    for folder in folders:
        what = next(v for k, v in rows.items() if k.startswith(f"`churnops/{folder.name}/`"))
        named = set(re.findall(r"`([a-z_]+/?)`", what)) - {"churnops"}  # the command's name, not a module
        if not named:
            continue  # a row in prose only ("the FastAPI service") names no modules
        on_disk = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
        on_disk |= {f"{p.parent.name}/" for p in folder.glob("*/__init__.py")}
        if named != on_disk:
            wrong.append(f"{folder.name}: README names {sorted(named - on_disk)} that do not exist, "
                         f"misses {sorted(on_disk - named)}")  # fmt: skip
    assert not wrong, "\n".join(wrong)


def test_no_two_modules_share_a_name() -> None:
    """An import names one module: ``errors`` is the exception tree, the HTTP mapping is ``http_errors``.

    ``stages/`` is left out on purpose: each stage script is named after its DVC stage and calls
    the pure core of the same name in ``churnops/pipeline/`` (a stage and its core are a pair).
    """
    by_name: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name != "__init__.py":
            by_name.setdefault(path.stem, []).append(path.relative_to(REPO_ROOT).as_posix())
    repeated = {name: sorted(paths) for name, paths in by_name.items() if len(paths) > 1}
    assert not repeated, f"module names used twice: {repeated}"


TESTS = REPO_ROOT / "tests"
CROSS_CUTTING = {"e2e", "utils"}


def test_the_tests_mirror_the_package() -> None:
    """``tests/`` has a folder per package folder (and ``stages/``), plus ``e2e/`` and ``utils/``; a
    test that imports churnops modules imports one of its own folder's (a test of X lives in X's)."""
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
    assert folders == packages | {"stages"} | CROSS_CUTTING
    assert not list(TESTS.glob("test_*.py")), "a test belongs in the folder of what it tests"
    astray = []
    for path in sorted(TESTS.glob("*/test_*.py")):
        folder = path.parent.name
        if folder in CROSS_CUTTING | {"stages"}:
            continue
        names = {n for n in imported_names(path.read_text(), "tests.x", False) if n.startswith("churnops.")}
        if names and not any(n.startswith(f"churnops.{folder}.") or n == f"churnops.{folder}" for n in names):
            astray.append(f"{path.relative_to(REPO_ROOT)} imports {sorted(names)[:3]}...")
    assert not astray, "\n".join(astray)
