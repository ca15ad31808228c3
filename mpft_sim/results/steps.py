"""What a job's step says, from when each task of its program ran: the step time, its
breakdown, exposed communication and the all-to-all figures (a :class:`JobSummary`).

Breakdown of a lane's step (the rows DeepSeek reports): every instant from the step's start to
its end belongs to exactly one of

- ``forward_s``, ``backward_input_s``, ``backward_weight_s``, ``overlapped_s``: a schedule item
  of that kind is in progress (from its first task's start to its last task's end, all-to-alls
  included; where two items overlap, the earlier one). A full backward item's time is split
  between input and weight in proportion to its compute;
- ``optimizer_s``: from the start of the lane's step-end synchronisation to the step's end;
- ``bubble_s``: anything else (waiting for the pipeline).

so the six add up to the step time. The job's figures are the mean over its lanes.

Exposed communication of a lane: time when one of its transfers (all-to-all, pipeline send,
collective) is in flight and it computes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from mpft_sim.results.summary import AllToAllStats, Breakdown, JobSummary, NcclStats
from mpft_sim.workload.deepep_sizes import per_gpu_bandwidth
from mpft_sim.workload.program import MARKERS, WEIGHT_KINDS, Category, Program, Stream, TaskKind

if TYPE_CHECKING:
    from mpft_sim.workload.program import JobInfo

__all__ = ["A2A_KERNELS", "Timings", "alltoall_stats", "job_summary", "lane_breakdown",
           "union_length"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# which DeepEP kernel each all-to-all task runs: the backward of the combine is a
# dispatch-pattern transfer (FP8), the backward of the dispatch a combine-pattern one (BF16)
A2A_KERNELS = {"dispatch": (TaskKind.DISPATCH, TaskKind.COMBINE_BWD),
               "combine": (TaskKind.COMBINE, TaskKind.DISPATCH_BWD)}
_ROWS = tuple(f.name for f in fields(Breakdown))


@dataclass(frozen=True)
class Timings:
    """When each task of a program ran (seconds), and how many flows each communication
    task released."""

    program: Program
    start_s: FloatArray
    end_s: FloatArray
    flows: IntArray


def _codes(prog: Program, kinds: frozenset[TaskKind] | tuple[TaskKind, ...]) -> list[int]:
    """The program's codes of the given kinds (those it uses)."""
    return [i for i, k in enumerate(prog.kinds) if k in kinds]


def _merge(start: FloatArray, end: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The union of intervals as disjoint sorted intervals."""
    if len(start) == 0:
        return start, end
    order = np.argsort(start, kind="stable")
    s, e = start[order], np.maximum.accumulate(end[order])
    new = np.empty(len(s), dtype=bool)
    new[0] = True
    new[1:] = s[1:] > e[:-1]
    first = np.flatnonzero(new)
    last = np.r_[first[1:] - 1, len(s) - 1]
    return s[first], e[last]


def union_length(start: FloatArray, end: FloatArray) -> float:
    """Total length of the union of intervals."""
    s, e = _merge(start, end)
    return float((e - s).sum())


def _overlap(a: tuple[FloatArray, FloatArray], b: tuple[FloatArray, FloatArray]) -> float:
    """Length of the intersection of two disjoint sorted interval sets."""
    total, i, j = 0.0, 0, 0
    (as_, ae), (bs, be) = a, b
    while i < len(as_) and j < len(bs):
        lo, hi = max(as_[i], bs[j]), min(ae[i], be[j])
        if hi > lo:
            total += hi - lo
        if ae[i] < be[j]:
            i += 1
        else:
            j += 1
    return total


def lane_breakdown(ops: Timings, lane: int, t0: float, t1: float,
                   optimizer_start: float) -> dict[str, float]:
    """The breakdown rows of one lane over [t0, t1] (see the module docstring)."""
    prog = ops.program
    markers = _codes(prog, MARKERS)
    mine = np.flatnonzero((prog.lane == lane) & (prog.chunk >= 0)
                          & (prog.stream != Stream.PP) & ~np.isin(prog.kind, markers))
    out = dict.fromkeys(_ROWS, 0.0)
    out["optimizer_s"] = max(0.0, t1 - optimizer_start)
    horizon = min(t1, optimizer_start)
    if len(mine):
        chunk = prog.chunk[mine]
        order = np.argsort(chunk, kind="stable")
        mine, chunk = mine[order], chunk[order]
        first = np.r_[0, np.flatnonzero(np.diff(chunk)) + 1]
        starts = np.minimum.reduceat(ops.start_s[mine], first)
        ends = np.maximum.reduceat(ops.end_s[mine], first)
        cats = [prog.categories[c] for c in prog.category[mine[first]]]
        covered = t0
        compute = prog.stream[mine] == Stream.COMPUTE
        dur = np.where(compute, prog.duration_s[mine], 0.0)
        is_w = np.isin(prog.kind[mine], _codes(prog, WEIGHT_KINDS)) & compute
        w_share = np.add.reduceat(np.where(is_w, dur, 0.0), first) / np.maximum(
            np.add.reduceat(dur, first), 1e-300)
        for k in np.argsort(starts, kind="stable"):
            lo, hi = max(starts[k], covered), min(ends[k], horizon)
            if hi <= lo:
                continue
            span = hi - lo
            covered = hi
            if cats[k] == Category.BACKWARD:
                out["backward_weight_s"] += span * w_share[k]
                out["backward_input_s"] += span * (1 - w_share[k])
            else:
                out[f"{cats[k]}_s"] += span
    busy = sum(out[r] for r in _ROWS if r not in ("bubble_s",))
    out["bubble_s"] = max(0.0, (t1 - t0) - busy)
    return out


def _exposed(ops: Timings, lane: int) -> float:
    prog = ops.program
    mine = prog.lane == lane
    comm = mine & (prog.stream != Stream.COMPUTE) & (ops.end_s > ops.start_s)
    comp = mine & (prog.stream == Stream.COMPUTE) & (ops.end_s > ops.start_s)
    c = _merge(ops.start_s[comm], ops.end_s[comm])
    k = _merge(ops.start_s[comp], ops.end_s[comp])
    return float((c[1] - c[0]).sum()) - _overlap(c, k)


def alltoall_stats(ops: Timings, lanes: list[int]) -> dict[str, AllToAllStats]:
    """Per DeepEP kernel: count, mean and p99 duration, and the achieved per-GPU bandwidth
    counting network bytes and, separately, in DeepEP's own definitions
    (``deepep_sizes.per_gpu_bandwidth``: ``logical`` its bottleneck figure, ``logical_nvl`` its
    NVLink figure)."""
    prog = ops.program
    in_job = np.isin(prog.lane, lanes)
    out: dict[str, AllToAllStats] = {}
    for kernel, kinds in A2A_KERNELS.items():
        tasks = np.flatnonzero(in_job & np.isin(prog.kind, _codes(prog, kinds)))
        if len(tasks) == 0:
            continue
        dur = ops.end_s[tasks] - ops.start_s[tasks]
        gpus = np.array([len(prog.lanes[prog.lane[t]].gpus) for t in tasks])
        comms = [prog.comm[t] for t in tasks]
        net = np.array([c.network_bytes for c in comms])  # type: ignore[union-attr]
        logical = np.array([c.logical_bytes for c in comms])  # type: ignore[union-attr]
        nvl = np.array([c.nvl_logical_bytes for c in comms])  # type: ignore[union-attr]
        out[kernel] = AllToAllStats(
            count=len(tasks),
            mean_s=float(dur.mean()),
            p99_s=float(np.percentile(dur, 99)),
            network_Bps_per_gpu=per_gpu_bandwidth(net, gpus, dur),
            logical_Bps_per_gpu=per_gpu_bandwidth(logical, gpus, dur),
            logical_nvl_Bps_per_gpu=per_gpu_bandwidth(nvl, gpus, dur),
            network_bytes_per_gpu=float(np.mean(net / gpus)),
        )
    return out


def _step(ops: Timings, lanes: list[int], step_lanes: list[int]
          ) -> tuple[float, Breakdown, float]:
    """A job's step time, its breakdown (mean over its lanes) and its exposed
    communication (mean over its lanes)."""
    prog = ops.program
    job_tasks = np.isin(prog.lane, lanes + step_lanes)
    t0 = float(np.nanmin(ops.start_s[job_tasks]))
    t1 = float(np.nanmax(ops.end_s[job_tasks]))
    rows = []
    exposed = []
    step_tasks = np.isin(prog.lane, step_lanes)
    for lane in lanes:
        gpus = set(prog.lanes[lane].gpus.tolist())
        opt_start = t1
        for sl in step_lanes:
            if gpus & set(prog.lanes[sl].gpus.tolist()):
                m = step_tasks & (prog.lane == sl)
                opt_start = min(opt_start, float(np.nanmin(ops.start_s[m])))
        rows.append(lane_breakdown(ops, lane, t0, t1, opt_start))
        exposed.append(_exposed(ops, lane))
    breakdown = Breakdown(**{r: float(np.mean([row[r] for row in rows])) for r in _ROWS})
    return t1 - t0, breakdown, float(np.mean(exposed)) if exposed else 0.0


def job_summary(ops: Timings, job: JobInfo) -> JobSummary:
    """One job's step figures.

    Training: the step time, its breakdown and tokens per second. Inference: the time per
    step (the job's steps averaged), tokens per second and, for decode, the time per output
    token (a request gains 1 + accepted draft tokens per step). NCCL all-to-alls: mean and
    longest time and algorithm bandwidth per GPU.
    """
    step_s, breakdown, exposed = _step(ops, job.lanes, job.step_lanes)
    base = JobSummary(name=job.name, kind=job.kind, gpus=job.gpus, step_time_s=step_s,
                      exposed_comm_s=exposed, alltoall=alltoall_stats(ops, job.lanes),
                      info=dict(job.info))
    if job.kind == "inference":
        per_step = step_s / job.info["steps"]
        tokens = job.tokens_per_step / per_step if per_step > 0 else 0.0
        tpot = (per_step / job.info["tokens_per_request"] if job.info["phase"] == "decode"
                else None)
        return replace(base, step_time_s=per_step, tokens_per_s=tokens, tpot_s=tpot)
    if job.kind == "nccl-alltoall":
        prog = ops.program
        tasks = np.flatnonzero(np.isin(prog.lane, job.lanes))
        dur = ops.end_s[tasks] - ops.start_s[tasks]
        per_gpu = job.info["message_bytes"] * (job.gpus - 1)
        return replace(base, nccl=NcclStats(mean_s=float(dur.mean()), max_s=float(dur.max()),
                                            algbw_Bps_per_gpu=float(per_gpu / dur.mean())))
    return replace(base, breakdown=breakdown, tokens_per_s=job.tokens_per_step / step_s)
