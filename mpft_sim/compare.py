"""Run one workload on several designs and put them side by side.

The figures per design are the ones a design review asks for: the step time (or TPOT for
decode, makespan for a flow list), the all-to-all times, the p99 flow completion time, the
peak and mean utilisation per tier, the exposed communication, the network's cost and cost per
GPU, and performance per dollar (tokens per second, or steps per second, per million dollars of
network).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpft_sim.engine import Model, simulate
from mpft_sim.errors import SpecError
from mpft_sim.results import Result
from mpft_sim.spec.prices import PriceBook
from mpft_sim.spec.topology import TopologySpec, load_topology
from mpft_sim.spec.workload import WorkloadSpec, load_workload
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.cost import bill_of_materials

__all__ = ["Comparison", "compare", "design_row"]

TIERS = ("endpoint", "leaf-spine", "spine-core")


@dataclass
class Comparison:
    """Designs side by side: one row of figures per design (``rows``), plus the full results
    (``results``) and their summaries."""

    workload: str
    model: str
    rows: list[dict[str, Any]]
    summaries: list[dict[str, Any]] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)

    @property
    def metric(self) -> str:
        """What 'time' means here: ``step_time_s``, ``tpot_s`` or ``makespan_s``."""
        return str(self.rows[0]["metric"]) if self.rows else "step_time_s"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for compare.json (rows only; summaries under ``details``)."""
        return {"workload": self.workload, "model": self.model, "metric": self.metric,
                "designs": self.rows, "details": self.summaries}


def design_row(name: str, summary: dict[str, Any], spec: TopologySpec, cost_usd: float,
               gpus: int) -> dict[str, Any]:
    """The comparison's figures for one design, from its run's summary."""
    if "tpot_s" in summary:
        metric = "tpot_s"
    elif "step_time_s" in summary:
        metric = "step_time_s"
    else:
        metric = "makespan_s"
    time_s = float(summary[metric])
    tokens = summary.get("tokens_per_s")
    per_million = cost_usd / 1e6
    perf = (tokens if tokens else (1.0 / time_s if time_s > 0 else 0.0)) / per_million
    util = summary["utilisation"]["by_tier"]
    a2a = summary.get("alltoall", {})
    row: dict[str, Any] = {
        "design": name,
        "kind": spec.fabric.kind,
        "failures": [f.what for f in spec.failures],
        "gpus": gpus,
        "metric": metric,
        "time_s": time_s,
        "dispatch_s": a2a.get("dispatch", {}).get("mean_s"),
        "combine_s": a2a.get("combine", {}).get("mean_s"),
        "fct_p99_s": summary["fct_s"]["p99"],
        "exposed_comm_s": summary.get("exposed_comm_s"),
        "cost_usd": cost_usd,
        "cost_per_gpu_usd": cost_usd / gpus,
        "perf_per_musd": perf,
        "perf_unit": "tokens/s per $M" if tokens else f"1/{metric[:-2]} per $M",
    }
    for tier in TIERS:
        if tier in util:
            row[f"peak_util_{tier}"] = util[tier]["peak"]
            row[f"mean_util_{tier}"] = util[tier]["mean"]
    if "breakdown" in summary:
        row["breakdown"] = summary["breakdown"]
    return row


def compare(topologies: Sequence[TopologySpec | str | Path],
            workload: WorkloadSpec | str | Path, model: Model = "fluid", *, seed: int = 0,
            tolerance: float = 0.0, prices: PriceBook | None = None,
            keep_results: bool = False,
            progress: Callable[[int, int, str], None] | None = None) -> Comparison:
    """Run ``workload`` on each design and compare them.

    Parameters
    ----------
    topologies : sequence of TopologySpec or paths
        The designs, in the order the comparison lists them (the first is the reference).
    workload : WorkloadSpec or path
        What every design runs; it must fit each one.
    model : {"fluid", "analytic"}
    seed : int
    tolerance : float
        Fluid model: relative time quantum (see :func:`mpft_sim.engine.simulate`).
    prices : PriceBook, optional
        Unit prices for the network's cost (default: the shipped price book).
    keep_results : bool
        Keep each design's full :class:`Result` (memory: a training step's flows).
    progress : callable, optional
        ``progress(i, n, design)`` before each design runs.

    Returns
    -------
    Comparison
    """
    work = workload if not isinstance(workload, str | Path) else load_workload(workload)
    specs = [t if isinstance(t, TopologySpec) else load_topology(t) for t in topologies]
    rows, summaries, results = [], [], []
    for i, spec in enumerate(specs):
        if progress is not None:
            progress(i, len(specs), spec.name)
        fabric = build_fabric(spec)
        try:
            result = simulate(fabric, work, model, seed=seed, tolerance=tolerance)
        except SpecError as exc:
            # say which design the workload does not fit
            raise exc.within(file=f"{work.name} on {spec.name}" if exc.file is None
                             else exc.file) from None
        summary = result.summary()
        cost = bill_of_materials(spec, prices).cost_usd
        rows.append(design_row(spec.name, summary, spec, cost, fabric.n_gpus))
        summaries.append({"design": spec.name, **summary})
        if keep_results:
            results.append(result)
    reference = rows[0]["time_s"] if rows else 0.0
    for row in rows:
        row["time_vs_first"] = row["time_s"] / reference if reference else None
    return Comparison(work.name, model, rows, summaries, results)
