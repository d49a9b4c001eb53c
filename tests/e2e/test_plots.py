"""`dvc plots show` writes a page that renders offline, and the plot templates say what they should."""

from __future__ import annotations

import json
import re
import shutil
import struct
import zlib
from pathlib import Path

import pytest
import yaml

from churnops import plotpage
from tests.utils.browser import render_offline, require_chromium
from tests.utils.project import REPO_ROOT, run


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """A minimal PNG decoder for 8-bit RGB/RGBA, non-interlaced (what Chromium writes).

    Returns:
        ``(width, channels, rows)`` with each row's unfiltered bytes.
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, bpp, rows


def screenshot(page: Path, out: Path, profile: Path) -> bytes:
    """Render ``page`` in headless Chromium with no network and return the PNG."""
    render_offline(page, profile, f"--screenshot={out}", "--window-size=1400,1000")
    return out.read_bytes()


def ink(png: bytes) -> tuple[float, float]:
    """Fractions of pixels that are not white, and that are saturated colour (chart marks)."""
    width, bpp, rows = png_pixels(png)
    total = non_white = coloured = 0
    for row in rows:
        for x in range(0, width * bpp, bpp):
            r, g, b = row[x], row[x + 1], row[x + 2]
            total += 1
            non_white += min(r, g, b) < 235
            coloured += max(r, g, b) - min(r, g, b) > 60
    return non_white / total, coloured / total


@pytest.mark.e2e
@pytest.mark.slow
def test_plots_page_renders_offline_in_headless_chromium(built_project: Path, tmp_path: Path) -> None:
    require_chromium()
    run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], built_project)
    page = tmp_path / "plots" / "index.html"
    html = page.read_text()
    assert not re.search(r"<script[^>]+src=", html), "the page must not load scripts from anywhere"
    assert "cdn.jsdelivr" not in html
    png = screenshot(page, tmp_path / "shot.png", tmp_path / "profile")
    non_white, coloured = ink(png)
    assert non_white > 0.05, f"page is blank: {non_white:.2%} non-white pixels"
    assert coloured > 0.01, f"no chart marks drawn: {coloured:.2%} coloured pixels"


def test_a_blank_page_counts_as_blank(tmp_path: Path) -> None:
    """The ink measure itself: a white PNG has none (so the test above can fail)."""
    width, height = 20, 10
    raw = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    chunk = lambda kind, body: (  # noqa: E731
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    )
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    assert ink(png) == (0.0, 0.0)


def test_the_committed_page_holds_exactly_the_pinned_libraries(tmp_path: Path) -> None:
    for rel in (plotpage.ASSETS, plotpage.PAGE):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / rel, tmp_path / rel)
    assert plotpage.check(tmp_path) == []
    page = tmp_path / plotpage.PAGE
    page.write_text(page.read_text().replace("vegaEmbed", "vegaEmbeD", 1))
    assert any("modified" in p for p in plotpage.check(tmp_path))


def test_dvc_config_uses_the_offline_page() -> None:
    config = (REPO_ROOT / ".dvc" / "config").read_text()
    name = re.search(r"html_template\s*=\s*(\S+)", config)
    assert name and REPO_ROOT / ".dvc" / name.group(1) == REPO_ROOT / plotpage.PAGE


def _template(name: str) -> dict:
    return json.loads((REPO_ROOT / ".dvc" / "plots" / f"{name}.json").read_text())


def test_confusion_matrix_prints_counts_and_has_no_stray_controls() -> None:
    t = _template("confusion_counts")
    text = json.dumps(t)
    assert "showValues" not in text and '"bind"' not in text
    texts = [layer for layer in t["spec"]["layer"] if layer["mark"] in ("text", {"type": "text", "fontSize": 14})]
    assert texts and texts[0]["encoding"]["text"]["field"] == "xy_count"
    assert "condition" not in texts[0]["encoding"]["text"], "counts are always shown"


def test_roc_has_a_chance_diagonal() -> None:
    layers = _template("roc_chance")["layer"]
    diagonal = [layer for layer in layers if isinstance(layer.get("data"), dict) and "values" in layer["data"]]
    assert len(diagonal) == 1
    points = [(v["fpr"], v["tpr"]) for v in diagonal[0]["data"]["values"]]
    assert points == [(0, 0), (1, 1)]


def test_revision_facets_follow_dvcs_order_in_every_template() -> None:
    """`dvc plots diff` hands revisions in its own order (workspace first); a facet that
    sorts them alphabetically puts them the other way round than its neighbours."""
    plots = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["plots"]
    templates = {next(iter(p.values())).get("template") for p in plots}
    for name in sorted(t for t in templates if t):
        path = REPO_ROOT / ".dvc" / "plots" / f"{name}.json"
        path = path if path.exists() else REPO_ROOT / name
        if not path.exists():
            continue  # a DVC built-in template: colours follow DVC's order
        spec = json.loads(path.read_text())
        facets = [
            enc
            for enc in (spec.get("facet", {}).get("column"), spec.get("encoding", {}).get("column"))
            if isinstance(enc, dict) and enc.get("field") == "rev"
        ]
        for facet in facets:
            # Vega-Lite's facet ignores input order even with "sort": null; a row_number window
            # over the input (DVC's order) and a sort by its minimum keep it.
            assert facet.get("sort") == {"field": "dvc_order", "op": "min"}, f"{name}: sorts {facet.get('sort')}"
            assert {"window": [{"op": "row_number", "as": "dvc_order"}]} in spec.get("transform", []), name
