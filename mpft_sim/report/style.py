"""One look for every figure: Agg canvas, sizes, fonts, reproducible PNG bytes, and the
colours the report figures share (numbers in figures are formatted by :mod:`mpft_sim.units`).

Figures are plain :class:`matplotlib.figure.Figure` objects on an Agg canvas, never pyplot's:
importing pyplot costs a tenth of a second of every run's start-up, and its global backend
switch would change the plotting of a notebook that imports this library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["DPI", "REPORT_WIDTH_IN", "TIER_COLOURS", "new_figure", "no_data", "save_figure",
           "size_px", "snap_in"]

DPI = 120
"""Pixels per inch of saved PNGs."""

REPORT_WIDTH_IN = 8.5
"""Width of report figures: 1,020 px, so a page 1,000 px wide shows them almost 1:1."""

# one colour per fabric tier (used by every tier legend)
TIER_COLOURS = {"endpoint": "#4e79a7", "leaf-spine": "#f28e2b", "spine-core": "#59a14f",
                "node": "#9c755f"}

_RC: Any = {
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def new_figure(width: float = 8.0, height: float = 4.5, **kwargs: Any) -> tuple[Any, Any]:
    """A figure on an Agg canvas and its axes, in the house style."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        return fig, fig.subplots(**kwargs)


def save_figure(fig: Any, path: str | Path, bottom: float = 0.0) -> None:
    """Save as PNG without a timestamp or version stamp, so reruns give identical bytes;
    ``bottom`` is the share of the height kept free under the axes (for a figure legend)."""
    with matplotlib.rc_context(_RC):
        fig.tight_layout(rect=(0.0, bottom, 1.0, 1.0))
        fig.savefig(path, format="png", metadata={"Software": None})


def size_px(width_in: float, height_in: float) -> tuple[int, int]:
    """Pixel size ``(width, height)`` of a PNG saved by :func:`save_figure`.

    Parameters
    ----------
    width_in, height_in : float
        Figure size in inches.

    Returns
    -------
    tuple of int
        Width and height in pixels. Exact when both sizes are multiples of 1/20 inch, as the
        report figures' are.
    """
    return round(width_in * DPI), round(height_in * DPI)


def snap_in(inches: float) -> float:
    """Round a figure size to 1/20 inch, so its pixel size at :data:`DPI` is a whole number.

    Parameters
    ----------
    inches : float
        A width or height.

    Returns
    -------
    float
    """
    return round(inches * 20) / 20


def no_data(ax: Any, text: str) -> None:
    """Say on empty axes why there is nothing to plot.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The axes.
    text : str
        The message, centred.
    """
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=11,
            color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
