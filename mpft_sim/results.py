"""What a simulation produced: records per flow and per link, summaries, CSV/JSON writers."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mpft_sim.records import FlowTable, LinkTable, Timeline
from mpft_sim.topology.cost import bill_of_materials
from mpft_sim.topology.fabric import TIER_NAMES, Fabric, LinkKind

__all__ = ["Result", "write_flows_csv", "write_links_csv", "write_ops_csv",
           "write_timeline_csv"]

FloatArray = NDArray[np.float64]


@dataclass
class Result:
    """The outcome of one simulation.

    The tables ``flows``, ``links`` and ``ops`` are pandas DataFrames when pandas is installed
    and numpy record arrays otherwise; the arrays behind them are ``flow_table``,
    ``link_table`` and ``op_table``.

    Attributes
    ----------
    fabric : Fabric
        The network that ran (failures applied).
    flow_table : FlowTable
        One record per flow, as arrays (with each flow's links when they were kept).
    link_table : LinkTable
        Busy time, saturated time and peak utilisation per directed link.
    timeline : Timeline
        Load per plane and tier over time.
    link_bytes : ndarray
        Bytes each directed link carried.
    makespan_s : float
        When the last flow completed.
    inputs : dict
        What ran: files, model, seed, routing, tolerance.
    stats : dict
        Engine counters (re-solves, flows re-solved).
    """

    fabric: Fabric
    flow_table: FlowTable
    link_table: LinkTable
    timeline: Timeline
    link_bytes: FloatArray
    makespan_s: float
    inputs: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)
    op_table: Any = None
    """Programs: when each task ran (an :class:`~mpft_sim.engine.OpTable`)."""
    jobs: list[Any] = field(default_factory=list)
    """Programs: what each job builder said of its job (JobInfo)."""

    @property
    def flows(self) -> Any:
        """One row per flow: id, src and dst (global GPU ranks), size_bytes, start_s,
        served_s, end_s, latency_s, fct_s, tag."""
        fl = self.flow_table
        return _table({
            "id": np.arange(len(fl)), "src": fl.src, "dst": fl.dst,
            "size_bytes": fl.size_bytes, "start_s": fl.release_s, "served_s": fl.served_s,
            "end_s": fl.end_s, "latency_s": fl.latency_s, "fct_s": fl.end_s - fl.release_s,
            "tag": np.array(fl.tags, dtype=object)[fl.tag] if len(fl) else np.zeros(0, object),
        }, categorical=("tag",))

    @property
    def links(self) -> Any:
        """One row per directed link: its ends, kind, plane, tier, capacity and load figures
        (the columns of links.csv)."""
        fab, lk = self.fabric, self.link_table
        span = max(self.makespan_s, 1e-300)
        names = np.array(fab.node_names, dtype=object)
        return _table({
            "id": np.arange(fab.n_links), "src": names[fab.link_src],
            "dst": names[fab.link_dst],
            "kind": np.array([k.name.lower() for k in LinkKind], dtype=object)[fab.link_kind],
            "plane": fab.link_plane.astype(np.int64),
            "tier": np.array([TIER_NAMES[t] for t in range(4)], dtype=object)[fab.link_tier],
            "capacity_Bps": fab.capacity_Bps, "latency_s": fab.latency_s,
            "bytes": self.link_bytes, "busy_s": lk.busy_s,
            "mean_util": self.link_bytes / (fab.capacity_Bps * span),
            "peak_util": lk.peak_util, "saturated_s": lk.saturated_s, "alive": fab.link_alive,
        }, categorical=("kind", "tier"))

    @property
    def ops(self) -> Any:
        """Programs: one row per task: job, lane, ranks, stream, kind, category, label,
        start_s, end_s, flows (the columns of ops.csv); None for a flow list."""
        ops = self.op_table
        if ops is None:
            return None
        prog = ops.program
        lane_names = np.array([lane.name for lane in prog.lanes], dtype=object)
        lane_jobs = np.array([lane.job for lane in prog.lanes], dtype=object)
        lane_ranks = np.array([lane.ranks_text for lane in prog.lanes], dtype=object)
        return _table({
            "id": np.arange(len(prog)), "job": lane_jobs[prog.lane],
            "lane": lane_names[prog.lane], "ranks": lane_ranks[prog.lane],
            "stream": np.array(["compute", "comm", "pp"], dtype=object)[prog.stream],
            "kind": np.array(prog.kinds, dtype=object)[prog.kind],
            "category": np.array(prog.categories, dtype=object)[prog.category],
            "label": np.array(prog.label, dtype=object), "start_s": ops.start_s,
            "end_s": ops.end_s, "flows": ops.flows,
        }, categorical=("job", "lane", "stream", "kind", "category"))

    @property
    def fct_s(self) -> FloatArray:
        """Completion time of each flow: end minus release."""
        return self.flow_table.end_s - self.flow_table.release_s

    def ideal_fct_s(self) -> FloatArray:
        """Each flow's completion time on an otherwise idle network: its latency plus its
        size at the rate it would get alone (the tightest of its links for its share)."""
        fl = self.flow_table
        alone = fl.alone_Bps.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            serve = np.where(np.isfinite(alone), fl.size_bytes / alone, 0.0)
        return serve + fl.latency_s

    def utilisation(self) -> dict[str, dict[str, dict[str, float]]]:
        """Mean and peak utilisation of the switched links, by plane and by tier.

        Mean: bytes carried over (capacity x makespan), over all links of the group; peak: the
        highest any link of the group reached.
        """
        fab = self.fabric
        span = max(self.makespan_s, 1e-300)
        out: dict[str, dict[str, dict[str, float]]] = {"by_plane": {}, "by_tier": {}}
        switched = fab.link_kind >= LinkKind.ENDPOINT
        for label, groups in (("by_plane", fab.link_plane), ("by_tier", fab.link_tier)):
            for g in np.unique(groups[switched]):
                m = switched & (groups == g)
                name = str(int(g)) if label == "by_plane" else TIER_NAMES[int(g)]
                out[label][name] = {
                    "mean": float(self.link_bytes[m].sum() / (fab.capacity_Bps[m].sum() * span)),
                    "peak": float(self.link_table.peak_util[m].max()),
                    "bytes": float(self.link_bytes[m].sum()),
                }
        node = fab.link_tier == 0
        out["by_tier"]["node"] = {
            "mean": float(self.link_bytes[node].sum() / (fab.capacity_Bps[node].sum() * span)),
            "peak": float(self.link_table.peak_util[node].max()) if node.any() else 0.0,
            "bytes": float(self.link_bytes[node].sum()),
        }
        return out

    def hottest_links(self, count: int = 10) -> list[dict[str, Any]]:
        """The links that spent longest saturated, then carried the most bytes."""
        fab = self.fabric
        order = np.lexsort((-self.link_bytes, -self.link_table.saturated_s))[:count]
        span = max(self.makespan_s, 1e-300)
        return [{
            "id": int(i),
            "link": f"{fab.node_name(fab.link_src[i])} -> {fab.node_name(fab.link_dst[i])}",
            "tier": TIER_NAMES[int(fab.link_tier[i])],
            "plane": int(fab.link_plane[i]),
            "saturated_s": float(self.link_table.saturated_s[i]),
            "mean_util": float(self.link_bytes[i] / (fab.capacity_Bps[i] * span)),
            "bytes": float(self.link_bytes[i]),
        } for i in order if self.link_bytes[i] > 0]

    def summary(self) -> dict[str, Any]:
        """The headline numbers, as plain data for summary.json."""
        fct = self.fct_s
        ideal = self.ideal_fct_s()
        with np.errstate(divide="ignore", invalid="ignore"):
            slowdown = np.where(ideal > 0, fct / ideal, 1.0)

        def pct(x: FloatArray) -> dict[str, float]:
            if len(x) == 0:
                return {"p50": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
            return {"p50": float(np.percentile(x, 50)), "p99": float(np.percentile(x, 99)),
                    "max": float(x.max()), "mean": float(x.mean())}

        out: dict[str, Any] = {
            "inputs": self.inputs,
            "makespan_s": self.makespan_s,
            "flows": len(self.flow_table),
            "bytes": float(self.flow_table.size_bytes.sum()),
            "fct_s": pct(fct),
            "slowdown": pct(slowdown),
            "utilisation": self.utilisation(),
            "hottest_links": self.hottest_links(),
            "engine": self.stats,
            "fct_cdf": self.fct_cdf(fct, slowdown),
            "cost": bill_of_materials(self.fabric).to_dict(),
        }
        if self.jobs:
            out["jobs"] = [self.job_summary(job) for job in self.jobs]
            if len(self.jobs) == 1:
                out.update({k: v for k, v in out["jobs"][0].items()
                            if k not in ("name", "kind")})
        return out

    @staticmethod
    def fct_cdf(fct: FloatArray, slowdown: FloatArray, points: int = 201) -> dict[str, Any]:
        """Quantiles of flow completion time and slowdown: enough to draw their CDFs without
        the flows themselves."""
        q = np.linspace(0.0, 1.0, points)
        if len(fct) == 0:
            return {"q": q.tolist(), "fct_s": [0.0] * points, "slowdown": [1.0] * points}
        return {"q": q.tolist(), "fct_s": np.quantile(fct, q).tolist(),
                "slowdown": np.quantile(slowdown, q).tolist()}

    def job_summary(self, job: Any) -> dict[str, Any]:
        """One job's step figures (see :mod:`mpft_sim.step_stats`)."""
        from mpft_sim.step_stats import step_summary

        stats = step_summary(self.op_table, job.lanes, job.step_lanes)
        out: dict[str, Any] = {"name": job.name, "kind": job.kind, "gpus": job.gpus, **stats}
        if job.kind == "inference":
            steps = job.info["steps"]
            per_step = stats["step_time_s"] / steps
            out["step_time_s"] = per_step
            out["tokens_per_s"] = job.tokens_per_step / per_step if per_step > 0 else 0.0
            if job.info["phase"] == "decode":
                # a request gains 1 + accepted draft tokens per step
                out["tpot_s"] = per_step / job.info["tokens_per_request"]
            out.pop("breakdown")
        elif job.kind == "training":
            out["tokens_per_s"] = job.tokens_per_step / stats["step_time_s"]
        elif job.kind == "nccl-alltoall":
            prog = self.op_table.program
            tasks = np.flatnonzero(np.isin(prog.lane, job.lanes))
            dur = self.op_table.end_s[tasks] - self.op_table.start_s[tasks]
            n = job.gpus
            per_gpu = job.info["message_bytes"] * (n - 1)
            out["alltoall_s"] = {"mean": float(dur.mean()), "max": float(dur.max())}
            out["algbw_Bps_per_gpu"] = float(per_gpu / dur.mean())
            out.pop("breakdown")
        out["info"] = job.info
        return out


def _table(columns: dict[str, Any], categorical: tuple[str, ...] = ()) -> Any:
    """A pandas DataFrame of the columns, or a numpy record array without pandas."""
    try:
        import pandas as pd
    except ImportError:
        return np.rec.fromarrays(list(columns.values()),  # type: ignore[call-overload]
                                 names=",".join(columns))
    frame = pd.DataFrame(columns)
    for name in categorical:
        frame[name] = frame[name].astype("category")
    return frame


def _fmt(x: float) -> str:
    return repr(float(x))


def write_flows_csv(result: Result, path: str | Path) -> None:
    """flows.csv: ``id, src, dst, size_bytes, start_s, end_s, latency_s, links, tag``."""
    fl, fab = result.flow_table, result.fabric
    names = fab.node_names[:fab.n_gpus]
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["id", "src", "dst", "size_bytes", "start_s", "end_s", "latency_s",
                      "links", "tag"])
        for f in range(len(fl)):
            out.writerow([f, names[fl.src[f]], names[fl.dst[f]], _fmt(fl.size_bytes[f]),
                          _fmt(fl.release_s[f]), _fmt(fl.end_s[f]), _fmt(fl.latency_s[f]),
                          fl.paths_text(f), fl.tags[fl.tag[f]]])


def write_links_csv(result: Result, path: str | Path) -> None:
    """links.csv: one row per directed link with its load statistics."""
    fab, lk = result.fabric, result.link_table
    span = max(result.makespan_s, 1e-300)
    kinds = [k.name.lower() for k in LinkKind]
    names = fab.node_names
    mean = result.link_bytes / (fab.capacity_Bps * span)
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["id", "src", "dst", "kind", "plane", "tier", "capacity_Bps", "latency_s",
                      "bytes", "busy_s", "mean_util", "peak_util", "saturated_s", "alive"])
        for i in range(fab.n_links):
            out.writerow([i, names[fab.link_src[i]], names[fab.link_dst[i]],
                          kinds[fab.link_kind[i]], int(fab.link_plane[i]),
                          TIER_NAMES[int(fab.link_tier[i])], _fmt(fab.capacity_Bps[i]),
                          _fmt(fab.latency_s[i]), _fmt(result.link_bytes[i]),
                          _fmt(lk.busy_s[i]), _fmt(mean[i]), _fmt(lk.peak_util[i]),
                          _fmt(lk.saturated_s[i]), int(fab.link_alive[i])])


def write_ops_csv(result: Result, path: str | Path) -> None:
    """ops.csv: per lane (ranks in lockstep) and stream, each task's kind, start and end."""
    ops = result.op_table
    prog = ops.program
    streams = ["compute", "comm", "pp"]
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["id", "job", "lane", "ranks", "stream", "kind", "category", "label",
                      "start_s", "end_s", "flows"])
        lanes = prog.lanes
        for t in range(len(prog)):
            lane = lanes[prog.lane[t]]
            out.writerow([t, lane.job, lane.name, lane.ranks_text, streams[prog.stream[t]],
                          prog.kinds[prog.kind[t]], prog.categories[prog.category[t]],
                          prog.label[t], _fmt(ops.start_s[t]), _fmt(ops.end_s[t]),
                          int(ops.flows[t])])


def write_timeline_csv(result: Result, path: str | Path, bins: int = 400) -> None:
    """timeline.csv: mean utilisation of each plane and tier of links in equal time bins.

    Columns ``start_s, end_s`` then one per group named ``p<plane>/<tier>`` (``node/<tier>``
    for links inside servers).
    """
    edges, util = result.timeline.binned(result.makespan_s, bins)
    names = [f"node/{TIER_NAMES[t]}" if p < 0 else f"p{p}/{TIER_NAMES[t]}"
             for p, t in result.timeline.groups]
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["start_s", "end_s", *names])
        for i in range(len(util)):
            out.writerow([_fmt(edges[i]), _fmt(edges[i + 1]),
                          *(f"{u:.6g}" for u in util[i])])
