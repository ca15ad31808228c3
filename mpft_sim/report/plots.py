"""The link and flow figures of a run report: utilisation over time and per link, and flow
completion times (the step timeline is in :mod:`mpft_sim.report.timeline`, the plane balance
in :mod:`mpft_sim.report.planes`, the cost in :mod:`mpft_sim.report.cost`). Each function
takes plain data (arrays, dicts), draws one figure in the house style and saves it as PNG;
none reads a file.

Every figure is :data:`~mpft_sim.report.style.REPORT_WIDTH_IN` wide (1,020 px); the height of
each is given by the ``*_height_in`` functions, so callers (and tests) know the pixel size.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.ticker import FuncFormatter
from numpy.typing import ArrayLike, NDArray

from mpft_sim.report.style import (
    REPORT_WIDTH_IN,
    TIER_COLOURS,
    new_figure,
    no_data,
    save_figure,
    snap_in,
)
from mpft_sim.topology.fabric import SWITCHED_TIERS, Tier
from mpft_sim.units import format_time, time_unit

__all__ = [
    "DEGRADED_COLOUR",
    "FABRIC_TIERS",
    "FCT_HEIGHT_IN",
    "TIER_LABELS",
    "TIER_ORDER",
    "UTIL_CDF_HEIGHT_IN",
    "degraded_note",
    "fct_cdf",
    "heatmap_height_in",
    "utilisation_cdf",
    "utilisation_heatmap",
]

UTIL_CDF_HEIGHT_IN = 4.5
FCT_HEIGHT_IN = 4.4
_FCT_LEGEND_IN = 0.35
TIER_LABELS = {"endpoint": "endpoint (NIC-leaf)", "leaf-spine": "leaf-spine",
               "spine-core": "spine-core", "node": "inside servers (NVLink/PCIe)"}
FABRIC_TIERS = tuple(t.label for t in SWITCHED_TIERS)
TIER_ORDER = (*FABRIC_TIERS, Tier.NODE.label)  # outwards from the NIC, then inside servers


# ---------------------------------------------------------------- utilisation heatmap

_GROUP = re.compile(r"^(?:p(?P<plane>\d+)|node)/(?P<tier>.+)$")


def _group_key(name: str) -> tuple[int, int, str]:
    """Sort key of a timeline group ``p<plane>/<tier>``: tier outwards from the GPU, then
    plane; groups with unknown names last, by name."""
    m = _GROUP.match(name)
    if not m:
        return (len(TIER_ORDER) + 1, 0, name)
    tier = m["tier"] if m["plane"] is not None else "node"
    rank = TIER_ORDER.index(tier) if tier in TIER_ORDER else len(TIER_ORDER)
    return (rank, int(m["plane"]) if m["plane"] is not None else -1, name)


def _group_label(name: str) -> str:
    m = _GROUP.match(name)
    if not m:
        return name
    if m["plane"] is None:
        return "inside servers"
    return f"{m['tier']} · plane {m['plane']}"


def heatmap_height_in(groups: int) -> float:
    """Height of the utilisation heatmap with ``groups`` rows.

    Parameters
    ----------
    groups : int
        Link groups (plane and tier pairs) shown.

    Returns
    -------
    float
        Inches.
    """
    return snap_in(min(11.0, max(3.6, 1.6 + 0.24 * groups)))


DEGRADED_COLOUR = "#c07000"
"""Labels of degraded planes and groups (failed ones are red)."""


def degraded_note(kept: ArrayLike) -> str:
    """How degraded a group of live links is, from the fraction of its bandwidth each keeps:
    ``"at 50%"`` when all are at one factor, ``"3 links degraded"`` otherwise, ``""`` when
    none is."""
    factors = np.asarray(kept, dtype=np.float64)
    slow = factors < 1.0
    if not slow.any():
        return ""
    if slow.all() and np.all(factors == factors[0]):
        return f"at {factors[0]:.0%}"
    n = int(slow.sum())
    return f"{n} link{'s' if n > 1 else ''} degraded"


def utilisation_heatmap(edges_s: ArrayLike, groups: Sequence[str], util: ArrayLike,
                        path: str | Path, failed: Collection[str] = (),
                        idle: Collection[str] = (),
                        label: str = "mean utilisation of the group's links",
                        degraded: Mapping[str, str] | None = None) -> None:
    """Link utilisation over time, one row per (plane, tier) group.

    Parameters
    ----------
    edges_s : array_like
        Time bin edges in seconds (one more than the bins).
    groups : sequence of str
        Group names as in timeline.csv: ``p<plane>/<tier>``, ``node/node``.
    util : array_like
        Mean utilisation of each group's links per bin, shape ``(bins, groups)``.
    path : str or Path
        Where to save the PNG.
    failed : collection of str, optional
        Groups whose links all failed: labelled and hatched, so a dead plane is not mistaken
        for an idle one.
    idle : collection of str, optional
        Groups none of whose links carried a byte: labelled, so "unused" reads differently
        from "lightly used".
    label : str, optional
        What ``util`` is the utilisation of, for the colour bar.
    degraded : mapping of str to str, optional
        Groups with links at a fraction of their bandwidth, and how (``"at 50%"``,
        ``"3 links degraded"``): labelled in orange, as failed groups are in red.
    """
    degraded = degraded or {}
    edges = np.asarray(edges_s, dtype=np.float64)
    data = np.asarray(util, dtype=np.float64).reshape(max(len(edges) - 1, 0), len(groups))
    order = sorted(range(len(groups)), key=lambda i: _group_key(groups[i]))
    names = [groups[i] for i in order]
    grid = data[:, order].T  # one row per group
    fig, ax = new_figure(REPORT_WIDTH_IN, heatmap_height_in(len(names)))
    if grid.size == 0 or edges[-1] <= edges[0]:
        no_data(ax, "no traffic: the run has no time span")
        ax.set_title("Link utilisation over time")
        save_figure(fig, path)
        return
    factor, unit = time_unit(float(edges[-1]))
    image = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0.0,
                      vmax=1.0, extent=(edges[0] * factor, edges[-1] * factor, len(names), 0))
    labels = [_group_label(n) + (" (failed)" if n in failed else f" ({degraded[n]})"
                                 if n in degraded else " (no traffic)" if n in idle else "")
              for n in names]
    ax.set_yticks(np.arange(len(names)) + 0.5, labels, fontsize=8 if len(names) > 24 else 9)
    for i, name in enumerate(names):
        if name in failed:
            ax.axhspan(i, i + 1, facecolor="#d0d0d0", edgecolor="#c03030", hatch="///",
                       linewidth=0)
            ax.get_yticklabels()[i].set_color("#c03030")
        elif name in degraded:
            ax.get_yticklabels()[i].set_color(DEGRADED_COLOUR)
    # white rules between tiers: the rows of one tier read as one block
    keys = [_group_key(n)[0] for n in names]
    for i in range(1, len(names)):
        if keys[i] != keys[i - 1]:
            ax.axhline(i, color="white", linewidth=2.5)
    ax.grid(False)
    ax.set_xlabel(f"time [{unit}]")
    bar = fig.colorbar(image, ax=ax, pad=0.015, fraction=0.04)
    bar.set_label(f"{label}\n(0 = idle, 1 = at capacity)")
    means = grid.mean(axis=1)
    live = [i for i, n in enumerate(names) if n not in failed]
    if live and means[live].max() > 0:
        busiest = max(live, key=lambda i: (means[i], -i))
        ax.set_title(f"Link utilisation over time, per plane and tier\nbusiest group: "
                     f"{_group_label(names[busiest])}, {means[busiest]:.0%} over the run and "
                     f"{grid[busiest].max():.0%} in its busiest time bin")
    else:
        ax.set_title("Link utilisation over time, per plane and tier: no link carried traffic")
    save_figure(fig, path)


# --------------------------------------------------------------------- utilisation CDF


def utilisation_cdf(mean_util: ArrayLike, tier: ArrayLike, bytes_: ArrayLike,
                    path: str | Path) -> None:
    """CDF of per-link mean utilisation over the run, one curve per tier.

    Links that carried no bytes are left out of the curves (an idle spare cable says nothing
    about congestion) and counted in the legend.

    Parameters
    ----------
    mean_util : array_like
        Each link's bytes over (capacity x makespan).
    tier : array_like of str
        Each link's tier (endpoint, leaf-spine, spine-core, node).
    bytes_ : array_like
        Bytes each link carried.
    path : str or Path
        Where to save the PNG.
    """
    util = np.asarray(mean_util, dtype=np.float64)
    tiers = np.asarray(tier, dtype=object)
    carried = np.asarray(bytes_, dtype=np.float64) > 0
    fig, ax = new_figure(REPORT_WIDTH_IN, UTIL_CDF_HEIGHT_IN)
    present = [t for t in TIER_ORDER if np.any(tiers == t)]
    present += sorted({str(t) for t in tiers} - set(present))
    medians: dict[str, float] = {}
    for t in present:
        mine = tiers == t
        x = np.sort(util[mine & carried])
        if len(x) == 0:
            ax.plot([], [], color=TIER_COLOURS.get(t, "#777777"),
                    label=f"{TIER_LABELS.get(t, t)}: none of {int(mine.sum()):,} links used")
            continue
        y = np.arange(1, len(x) + 1) / len(x)
        medians[t] = float(np.median(x))
        ax.plot(np.r_[x[0], x], np.r_[0.0, y], drawstyle="steps-post", linewidth=2,
                color=TIER_COLOURS.get(t, "#777777"),
                label=f"{TIER_LABELS.get(t, t)}: {len(x):,} of {int(mine.sum()):,} links used, "
                      f"median {medians[t]:.0%}")
    # zoom on the links' range (in steps of 0.1) so a lightly loaded run is still readable
    highest = float(util[carried].max()) if carried.any() else 1.0
    ax.set_xlim(0, min(1.0, max(0.1, np.ceil(highest * 1.05 * 10) / 10)))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean utilisation of a link over the run (bytes / (capacity × makespan), 0-1)")
    ax.set_ylabel("fraction of the tier's used links")
    if medians:
        top = max(medians, key=lambda t: medians[t])
        ax.set_title(f"Per-link mean utilisation by tier: {TIER_LABELS.get(top, top)} links "
                     f"are the most loaded (median {medians[top]:.0%})")
        # the curves climb from bottom left to top right: matplotlib finds the empty corner
        ax.legend(loc="best", fontsize=9)
    else:
        ax.set_title("Per-link mean utilisation by tier: no link carried traffic")
        if present:
            ax.legend(loc="best", fontsize=9)
    save_figure(fig, path)


# ------------------------------------------------------------------------------ FCT CDF


def fct_cdf(q: ArrayLike, fct_s: ArrayLike, slowdown: ArrayLike, path: str | Path,
            flows: int | None = None) -> None:
    """Flow completion time CDF and slowdown-versus-idle-network CDF, side by side.

    Parameters
    ----------
    q : array_like
        Quantile levels from 0 to 1.
    fct_s : array_like
        Flow completion time at each quantile, in seconds.
    slowdown : array_like
        Completion time over the time on an idle network, at each quantile.
    path : str or Path
        Where to save the PNG.
    flows : int, optional
        How many flows the quantiles summarise (0: the run had none).
    """
    levels = np.asarray(q, dtype=np.float64)
    fct = np.asarray(fct_s, dtype=np.float64)
    slow = np.asarray(slowdown, dtype=np.float64)
    # the legends get a strip under each panel, so they never sit on a curve
    fig, axes = new_figure(REPORT_WIDTH_IN, FCT_HEIGHT_IN, nrows=2, ncols=2, gridspec_kw={
        "height_ratios": [FCT_HEIGHT_IN - _FCT_LEGEND_IN, _FCT_LEGEND_IN]})
    (left, right), strips = axes
    for strip in strips:
        strip.axis("off")
    if flows == 0 or len(fct) == 0 or fct.max() <= 0:
        for ax in (left, right):
            no_data(ax, "no flows in this run")
        left.set_title("Flow completion time")
        right.set_title("Slowdown versus an idle network")
        save_figure(fig, path)
        return

    def at(values: NDArray[np.float64], level: float) -> float:
        return float(np.interp(level, levels, values))

    def long_tail(values: NDArray[np.float64]) -> bool:
        # a tail many times the bulk is unreadable on a linear axis
        positive = values[values > 0]
        return bool(len(positive)) and float(positive.max() / positive.min()) > 30

    # a log axis gets the unit of the geometric middle of its range (ticks 0.1 ... 100 ms),
    # a linear one the unit of its maximum
    fct_log = long_tail(fct)
    factor, unit = time_unit(float(np.sqrt(max(at(fct, 0.5), 1e-15) * fct.max())) if fct_log
                             else float(fct.max()))
    left.plot(fct * factor, levels, color="#4e79a7", linewidth=2)
    right.plot(slow, levels, color="#e15759", linewidth=2)
    for ax, values, scale, fmt in ((left, fct, factor, format_time),
                                   (right, slow, 1.0, lambda v: f"{v:.3g}×")):
        if long_tail(values):
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        for level, style in ((0.5, "--"), (0.99, ":")):
            v = at(values, level)
            ax.axvline(v * scale, color="#333333", linestyle=style, linewidth=1,
                       label=f"p{level * 100:.0f} = {fmt(v)}")
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("fraction of flows")
    right.axvline(1.0, color="#59a14f", linewidth=1.2, label="1× = idle network")
    left.set_xlabel(f"flow completion time [{unit}]")
    right.set_xlabel("slowdown: completion time ÷ idle-network time [×]")
    left.set_title("Flow completion time (CDF)")
    right.set_title("Slowdown versus an idle network (CDF)")
    for ax, strip in ((left, strips[0]), (right, strips[1])):
        handles, names = ax.get_legend_handles_labels()
        strip.legend(handles, names, loc="center", ncol=len(handles), fontsize=9,
                     frameon=False, handlelength=1.8, columnspacing=1.2)
    count = f"{flows:,} flows" if flows is not None else "flows"
    fig.suptitle(f"{count}: completion time p50 {format_time(at(fct, 0.5))}, p99 "
                 f"{format_time(at(fct, 0.99))}; slowdown p50 {at(slow, 0.5):.3g}×, p99 "
                 f"{at(slow, 0.99):.3g}×", fontsize=11)
    save_figure(fig, path)

