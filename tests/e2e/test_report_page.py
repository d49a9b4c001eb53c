"""`churnops report` writes one page that renders offline: every chart is drawn with marks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from churnops.core import logformat
from churnops.pipeline.generate import traffic_records
from tests.utils.browser import render_offline, require_chromium
from tests.utils.project import run

CHARTS = ("f1", "drift", "invalid", "reliability")


def write_served_log(path: Path, days: int = 3, rows: int = 600) -> Path:
    """Served-looking traffic (probabilities, decisions, customer ids) one day apart, and its labels."""
    labels = ["customer_id,churn\n"]
    out: list[bytes] = []
    for day in range(days):
        truth: list[tuple[str, int]] = []
        recs = list(traffic_records(10 + day, rows, labels=truth))
        p = np.array([r["churn_probability"] for r in recs])
        for i in range(0, rows, 100):
            e = logformat.BatchEntry(
                1_790_000_000.0 + day * 86400 + i,
                f"r{day}-{i}",
                "v1",
                [r["features"] for r in recs[i : i + 100]],
                p[i : i + 100].tolist(),
                (p[i : i + 100] >= 0.5).tolist(),
                1.0,
                [r["customer_id"] for r in recs[i : i + 100]],
            )
            out.append(logformat.encode(e))
        labels += [f"{cid},{y}\n" for cid, y in truth]
    path.write_bytes(b"".join(out))
    path.with_suffix(".csv").write_text("".join(labels))
    return path


def dom(page: Path, profile: Path) -> str:
    """The page's DOM after its scripts ran in headless Chromium with no network."""
    return render_offline(page, profile, "--dump-dom").stdout


def marks(html: str, chart: str) -> int:
    """The drawn marks (SVG paths inside Vega's mark groups) of one chart's ``<div>``."""
    start = html.index(f'id="{chart}"')
    end = html.find('class="chart"', start + 10)
    part = html[start : end if end > 0 else len(html)]
    return sum(len(re.findall(r"<path", group)) for group in re.findall(r"role-mark.*?</g>", part, re.S))


@pytest.mark.e2e
@pytest.mark.slow
def test_report_page_renders_offline_with_every_chart_drawn(built_project: Path, tmp_path: Path) -> None:
    require_chromium()
    log = write_served_log(tmp_path / "predictions.jsonl")
    page = tmp_path / "report.html"
    run(
        [
            "churnops",
            "report",
            "--log",
            str(log),
            "--labels",
            str(log.with_suffix(".csv")),
            "--chunk",
            "1d",
            "-o",
            str(page),
            "--json",
            str(tmp_path / "report.json"),
        ],
        built_project,
    )
    html = page.read_text()
    assert not re.search(r"<script[^>]+src=", html), "the page must not load scripts from anywhere"
    drawn = dom(page, tmp_path / "profile")
    counts = {chart: marks(drawn, chart) for chart in CHARTS}
    assert all(n > 0 for n in counts.values()), counts
    assert "<table>" in html and html.count("<tr>") >= 4  # the numbers under the charts: a header and 3 days
    proc = subprocess.run(
        ["churnops", "report", "--log", str(log), "-o", str(page), "--fail-on", "estimated_f1>0.1"],
        cwd=built_project,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "estimated_f1>0.1" in proc.stderr
    bad = subprocess.run(
        ["churnops", "report", "--log", str(log), "--chunk", "0"], cwd=built_project, capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--chunk" in bad.stderr
