"""One look for every figure: Agg backend, sizes, fonts, reproducible PNG bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["new_figure", "save_figure"]

_RC: Any = {
    "figure.dpi": 100,
    "savefig.dpi": 120,
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
