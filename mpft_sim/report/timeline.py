"""The step timeline of a report: the tasks of a run's op table laid out as lanes
(:func:`gantt`), each classed by what it does (:func:`op_class`), and drawn as a Gantt chart
(:func:`draw`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.patches import Patch
from numpy.typing import NDArray

from mpft_sim.report.style import REPORT_WIDTH_IN, new_figure, no_data, save_figure, snap_in
from mpft_sim.results.tables import OpTable
from mpft_sim.units import format_time, time_unit
from mpft_sim.workload.program import MARKERS, WEIGHT_KINDS, Category, TaskKind

__all__ = ["MAX_LANES", "TIMELINE_CLASSES", "Gantt", "draw", "gantt", "op_class",
           "timeline_height_in"]

MAX_LANES = 32
"""More lanes than this and the timeline shows the first EP group of each pipeline stage."""

_STREAMS = {"compute": 0, "comm": 1, "pp": 2}

TIMELINE_CLASSES: dict[str, str] = {
    "forward": "#4e79a7",
    "backward (input)": "#59a14f",
    "backward (weights)": "#8cd17d",
    "overlapped F&B chunk": "#b07aa1",
    "EP dispatch": "#f28e2b",
    "EP combine": "#e15759",
    "NCCL all-to-all": "#ff9da7",
    "pipeline send": "#edc948",
    "DP grad/param sync": "#9c755f",
    "optimizer": "#79706e",
    "KV-cache transfer": "#76b7b2",
    "other": "#bab0ac",
}
"""Colour of each class of task in the step timeline, in legend order."""

# keyed by members, looked up by the text in a table: a member hashes as its string
_COMM_KINDS: dict[str, str] = {
    TaskKind.DISPATCH: "EP dispatch", TaskKind.DISPATCH_BWD: "EP dispatch",
    TaskKind.COMBINE: "EP combine", TaskKind.COMBINE_BWD: "EP combine",
    TaskKind.NCCL_ALLTOALL: "NCCL all-to-all", TaskKind.PP_ACT: "pipeline send",
    TaskKind.PP_GRAD: "pipeline send", TaskKind.GRAD_RS: "DP grad/param sync",
    TaskKind.PARAM_AG: "DP grad/param sync", TaskKind.KV_CACHE: "KV-cache transfer"}
_COMPUTE_CATEGORIES: dict[str, str] = {
    Category.FORWARD: "forward", Category.BACKWARD: "backward (input)",
    Category.BACKWARD_INPUT: "backward (input)", Category.BACKWARD_WEIGHT: "backward (weights)",
    Category.OVERLAPPED: "overlapped F&B chunk", Category.OPTIMIZER: "optimizer",
    Category.KV: "KV-cache transfer"}


def op_class(stream: str, kind: str, category: str) -> str:
    """The timeline class (colour) of a task: compute by phase, communication by kind.

    Parameters
    ----------
    stream : str
        compute, comm or pp.
    kind : str
        The task kind (attn_f, dispatch, grad_rs, ...).
    category : str
        The schedule category (forward, backward, overlapped, optimizer, ...).

    Returns
    -------
    str
        A key of :data:`TIMELINE_CLASSES`.
    """
    if stream != "compute":
        return _COMM_KINDS.get(kind, "pipeline send" if stream == "pp" else "other")
    if kind in WEIGHT_KINDS and category in (Category.BACKWARD, Category.BACKWARD_WEIGHT):
        return "backward (weights)"
    return _COMPUTE_CATEGORIES.get(category, "other")


def timeline_height_in(lanes: int) -> float:
    """Height of the step timeline with ``lanes`` lanes (legend included).

    Parameters
    ----------
    lanes : int
        Lanes shown.

    Returns
    -------
    float
        Inches.
    """
    return snap_in(max(3.6, 2.1 + 0.3 * lanes))


_LEGEND_IN = 0.75  # the legend strip under the timeline: up to three rows of four entries


def _busy_fraction(lanes: NDArray[np.int64], start: NDArray[np.float64],
                   end: NDArray[np.float64], span: float) -> float:
    """Mean, over the lanes that have intervals, of the share of ``span`` they cover (a lane
    that only sends, such as a KV-cache source, does not dilute the figure)."""
    total = 0.0
    present = np.unique(lanes)
    for k in present:
        m = lanes == k
        order = np.argsort(start[m], kind="stable")
        s, e = start[m][order], np.maximum.accumulate(end[m][order])
        # a new busy period starts where a task starts after everything before it ended
        new = np.r_[True, s[1:] > e[:-1]]
        first = np.flatnonzero(new)
        last = np.r_[first[1:] - 1, len(s) - 1]
        total += float((e[last] - s[first]).sum())
    return total / (len(present) * span) if len(present) and span > 0 else 0.0


def draw(gantt: Gantt, path: str | Path) -> None:
    """Per-lane Gantt chart of a step: a compute bar and a communication bar per lane.

    Drawn with one PolyCollection per class, so 150,000 tasks take about a second.

    Parameters
    ----------
    gantt : Gantt
        The lanes and tasks (:func:`gantt`); its ``note`` becomes the title's last line.
    path : str or Path
        Where to save the PNG.
    """
    labels = gantt.labels
    lanes, rows, cls = gantt.lane, gantt.stream, gantt.classes
    start, end = gantt.start_s, gantt.end_s
    height = timeline_height_in(len(labels))
    # the legend gets its own strip under the chart, so it never hides a bar
    fig, (ax, strip) = new_figure(REPORT_WIDTH_IN, height, nrows=2, gridspec_kw={
        "height_ratios": [height - _LEGEND_IN, _LEGEND_IN]})
    strip.axis("off")
    if len(start) == 0:
        no_data(ax, "no timed tasks")
        ax.set_title("Step timeline per lane")
        save_figure(fig, path)
        return
    t0 = float(start.min())
    span = max(float(end.max()) - t0, 1e-12)
    factor, unit = time_unit(span)
    has_pp = bool(np.any(rows == 2))
    # (top, bottom) of each row inside a lane's band of height 1 centred on the lane index
    bands = ([(-0.42, -0.02), (0.02, 0.28), (0.31, 0.42)] if has_pp
             else [(-0.40, -0.02), (0.02, 0.40)])
    row = np.minimum(rows, len(bands) - 1)
    top = np.array([b[0] for b in bands])[row] + lanes
    bottom = np.array([b[1] for b in bands])[row] + lanes
    x0 = (start - t0) * factor
    # a task shorter than a pixel still gets about 1.5 pixels (1/500 of the span): a 50 µs
    # all-to-all in a 500 ms step must not vanish
    x1 = np.maximum((end - t0) * factor, x0 + span * factor / 500)
    present = [c for c in TIMELINE_CLASSES if np.any(cls == c)]
    for name in present:
        m = cls == name
        verts = np.stack([np.column_stack([x0[m], top[m]]), np.column_stack([x1[m], top[m]]),
                          np.column_stack([x1[m], bottom[m]]),
                          np.column_stack([x0[m], bottom[m]])], axis=1)
        # matplotlib's stubs want a sequence of polygons; an (n, 4, 2) array is one
        ax.add_collection(PolyCollection(cast(Any, verts), facecolors=TIMELINE_CLASSES[name],
                                         edgecolors="none", linewidths=0))
    ax.set_xlim(0, span * factor)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_yticks(np.arange(len(labels)), labels, fontsize=8 if len(labels) > 16 else 9)
    ax.grid(True, axis="x")
    ax.grid(False, axis="y")
    ax.set_xlabel(f"time since the step started [{unit}]")
    ax.set_ylabel("lane (GPUs in lockstep)")
    # centred on the figure (not on the axes, which the lane labels push right) so that four
    # columns fit in the width
    fig.legend(handles=[Patch(facecolor=TIMELINE_CLASSES[c], label=c) for c in present],
               loc="center", bbox_to_anchor=(0.5, _LEGEND_IN / 2 / height),
               ncol=min(len(present), 4), fontsize=9, frameon=False)
    # over the figure, not the axes: the lane labels take a quarter of the width
    fig.suptitle(_caption(gantt, span, has_pp), fontsize=10.5)
    save_figure(fig, path)


def _caption(gantt: Gantt, span: float, has_pp: bool) -> str:
    """The chart's title: lanes, span, compute share, which bars there are, the note."""
    rows = gantt.stream
    busy = _busy_fraction(gantt.lane[rows == 0], gantt.start_s[rows == 0],
                          gantt.end_s[rows == 0], span)
    # say only which bars there are: a job that never computes has no compute bar
    names = {0: "compute", 1: "communication", 2: "pipeline sends"}
    places = {0: "top", 1: "middle" if has_pp else "bottom", 2: "thin"}
    bars = "bars per lane: " + ", ".join(f"{names[k]} ({places[k]})" for k in range(3)
                                         if np.any(rows == k))
    n = len(gantt.labels)
    lines = [f"Step timeline of {n} lane{'s' if n != 1 else ''} over {format_time(span)}: the "
             f"GPUs compute {busy:.0%} of the time (mean over computing lanes)", bars]
    if gantt.note:
        lines.append(gantt.note)
    return "\n".join(lines)


@dataclass(frozen=True)
class Gantt:
    """The tasks of an op table laid out for :func:`draw`.

    Attributes
    ----------
    labels : list of str
        One label per lane, top to bottom.
    lane : ndarray of int
        Each task's lane (index into ``labels``).
    stream : ndarray of int
        Each task's bar in its lane: 0 compute, 1 communication, 2 pipeline sends (a thin
        third bar, drawn only when some task has it).
    classes : ndarray of str
        Each task's class, a key of :data:`TIMELINE_CLASSES`.
    start_s, end_s : ndarray of float
        When each task ran, in seconds.
    note : str
        Which lanes were left out, if any.
    """

    labels: list[str]
    lane: NDArray[np.int64]
    stream: NDArray[np.int64]
    classes: NDArray[np.object_]
    start_s: NDArray[np.float64]
    end_s: NDArray[np.float64]
    note: str


def _ranks(text: str) -> set[int]:
    """GPU ranks of a lane: ``0-15``, ``0 1 2 96`` or a mix."""
    out: set[int] = set()
    for token in re.split(r"[\s,]+", text.strip()):
        lo, sep, hi = token.partition("-")
        if lo.isdigit() and (not sep or hi.isdigit()):
            out.update(range(int(lo), int(hi if sep else lo) + 1))
    return out


def _lane_position(name: str) -> tuple[int | None, int | None]:
    """(pipeline stage, EP group index) in a lane name such as ``t:pp3.edp1`` or ``d:ep0``."""
    local = name.split(":", 1)[-1]
    pp = re.search(r"(?:^|\.)pp(\d+)", local)
    ep = re.search(r"(?:^|\.)e?dp(\d+)(?:\.|$)|(?:^|\.)ep(\d+)(?:\.|$)", local)
    ep_index = None
    if ep:
        ep_index = int(ep[1] if ep[1] is not None else ep[2])
    return (int(pp[1]) if pp else None), ep_index


def _thin(rows: list[str], job_of: dict[str, str], max_lanes: int) -> tuple[list[str], str]:
    """At most ``max_lanes`` lanes: the first EP group of each pipeline stage (then the first
    ``max_lanes``), and a note saying so; all of them when they fit."""
    if len(rows) <= max_lanes:
        return rows, ""
    total = len(rows)
    position = {n: _lane_position(n) for n in rows}
    first_ep: dict[tuple[str, int | None], int] = {}
    for n, (pp, ep) in position.items():
        if ep is not None:
            key = (job_of[n], pp)
            first_ep[key] = min(first_ep.get(key, ep), ep)
    rows = [n for n in rows if position[n][1] is None
            or position[n][1] == first_ep[(job_of[n], position[n][0])]]
    if len(rows) > max_lanes:
        return rows[:max_lanes], f"{total} lanes: showing the first {max_lanes}"
    return rows, (f"{total} lanes: showing the first EP group of each pipeline stage "
                  f"({len(rows)} lanes)")


def gantt(ops: OpTable, max_lanes: int = MAX_LANES) -> Gantt:
    """Lay out a program's tasks as Gantt rows: one lane per row, the step-end lanes (data-
    parallel gradient sync and optimizer, which span several pipeline stages) drawn on the
    lanes whose GPUs they involve.

    Parameters
    ----------
    ops : OpTable
        When each task ran.
    max_lanes : int, default 32
        Above this, keep the first EP group of each pipeline stage (then the first
        ``max_lanes`` lanes), and say so in ``note``.

    Returns
    -------
    Gantt
    """
    if len(ops) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Gantt([], empty, empty, np.zeros(0, dtype=object), np.zeros(0), np.zeros(0), "")
    names, first, code = np.unique(ops.lane.astype(str), return_index=True,
                                   return_inverse=True)
    order = np.argsort(first, kind="stable")  # lanes in the order the table lists them
    lanes_in_order = [str(names[k]) for k in order]
    job_of = {str(names[k]): str(ops.job[first[k]]) for k in order}
    ranks_text = {str(names[k]): str(ops.ranks[first[k]]) for k in order}
    gpus = {n: _ranks(t) for n, t in ranks_text.items()}
    # lanes with only optimizer-category tasks: the step-end (gradient sync, update) lanes
    not_optimizer = np.bincount(code, ops.category != "optimizer", minlength=len(names))
    step_end = {str(names[k]) for k in range(len(names)) if not_optimizer[k] == 0}
    main = [n for n in lanes_in_order if n not in step_end]
    # a step-end lane is drawn on the pipeline lanes of its job that share GPUs with it
    targets = {n: ([m for m in main if job_of[m] == job_of[n] and gpus[m] & gpus[n]] or [n])
               if n in step_end else [n] for n in lanes_in_order}
    rows = [n for n in lanes_in_order if n not in step_end or targets[n] == [n]]
    rows, note = _thin(rows, job_of, max_lanes)
    row_of = {n: i for i, n in enumerate(rows)}
    valid = (ops.end_s > ops.start_s) & ~np.isin(ops.kind.astype(str), [str(m) for m in MARKERS])
    take, lane_idx = [], []
    for k, n in enumerate(names):
        mine = np.flatnonzero(valid & (code == k))
        for host in targets[str(n)]:
            if host in row_of:
                take.append(mine)
                lane_idx.append(np.full(len(mine), row_of[host], dtype=np.int64))
    idx = np.concatenate(take) if take else np.zeros(0, dtype=np.int64)
    lanes = np.concatenate(lane_idx) if lane_idx else np.zeros(0, dtype=np.int64)
    stream = np.array([_STREAMS.get(str(s), 1) for s in ops.stream[idx]], dtype=np.int64)
    # classify each distinct (stream, kind, category) once: 150k tasks have a few dozen
    known: dict[tuple[str, str, str], str] = {}
    found = []
    for a, b, c in zip(ops.stream[idx].tolist(), ops.kind[idx].tolist(),
                       ops.category[idx].tolist(), strict=True):
        task = (str(a), str(b), str(c))
        if task not in known:
            known[task] = op_class(*task)
        found.append(known[task])
    classes = np.array(found, dtype=object)
    single_job = len(set(job_of.values())) == 1
    labels = []
    for n in rows:
        shown = n.split(":", 1)[1] if single_job and ":" in n else n
        text = ranks_text[n]
        who = f"GPUs {text}" if len(text) <= 12 else f"{len(gpus[n])} GPUs"
        labels.append(f"{shown} · {who}")
    return Gantt(labels=labels, lane=lanes, stream=stream, classes=classes,
                 start_s=ops.start_s[idx], end_s=ops.end_s[idx], note=note)
