"""Each stage's code deps in dvc.yaml are exactly the project files its script can run.

DVC re-runs a stage only when a listed dep changes. A module the stage imports but does
not list (``train`` calls ``churnops.pipeline.prepare.split``) could change and leave a stale model
that ``dvc status`` calls up to date; ``rollback`` would not restore it either.

The closure is computed from the source: every ``import`` of a project module, at module
level or inside a function (lazy imports run too), followed transitively, plus the
package ``__init__.py`` files that importing a submodule executes. Imports under
``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.utils.project import REPO_ROOT

PACKAGES = ("churnops", "stages")
"""Top-level packages whose files are the project's code (everything else is a library)."""


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Dotted names a module's source may import at run time (``from a import b`` gives ``a`` and ``a.b``)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return names


def module_file(name: str, root: Path) -> Path | None:
    """The project file of a dotted module name, or None when it is not one of ours."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None  # an attribute (``from churnops.core.io import read_text``), not a module


def import_closure(entry: str, root: Path = REPO_ROOT) -> set[str]:
    """Repo-relative paths of every project file that running module ``entry`` can execute."""
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        for i in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:i]), root)
            if path is None or path in seen:
                continue
            seen.add(path)
            mod = ".".join(parts[:i])
            todo.extend(imported_names(path.read_text(), mod, path.name == "__init__.py"))
    return {p.relative_to(root).as_posix() for p in seen}


def declared_code_deps(stage: str) -> set[str]:
    deps = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"][stage]["deps"]
    return {d for d in deps if d.endswith(".py") and d.split("/")[0] in PACKAGES}


def stage_names() -> list[str]:
    return list(yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"])


@pytest.mark.parametrize("stage", stage_names())
def test_every_stage_lists_exactly_the_code_it_imports(stage: str) -> None:
    closure = import_closure(f"stages.{stage}")
    declared = declared_code_deps(stage)
    assert f"stages/{stage}.py" in closure
    missing, extra = closure - declared, declared - closure
    assert not missing, f"{stage} runs {sorted(missing)} but dvc.yaml does not list them as deps"
    assert not extra, f"dvc.yaml lists {sorted(extra)} for {stage} but its code never imports them"


def test_the_closure_follows_lazy_and_relative_imports_and_skips_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "churnops"
    (pkg / "sub").mkdir(parents=True)
    (tmp_path / "stages").mkdir()
    files = {
        "stages/__init__.py": "",
        "stages/x.py": "from churnops.a import f\n",
        "churnops/__init__.py": "",
        "churnops/a.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from churnops import typing_only\n"
            "def f():\n    from churnops.sub import b\n    import numpy\n"
        ),
        "churnops/typing_only.py": "",
        "churnops/unused.py": "",
        "churnops/sub/__init__.py": "",
        "churnops/sub/b.py": "from . import c\nfrom ..d import g\n",
        "churnops/sub/c.py": "",
        "churnops/d.py": "",
    }
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    assert import_closure("stages.x", tmp_path) == {
        "stages/__init__.py",
        "stages/x.py",
        "churnops/__init__.py",
        "churnops/a.py",
        "churnops/sub/__init__.py",
        "churnops/sub/b.py",
        "churnops/sub/c.py",
        "churnops/d.py",
    }
