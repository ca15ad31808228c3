"""The cost of designs in a report: the cost table, the cost-per-endpoint chart and a run's
cost breakdown by component."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.patches import Patch

from mpft_sim.report.style import REPORT_WIDTH_IN, new_figure, no_data, save_figure, snap_in
from mpft_sim.topology.cost import BillOfMaterials, BomItemRecord
from mpft_sim.units import format_usd, usd_unit

__all__ = ["COST_HEIGHT_IN", "cost_breakdown", "cost_table", "plot_cost_per_endpoint"]

COST_HEIGHT_IN = 4.2


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


def _cost_colour(item: str) -> str:
    if item.startswith("switch"):
        return "#4e79a7"
    if item.startswith("cable"):
        return "#f28e2b"
    return "#59a14f"


def cost_breakdown(items: Sequence[BomItemRecord], endpoints: int, path: str | Path,
                   name: str = "") -> None:
    """Network cost by component (switches by tier, cables by tier, NICs).

    Parameters
    ----------
    items : sequence of BomItemRecord
        Bill-of-materials lines.
    endpoints : int
        GPUs the network connects (for the cost per GPU in the title).
    path : str or Path
        Where to save the PNG.
    name : str, optional
        The design's name, for the title.
    """
    fig, ax = new_figure(REPORT_WIDTH_IN, COST_HEIGHT_IN)
    items = [i for i in items if i.total_usd > 0]  # a free item (at this price book) is no bar
    totals = np.array([i.total_usd for i in items])
    cost = float(totals.sum()) if len(totals) else 0.0
    design = f" of {name}" if name else ""
    if not len(items):
        no_data(ax, "no bill of materials")
        ax.set_title(f"Network cost{design}")
        save_figure(fig, path)
        return
    peak_usd = float(totals.max()) if totals.max() > 0 else 1.0
    factor, unit = usd_unit(peak_usd)
    y = np.arange(len(items))
    ax.barh(y, totals * factor, color=[_cost_colour(i.item) for i in items])
    for k, item in enumerate(items):
        share = f", {totals[k] / cost:.0%} of the total" if cost > 0 else ""
        text = (f"{format_usd(totals[k])}  ({item.count:,} × "
                f"{format_usd(item.unit_usd)}{share})")
        ax.text(totals[k] * factor + peak_usd * factor * 0.01, k, _plain(text), va="center",
                fontsize=9)
    ax.set_yticks(y, [i.item for i in items])
    ax.invert_yaxis()
    ax.set_xlim(0, peak_usd * factor * 1.5)
    ax.grid(False, axis="y")
    ax.set_xlabel(_plain(f"cost [{unit}]"))
    per = f" ({format_usd(cost / endpoints)} per GPU)" if endpoints > 0 else ""
    ax.set_title(_plain(f"Network cost{design}: {format_usd(cost)} for {endpoints:,} GPUs{per}, "
                        "by component"))
    kinds = {_cost_colour(i.item) for i in items}
    ax.legend(handles=[Patch(facecolor=c, label=v) for c, v in
                       ((_cost_colour("switch"), "switches"), (_cost_colour("cable"), "cables"),
                        (_cost_colour("NIC"), "NICs")) if c in kinds],
              loc="lower right", fontsize=9)
    save_figure(fig, path)
