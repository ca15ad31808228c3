"""Sweep figures: the cost/performance frontier and scaling with cluster size.

Both take the rows of a sweep (``sweep.csv`` as dicts: ``point``, the parameters, ``design``,
``gpus``, ``step_time_s``/``tpot_s``/``makespan_s``, ``cost_usd``, ``cost_per_gpu_usd``,
``error``) and draw what planners ask first: which points are worth their money, and how the
time and the cost per GPU move as the cluster grows. Points that failed are left out and
counted in a footnote that quotes the first failure.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mpft_sim.report.style import new_figure, no_data, save_figure
from mpft_sim.results.metrics import METRICS
from mpft_sim.sweep.params import SIZE_PARAMS
from mpft_sim.units import format_parameter, time_unit, usd_unit

__all__ = ["pareto_front", "plot_frontier", "plot_scaling", "time_metric"]

Row = dict[str, Any]

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
# the columns of a row that are not the point's parameters
_META = {"point", "design", *METRICS, "error"}
_NAMES = {"tpot_s": "TPOT", "step_time_s": "step time", "makespan_s": "makespan"}
_FLAT = 0.02  # relative change under which a line counts as flat in a title


def time_metric(rows: Sequence[Row]) -> tuple[str, str]:
    """The time figure the plots show, and its name: the one every point's metrics row chose
    for its workload (TPOT for decode, the step time for programs, the makespan for flow
    lists; see :class:`~mpft_sim.results.Metrics`), or the makespan if the points disagree."""
    chosen = {r.get("metric") for r in rows if not r.get("error")}
    key = chosen.pop() if len(chosen) == 1 else "makespan_s"
    return str(key), _NAMES.get(str(key), str(key))


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats (lower is better on both coordinates),
    sorted by the first coordinate. Equal points are all on the front: neither beats the
    other."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1], i))
    front: list[int] = []
    best = float("inf")
    best_x = float("nan")
    for i in order:
        x, y = points[i]
        if y < best:
            front.append(i)
            best, best_x = y, x
        elif y == best and x == best_x:
            front.append(i)
    return front


def _params(row: Row) -> list[str]:
    return [k for k in row if k not in _META]


def _label(row: Row) -> str:
    """The design and the cluster size of a point: ``mpft-16k, planes=4, nodes=256``."""
    sizes = [f"{k.rsplit('.', 1)[-1]}={format_parameter(row[k])}" for k in _params(row)
             if k in SIZE_PARAMS]
    return ", ".join([str(row["design"]), *sizes])


def _styles(rows: Sequence[Row]) -> dict[str, tuple[Any, str]]:
    """A colour and a marker per design, in order of first appearance (the same in every
    figure of a sweep)."""
    import matplotlib

    designs = list(dict.fromkeys(str(r["design"]) for r in rows))
    cmap = matplotlib.colormaps["tab10" if len(designs) <= 10 else "tab20"]
    return {d: (cmap(i % cmap.N), _MARKERS[i % len(_MARKERS)]) for i, d in enumerate(designs)}


def _size(i: int) -> float:
    """Marker size (points) of the i-th design: shrinking, so coincident markers nest."""
    return max(4.0, 10.0 - 2.0 * i)


def _failures_note(rows: Sequence[Row]) -> str:
    failed = [r for r in rows if r.get("error")]
    if not failed:
        return ""
    # drop the file paths: the point and the reason are what a reader needs here
    parts = [p for p in str(failed[0]["error"]).split(": ")
             if not re.search(r"\.(yaml|yml|csv)$", p)]
    text = (f"{len(failed)} of {len(rows)} points failed and are not shown; the first: "
            + ": ".join(parts))
    return "\n".join(textwrap.wrap(text, 150)[:3])


def _usable(rows: Sequence[Row], *keys: str) -> list[Row]:
    return [r for r in rows if not r.get("error")
            and all(isinstance(r.get(k), int | float) for k in keys)]


def _empty(ax: Any, what: str) -> None:
    no_data(ax, f"no point ran without an error: nothing to plot\n({what})")


def plot_frontier(rows: Sequence[Row], path: str | Path, name: str = "") -> None:
    """Time (step time, TPOT or makespan) against network cost, one marker per point, the
    Pareto-optimal points joined by the frontier (the best time each budget buys).

    Parameters
    ----------
    rows : sequence of dict
        The sweep's rows.
    path : str or Path
        The PNG to write.
    name : str
        The sweep's name, for the title.
    """
    key, what = time_metric(rows)
    ok = [r for r in _usable(rows, key, "cost_usd") if r["cost_usd"] > 0]
    fig, ax = new_figure(8.5, 5.5)
    note = _failures_note(rows)
    if not ok:
        _empty(ax, f"{what} against network cost")
        ax.set_title(f"{name}: {what} vs network cost")
        _finish(fig, ax, note, path)
        return
    t_factor, t_unit = time_unit(max(r[key] for r in ok))
    c_factor, c_unit = usd_unit(max(r["cost_usd"] for r in ok))
    styles = _styles(ok)
    for i, (design, (colour, marker)) in enumerate(styles.items()):
        mine = [r for r in ok if r["design"] == design]
        ax.scatter([r["cost_usd"] * c_factor for r in mine], [r[key] * t_factor for r in mine],
                   color=colour, marker=marker, s=_size(i) ** 2, zorder=3 + i * 0.01,
                   label=design)
    front = [ok[i] for i in pareto_front([(r["cost_usd"], r[key]) for r in ok])]
    xs = [r["cost_usd"] * c_factor for r in front]
    ys = [r[key] * t_factor for r in front]
    ax.plot(xs, ys, drawstyle="steps-post", color="black", lw=1.1, zorder=2,
            label="Pareto frontier")
    ax.scatter(xs, ys, s=150, facecolors="none", edgecolors="black", lw=1.1, zorder=4)
    spots: dict[tuple[float, float], list[Row]] = {}
    for r, x, y in zip(front, xs, ys, strict=True):
        spots.setdefault((x, y), []).append(r)
    if len(spots) <= 12:
        for (x, y), here in spots.items():
            more = f" (+{len(here) - 1} equal)" if len(here) > 1 else ""
            ax.annotate(_label(here[0]) + more, (x, y), xytext=(7, 6),
                        textcoords="offset points", fontsize=8)
    costs = [r["cost_usd"] for r in ok]
    if max(costs) / min(costs) > 20:
        _log_axis(ax.xaxis, ax.set_xscale)
    ax.set_xlabel(f"network cost, switches and cables ({c_unit})")
    ax.set_ylabel(f"{what} ({t_unit})")
    ax.set_ylim(bottom=0, top=max(r[key] for r in ok) * t_factor * 1.12)
    verb = "is" if len(front) == 1 else "are"
    ax.set_title(f"{name}: {what} vs network cost ({len(front)} of {len(ok)} points {verb} "
                 "Pareto-optimal)")
    if len(styles) <= 12:
        ax.legend(fontsize=8, loc="best")
    _finish(fig, ax, note, path)


def _log_axis(axis: Any, set_scale: Any) -> None:
    """A log scale labelled 1, 2, 5, 10, 20 ... rather than 2x10^0."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    set_scale("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,g}"))
    axis.set_minor_formatter(FuncFormatter(lambda _v, _pos: ""))


def _finish(fig: Any, ax: Any, note: str, path: str | Path) -> None:
    if note:
        # anchored below the x label, as part of the axes, so tight_layout leaves room for it
        ax.annotate(note, xy=(0.0, 0.0), xycoords=("axes fraction", ax.xaxis.label),
                    xytext=(0, -8), textcoords="offset points", ha="left", va="top",
                    fontsize=7.5, color="#a03030")
    save_figure(fig, path)


def _trend(lines: dict[str, list[tuple[int, float]]]) -> str:
    """How the lines move from the smallest to the largest cluster, in a few words."""
    changes = [ys[-1][1] / ys[0][1] for ys in lines.values()
               if len(ys) > 1 and ys[0][1] > 0]
    if not changes:
        return "one size per design"
    worst = max(changes, key=lambda c: abs(c - 1))
    if abs(worst - 1) <= _FLAT:
        return f"flat within {_FLAT:.0%} for every design"
    return f"up to {worst:.2f}x, smallest to largest"


def plot_scaling(rows: Sequence[Row], path: str | Path, name: str = "") -> None:
    """Time (step time, TPOT or makespan) and network cost per GPU against the cluster's
    GPUs, one line per design (the topology and every parameter but the size).

    Parameters
    ----------
    rows : sequence of dict
        The sweep's rows.
    path : str or Path
        The PNG to write.
    name : str
        The sweep's name, for the title.
    """
    key, what = time_metric(rows)
    ok = _usable(rows, key, "gpus", "cost_per_gpu_usd")
    fig, (top, bottom) = new_figure(8.5, 7.5, nrows=2, sharex=True)
    note = _failures_note(rows)
    if not ok:
        _empty(top, f"{what} against cluster size")
        bottom.set_visible(False)
        top.set_title(f"{name}: {what} vs cluster size")
        _finish(fig, top, note, path)
        return
    t_factor, t_unit = time_unit(max(r[key] for r in ok))
    c_factor, c_unit = usd_unit(max(r["cost_per_gpu_usd"] for r in ok))
    styles = _styles(ok)
    times: dict[str, list[tuple[int, float]]] = {}
    costs: dict[str, list[tuple[int, float]]] = {}
    for i, (design, (colour, marker)) in enumerate(styles.items()):
        mine = sorted((r for r in ok if r["design"] == design), key=lambda r: r["gpus"])
        gpus = [r["gpus"] for r in mine]
        times[design] = [(r["gpus"], r[key]) for r in mine]
        costs[design] = [(r["gpus"], r["cost_per_gpu_usd"]) for r in mine]
        # later designs smaller and on top: where lines coincide, every design still shows
        style = {"color": colour, "marker": marker, "markersize": _size(i),
                 "linewidth": max(1.0, 2.6 - 0.4 * i), "zorder": 2 + i * 0.01, "label": design}
        top.plot(gpus, [r[key] * t_factor for r in mine], **style)
        bottom.plot(gpus, [r["cost_per_gpu_usd"] * c_factor for r in mine], **style)
    sizes = sorted({r["gpus"] for r in ok})
    if sizes[-1] / sizes[0] >= 4:
        bottom.set_xscale("log", base=2)
    bottom.set_xticks(sizes, [f"{g:,}" for g in sizes],
                      rotation=30 if len(sizes) > 6 else 0)
    bottom.minorticks_off()
    top.set_ylabel(f"{what} ({t_unit})")
    bottom.set_ylabel(f"network cost per GPU ({c_unit})")
    jobs = {r.get("job_gpus") for r in ok}
    job = next(iter(jobs)) if len(jobs) == 1 else None
    # a fixed-size job on a growing cluster: say so, or flat lines look like a mistake
    uses = f"; the workload uses {job:,} of them" if isinstance(job, int) and job < sizes[0] \
        else ""
    bottom.set_xlabel(f"cluster size (GPUs{uses})")
    for ax in (top, bottom):
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.12)
    top.set_title(f"{name}: {what} vs cluster size ({_trend(times)})")
    bottom.set_title(f"Network cost per GPU vs cluster size ({_trend(costs)})")
    if len(styles) <= 12:
        # beside the plot: flat lines would run under a legend placed inside it
        top.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="design",
                   title_fontsize=8)
    _finish(fig, bottom, note, path)
