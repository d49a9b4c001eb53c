"""Which project files running a module can execute: its import closure, read from the source.

Two tests rest on it: each stage's code deps in ``dvc.yaml`` are exactly its script's closure
(``tests/stages/test_stage_deps.py``), and the service runs no training code and reads the
registry, not the work tree (``tests/e2e/test_layout.py``).

The closure follows every ``import`` of a project module, at module level or inside a
function (lazy imports run too), transitively, plus the package ``__init__.py`` files that
importing a submodule executes. Imports under ``if TYPE_CHECKING:`` never run and are left
out. Names built at run time (``importlib.import_module(f"...{name}")``) are invisible to
it: a caller that knows of such imports adds their targets as entry points.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

PACKAGES = ("churnops", "stages")
"""Top-level packages whose files are the project's code (everything else is a library)."""


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Dotted names a module's source may import at run time (``from a import b`` gives ``a`` and ``a.b``).

    Raises:
        SyntaxError: ``source`` is not Python.
    """
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.orelse:
                visit(stmt)
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


def module_name(path: str) -> str:
    """The dotted module name of a repo-relative ``.py`` path (``churnops/core/__init__.py`` -> ``churnops.core``)."""
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_closure(entries: str | Iterable[str], root: Path) -> set[str]:
    """Repo-relative paths of every project file that running the module(s) ``entries`` can execute.

    Args:
        entries: dotted module names (``stages.train``, ``churnops.cli``).
        root: the directory holding the packages (the repository's work tree).

    Raises:
        SyntaxError: a file of the closure is not Python (nobody could run it either).
    """
    seen: set[Path] = set()
    todo = [entries] if isinstance(entries, str) else list(entries)
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
            todo.extend(imported_names(path.read_text(encoding="utf-8"), mod, path.name == "__init__.py"))
    return {p.relative_to(root).as_posix() for p in seen}
