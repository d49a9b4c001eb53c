"""The pipeline's bytes do not depend on the CPU: other machines emulated on this one.

A user's CPU differs from the one that built the committed ``dvc.lock``. Here the stages
run as on the machines this CPU can stand in for: each with its OpenBLAS kernel
(``OPENBLAS_CORETYPE``), the numpy SIMD level it would get (``NPY_DISABLE_CPU_FEATURES``),
glibc's plain ``exp``/``log`` where it has no FMA, and one on two threads. Every run must
write the same bytes, and those bytes must be what HEAD's ``dvc.lock`` records. The stages
run are train (both models), prepare, evaluate and judge (a candidate against a champion
from the DVC cache).

The project is HEAD's (``git archive``: params, lock, data recipe) with the working
tree's code, so an uncommitted code change is what gets tested. The comparison with the
lock is made only when the lock describes this run (HEAD's code, params and dvc.yaml);
otherwise that one test is skipped and says why.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.utils.project import REPO_ROOT, run, set_params, working_tree_files

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.is_file() else ""
    return set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))


CPU_FLAGS = _cpu_flags()


OLD_NUMPY = {"NPY_DISABLE_CPU_FEATURES": "AVX512_SPR AVX512_ICL X86_V4 X86_V3"}  # numpy's x86-64-v2 baseline only
V3_NUMPY = {"NPY_DISABLE_CPU_FEATURES": "AVX512_SPR AVX512_ICL X86_V4"}  # AVX2, no AVX-512
NO_FMA_LIBM = {"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX512F"}  # glibc's plain exp/log, not the FMA ones

# Machines as a whole: an OpenBLAS kernel with the numpy SIMD level and glibc variants such a
# CPU would get. Each entry lists the CPU flags this machine needs to stand in for it.
MACHINES: dict[str, tuple[set[str], dict[str, str]]] = {
    "Nehalem": ({"sse4_2"}, {"OPENBLAS_CORETYPE": "Nehalem", **OLD_NUMPY, **NO_FMA_LIBM}),
    "Sandybridge": ({"avx"}, {"OPENBLAS_CORETYPE": "Sandybridge", **OLD_NUMPY, **NO_FMA_LIBM}),
    "Haswell": ({"avx2", "fma"}, {"OPENBLAS_CORETYPE": "Haswell", **V3_NUMPY}),
    "Zen-2-threads": ({"avx2", "fma"}, {"OPENBLAS_CORETYPE": "Zen", **V3_NUMPY, "OMP_NUM_THREADS": "2"}),
    "SkylakeX": ({"avx512f", "avx512bw", "avx512vl"}, {"OPENBLAS_CORETYPE": "SkylakeX"}),
}
RUNNABLE = {name: env for name, (needs, env) in MACHINES.items() if needs <= CPU_FLAGS}
HGB_MACHINES = ["Nehalem", "Zen-2-threads", "SkylakeX"]
EVALUATE_MACHINES = ["Nehalem"]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@dataclass
class Built:
    root: Path
    lock: dict
    lock_applies: str | None
    """None when HEAD's dvc.lock describes this run; else why it does not."""


def stage_cmd(stage: str) -> str:
    return yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"][stage]["cmd"]


def run_stage(root: Path, stage: str, machine: dict[str, str], **replace: str) -> None:
    cmd = stage_cmd(stage)
    for old, new in replace.items():
        cmd = cmd.replace(old, new)
    run(cmd, root, extra_env=machine, timeout=300)


def why_lock_does_not_apply(root: Path, lock: dict) -> str | None:
    """Why HEAD's lock does not describe a run of this project, or None when it does."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    produced = {o["path"] for s in lock["stages"].values() for o in s.get("outs", [])}
    for name in ("params", "generate", "labels", "prepare", "train"):
        entry = lock["stages"].get(name)
        if entry is None:
            return f"HEAD's dvc.lock has no stage {name}"
        if entry["cmd"] != " ".join(stage_cmd(name).split()):
            return f"dvc.yaml's {name} cmd differs from HEAD's dvc.lock"
        for dep in entry.get("deps", []):
            path = root / dep["path"]
            if dep["path"] not in produced and (not path.is_file() or md5(path) != dep.get("md5")):
                return f"{dep['path']} differs from HEAD's dvc.lock (commit it with its dvc.lock)"
        for dotted, value in (entry.get("params") or {}).get("params.yaml", {}).items():
            node = params
            for key in dotted.split("."):
                node = node.get(key) if isinstance(node, dict) else None
            if node != value:
                return f"params.yaml {dotted} is {node!r}, HEAD's dvc.lock says {value!r}"
    return None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """HEAD's project with the working tree's code, its data prepared once on this machine."""
    root = tmp_path_factory.mktemp("cpu") / "project"
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    for rel in working_tree_files():
        if rel.startswith(("churnops/", "stages/")) and rel.endswith(".py"):
            shutil.copy2(REPO_ROOT / rel, root / rel)
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    run_stage(root, "params", {})
    run_stage(root, "generate", {})
    run_stage(root, "labels", {})
    run_stage(root, "prepare", {})
    return Built(root, lock, why_lock_does_not_apply(root, lock))


def lock_md5(lock: dict, path: str) -> str | None:
    return next((o["md5"] for s in lock["stages"].values() for o in s.get("outs", []) if o["path"] == path), None)


def train_everywhere(root: Path, params: str, names: list[str]) -> dict[str, tuple[str, str]]:
    """``{machine: (model md5, train metrics md5)}`` for the train stage run on each machine."""

    def one(name: str) -> tuple[str, str]:
        out = root / "runs" / params.replace("/", "_") / name
        run_stage(
            root,
            "train",
            RUNNABLE.get(name, {}),
            **{
                "--params params.yaml": f"--params {params}",
                "models/model.json": str(out / "model.json"),
                "metrics/train.json": str(out / "train.json"),
            },
        )
        return md5(out / "model.json"), md5(out / "train.json")

    names = ["this-CPU", *names]
    with ThreadPoolExecutor(max_workers=2) as pool:  # two single-threaded trainings at a time
        return dict(zip(names, pool.map(one, names), strict=True))


def test_logreg_model_bytes_are_the_same_on_every_emulated_machine_and_match_head_lock(built: Built) -> None:
    got = train_everywhere(built.root, "params.yaml", list(RUNNABLE))
    assert len(set(got.values())) == 1, "model bytes depend on the machine:\n" + "\n".join(
        f"  {name}: model {m[:8]}, metrics {t[:8]}" for name, (m, t) in got.items()
    )
    if built.lock_applies is not None:
        pytest.skip(f"cannot compare with HEAD's dvc.lock: {built.lock_applies}")
    model, _ = got["this-CPU"]
    for rel in ("data/raw/customers.parquet", "data/prepared/train.parquet", "data/params_schema.json"):
        assert md5(built.root / rel) == lock_md5(built.lock, rel), f"{rel} differs from HEAD's dvc.lock"
    assert model == lock_md5(built.lock, "models/model.json"), "the model differs from HEAD's dvc.lock"


def test_hgb_model_bytes_are_the_same_on_every_emulated_machine(built: Built) -> None:
    hgb = built.root / "hgb"
    hgb.mkdir()
    shutil.copy2(built.root / "params.yaml", hgb / "params.yaml")
    set_params(hgb, {"train.model": "hgb", "train.hgb.max_iter": 20})  # fewer trees: the same arithmetic
    names = [m for m in HGB_MACHINES if m in RUNNABLE]
    got = train_everywhere(built.root, "hgb/params.yaml", names)
    assert len(set(got.values())) == 1, got


def test_prepare_and_evaluate_outputs_are_the_same_on_other_machines(built: Built) -> None:
    root = built.root
    model = root / "runs" / "eval-model.json"
    run_stage(root, "train", {}, **{"models/model.json": str(model), "metrics/train.json": str(root / "t.json")})
    outputs: dict[str, dict[str, str]] = {}
    for name in ["this-CPU", *[m for m in EVALUATE_MACHINES if m in RUNNABLE]]:
        out = root / "runs" / "evaluate" / name
        machine = RUNNABLE.get(name, {})
        run_stage(
            root,
            "prepare",
            machine,
            **{"data/prepared/": f"{out}/prepared/", "metrics/prepare.json": f"{out}/prepare.json"},
        )
        run_stage(
            root,
            "evaluate",
            machine,
            **{
                "models/model.json": str(model),
                "metrics/evaluate.json": f"{out}/evaluate.json",
                "metrics/eval_plots": f"{out}/plots",
            },
        )
        outputs[name] = {p.relative_to(out).as_posix(): md5(p) for p in sorted(out.rglob("*")) if p.is_file()}
    reference = outputs.pop("this-CPU")
    assert len(reference) >= 9
    for name, files in outputs.items():
        differ = sorted(p for p in reference if files.get(p) != reference[p])
        assert not differ, f"{name}: {differ} differ from this CPU's"


def test_the_judge_verdict_is_the_same_on_every_emulated_machine(built: Built) -> None:
    """Both models decide on each machine (BLAS and numpy's exp underneath); the bootstrap is integers."""
    from churnops.versioning import store

    root = built.root
    runs = root / "runs" / "judge"
    pinned = root / "judge"
    pinned.mkdir()
    shutil.copy2(root / "params.yaml", pinned / "params.yaml")
    set_params(pinned, {"train.threshold": 0.7})  # a champion that decides otherwise on many rows
    for name, params in (("champion", "judge/params.yaml"), ("candidate", "params.yaml")):
        replace = {"models/model.json": str(runs / f"{name}.json"), "metrics/train.json": str(runs / f"{name}-t.json")}
        run_stage(root, "train", {}, **{"--params params.yaml": f"--params {params}", **replace})
    champion = md5(runs / "champion.json")
    # The champion goes where the stage looks for it by md5: the project's DVC cache (DVC needs Git).
    run(["git", "init", "-q"], root)
    with store.dvc_repo(root) as repo:
        cached = store.object_path(repo, champion)
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(runs / "champion.json", cached)
    set_params(pinned, {"promote.champion": champion})
    outputs = {}
    for name in ["this-CPU", *RUNNABLE]:
        out = runs / name
        run_stage(
            root,
            "judge",
            RUNNABLE.get(name, {}),
            **{
                "--params params.yaml": "--params judge/params.yaml",
                "models/model.json": str(runs / "candidate.json"),
                "metrics/judge.json": f"{out}/judge.json",
                "metrics/details/judge.json": f"{out}/details.json",
            },
        )
        outputs[name] = (md5(out / "judge.json"), md5(out / "details.json"))
    assert len(set(outputs.values())) == 1, outputs
    details = json.loads((runs / "this-CPU" / "details.json").read_text())
    assert details["champion_md5"] == champion and details["lower_bound"] is not None  # a bootstrap ran
    assert details["test"]["n"] > 30_000 and details["discordant"]["candidate_right"] > 0


def test_the_emulation_reaches_the_kernels_it_names() -> None:
    """An emulated machine that silently ran as this CPU would prove nothing."""
    probe = "import json, numpy, threadpoolctl; print(json.dumps(threadpoolctl.threadpool_info()))"
    for name in ("Sandybridge", "SkylakeX"):
        if name in RUNNABLE:
            proc = run([sys.executable, "-c", probe], REPO_ROOT, extra_env=RUNNABLE[name])
            assert f'"architecture": "{name}"' in proc.stdout
    code = "from numpy._core._multiarray_umath import __cpu_features__ as f; print(f['X86_V3'], f['X86_V4'])"
    for name, expected in (("Nehalem", "False False"), ("Haswell", "True False")):
        if name in RUNNABLE:
            assert run([sys.executable, "-c", code], REPO_ROOT, extra_env=RUNNABLE[name]).stdout.strip() == expected
