"""Self-contained HTML pages: the pieces every report page (run, compare, sweep) is built from.

A page is one file with its CSS inline and its figures embedded as ``data:`` URIs, so it can
be mailed, attached to a design review or opened offline, and never fetches anything.
"""

from __future__ import annotations

import base64
import html
import re
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["escape", "figure", "looks_numeric", "numeric_columns", "page", "png_size", "table"]

# Readable on a 13-inch laptop: one column at most ~1,040 px wide (figures are 1,020 px). Text
# cells wrap (a note, a link's name) and quantities do not; a table too wide even so scrolls
# sideways inside its own box instead of stretching the page.
_CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #f6f7f9; color: #1d2330;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 16px 20px 48px; background: #fff;
  box-sizing: border-box; min-height: 100vh; }
h1 { font-size: 1.55em; margin: 0.4em 0 0.6em; }
h2 { font-size: 1.25em; margin: 1.6em 0 0.5em; padding-bottom: 0.2em;
  border-bottom: 1px solid #dde1e7; }
h3 { font-size: 1.08em; margin: 1.3em 0 0.4em; }
p { margin: 0.5em 0; }
p.note { color: #555d6b; font-size: 0.93em; }
.table-scroll { overflow-x: auto; margin: 0.6em 0 1em; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.92em; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e4e7ec; text-align: left;
  vertical-align: top; overflow-wrap: break-word; }
td.num { white-space: nowrap; }
th { background: #eef1f5; font-weight: 600; white-space: normal; vertical-align: bottom;
  min-width: 4em; }
td.num, th.num { text-align: right; }
tbody tr:hover { background: #f7f9fc; }
figure { margin: 1em 0 1.6em; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e4e7ec; }
figcaption { color: #555d6b; font-size: 0.92em; margin-top: 0.35em; }
code { font-size: 0.92em; background: #f0f2f5; padding: 0 3px; border-radius: 3px; }
"""

# a number, possibly with a sign, $, thousands commas, exponent, a unit (ms, GB/s, %, x, M$)
# and a parenthesised remark: "475.3 ms", "$4.05M", "38.7%", "29.75 GB/s (61%)", "6.45×"
_NUMERIC = re.compile(
    r"^[-+−]?\$?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?\s*[A-Za-zµ%×$/]*(?:/[A-Za-z]+)?"
    r"(?:\s*\([^)]*\))?$")


def escape(text: object) -> str:
    """Escape text (and attribute values) for HTML.

    Parameters
    ----------
    text : object
        Anything; it is converted with ``str`` first.

    Returns
    -------
    str
        The text with ``& < > " '`` replaced by entities.
    """
    return html.escape(str(text), quote=True)


def looks_numeric(cell: str) -> bool:
    """Whether a table cell holds a quantity (a number with an optional unit or remark).

    Parameters
    ----------
    cell : str
        The cell's text.

    Returns
    -------
    bool
    """
    return bool(_NUMERIC.match(cell.strip()))


def numeric_columns(rows: Sequence[Sequence[str]]) -> list[bool]:
    """For each column, whether every non-empty cell in it holds a quantity.

    A column of quantities is right-aligned so that magnitudes line up; ``-`` and empty cells
    (no value) do not count against it.

    Parameters
    ----------
    rows : sequence of sequence of str
        The table body.

    Returns
    -------
    list of bool
        One flag per column of the widest row.
    """
    width = max((len(r) for r in rows), default=0)
    out = []
    for i in range(width):
        cells = [r[i].strip() for r in rows if i < len(r) and r[i].strip() not in ("", "-")]
        out.append(bool(cells) and all(looks_numeric(c) for c in cells))
    return out


def table(headers: Sequence[str], rows: Iterable[Sequence[object]],
          numeric_align: bool = True) -> str:
    """An HTML table inside a box that scrolls sideways when the table is too wide.

    Parameters
    ----------
    headers : sequence of str
        Column titles.
    rows : iterable of sequence
        The cells, row by row; each is shown as ``str(cell)``, escaped.
    numeric_align : bool, default True
        Right-align the columns whose cells are all quantities (see :func:`numeric_columns`).

    Returns
    -------
    str
        The ``<div class="table-scroll"><table>...</table></div>`` fragment.
    """
    body = [[str(c) for c in row] for row in rows]
    numeric = numeric_columns(body) if numeric_align else []

    def cls(i: int) -> str:
        return ' class="num"' if i < len(numeric) and numeric[i] else ""

    head = "".join(f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(headers))
    lines = ["".join(f"<td{cls(i)}>{escape(c)}</td>" for i, c in enumerate(row))
             for row in body]
    trs = "\n".join(f"<tr>{line}</tr>" for line in lines)
    return (f'<div class="table-scroll"><table>\n<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{trs}\n</tbody>\n</table></div>")


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG image, read from its header.

    Parameters
    ----------
    data : bytes
        The PNG file's bytes.

    Returns
    -------
    tuple of int
        ``(width, height)`` in pixels.

    Raises
    ------
    ValueError
        If the bytes are not a PNG image.
    """
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def figure(png: str | Path | bytes, caption: str, alt: str | None = None) -> str:
    """A figure with the PNG embedded as a base64 ``data:`` URI, alt text and a caption.

    Parameters
    ----------
    png : str, Path or bytes
        The PNG file, or its bytes.
    caption : str
        What the figure shows and how to read it (plain text).
    alt : str, optional
        The image's ``alt`` text (default: the caption).

    Returns
    -------
    str
        The ``<figure>`` fragment. Its ``width`` and ``height`` attributes are the image's, so
        the page does not jump while images decode; CSS scales it down to the column width.
    """
    data = png if isinstance(png, bytes) else Path(png).read_bytes()
    width, height = png_size(data)
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (f'<figure><img src="{uri}" alt="{escape(alt or caption)}" width="{width}" '
            f'height="{height}">\n<figcaption>{escape(caption)}</figcaption></figure>')


def page(title: str, body_html: str) -> str:
    """The whole self-contained HTML document.

    Parameters
    ----------
    title : str
        The page title (plain text); also shown as the top heading.
    body_html : str
        The page content (HTML, already escaped), placed under the heading.

    Returns
    -------
    str
        An HTML5 document with inline CSS and no external references.
    """
    # the empty data: icon stops browsers requesting /favicon.ico, which would fail offline
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n<h1>{escape(title)}</h1>\n{body_html}\n</main>\n</body>\n</html>\n"
    )
