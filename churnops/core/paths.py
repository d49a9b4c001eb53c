"""Where a churnops project keeps its files: the one owner of every project-relative path.

All are relative to the project root. Constants, not read from ``dvc.yaml``: the CLI and the
service need them without a readable ``dvc.yaml`` (old revisions, a service started in an empty
directory). ``tests/core/test_paths.py`` holds them to the ``outs`` of ``dvc.yaml``.
"""

from __future__ import annotations

PIPELINE = "dvc.yaml"
"""The pipeline definition; its presence makes a directory a project root."""
LOCK = "dvc.lock"
PARAMS = "params.yaml"
REQUIREMENTS = "requirements.lock"
"""The exact library versions the model bytes depend on (``make setup`` installs them)."""

MODEL = "models/model.json"
TRAIN_STATS = "data/prepared/train_stats.json"
TEST_SET = "data/prepared/test.parquet"
"""The fixed test split ``evaluate`` scores (``churnops report`` measures calibration on it)."""
EVALUATE_METRICS = "metrics/evaluate.json"
JUDGE_METRICS = "metrics/judge.json"
FEEDBACK_SNAPSHOT = "data/feedback/snapshot"
"""Where ``churnops feedback snapshot`` versions labeled traffic (a DVC-tracked directory)."""

PROJECT_MARKERS = (PIPELINE, LOCK)
"""Either file marks a served directory as a project (a clone without a run has no lock yet)."""
