"""The project paths in churnops.core.paths are the ones dvc.yaml writes."""

from __future__ import annotations

import yaml

from churnops.core import paths
from tests.utils.project import REPO_ROOT


def _outs(stage: dict) -> set[str]:
    out: set[str] = set()
    for key in ("outs", "metrics"):
        for entry in stage.get(key, []):
            out.add(entry if isinstance(entry, str) else next(iter(entry)))
    return out


def test_each_output_path_is_what_its_stage_declares() -> None:
    stages = yaml.safe_load((REPO_ROOT / paths.PIPELINE).read_text())["stages"]
    assert paths.MODEL in _outs(stages["train"])
    assert paths.TRAIN_STATS in _outs(stages["prepare"])
    assert paths.TEST_SET in _outs(stages["prepare"])
    assert paths.EVALUATE_METRICS in _outs(stages["evaluate"])
    assert paths.JUDGE_METRICS in _outs(stages["judge"])
    assert all(paths.PARAMS in s["cmd"] for name, s in stages.items() if "params" in s)


def test_the_project_files_it_names_are_at_the_root() -> None:
    for name in (paths.PIPELINE, paths.LOCK, paths.PARAMS, paths.REQUIREMENTS):
        assert (REPO_ROOT / name).is_file(), name
