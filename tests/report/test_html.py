"""Self-contained HTML pieces: escaping, which cells count as quantities, tables whose
quantity columns are right-aligned, figures embedded with their size, and the page."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest

from mpft_sim.report import html
from tests.report.conftest import png


def test_html_pieces() -> None:
    """A table escapes its cells and right-aligns quantity columns; a figure embeds its PNG
    with its size, alt text and escaped caption; the page escapes its title and fetches
    nothing."""
    body = html.table(["design", "cost", "step"], [["a<b", "$4.05M", "475.3 ms"],
                                                   ["c", "$1.2k", "-"]])
    assert "a&lt;b" in body
    assert body.count('class="num"') == 2 * 3  # cost and step columns: header and 2 rows
    assert '<div class="table-scroll">' in body
    fig = html.figure(_tiny_png(), 'x "y"', alt="alt")
    assert 'src="data:image/png;base64,' in fig and 'alt="alt"' in fig
    assert 'width="3" height="2"' in fig
    assert "x &quot;y&quot;" in fig
    page = html.page("T & U", body)
    assert page.startswith("<!DOCTYPE html>") and "<title>T &amp; U</title>" in page
    assert "http" not in page


def _tiny_png() -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    plt.imsave(buf, np.zeros((2, 3)), format="png")
    return buf.getvalue()


def test_escape() -> None:
    """``& < > " '`` become entities; anything is converted with str first."""
    assert html.escape("<a href=\"x\">&'</a>") == (
        "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;&lt;/a&gt;")
    assert html.escape(3.5) == "3.5"


@pytest.mark.parametrize(("cell", "numeric"), [
    ("475.3 ms", True), ("$4.05M", True), ("38.7%", True), ("29.75 GB/s (61%)", True),
    ("6.45×", True), ("1,234", True), ("-3e-5 s", True), ("1.114x", True), (" 12 ", True),
    ("abc", False), ("n0/gpu0", False), ("-", False), ("", False), ("12 ms extra", False),
    ("2:1", False), ("0-3", False), ("1.2.3", False),
])
def test_looks_numeric(cell: str, numeric: bool) -> None:
    """A number with an optional sign, dollar, unit and remark is a quantity; names, ranges,
    ratios and empty cells are not."""
    assert html.looks_numeric(cell) is numeric


@pytest.mark.parametrize(("rows", "flags"), [
    ([["a", "1"], ["b", "-"], ["c", ""]], [False, True]),
    ([["x", "1"], ["y", "z"]], [False, False]),
    ([["1"], ["2", "3 ms"]], [True, True]),
    ([["-"], [""]], [False]),
    ([], []),
])
def test_numeric_columns(rows: list[list[str]], flags: list[bool]) -> None:
    """A column is numeric when every non-empty, non-dash cell is a quantity (and it has one);
    one flag per column of the widest row."""
    assert html.numeric_columns(rows) == flags


def test_table_without_alignment() -> None:
    """With ``numeric_align=False`` no column is right-aligned; cells are shown with str."""
    assert html.table(["a", "b"], [[1, 2.5]], numeric_align=False) == (
        '<div class="table-scroll"><table>\n<thead><tr><th>a</th><th>b</th></tr></thead>\n'
        "<tbody>\n<tr><td>1</td><td>2.5</td></tr>\n</tbody>\n</table></div>")


@pytest.mark.parametrize(("width", "height"), [(1, 1), (3, 2), (1020, 432)])
def test_png_size(width: int, height: int) -> None:
    """Width and height come from the PNG header."""
    assert html.png_size(png(width, height)) == (width, height)


@pytest.mark.parametrize("data", [b"", b"GIF89a" + b"\x00" * 30, png(2, 2)[:20],
                                  png(2, 2).replace(b"IHDR", b"IHDX")])
def test_png_size_refuses_other_bytes(data: bytes) -> None:
    """Bytes that are not a PNG with its header are a ValueError."""
    with pytest.raises(ValueError, match="not a PNG image"):
        html.png_size(data)


def test_figure_from_a_file(tmp_path: Path) -> None:
    """A figure read from a file embeds its exact bytes; the alt text defaults to the
    caption."""
    data = png(4, 3)
    path = tmp_path / "f.png"
    path.write_bytes(data)
    fig = html.figure(path, "a < b")
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    assert fig == (f'<figure><img src="{uri}" alt="a &lt; b" width="4" height="3">\n'
                   "<figcaption>a &lt; b</figcaption></figure>")


def test_page_layout() -> None:
    """The page holds the title as heading, the body as given, inline CSS and no link out
    but the empty icon."""
    page = html.page("Run <1>", "<p>body</p>")
    assert "<h1>Run &lt;1&gt;</h1>\n<p>body</p>\n</main>" in page
    assert '<link rel="icon" href="data:,">' in page
    assert "<style>" in page and page.endswith("</html>\n")
    assert page.count("<link") == 1 and "src=" not in page
