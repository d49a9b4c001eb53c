"""Each stage's code deps in dvc.yaml are exactly the project files its script can run.

DVC re-runs a stage only when a listed dep changes. A module the stage imports but does
not list (``train`` calls ``churnops.pipeline.prepare.split``) could change and leave a stale model
that ``dvc status`` calls up to date; ``rollback`` would not restore it either.

The closure is computed from the source by :mod:`tests.utils.closure`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.utils.closure import PACKAGES, import_closure
from tests.utils.project import REPO_ROOT


def declared_code_deps(stage: str) -> set[str]:
    deps = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"][stage]["deps"]
    return {d for d in deps if d.endswith(".py") and d.split("/")[0] in PACKAGES}


def stage_names() -> list[str]:
    return list(yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"])


@pytest.mark.parametrize("stage", stage_names())
def test_every_stage_lists_exactly_the_code_it_imports(stage: str) -> None:
    closure = import_closure(f"stages.{stage}", REPO_ROOT)
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
