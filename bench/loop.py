"""Closing the loop at the default sizes: live F1 before and after a concept shift, and after retraining.

Builds a temporary copy of the committed project (``git archive HEAD``), then drives it with
params alone, as the README's "Closing the loop" table describes:

1. the shipped params: the feedback stage's live F1 of the shipped model on simulated traffic
   (the shipped pin names the model this recipe rebuilds, so the judge says ``same``);
2. ``generate.traffic.truth.tenure_effect: 0`` (tenure stops protecting): live F1 after the shift;
3. ``feedback.include: true``, ``feedback.weight: 100``: the candidate trained on labeled traffic
   against the champion, on the feedback hold-out (the judge stage's verdict);
4. new traffic (``generate.traffic.seed: 8``) and ``dvc repro --single-item generate feedback``:
   the retrained model's live F1 (the stage scores simulated traffic with the model the pipeline
   built; the whole DAG would retrain on the new traffic as well).

Prints a markdown table; the README quotes it. Usage: ``python bench/loop.py`` (about 2 minutes on
2 cores; needs the project's venv on PATH, as ``make`` sets it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def sh(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def set_params(project: Path, changes: dict[str, Any]) -> None:
    path = project / "params.yaml"
    doc = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = doc
        for part in parents:
            node = node[part]
        node[leaf] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def read(project: Path, rel: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((project / rel).read_text())
    return doc


def repro(project: Path, *targets: str) -> float:
    t0 = time.perf_counter()
    sh(["dvc", "repro", "--quiet", *targets], project)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny run: checks the bench still works end to end")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="churnops-loop-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(project)], input=archive, check=True)
        sh(["git", "init", "-q"], project)
        sh(["git", "add", "-A"], project)
        sh(["git", "-c", "user.name=bench", "-c", "user.email=bench@churnops.invalid", "commit", "-qm", "x"], project)

        rows = []
        if args.smoke:  # few customers; the shipped pin names a full-size model, so pin this build's
            set_params(project, {"generate.rows": 5_000, "promote.champion": None})
            repro(project, "train")
            md5 = hashlib.md5((project / "models" / "model.json").read_bytes()).hexdigest()
            set_params(project, {"promote.champion": md5})
        seconds = repro(project)
        rows.append(("shipped model, traffic before the shift", f"{read(project, 'metrics/feedback.json')['f1']:.3f}",
                     read(project, "metrics/details/feedback.json")["status"], seconds))  # fmt: skip

        set_params(project, {"generate.traffic.truth.tenure_effect": 0.0})
        seconds = repro(project)
        rows.append(("shipped model, traffic after the shift (tenure_effect 0)",
                     f"{read(project, 'metrics/feedback.json')['f1']:.3f}",
                     read(project, "metrics/details/feedback.json")["status"], seconds))  # fmt: skip

        set_params(project, {"feedback.include": True, "feedback.weight": 100})
        seconds = repro(project)
        hold = read(project, "metrics/details/judge.json")["feedback_holdout"]
        rows.append(("retrained on labeled traffic: hold-out F1, candidate vs champion",
                     f"{hold['candidate_f1']:.3f} vs {hold['champion_f1']:.3f}",
                     read(project, "metrics/judge.json")["verdict"], seconds))  # fmt: skip

        # New traffic after the shift, scored by the retrained model: only generate (the traffic)
        # and feedback run; the whole DAG would retrain on the new traffic too (feedback.include).
        set_params(project, {"generate.traffic.seed": 8})
        seconds = repro(project, "--single-item", "generate", "feedback")
        rows.append(("the promoted model on new traffic after the shift (traffic seed 8)",
                     f"{read(project, 'metrics/feedback.json')['f1']:.3f}",
                     read(project, "metrics/details/feedback.json")["status"], seconds))  # fmt: skip

    print("| step | live F1 | status or verdict | `dvc repro` s |")
    print("|---|---|---|---|")
    for step, f1, status, secs in rows:
        print(f"| {step} | {f1} | {status} | {secs:.1f} |")


if __name__ == "__main__":
    main()
