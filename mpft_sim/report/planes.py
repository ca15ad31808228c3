"""The plane balance figure of a run report: bytes each plane carried, per fabric tier, so
that an imbalance, a failed plane or a degraded one stands out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike, NDArray

from mpft_sim.report.plots import DEGRADED_COLOUR, FABRIC_TIERS, TIER_LABELS, degraded_note
from mpft_sim.report.style import REPORT_WIDTH_IN, TIER_COLOURS, new_figure, no_data, save_figure
from mpft_sim.units import bytes_unit

__all__ = ["PLANE_BALANCE_HEIGHT_IN", "plane_balance"]

PLANE_BALANCE_HEIGHT_IN = 4.5

# the largest deviation of a live plane from its tier's mean: (deviation, tier, plane), plane
# -1 while none is known
Worst = tuple[float, str, int]


def plane_balance(plane: ArrayLike, tier: ArrayLike, bytes_: ArrayLike, alive: ArrayLike,
                  path: str | Path, degrade: ArrayLike | None = None) -> None:
    """Bytes each plane carried, per fabric tier, so an imbalance or a dead plane stands out.

    Parameters
    ----------
    plane : array_like of int
        Each link's plane (-1 inside servers: left out).
    tier : array_like of str
        Each link's tier; endpoint, leaf-spine and spine-core are shown.
    bytes_ : array_like
        Bytes each link carried.
    alive : array_like of bool
        Whether each link survived the run's failures.
    path : str or Path
        Where to save the PNG.
    degrade : array_like of float, optional
        The fraction of its bandwidth each link keeps (1 healthy): a degraded plane is
        labelled with it, its bars hatched in orange.
    """
    planes_of = np.asarray(plane, dtype=np.int64)
    tiers = np.asarray(tier, dtype=object)
    carried = np.asarray(bytes_, dtype=np.float64)
    up = np.asarray(alive, dtype=bool)
    fabric = (planes_of >= 0) & np.isin(tiers, FABRIC_TIERS)
    planes = sorted({int(p) for p in planes_of[fabric]})
    # a tier that carried nothing gets no bars, so no legend entry either
    shown = [t for t in FABRIC_TIERS if np.any(fabric & (tiers == t) & (carried > 0))] or [
        t for t in FABRIC_TIERS if np.any(fabric & (tiers == t))][:1]
    fig, ax = new_figure(REPORT_WIDTH_IN, PLANE_BALANCE_HEIGHT_IN)
    if not planes or not shown:
        no_data(ax, "no switched links")
        ax.set_title("Bytes carried per plane")
        save_figure(fig, path)
        return
    total = np.array([[carried[fabric & (tiers == t) & (planes_of == p)].sum() for p in planes]
                      for t in shown])
    dead = [p for p in planes if not up[fabric & (planes_of == p)].any()]
    down = {p: int((~up[fabric & (planes_of == p)]).sum()) for p in planes}
    kept = np.ones(len(up)) if degrade is None else np.asarray(degrade, dtype=np.float64)
    slow = {p: degraded_note(kept[fabric & up & (planes_of == p)]) for p in planes}
    live = [i for i, p in enumerate(planes) if p not in dead]
    factor, unit = bytes_unit(float(total.max()))
    worst = _bars(ax, total, shown, planes, live, factor)
    _plane_ticks(ax, planes, dead, down, slow)
    _finish_axes(ax, total, factor, unit, len(planes))
    fig.suptitle(_title(planes, dead, slow, worst), fontsize=11)
    save_figure(fig, path)


def _bars(ax: Any, total: NDArray[np.float64], shown: list[str], planes: list[int],
          live: list[int], factor: float) -> Worst:
    """A bar per plane and tier, each tier's mean over the live planes dashed; returns the
    largest deviation of a live plane from its tier's mean."""
    width = 0.8 / len(shown)
    x = np.arange(len(planes))
    worst: Worst = (0.0, "", -1)
    for k, t in enumerate(shown):
        offset = (k - (len(shown) - 1) / 2) * width
        ax.bar(x + offset, total[k] * factor, width=width * 0.95, color=TIER_COLOURS[t],
               label=TIER_LABELS[t])
        mean = float(total[k, live].mean()) if live else 0.0
        if mean > 0 and len(planes) > 1:
            ax.hlines(mean * factor, -0.5, len(planes) - 0.5, colors=TIER_COLOURS[t],
                      linestyles="--", linewidth=1)
            for i in live:
                dev = float(total[k, i] / mean - 1)
                if abs(dev) > abs(worst[0]) or worst[2] < 0:
                    worst = (dev, t, planes[i])
    return worst


def _plane_ticks(ax: Any, planes: list[int], dead: list[int], down: dict[int, int],
                 slow: dict[int, str]) -> None:
    """A tick label per plane saying what is wrong with it, in red (links down) or orange
    (degraded); a failed plane's slot hatched, a wholly degraded plane's shaded."""
    ticks = [f"{p}\nfailed" if p in dead else "\n".join(
        [str(p)] + ([f"{down[p]} links down"] if down[p] else [])
        + ([slow[p]] if slow[p] else [])) for p in planes]
    ax.set_xticks(np.arange(len(planes)), ticks)
    for i, p in enumerate(planes):
        if down[p]:
            ax.get_xticklabels()[i].set_color("#c03030")
        elif slow[p]:
            ax.get_xticklabels()[i].set_color(DEGRADED_COLOUR)
        if p in dead:
            ax.axvspan(i - 0.45, i + 0.45, facecolor="#eeeeee", edgecolor="#c03030",
                       hatch="///", linewidth=0, zorder=0)
        elif slow[p].startswith("at "):  # the whole plane is degraded
            ax.axvspan(i - 0.45, i + 0.45, facecolor="#fdf0dd", linewidth=0, zorder=0)


def _finish_axes(ax: Any, total: NDArray[np.float64], factor: float, unit: str,
                 planes: int) -> None:
    """Limits, axis labels and the legend above the bars."""
    ax.set_xlim(-0.5, planes - 0.5)
    top = float(total.max() * factor) if total.max() > 0 else 1.0
    ax.set_ylim(0, top * 1.22)  # headroom for the legend above the bars
    ax.grid(False, axis="x")
    ax.set_xlabel("plane")
    ax.set_ylabel(f"bytes carried, both directions [{unit}]")
    handles, names = ax.get_legend_handles_labels()
    if planes > 1:
        handles.append(Line2D([], [], color="#555555", linestyle="--", linewidth=1))
        names.append("mean of the live planes")
    ax.legend(handles, names, loc="upper center", ncol=len(handles), fontsize=9,
              framealpha=1.0, edgecolor="white")


def _title(planes: list[int], dead: list[int], slow: dict[int, str], worst: Worst) -> str:
    """The figure's title: failed and degraded planes, then how balanced the live ones are."""
    if len(planes) == 1:
        return "Bytes carried per tier (a single-plane fabric: no planes to balance)"
    parts = []
    if dead:
        parts.append(f"plane{'s' if len(dead) > 1 else ''} {', '.join(map(str, dead))} failed")
    whole = [p for p in planes if slow[p].startswith("at ") and p not in dead]
    if whole:  # a degraded plane is news; a few slow cables are in the tick labels
        parts.append(", ".join(f"plane {p} {slow[p]}" for p in whole))
    if worst[2] < 0:
        parts.append("no traffic crossed the fabric")
    elif abs(worst[0]) < 0.001:
        parts.append("live planes within ±0.1% of their tier mean (balanced)")
    else:
        parts.append(f"largest deviation of a live plane from its tier's mean "
                     f"{worst[0]:+.1%} (plane {worst[2]}, {worst[1]})")
    return "Bytes carried per plane\n" + "; ".join(parts)
