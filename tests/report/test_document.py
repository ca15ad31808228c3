"""A report as blocks, rendered to Markdown and to one HTML page from the same content:
headings, paragraphs and notes, tables with quantity columns right-aligned, figures; text
escaped for each format."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpft_sim.report.document import Block, Figure, Heading, Paragraph, Table, to_html, to_markdown
from tests.report.conftest import png

BLOCKS: list[Block] = [
    Heading("Links"),
    Paragraph("Plain text."),
    Paragraph("A caveat.", note=True),
    Heading("Detail", level=3),
    Table(["name", "time"], [["a", "1 ms"], ["b", "-"]]),
    Figure("f.png", "Title", "How to read it."),
]


def test_markdown_of_every_block() -> None:
    """Each block becomes its Markdown, blocks separated by blank lines, a final newline."""
    assert to_markdown("Run", BLOCKS) == (
        "# Run\n\n## Links\n\nPlain text.\n\n*A caveat.*\n\n### Detail\n\n"
        "| name | time |\n|---|---:|\n| a | 1 ms |\n| b | - |\n\n"
        "![Title](f.png)\n\n*How to read it.*\n")


@pytest.mark.parametrize(("text", "escaped"), [
    ("*bold*", r"\*bold\*"),
    ("a|b", r"a\|b"),
    ("`code`", r"\`code\`"),
    ("<i>", r"\<i>"),
    ("[l](u)", r"\[l\](u)"),
    ("back\\slash", r"back\\slash"),
    ("pp_act", "pp_act"),
    ("_x_", r"\_x\_"),
    ("a _b", r"a \_b"),
])
def test_markdown_escaping(text: str, escaped: str) -> None:
    """Markdown punctuation is escaped in every text; an underscore inside a word (pp_act)
    is left alone."""
    assert to_markdown(text, [Paragraph(text)]) == f"# {escaped}\n\n{escaped}\n"


def test_markdown_table_cells_are_escaped() -> None:
    """A pipe in a cell cannot split the table; a column of quantities is right-aligned."""
    out = to_markdown("T", [Table(["a|b", "n"], [["x|y", "2 GB/s"]])])
    assert out.splitlines()[2:] == [r"| a\|b | n |", "|---|---:|", r"| x\|y | 2 GB/s |"]


def test_html_of_every_block(tmp_path: Path) -> None:
    """The same blocks as HTML: headings, a note paragraph, a right-aligned quantity column
    and the figure embedded from the folder."""
    (tmp_path / "f.png").write_bytes(png(4, 2))
    page = to_html("Run", BLOCKS, tmp_path)
    body = page[page.index("<h1>"):page.index("</main>")]
    assert body.startswith("<h1>Run</h1>\n<h2>Links</h2>\n<p>Plain text.</p>\n"
                           '<p class="note">A caveat.</p>\n<h3>Detail</h3>\n')
    assert '<th class="num">time</th>' in body and '<td class="num">1 ms</td>' in body
    assert '<img src="data:image/png;base64,' in body
    assert 'alt="Title" width="4" height="2"' in body
    assert "<figcaption>How to read it.</figcaption>" in body


def test_html_escaping(tmp_path: Path) -> None:
    """Text is HTML-escaped, not Markdown-escaped, in the page."""
    page = to_html("a & b", [Heading("<h>"), Paragraph("*x* <script>"),
                             Table(["<th>"], [["&"]])], tmp_path)
    assert "<title>a &amp; b</title>" in page
    assert "<h2>&lt;h&gt;</h2>" in page
    assert "<p>*x* &lt;script&gt;</p>" in page
    assert "<th>&lt;th&gt;</th>" in page and "<td>&amp;</td>" in page
    assert "<script>" not in page


def test_a_missing_figure_is_an_error(tmp_path: Path) -> None:
    """A figure block whose file is not in the folder cannot be embedded."""
    with pytest.raises(FileNotFoundError):
        to_html("Run", [Figure("gone.png", "T", "C")], tmp_path)
