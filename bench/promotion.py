"""Benchmark: how often the judge promotes a candidate that is not better, and how often it sees a real gain.

Realistic models: logreg pipelines (``churnops.pipeline.train`` at the project's ``train`` params)
fitted on independent samples from ``churnops.pipeline.generate``, in two kinds: the shipped
recipe (160,000-row samples, what ``train`` fits at the default 200,000 customers) and small
samples (2,000 rows), whose models disagree on ten times more rows. Every model decides on
one population of 1,000,000 generated customers, where true F1s are measured.

1. Equal quality. For each pair (A, B) and each hold-out draw (rows sampled from the
   population without replacement), each row's roles are dealt by a fair coin: the candidate
   takes A's decision and the champion B's, or the reverse. Candidate and champion are then
   exchangeable row by row, so their true F1s are equal however A and B differ (two models fitted
   on independent samples differ by a few 1e-4 in true F1, which at 40,000 rows is no longer
   noise). Any promotion is a false promotion.
2. A true gain. The candidate is B with a random share of its errors corrected, the share
   chosen so that its F1 on the population exceeds A's by the target gain; the champion is A.
   A promotion is a hit.

Each judgment is the stage's own rule, ``churnops.pipeline.judge.weigh`` at params.yaml's
``promote`` section (its confidence, min_gain, resamples and seed), on the drawn rows. The
plain percentile bound, which the rule does not use, is computed from the same resamples for
comparison. Rates come with exact (Clopper-Pearson) 95 % intervals.

    .venv/bin/python bench/promotion.py [--sizes 600 2000 40000] [--judgments 4000 1000 200] [--quick]

At the defaults it takes about 25 minutes on a shared 2-core machine, most of it the
40,000-row judgments (about 1 s each: 2,000 resamples of 40,000 rows).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from churnops.core.params import PromoteParams, load_params  # noqa: E402
from churnops.pipeline.export import export_model  # noqa: E402
from churnops.pipeline.generate import generate_chunks  # noqa: E402
from churnops.pipeline.judge import bound_rank, cells, decisions, f1_pair, weigh  # noqa: E402
from churnops.pipeline.prepare import validate  # noqa: E402
from churnops.pipeline.scorer import Scorer, model_bytes  # noqa: E402
from churnops.pipeline.train import train  # noqa: E402

POPULATION = 1_000_000
KINDS = {"shipped recipe (160k-row samples)": 160_000, "small samples (2k rows)": 2_000}
SMOKE_KINDS = {"small samples (2k rows)": 2_000}
GAINS = (0.01, 0.02, 0.04)


def customers(rows: int, seed: int) -> pd.DataFrame:
    """Clean generated customers, as prepare hands them to train."""
    return validate(pd.concat(list(generate_chunks(seed, rows, 0.0)), ignore_index=True)).clean


def f1(y: np.ndarray, d: np.ndarray) -> float:
    counts = np.bincount(cells(y, d, d), minlength=8)
    return float(f1_pair(counts)[0])


@dataclass
class Pair:
    a: np.ndarray
    b: np.ndarray
    """Decisions of two models on the population."""


def fit_pairs(rows: int, pairs: int, seed: int, population: pd.DataFrame) -> list[Pair]:
    params = load_params(ROOT / "params.yaml").train
    out = []
    for i in range(pairs):
        d = []
        for j in range(2):
            result = train(customers(rows, seed + 2 * i + j), params)
            d.append(
                decisions(Scorer.from_bytes(model_bytes(export_model(result.pipeline, params.threshold))), population)
            )
        out.append(Pair(*d))
    return out


def corrected(
    y: np.ndarray, champion: np.ndarray, base: np.ndarray, gain: float, rng: np.random.Generator
) -> np.ndarray:
    """``base`` with its first m errors (in a random order) corrected, m giving ``gain`` over ``champion``."""
    errors = rng.permutation(np.flatnonzero(base != y))
    fn_fixed = np.cumsum(y[errors])  # a missed churner caught: TP + 1, FN - 1
    fp_fixed = np.cumsum(~y[errors])  # a false alarm dropped: FP - 1
    tp, fp, fn = (base & y).sum(), (base & ~y).sum(), (~base & y).sum()
    f1s = 2 * (tp + fn_fixed) / (2 * (tp + fn_fixed) + (fp - fp_fixed) + (fn - fn_fixed))
    m = int(np.argmin(np.abs(f1s - f1(y, champion) - gain))) + 1
    out = base.copy()
    out[errors[:m]] = y[errors[:m]]
    return out


def interval(k: int, n: int) -> tuple[float, float]:
    """Clopper-Pearson 95 % interval of a binomial rate."""
    from scipy.stats import beta

    low = 0.0 if k == 0 else float(beta.ppf(0.025, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(0.975, k + 1, n - k))
    return low, high


def rate(k: int, n: int) -> str:
    low, high = interval(k, n)
    return f"{100 * k / n:.1f} % [{100 * low:.1f}, {100 * high:.1f}] of {n}"


@dataclass
class Outcome:
    promoted: int = 0
    percentile: int = 0
    """Promotions the plain percentile bound would have made on the same resamples."""
    judged: int = 0
    discordant: int = 0

    def __iadd__(self, other: Outcome) -> Outcome:
        self.promoted += other.promoted
        self.percentile += other.percentile
        self.judged += other.judged
        self.discordant += other.discordant
        return self


Deal = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]
"""(drawn row indexes, rng) -> (candidate's decisions, champion's decisions) on those rows."""


def equal_quality(pair: Pair) -> Deal:
    """Each row's roles dealt by a fair coin: candidate and champion exchangeable row by row."""

    def deal(idx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        coin = rng.integers(0, 2, len(idx)).astype(bool)
        return np.where(coin, pair.a[idx], pair.b[idx]), np.where(coin, pair.b[idx], pair.a[idx])

    return deal


def fixed(candidate: np.ndarray, champion: np.ndarray) -> Deal:
    return lambda idx, rng: (candidate[idx], champion[idx])


def judge_draws(
    y: np.ndarray, deal: Deal, n: int, judgments: int, params: PromoteParams, rng: np.random.Generator
) -> Outcome:
    """The rule on ``judgments`` hold-outs of ``n`` rows drawn from the population."""
    out = Outcome()
    tail = bound_rank(params.confidence, params.resamples)
    for _ in range(judgments):
        idx = rng.choice(len(y), n, replace=False)
        candidate, champion = deal(idx, rng)
        w = weigh(cells(y[idx], candidate, champion), params)
        out.promoted += w.promote
        out.percentile += float(np.partition(w.gains, tail - 1)[tail - 1]) > params.min_gain
        out.discordant += sum(w.discordant.values())
        out.judged += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[600, 2000, 40_000])
    parser.add_argument(
        "--judgments", type=int, nargs="+", default=[4000, 1000, 200], help="per size, equal quality (half: a gain)"
    )
    parser.add_argument("--pairs", type=int, default=4, help="model pairs per kind")
    parser.add_argument("--quick", action="store_true", help="a tenth of the judgments")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run: checks the bench still works end to end",
    )
    args = parser.parse_args()
    population_size, kinds = POPULATION, KINDS
    if args.smoke:
        population_size, kinds = 20_000, SMOKE_KINDS
        args.sizes, args.judgments, args.pairs = [600], [4], 1
    judgments = [max(10, j // (10 if args.quick else 1)) for j in args.judgments]
    params = load_params(ROOT / "params.yaml").promote
    t0 = time.perf_counter()
    population = customers(population_size, 7_000_000)
    y = population["churn"].to_numpy().astype(bool)
    rng = np.random.default_rng(2024)

    print(f"promote: confidence {params.confidence}, min_gain {params.min_gain}, resamples {params.resamples}, "
          f"seed {params.seed}; population {population_size:,} generated customers\n")  # fmt: skip
    null_rows, power_rows, percentile_rows, fits = [], [], [], []
    for k, (kind, rows) in enumerate(kinds.items()):
        pairs = fit_pairs(rows, args.pairs, 100 * (k + 1), population)
        true = [(f1(y, p.a), f1(y, p.b), float((p.a != p.b).mean())) for p in pairs]
        fits.append(
            f"| {kind} | {np.mean([t[2] for t in true]) * 100:.2f} % | "
            f"{min(min(t[:2]) for t in true):.4f} to {max(max(t[:2]) for t in true):.4f} | "
            f"{max(abs(t[0] - t[1]) for t in true):.4f} |"
        )
        cells_null, cells_pct = [], []
        for n, count in zip(args.sizes, judgments, strict=True):
            o = Outcome()
            for i, p in enumerate(pairs):  # the judgments split evenly over the pairs
                o += judge_draws(y, equal_quality(p), n, count // len(pairs) + (i < count % len(pairs)), params, rng)
            cells_null.append(f"{rate(o.promoted, o.judged)} ({o.discordant / o.judged:.0f} disc.)")
            cells_pct.append(rate(o.percentile, o.judged))
        null_rows.append(f"| {kind}: equal quality | " + " | ".join(cells_null) + " |")
        percentile_rows.append(f"| {kind}: equal quality | " + " | ".join(cells_pct) + " |")
        for gain in GAINS:
            row, row_pct = [], []
            for n, count in zip(args.sizes, judgments, strict=True):
                per_pair = max(1, count // 2 // len(pairs))  # power needs fewer judgments than a 5 % rate
                o = Outcome()
                true_gains = []
                for p in pairs:
                    better = corrected(y, p.a, p.b, gain, rng)
                    true_gains.append(f1(y, better) - f1(y, p.a))
                    o += judge_draws(y, fixed(better, p.a), n, per_pair, params, rng)
                row.append(rate(o.promoted, o.judged))
                row_pct.append(rate(o.percentile, o.judged))
            power_rows.append(f"| {kind}: true gain {np.mean(true_gains):+.4f} | " + " | ".join(row) + " |")
            percentile_rows.append(f"| {kind}: true gain {np.mean(true_gains):+.4f} | " + " | ".join(row_pct) + " |")
    elapsed = time.perf_counter() - t0

    print("Models (true F1 on the population; pairs fitted on independent samples):\n")
    print("| kind | pairs disagree on | true F1s | largest F1 difference within a pair |")
    print("|---|---:|---:|---:|")
    print("\n".join(fits))
    header = "| candidate vs champion | " + " | ".join(f"{n:,} rows" for n in args.sizes) + " |"
    rule = "|---|" + "---:|" * len(args.sizes)
    print("\nFalse promotions between models of equal quality (share of judgments promoted, 95 % interval, "
          "judgments; mean discordant rows):\n")  # fmt: skip
    print(header, rule, *null_rows, sep="\n")
    print("\nPower: promotions when the candidate is truly better (share of judgments, 95 % interval, judgments):\n")
    print(header, rule, *power_rows, sep="\n")
    print("\nThe plain percentile bound on the same resamples (not the rule), promotions:\n")
    print(header, rule, *percentile_rows, sep="\n")
    print(f"\nrun time: {elapsed:.0f} s")


if __name__ == "__main__":
    main()
