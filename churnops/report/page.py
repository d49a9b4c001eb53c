"""The report as one self-contained HTML page: four Vega-Lite charts and a table, no network.

The Vega libraries are the offline plots page's own (:func:`churnops.plotpage.libraries`),
inlined; the data is inlined in each chart's spec. Charts are drawn as SVG, so a test can find
their marks in the DOM.
"""

from __future__ import annotations

import html
import json
from typing import Any

from churnops.core.schema import FEATURE_NAMES

CHARTS = ("f1", "drift", "invalid", "reliability")
"""The page's charts, by the id of their ``<div>``."""


def _x(report: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The shared time axis when every chunk has a time, else the chunks in order."""
    dated = all(c["start"] is not None for c in report["chunks"]) and report["chunks"]
    if dated:
        # A UTC scale: the stamps are UTC, and a browser's local time would shift every tick.
        return {"field": "at", "type": "temporal", "title": "time (UTC)", "scale": {"type": "utc"}}, True
    return {"field": "chunk", "type": "ordinal", "sort": None, "title": "chunk"}, False


def short_labels(chunks: list[dict[str, Any]]) -> list[str]:
    """Each chunk's name on a category axis: by time, ``09-21`` for whole days and ``09-21 14:00``
    otherwise (the year and seconds only when the chunks need them); by count, ``#1``, ``#2``..."""
    starts = [c["start"] for c in chunks]
    if not starts or any(c["chunk"] != c["start"] for c in chunks):  # by count, or an undated chunk
        return [str(c["chunk"]) for c in chunks]
    years = {s[:4] for s in starts}
    first = 0 if len(years) > 1 else 5  # keep the year only when the chunks span several
    if all(s[11:19] == "00:00:00" for s in starts):
        return [s[first:10] for s in starts]
    last = 19 if any(s[17:19] != "00" for s in starts) else 16
    return [f"{s[first:10]} {s[11:last]}" for s in starts]


def specs(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Vega-Lite spec of each chart."""
    x, dated = _x(report)
    labels = short_labels(report["chunks"])
    rows = [
        {
            "label": label,
            "chunk": c["chunk"],
            "at": c["start"],
            **{
                k: c[k]
                for k in (
                    "estimated_f1",
                    "estimated_low",
                    "estimated_high",
                    "realized_f1",
                    "labels",
                    "invalid_fraction",
                    "lines",
                )
            },
        }
        for c, label in zip(report["chunks"], labels, strict=True)
    ]
    width = 760
    f1_layers: list[dict[str, Any]] = []
    if dated and report["bands"]:
        first = min(c["start"] for c in report["chunks"])
        last = max(c["end"] or c["start"] for c in report["chunks"])
        bands = [
            {"version": b["model_version"][:12], "from": max(b["entered"], first), "to": min(b["left"] or last, last)}
            for b in report["bands"]
            if (b["left"] or last) >= first and b["entered"] <= last
        ]
        if bands:
            f1_layers.append(
                {
                    "data": {"values": bands},
                    "mark": {"type": "rect", "opacity": 0.18},
                    "encoding": {
                        "x": {"field": "from", "type": "temporal", "scale": {"type": "utc"}},
                        "x2": {"field": "to"},
                        "color": {"field": "version", "type": "nominal", "title": "prod version"},
                    },
                }
            )
    f1_layers += [
        {
            "mark": {"type": "area", "opacity": 0.25, "color": "#4c78a8"},
            "encoding": {
                "x": x,
                "y": {"field": "estimated_low", "type": "quantitative", "title": "F1", "scale": {"zero": False}},
                "y2": {"field": "estimated_high"},
            },
        },
        {
            "mark": {"type": "line", "point": True, "color": "#4c78a8"},
            "encoding": {
                "x": x,
                "y": {"field": "estimated_f1", "type": "quantitative"},
                "tooltip": [
                    {"field": "chunk"},
                    {"field": "estimated_f1"},
                    {"field": "estimated_low"},
                    {"field": "estimated_high"},
                ],
            },
        },
        {
            "mark": {"type": "point", "filled": True, "size": 70, "color": "#e45756", "shape": "diamond"},
            "transform": [{"filter": "datum.realized_f1 != null"}],
            "encoding": {
                "x": x,
                "y": {"field": "realized_f1", "type": "quantitative"},
                "tooltip": [{"field": "chunk"}, {"field": "realized_f1"}, {"field": "labels"}],
            },
        },
    ]
    flags = [
        {"label": label, "chunk": c["chunk"], "at": c["start"], "check": name, "drifted": "drift" if hit else "ok"}
        for c, label in zip(report["chunks"], labels, strict=True)
        for name, hit in c["drift"].items()
    ]
    order = [*FEATURE_NAMES, "prediction", "invalid_lines"]
    # One cell per chunk, named briefly and written level: full ISO stamps would be slanted and cut.
    strip_x: dict[str, Any] = {"field": "label", "type": "ordinal", "sort": None}
    strip_x |= {"title": "chunk (UTC)" if dated else "chunk", "axis": {"labelAngle": 0, "labelOverlap": "greedy"}}
    calibration = report["calibration"].get("curve", [])
    return {
        "f1": {
            "width": width,
            "height": 240,
            "title": "estimated F1 (CBPE, band = interval) and realized F1 (diamonds)",
            "data": {"values": rows},
            "layer": f1_layers,
        },
        "drift": {
            "width": width,
            "title": "drift flags per check and chunk (the monitor's rules)",
            "data": {"values": flags},
            "mark": "rect",
            "encoding": {
                "x": strip_x,
                "y": {"field": "check", "type": "nominal", "sort": order},
                "color": {
                    "field": "drifted",
                    "type": "nominal",
                    "scale": {"domain": ["ok", "drift"], "range": ["#9ecae9", "#e45756"]},
                },
                "tooltip": [{"field": "chunk"}, {"field": "check"}, {"field": "drifted"}],
            },
        },
        "invalid": {
            "width": width,
            "height": 120,
            "title": "invalid share of lines",
            "data": {"values": rows},
            "mark": {"type": "bar", "color": "#f58518"},
            "encoding": {
                "x": strip_x,
                "y": {"field": "invalid_fraction", "type": "quantitative", "axis": {"format": "%"}},
                "tooltip": [{"field": "chunk"}, {"field": "invalid_fraction"}, {"field": "lines"}],
            },
        },
        "reliability": {
            "width": 300,
            "height": 300,
            "title": "reliability on the test set",
            "layer": [
                {
                    "data": {"values": [{"p": 0, "y": 0}, {"p": 1, "y": 1}]},
                    "mark": {"type": "line", "color": "#bbbbbb", "strokeDash": [4, 4]},
                    "encoding": {
                        "x": {"field": "p", "type": "quantitative"},
                        "y": {"field": "y", "type": "quantitative"},
                    },
                },
                {
                    "data": {"values": calibration},
                    "mark": {"type": "line", "point": True, "color": "#54a24b"},
                    "encoding": {
                        "x": {
                            "field": "mean_probability",
                            "type": "quantitative",
                            "title": "mean predicted probability",
                        },
                        "y": {"field": "observed_rate", "type": "quantitative", "title": "observed churn rate"},
                        "tooltip": [{"field": "n"}, {"field": "mean_probability"}, {"field": "observed_rate"}],
                    },
                },
            ],
        },
    }


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, list):
        return html.escape(", ".join(map(str, v)) or "-")
    return html.escape(str(v))


COLUMNS = (
    "chunk",
    "model_version",
    "lines",
    "invalid_fraction",
    "flagged",
    "mean_probability",
    "churn_rate",
    "estimated_f1",
    "estimated_low",
    "estimated_high",
    "realized_f1",
    "labels",
)


def table(report: dict[str, Any]) -> str:
    """The numbers under the charts: one row per chunk (all versions), then one per version served in it."""
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    body = []
    for c in report["chunks"]:
        for i, row in enumerate(
            [{**c, "model_version": "all"}, *c["versions"]]
            if len(c["versions"]) > 1
            else [{**c, "model_version": (c["versions"][0]["model_version"] or "-")}]
        ):
            cls = ' class="departs"' if row.get("departs") else ""
            cells = [
                _cell(row["chunk"] if i == 0 else ""),
                _cell((row["model_version"] or "-")[:12]),
                *(_cell(row.get(k)) for k in COLUMNS[2:]),
            ]
            body.append(f"<tr{cls}>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render(report: dict[str, Any], libraries: str) -> str:
    """The whole page."""
    charts = specs(report)
    data = json.dumps(charts, sort_keys=True).replace("</", "<\\/")
    notes = [report["cbpe"]["limits"], str(report["cbpe"]["message"])]
    departs = [c for c in report["chunks"] if c.get("departs")]
    if departs:
        notes.append(
            "realized F1 departs from the estimate beyond its interval in "
            + ", ".join(
                f"{c['chunk']} (estimated {c['estimated_f1']:.3f}, realized {c['realized_f1']:.3f})" for c in departs
            )
        )
    notes += report["notes"]
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    divs = "".join(f'<div id="{name}" class="chart"></div>' for name in CHARTS)
    return f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>churnops report</title>
{libraries}<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 16px; }}
table {{ border-collapse: collapse; font-size: 12px; }} td, th {{ padding: 2px 8px; text-align: right; }}
tr.departs td {{ background: #fde0dd; }} .chart {{ margin: 8px 0 16px; }}
</style>
</head>
<body>
<h1>churnops report</h1>
<p>{report["lines"]} lines in {len(report["chunks"])} chunks of {html.escape(report["chunking"])}</p>
<ul>{note_html}</ul>
{divs}
{table(report)}
<script>
const specs = {data};
for (const [id, spec] of Object.entries(specs)) {{
  spec["$schema"] = "https://vega.github.io/schema/vega-lite/v5.json";
  vegaEmbed("#" + id, spec, {{renderer: "svg", actions: false}});
}}
</script>
</body>
</html>
"""
