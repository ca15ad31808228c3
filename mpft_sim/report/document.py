"""A report as a list of blocks (headings, paragraphs, tables, figures), rendered to Markdown
and to a self-contained HTML page from the same content, so the two never disagree."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mpft_sim.report import html

__all__ = ["Block", "Figure", "Heading", "Paragraph", "Table", "to_html", "to_markdown"]


@dataclass(frozen=True)
class Heading:
    """A section heading (level 2 or 3; the report title is level 1)."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Plain text; a note is shown smaller and greyed (caveats, what was left out)."""

    text: str
    note: bool = False


@dataclass(frozen=True)
class Table:
    """Rows of text cells under column headers."""

    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Figure:
    """A PNG in the report's folder: a short title (its alt text) and a caption saying how to
    read it."""

    file: str
    title: str
    caption: str


Block = Heading | Paragraph | Table | Figure

# Markdown punctuation that would format or break a table; "_" only where it could start or
# end emphasis (next to a non-word character), so names like pp_act stay readable
_MD_SPECIAL = re.compile(r"([\\`*|<\[\]])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def _md_table(table: Table) -> str:
    rows = [[_md_escape(c) for c in row] for row in table.rows]
    numeric = html.numeric_columns([list(r) for r in table.rows])
    head = "| " + " | ".join(_md_escape(h) for h in table.headers) + " |"
    rule = "|" + "|".join("---:" if i < len(numeric) and numeric[i] else "---"
                          for i in range(len(table.headers))) + "|"
    return "\n".join([head, rule, *("| " + " | ".join(r) + " |" for r in rows)])


def to_markdown(title: str, blocks: Sequence[Block]) -> str:
    """The report as Markdown; figures are linked by file name (they sit next to it).

    Parameters
    ----------
    title : str
        The level-1 heading.
    blocks : sequence of Block
        The content, in order.

    Returns
    -------
    str
        Markdown text ending in a newline.
    """
    parts = [f"# {_md_escape(title)}"]
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {_md_escape(block.text)}")
        elif isinstance(block, Paragraph):
            text = _md_escape(block.text)
            parts.append(f"*{text}*" if block.note else text)
        elif isinstance(block, Table):
            parts.append(_md_table(block))
        else:
            parts.append(f"![{_md_escape(block.title)}]({block.file})\n\n"
                         f"*{_md_escape(block.caption)}*")
    return "\n\n".join(parts) + "\n"


def to_html(title: str, blocks: Sequence[Block], folder: str | Path) -> str:
    """The report as one self-contained HTML page, figures embedded.

    Parameters
    ----------
    title : str
        The page title and top heading.
    blocks : sequence of Block
        The content, in order.
    folder : str or Path
        Where the figures' PNG files are.

    Returns
    -------
    str
        The HTML document.
    """
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            cls = ' class="note"' if block.note else ""
            parts.append(f"<p{cls}>{html.escape(block.text)}</p>")
        elif isinstance(block, Table):
            parts.append(html.table(block.headers, block.rows))
        else:
            parts.append(html.figure(Path(folder) / block.file, block.caption, block.title))
    return html.page(title, "\n".join(parts))
