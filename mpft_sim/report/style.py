"""One look for every figure: Agg backend, sizes, fonts, reproducible PNG bytes, and the
units and colours the report figures share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["DPI", "REPORT_WIDTH_IN", "TIER_COLOURS", "TIER_ORDER", "bytes_unit",
           "fmt_bandwidth", "fmt_bytes", "fmt_time", "fmt_usd", "new_figure", "save_figure",
           "size_px", "time_unit", "usd_unit"]

DPI = 120
"""Pixels per inch of saved PNGs."""

REPORT_WIDTH_IN = 8.5
"""Width of report figures: 1,020 px, so a page 1,000 px wide shows them almost 1:1."""

# fabric tiers from the GPU outwards, and one colour each (used by every tier legend)
TIER_ORDER = ("endpoint", "leaf-spine", "spine-core", "node")
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
    """A figure and axes in the house style."""
    with plt.rc_context(_RC):
        return plt.subplots(figsize=(width, height), **kwargs)


def save_figure(fig: Any, path: str | Path) -> None:
    """Save as PNG without a timestamp or version stamp, so reruns give identical bytes."""
    with plt.rc_context(_RC):
        fig.tight_layout()
        fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


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


def time_unit(span_s: float) -> tuple[float, str]:
    """The factor and unit that show times up to ``span_s`` with readable numbers.

    Parameters
    ----------
    span_s : float
        The largest time to show, in seconds.

    Returns
    -------
    tuple of (float, str)
        Multiply seconds by the factor to get the unit: ``(1e3, "ms")`` for 0.475 s.
    """
    for factor, unit in ((1.0, "s"), (1e3, "ms"), (1e6, "µs")):
        if span_s * factor >= 1:
            return factor, unit
    return 1e9, "ns"


def bytes_unit(largest: float) -> tuple[float, str]:
    """The factor and unit (decimal: kB, MB, GB, TB) that show byte counts up to ``largest``.

    Parameters
    ----------
    largest : float
        The largest byte count to show.

    Returns
    -------
    tuple of (float, str)
        Multiply bytes by the factor to get the unit: ``(1e-9, "GB")`` for 4.3e11.
    """
    for factor, unit in ((1e-12, "TB"), (1e-9, "GB"), (1e-6, "MB"), (1e-3, "kB")):
        if largest * factor >= 1:
            return factor, unit
    return 1.0, "B"


def usd_unit(largest: float) -> tuple[float, str]:
    """The factor and unit (``$``, ``k$``, ``M$``) that show prices up to ``largest``.

    Parameters
    ----------
    largest : float
        The largest amount to show, in US dollars.

    Returns
    -------
    tuple of (float, str)
        Multiply dollars by the factor to get the unit: ``(1e-6, "M$")`` for 4.05e6.
    """
    for factor, unit in ((1e-6, "M$"), (1e-3, "k$")):
        if largest * factor >= 1:
            return factor, unit
    return 1.0, "$"


def _sig(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits, without exponent or trailing zeros."""
    text = f"{value:.{digits}g}"
    if "e" in text:  # 4 digits of 12345 -> 1.234e+04: show 12,345 instead
        text = f"{value:,.0f}"
    return text


def fmt_time(seconds: float, digits: int = 4) -> str:
    """A duration for reading: ``"475.3 ms"``, ``"292.8 µs"``, ``"1.2 s"``.

    Parameters
    ----------
    seconds : float
        The duration.
    digits : int, default 4
        Significant digits.

    Returns
    -------
    str
    """
    if seconds == 0:
        return "0 s"
    factor, unit = time_unit(abs(seconds))
    return f"{_sig(seconds * factor, digits)} {unit}"


def fmt_bytes(size: float, digits: int = 4) -> str:
    """A byte count for reading (decimal units): ``"2.476 TB"``, ``"58.72 MB"``.

    Parameters
    ----------
    size : float
        Bytes.
    digits : int, default 4
        Significant digits.

    Returns
    -------
    str
    """
    factor, unit = bytes_unit(abs(size))
    return f"{_sig(size * factor, digits)} {unit}"


def fmt_bandwidth(bytes_per_s: float, digits: int = 4) -> str:
    """A bandwidth in bytes per second for reading: ``"29.75 GB/s"``.

    Parameters
    ----------
    bytes_per_s : float
        Bytes per second.
    digits : int, default 4
        Significant digits.

    Returns
    -------
    str
    """
    factor, unit = bytes_unit(abs(bytes_per_s))
    return f"{_sig(bytes_per_s * factor, digits)} {unit}/s"


def fmt_usd(usd: float, digits: int = 3) -> str:
    """An amount in US dollars for reading: ``"$4.05M"``, ``"$31.6k"``, ``"$503.5"``.

    Parameters
    ----------
    usd : float
        Dollars.
    digits : int, default 3
        Significant digits (amounts under $1,000 keep their cents' worth of digits).

    Returns
    -------
    str
    """
    factor, unit = usd_unit(abs(usd))
    suffix = unit.removesuffix("$")
    if not suffix:
        return f"${usd:,.2f}".removesuffix(".00")
    return f"${_sig(usd * factor, digits)}{suffix}"


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
