"""The figures of a run report: each PNG drawn from a run, with its title and caption, and
the state of each link group (failed, idle, degraded, the share of it used) the figures label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mpft_sim.report import plots, timeline
from mpft_sim.report.cost import cost_breakdown
from mpft_sim.report.document import Figure
from mpft_sim.report.planes import plane_balance
from mpft_sim.results import Run
from mpft_sim.results.tables import LinkGroup
from mpft_sim.topology.fabric import Tier

__all__ = ["draw_figures"]


def draw_figures(run: Run, folder: str | Path) -> list[Figure]:
    """Draw every figure the run has data for into ``folder``.

    Parameters
    ----------
    run : Run
        A run in memory or read back from its directory.
    folder : str or Path
        An existing folder.

    Returns
    -------
    list of Figure
        In report order: what happened over time, where in the network, how evenly, what
        flows saw, what it cost.
    """
    folder = Path(folder)
    s, links, tl = run.summary, run.link_table, run.timeline
    figures = []
    if run.op_table is not None and s.jobs:
        g = timeline.gantt(run.op_table)
        if g.labels:
            timeline.draw(g, folder / "timeline.png")
            figures.append(Figure(
                "timeline.png", "Step timeline per lane",
                "Step timeline per lane (a lane is the GPUs that run in lockstep): compute on "
                "the upper bar, communication below it. Gaps in the compute bar are time the "
                "GPUs wait: pipeline bubbles or exposed communication."))
    names = [g.name for g in tl.groups]
    plots.utilisation_heatmap(tl.edges_s, names, tl.util * _used_scale(run)[None, :],
                              folder / "utilisation_heatmap.png", failed=_failed_groups(run),
                              idle=_idle_groups(run),
                              label="mean utilisation of the group's used links",
                              degraded=_degraded_groups(run))
    figures.append(Figure(
        "utilisation_heatmap.png", "Link utilisation over time per plane and tier",
        "Link utilisation over time: one row per plane and tier; colour = mean utilisation, in "
        "each time bin, of the group's links that carried traffic during the run (yellow = at "
        "capacity). A dark row in an otherwise busy tier is an idle or dead plane; rows of "
        "degraded links are labelled in orange with the share of their bandwidth they keep."))
    tiers = np.array([t.label for t in Tier], dtype=object)[links.tier]
    plane_balance(links.plane, tiers, links.bytes, links.alive,
                        folder / "plane_balance.png", degrade=links.degrade)
    figures.append(Figure(
        "plane_balance.png", "Bytes carried per plane and tier",
        "Bytes each plane carried, per tier, with the mean of the live planes dashed: a "
        "balanced multi-plane fabric has bars of equal height."))
    plots.utilisation_cdf(links.mean_util, tiers, links.bytes, folder / "utilisation_cdf.png")
    figures.append(Figure(
        "utilisation_cdf.png", "CDF of per-link mean utilisation by tier",
        "Distribution of per-link mean utilisation over the run, per tier (links that carried "
        "traffic). A curve far to the right is a tier that limits the run; a wide spread "
        "within a tier is load imbalance."))
    cdf = s.fct_cdf
    plots.fct_cdf(cdf.q, cdf.fct_s, cdf.slowdown, folder / "fct_cdf.png", flows=s.flows)
    figures.append(Figure(
        "fct_cdf.png", "Flow completion time and slowdown CDFs",
        "Flow completion time (left) and slowdown: the completion time over the time the flow "
        "would take alone on an idle network (right)."))
    cost = s.cost
    cost_breakdown(cost.items, cost.endpoints, folder / "cost_breakdown.png",
                         name=cost.name)
    figures.append(Figure(
        "cost_breakdown.png", "Network cost by component",
        "Network cost by component, from the bill of materials and the price book."))
    return figures


def _group_masks(run: Run) -> dict[LinkGroup, NDArray[np.bool_]]:
    """The links of each timeline group."""
    lk = run.link_table
    return {g: (lk.tier == g.tier) & (lk.plane == (-1 if g.plane is None else g.plane))
            for g in run.timeline.groups}


def _used_scale(run: Run) -> NDArray[np.float64]:
    """Per timeline group, its capacity over the capacity of its links that carried traffic.

    The timeline divides each group's load by the capacity of all its links; links that never
    carried a byte add no load, so multiplying by this factor gives exactly the utilisation of
    the links the run used. A job on 64 of 2,048 GPUs then shows its real load instead of 3%.
    """
    lk = run.link_table
    out = np.ones(len(run.timeline.groups))
    for g, mine in enumerate(_group_masks(run).values()):
        used = float(lk.capacity_Bps[mine & (lk.bytes > 0)].sum())
        if used > 0:
            out[g] = float(lk.capacity_Bps[mine].sum()) / used
    return out


def _idle_groups(run: Run) -> set[str]:
    """Timeline groups none of whose links carried a byte."""
    carried = run.link_table.bytes > 0
    return {g.name for g, mine in _group_masks(run).items() if not carried[mine].any()}


def _degraded_groups(run: Run) -> dict[str, str]:
    """Timeline groups with live links at a fraction of their bandwidth, and how much."""
    lk = run.link_table
    out = {}
    for g, mine in _group_masks(run).items():
        note = plots.degraded_note(lk.degrade[mine & lk.alive])
        if note:
            out[g.name] = note
    return out


def _failed_groups(run: Run) -> set[str]:
    """Timeline groups whose links all failed."""
    alive = run.link_table.alive
    return {g.name for g, mine in _group_masks(run).items()
            if mine.any() and not alive[mine].any()}
