"""The terminal summary of a drift report (``churnops monitor``): a few lines and one rich table.

The ``--out`` file is the report for machines; this is for a person.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from churnops.core.terminal import render


def _fmt(x: Any, spec: str = ".3f") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return format(x, spec)
    return str(x)


def _verdict(r: Mapping[str, Any]) -> tuple[str, str]:
    """The ``drift`` cell and its style: YES (flagged), no, or n/a (not checked)."""
    if r["drifted"]:
        return "YES", "bold red"
    return ("no", "green") if r.get("checked", True) else ("n/a", "dim")


def _header(report: Mapping[str, Any]) -> list[str]:
    q = report.get("quality") or {}
    invalid = q.get("invalid_lines", 0)
    detail = ", ".join(f"{k} {v['lines']}" for k, v in (q.get("reasons") or {}).items())
    lines = [
        f"status: {report['status']}  ({report['message']})",
        f"lines: {report['lines']} of last_n={report['last_n']}; invalid: {invalid}"
        f" ({report['invalid_fraction']:.1%}{'; ' + detail if detail else ''})",
    ]
    for feature, values in (q.get("unseen_categories") or {}).items():
        shown = ", ".join(f"{v!r} {c}" for v, c in values.items())
        lines.append(f"unseen {feature} categories: {shown}")
    return lines


def render_table(report: Mapping[str, Any]) -> str:
    """The report as text for stdout: plain off a terminal (see :mod:`churnops.core.terminal`)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    lines = _header(report)
    if not report["features"]:
        return render("\n".join(lines))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("feature")
    table.add_column("drift")
    table.add_column("rules")
    for name in ("n", "z", "effect", "psi", "psi p", "chi2", "p"):
        table.add_column(name, justify="right")
    for name, r in report["features"].items():
        table.add_row(
            name,
            Text(*_verdict(r)),
            ",".join(r["rules"]) or "-",
            str(r["n"]),
            _fmt(r.get("z"), ".2f"),
            _fmt(r.get("effect"), ".3f"),
            _fmt(r.get("psi"), ".3f"),
            _fmt(r.get("psi_p"), ".2g"),
            _fmt(r.get("chi2"), ".1f"),
            _fmt(r.get("p_value"), ".2g"),
        )
    p = report["prediction"]
    rule = "z" if p["drifted"] else "-"
    table.add_row("prediction", Text(*_verdict(p)), rule, str(p["n"]), _fmt(p.get("z"), ".2f"), *["-"] * 5)
    t = report["thresholds"]
    if p.get("checked", True):
        after = f"prediction: mean {p['mean_probability']:.3f} vs training churn rate {p['train_churn_rate']:.3f}"
    else:
        after = f"prediction: not checked, fewer than {t['min_samples']} valid churn_probability values"
    after += (
        f"\nthresholds: |z| > {t['z_threshold']:g}; psi above its noise level and chi2 at p < {t['chi2_alpha']:g}; "
        f"invalid lines <= {t['max_invalid_fraction']:.0%}"
    )
    return render("\n".join([*lines, ""]), table, after)
