"""Where a churnops project keeps its files: the one owner of every project-relative path.

All paths are relative to the project root (the directory holding ``dvc.yaml``); callers
join them to a root (``--repo``, a Git revision's tree, a service's ``repo``). They are
plain constants rather than read from ``dvc.yaml`` at run time: the CLI and the service
need them before, or without, a readable ``dvc.yaml`` (history reads old revisions, a
service may start in an empty directory to report what is missing). Where ``dvc.yaml``
also names a path (a stage's ``outs``), ``tests/core/test_paths.py`` holds the two together.
"""

from __future__ import annotations

PIPELINE = "dvc.yaml"
"""The pipeline definition; its presence makes a directory a project root."""
LOCK = "dvc.lock"
"""What DVC recorded for the last run: output hashes and the params used."""
PARAMS = "params.yaml"
"""Every tunable value (``churnops.core.params`` validates it)."""
REQUIREMENTS = "requirements.lock"
"""The exact library versions the model bytes depend on (``make setup`` installs them)."""

MODEL = "models/model.json"
"""The exported model, the ``train`` stage's output (the candidate the ``judge`` stage weighs)."""

TRAIN_STATS = "data/prepared/train_stats.json"
"""Training-data statistics, ``prepare``'s output and the monitor's reference."""
EVALUATE_METRICS = "metrics/evaluate.json"
"""The headline test-set metrics of the model, ``evaluate``'s output."""
JUDGE_METRICS = "metrics/judge.json"
"""The ``judge`` stage's verdict on the candidate, which ``churnops promote`` acts on."""
FEEDBACK_SNAPSHOT = "data/feedback/snapshot"
"""Where ``churnops feedback snapshot`` versions labeled traffic (a DVC-tracked directory)."""

PROJECT_MARKERS = (PIPELINE, LOCK)
"""Either file marks a served directory as a project (a clone without a run has no lock yet)."""
