"""The package's rooms: arrows point down only, errors live in one module, modules stay small.

Allowed directions (README, "Layout"): core <- pipeline <- {monitor, service, versioning}
<- commands <- cli. monitor, service and versioning never import each other, except that
versioning may import ``churnops.service.client`` lazily (``rollback --reload-url``).
"""

from __future__ import annotations

import ast
from pathlib import Path

from churnops.versioning.rollback.closure import import_closure, imported_names
from tests.utils.project import REPO_ROOT

PACKAGE = REPO_ROOT / "churnops"
RANK = {"core": 0, "pipeline": 1, "monitor": 2, "service": 2, "versioning": 2, "commands": 3, "cli": 4, "plotpage": 1}
ALLOWED_SIDEWAYS = {("versioning", "churnops.service.client")}
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
            up = RANK[target] > RANK[room]
            sideways = RANK[target] == RANK[room] and not any(
                room == r and name.startswith(allowed) for r, allowed in ALLOWED_SIDEWAYS
            )
            if up or sideways:
                wrong.append(f"{module} imports {name}")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_service_runs_the_scorer_and_never_training_or_export() -> None:
    closure = import_closure("churnops.service.app", REPO_ROOT)
    assert "churnops/pipeline/scorer.py" in closure
    assert not {"churnops/pipeline/train.py", "churnops/pipeline/export.py"} & closure


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
