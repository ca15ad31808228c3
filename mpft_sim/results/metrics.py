"""One row of figures per design: what a comparison lists side by side and a sweep puts in
each row of its table (:func:`metrics_row`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from mpft_sim.results.summary import RunSummary
from mpft_sim.topology.fabric import SWITCHED_TIERS

__all__ = ["METRICS", "Metrics", "metrics_row"]


def _num(value: float | None) -> float | None:
    """A finite float, or None (JSON has no NaN or infinity)."""
    if value is None:
        return None
    x = float(value)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Metrics:
    """The figures of one design running one workload.

    ``time_s`` is what the run's time means for its workload (``metric``): the step time of
    training and NCCL jobs, the time per output token of decode, the makespan of a flow list.
    With several jobs side by side the times are the slowest job's, tokens and GPUs all
    jobs'. Performance per dollar is tokens per second (else ``1 / time_s``) per million
    dollars of network. Utilisation per switched tier: ``peak`` is the highest load over
    capacity any link of the tier reached, ``mean`` its bytes over (capacity x makespan);
    over the links that carried traffic, ``hot`` is the mean share of the run spent at or
    above 90% of capacity and ``p99_util`` the 99th percentile of per-link mean utilisation.
    """

    gpus: int | None = None
    job_gpus: int | None = None
    metric: str | None = None
    time_s: float | None = None
    step_time_s: float | None = None
    makespan_s: float | None = None
    tpot_s: float | None = None
    tokens_per_s: float | None = None
    dispatch_s: float | None = None
    combine_s: float | None = None
    fct_p99_s: float | None = None
    exposed_comm_s: float | None = None
    peak_util_endpoint: float | None = None
    mean_util_endpoint: float | None = None
    hot_endpoint: float | None = None
    p99_util_endpoint: float | None = None
    peak_util_leaf_spine: float | None = None
    mean_util_leaf_spine: float | None = None
    hot_leaf_spine: float | None = None
    p99_util_leaf_spine: float | None = None
    peak_util_spine_core: float | None = None
    mean_util_spine_core: float | None = None
    hot_spine_core: float | None = None
    p99_util_spine_core: float | None = None
    cost_usd: float | None = None
    cost_per_gpu_usd: float | None = None
    perf_per_musd: float | None = None
    perf_unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The figures as a plain mapping (column name to value)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


METRICS: tuple[str, ...] = tuple(f.name for f in fields(Metrics))
"""The figures of a row, in column order."""


def metrics_row(summary: RunSummary, cost_usd: float, gpus: int) -> Metrics:
    """The figures of one run (see :class:`Metrics`).

    Parameters
    ----------
    summary : RunSummary
    cost_usd : float
        The design's network cost (with the price book the caller chose).
    gpus : int
        GPUs of the design.

    Returns
    -------
    Metrics
    """
    util: dict[str, Any] = {}
    for tier in SWITCHED_TIERS:
        use = summary.by_tier.get(tier.label)
        key = tier.label.replace("-", "_")
        util[f"peak_util_{key}"] = _num(use.peak) if use else None
        util[f"mean_util_{key}"] = _num(use.mean) if use else None
        util[f"hot_{key}"] = _num(use.hot) if use else None
        util[f"p99_util_{key}"] = _num(use.p99_mean) if use else None
    slowest = summary.slowest
    if slowest is None:
        metric, time_s = "makespan_s", summary.makespan_s
        tokens = None
        per_job: dict[str, Any] = {}
    else:
        metric = "tpot_s" if slowest.tpot_s is not None else "step_time_s"
        time_s = slowest.tpot_s if slowest.tpot_s is not None else slowest.step_time_s
        counts = [j.tokens_per_s for j in summary.jobs if j.tokens_per_s is not None]
        tokens = sum(counts) if counts else None
        a2a = slowest.alltoall
        per_job = {
            "job_gpus": sum(j.gpus for j in summary.jobs),
            "step_time_s": _num(slowest.step_time_s), "tpot_s": _num(slowest.tpot_s),
            "exposed_comm_s": _num(slowest.exposed_comm_s),
            "dispatch_s": _num(a2a["dispatch"].mean_s) if "dispatch" in a2a else None,
            "combine_s": _num(a2a["combine"].mean_s) if "combine" in a2a else None,
        }
    rate = tokens or (1.0 / time_s if time_s > 0 else None)
    unit = "tokens/s per $M" if tokens else f"1/{metric[:-2]} per $M"
    return Metrics(
        gpus=gpus, metric=metric, time_s=_num(time_s), makespan_s=_num(summary.makespan_s),
        tokens_per_s=_num(tokens), fct_p99_s=_num(summary.fct_s.p99), cost_usd=_num(cost_usd),
        cost_per_gpu_usd=_num(cost_usd / gpus) if gpus else None,
        perf_per_musd=_num(rate / (cost_usd / 1e6)) if rate and cost_usd > 0 else None,
        perf_unit=unit, **per_job, **util)
