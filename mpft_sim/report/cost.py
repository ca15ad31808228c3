"""Cost tables and the cost-per-endpoint chart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mpft_sim.report.style import REPORT_WIDTH_IN, new_figure, save_figure, snap_in
from mpft_sim.topology.cost import BillOfMaterials
from mpft_sim.units import format_usd

__all__ = ["cost_table", "plot_cost_per_endpoint"]


def cost_table(boms: Sequence[BillOfMaterials]) -> str:
    """A fixed-width text table of designs and their cost, one row per design."""
    head = ("design", "kind", "endpoints", "switches", "links", "cost", "cost per GPU")
    rows = [
        (b.name, b.kind, f"{b.endpoints:,}", f"{b.switches:,}", f"{b.links:,}",
         format_usd(b.cost_usd), format_usd(b.cost_per_endpoint_usd))
        for b in boms
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = []
    for row in [head, *rows]:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                  strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def plot_cost_per_endpoint(boms: Sequence[BillOfMaterials], path: str | Path) -> None:
    """Network cost per endpoint, a horizontal bar per design (names read level, not
    rotated), labelled with the endpoints and the total; a log axis when the designs differ
    by more than ten times, so that a toy design does not flatten the real ones."""
    fig, ax = new_figure(REPORT_WIDTH_IN, snap_in(1.4 + 0.55 * max(len(boms), 1)))
    values = np.array([b.cost_per_endpoint_usd for b in boms])
    y = np.arange(len(boms))[::-1]
    ax.barh(y, values, color="#3b6ea8", height=0.6)
    for yi, bom in zip(y, boms, strict=True):
        ax.annotate(_plain(f"{format_usd(bom.cost_per_endpoint_usd)} per GPU: "
                           f"{bom.endpoints:,} endpoints, {format_usd(bom.cost_usd)}"),
                    (bom.cost_per_endpoint_usd, yi), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8)
    ax.set_yticks(y, [b.name for b in boms])
    positive = values[values > 0]
    if len(positive) and positive.max() > 10 * positive.min():
        ax.set_xscale("log")
        ax.set_xlim(positive.min() / 2, positive.max() * 12)
    else:
        ax.set_xlim(0, max(values.max(initial=0.0), 1.0) * 1.7)
    ax.xaxis.set_major_formatter(lambda v, _: _plain(format_usd(v)))
    ax.set_xlabel("network cost per endpoint (switches, cables, NICs)")
    ax.set_title("Network cost per endpoint")
    ax.grid(False, axis="y")
    save_figure(fig, path)


def _plain(text: str) -> str:
    """Text with ``$`` escaped, so matplotlib does not read dollar amounts as mathtext."""
    return text.replace("$", r"\$")
