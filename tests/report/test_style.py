"""One look for every figure: pixel sizes on the 1/20-inch grid, PNG bytes that a rerun
reproduces, a colour for every tier, and the empty-axes message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from mpft_sim.report.html import png_size
from mpft_sim.report.style import (
    DPI,
    REPORT_WIDTH_IN,
    TIER_COLOURS,
    new_figure,
    no_data,
    save_figure,
    size_px,
    snap_in,
)
from mpft_sim.topology.fabric import Tier


def test_backend_and_report_width() -> None:
    """Figures draw with Agg (no display), 120 pixels per inch, reports 1,020 px wide."""
    fig, _ = new_figure()
    assert isinstance(fig.canvas, FigureCanvasAgg)
    assert (DPI, size_px(REPORT_WIDTH_IN, 1.0)) == (120, (1020, 120))


def test_the_global_backend_is_left_alone() -> None:
    """Drawing a report neither imports pyplot nor switches the process's backend, so a
    notebook that imports the library keeps its own (checked in a fresh interpreter)."""
    code = ("import matplotlib, sys; before = matplotlib.get_backend(); "
            "from mpft_sim.report.style import new_figure, save_figure; "
            "import tempfile, os; fig, ax = new_figure(); ax.plot([0, 1]); "
            "save_figure(fig, os.path.join(tempfile.mkdtemp(), 'f.png')); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'; "
            "assert matplotlib.get_backend() == before, matplotlib.get_backend()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "MPLBACKEND": "svg"}, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("inches", "snapped"), [(3.6, 3.6), (3.61, 3.6), (3.63, 3.65),
                                                 (1.4 + 0.55 * 3, 3.05), (0.0, 0.0)])
def test_snap_in(inches: float, snapped: float) -> None:
    """Sizes round to the nearest 1/20 inch."""
    assert snap_in(inches) == snapped


@pytest.mark.parametrize(("width", "height"), [(8.5, 3.6), (9.0, 4.05), (11.0, 5.2)])
def test_saved_png_has_the_documented_size(tmp_path: Path, width: float,
                                           height: float) -> None:
    """A figure saved by save_figure is ``size_px`` pixels."""
    fig, ax = new_figure(width, height)
    ax.plot([0, 1], [0, 1])
    save_figure(fig, tmp_path / "f.png")
    assert png_size((tmp_path / "f.png").read_bytes()) == size_px(width, height)


def test_reruns_give_identical_bytes(tmp_path: Path) -> None:
    """The same figure saved twice gives identical bytes, with no software stamp."""
    for name in ("a.png", "b.png"):
        fig, ax = new_figure(4.0, 3.0)
        ax.bar([0, 1, 2], [3, 1, 2])
        no_data(ax, "nothing here")
        save_figure(fig, tmp_path / name)
    data = (tmp_path / "a.png").read_bytes()
    assert data == (tmp_path / "b.png").read_bytes()
    assert b"matplotlib" not in data.lower()


def test_no_data_says_why() -> None:
    """Empty axes show the message in their centre, without ticks or grid."""
    _, ax = new_figure()
    no_data(ax, "no timed tasks")
    assert [t.get_text() for t in ax.texts] == ["no timed tasks"]
    assert (list(ax.get_xticks()), list(ax.get_yticks())) == ([], [])


def test_a_colour_for_every_tier() -> None:
    """Every tier of the fabric has its colour, under its label."""
    assert set(TIER_COLOURS) == {t.label for t in Tier}
