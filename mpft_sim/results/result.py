"""A run's records and summary: :class:`Run` (what a run directory holds) and
:class:`Result` (a run in memory, with the fabric it ran on), built once and frozen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mpft_sim.results.columns import to_frame
from mpft_sim.results.flows import FlowTable
from mpft_sim.results.steps import Timings, job_summary
from mpft_sim.results.summary import (
    EngineStats,
    FctCdf,
    HotLink,
    LinkUse,
    Provenance,
    Quantiles,
    RunInfo,
    RunSummary,
)
from mpft_sim.results.tables import LinkTable, OpTable, TimelineTable
from mpft_sim.topology.cost import BillOfMaterials
from mpft_sim.topology.fabric import SWITCHED_TIERS, Tier
from mpft_sim.units import format_time

if TYPE_CHECKING:
    from mpft_sim.topology.fabric import Fabric
    from mpft_sim.workload.program import JobInfo

__all__ = ["Result", "Run", "summarise"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Run:
    """What a run produced, as records: its summary and its tables.

    This is what a run directory holds (:func:`~mpft_sim.results.rundir.load_run` reads one
    back) and what the reports draw. ``flow_table`` is None when the run directory has no
    flows file; ``op_table`` is None for a run without a program.

    The tables are also DataFrames (``flows``, ``links``, ``ops``, ``utilisation``: pandas
    when it is installed, numpy records otherwise) with the columns of their files.
    """

    summary: RunSummary
    link_table: LinkTable
    timeline: TimelineTable
    flow_table: FlowTable | None
    op_table: OpTable | None

    @property
    def flows(self) -> Any:
        """One row per flow (the columns of flows.csv); None without flows."""
        return to_frame(self.flow_table) if self.flow_table is not None else None

    @property
    def links(self) -> Any:
        """One row per directed link (the columns of links.csv)."""
        return to_frame(self.link_table)

    @property
    def ops(self) -> Any:
        """One row per task of the program (the columns of ops.csv); None without one."""
        return to_frame(self.op_table) if self.op_table is not None else None

    def __repr__(self) -> str:
        s = self.summary
        i = s.info
        step = f", step {format_time(s.slowest.step_time_s)}" if s.slowest else ""
        return (f"{type(self).__name__}({i.workload!r} on {i.topology!r}, {i.model}: "
                f"{s.flows:,} flows, makespan {format_time(s.makespan_s)}{step})")


@dataclass(frozen=True, eq=False, repr=False)
class Result(Run):
    """A run in memory: its records and summary (see :class:`Run`) and the fabric it ran on
    (failures applied)."""

    fabric: Fabric

    @property
    def makespan_s(self) -> float:
        """When the last flow completed."""
        return self.summary.makespan_s

    @property
    def link_bytes(self) -> FloatArray:
        """Bytes each directed link carried."""
        return self.link_table.bytes


def _utilisation(links: LinkTable, makespan_s: float
                 ) -> tuple[dict[str, LinkUse], dict[str, LinkUse]]:
    """Mean and peak utilisation of the switched links by plane and by tier, and of the
    links inside servers (tier ``node``)."""
    span = max(makespan_s, 1e-300)

    def use(mask: NDArray[np.bool_]) -> LinkUse:
        cap = float(links.capacity_Bps[mask].sum()) * span
        carried = float(links.bytes[mask].sum())
        used = mask & (links.bytes > 0)
        return LinkUse(mean=carried / cap if cap > 0 else 0.0,
                       peak=float(links.peak_util[mask].max(initial=0.0)), bytes=carried,
                       hot=float(links.hot_s[used].mean()) / span if used.any() else 0.0,
                       p99_mean=float(np.percentile(links.mean_util[used], 99))
                       if used.any() else 0.0)

    switched = links.tier != Tier.NODE
    by_plane = {str(p): use(switched & (links.plane == p))
                for p in np.unique(links.plane[switched]).tolist()}
    by_tier = {t.label: use(links.tier == t) for t in SWITCHED_TIERS if np.any(links.tier == t)}
    by_tier[Tier.NODE.label] = use(links.tier == Tier.NODE)
    return by_plane, by_tier


def _hottest(links: LinkTable, count: int = 10) -> tuple[HotLink, ...]:
    """The links that spent longest saturated, then carried the most bytes."""
    order = np.lexsort((-links.bytes, -links.saturated_s))[:count]
    return tuple(HotLink(id=int(i), link=f"{links.src[i]} -> {links.dst[i]}",
                         tier=Tier(int(links.tier[i])).label,
                         plane=int(links.plane[i]) if links.plane[i] >= 0 else None,
                         saturated_s=float(links.saturated_s[i]),
                         mean_util=float(links.mean_util[i]), bytes=float(links.bytes[i]))
                 for i in order.tolist() if links.bytes[i] > 0)


def summarise(info: RunInfo, flows: FlowTable, links: LinkTable, cost: BillOfMaterials,
              timings: Timings | None, jobs: list[JobInfo], engine: EngineStats,
              provenance: Provenance) -> RunSummary:
    """The headline numbers of a run from its records.

    Parameters
    ----------
    info : RunInfo
        What ran.
    flows : FlowTable
    links : LinkTable
    cost : BillOfMaterials
    timings : Timings, optional
        When each task of the program ran (None without a program).
    jobs : list of JobInfo
        What each job builder said of its job.
    engine : EngineStats
    provenance : Provenance

    Returns
    -------
    RunSummary
    """
    fct = flows.fct_s
    ideal = flows.ideal_fct_s()
    with np.errstate(divide="ignore", invalid="ignore"):
        slowdown = np.where(ideal > 0, fct / ideal, 1.0)
    makespan = float(flows.end_s.max(initial=0.0))
    by_plane, by_tier = _utilisation(links, makespan)
    job_summaries = tuple(job_summary(timings, job) for job in jobs) if timings else ()
    return RunSummary(
        info=info, makespan_s=makespan, flows=len(flows),
        bytes=float(flows.size_bytes.sum()), fct_s=Quantiles.of(fct),
        slowdown=Quantiles.of(slowdown), fct_cdf=FctCdf.of(fct, slowdown), by_plane=by_plane,
        by_tier=by_tier, hottest_links=_hottest(links), engine=engine, cost=cost,
        jobs=job_summaries, provenance=provenance)
