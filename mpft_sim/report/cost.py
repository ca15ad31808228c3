"""Cost tables and the cost-per-endpoint chart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mpft_sim.report.style import new_figure, save_figure
from mpft_sim.topology.cost import BillOfMaterials

__all__ = ["cost_table", "plot_cost_per_endpoint"]


def cost_table(boms: Sequence[BillOfMaterials]) -> str:
    """A fixed-width text table of designs and their cost, one row per design."""
    head = ("design", "kind", "endpoints", "switches", "links", "cost [M$]", "cost/endpoint [k$]")
    rows = [
        (b.name, b.kind, f"{b.endpoints:,}", f"{b.switches:,}", f"{b.links:,}",
         f"{b.cost_usd / 1e6:,.2f}", f"{b.cost_per_endpoint_usd / 1e3:.2f}")
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
    """Bar chart of network cost per endpoint, one bar per design, labelled with endpoints."""
    fig, ax = new_figure(max(6.0, 1.2 * len(boms) + 2), 4.5)
    names = [b.name for b in boms]
    values = [b.cost_per_endpoint_usd / 1e3 for b in boms]
    bars = ax.bar(names, values, color="#3b6ea8")
    for bar, bom in zip(bars, boms, strict=True):
        ax.annotate(f"{bom.endpoints:,} endpoints\n${bom.cost_usd / 1e6:,.1f}M",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                    textcoords="offset points")
    ax.set_ylabel("network cost per endpoint [k$]")
    ax.set_title("Network cost per endpoint (switches and cables)")
    ax.set_ylim(0, max(values) * 1.25 if values else 1)
    ax.tick_params(axis="x", rotation=20)
    ax.grid(False, axis="x")
    save_figure(fig, path)
