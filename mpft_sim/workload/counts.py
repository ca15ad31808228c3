"""A workload's tasks and flows counted in closed form from its spec, without planning it.

The cost estimate (:mod:`mpft_sim.estimate`) counts a step of 10**9 tasks with this in
milliseconds. Each count follows the planner it mirrors (:mod:`~mpft_sim.workload.training`,
:mod:`~mpft_sim.workload.inference`, :mod:`~mpft_sim.workload.jobs`,
:mod:`~mpft_sim.workload.flows`); the tests check the counts against planned programs.

Tasks are exact, except a flow list's (at most two per row: a wait and a release per
distinct start time). Flows are exact for NCCL all-to-alls, pipeline sends, ring
collectives (in the default rank placement), low-latency all-to-alls and KV-cache
transfers; a normal-kernel (DeepEP) all-to-all's flows depend on where the sampled tokens go,
so they are bounded by the pairs the kernel may use and the GPUs its tokens can reach (a pair
with nothing to send is no flow); a flow list's by its lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpft_sim.errors import SpecError
from mpft_sim.spec.model import ModelSpec
from mpft_sim.spec.workload import (
    FlowsWorkloadSpec,
    InferenceWorkloadSpec,
    JobsWorkloadSpec,
    NcclAllToAllSpec,
    TrainingWorkloadSpec,
    WorkloadSpec,
)
from mpft_sim.workload.schedules import count_items, num_stages, stage_of

__all__ = ["WorkloadCounts", "count_flow_rows", "count_workload"]

# Rings over more GPUs than this in an unusual placement (a data-parallel group that is not
# whole servers) are bounded instead of counted, to keep the count in milliseconds.
_RING_COUNT_LIMIT = 2**20
# Routing choices held while a pool is drawn besides the samples kept: the next sample and the
# temporaries of turning it into flows (sorted copies, masks, pair keys), about four samples'
# worth (measured: docs/limits.md).
_ROUTING_TRANSIENT = 4


@dataclass
class WorkloadCounts:
    """What a workload releases, counted (running totals while counting).

    Attributes
    ----------
    tasks : int
        Tasks of its program.
    flows : int
        Flows it releases: exact when ``flows_exact``, else an upper bound.
    flows_exact, tasks_exact : bool
    in_flight : int
        At most this many flows are in flight at once: a lane's communication and pipeline
        streams each run one transfer at a time, so this is the largest transfer of each
        stream, summed (all the flows of a flow list).
    routing_entries : int
        (token, expert) choices held while the expert-parallel jobs draw their routing pools.
    flow_rows : int
        Lines of flow lists read.
    """

    tasks: int = 0
    flows: int = 0
    flows_exact: bool = True
    tasks_exact: bool = True
    in_flight: int = 0
    routing_entries: int = 0
    flow_rows: int = 0

    def add(self, tasks: int = 0, flows: int = 0, exact: bool = True,
            in_flight: int = 0) -> None:
        """Add a part of the workload."""
        self.tasks += tasks
        self.flows += flows
        self.flows_exact &= exact
        self.in_flight += in_flight


# -- rings and all-to-alls ----------------------------------------------------------------


def _ring_flows(n: int, width: int) -> int:
    """Flows of a ring collective over ``n`` GPUs, ``width`` of them on every server: one
    channel per GPU a server holds (one when servers hold different numbers), each an edge
    per GPU (:func:`~mpft_sim.workload.collectives.ring_flows`)."""
    return width * n if n >= 2 else 0


def _uniform_width(gpus: np.ndarray, g: int) -> np.ndarray:
    """Per row of sorted GPU ranks: how many each server holds if all hold as many, else 1."""
    node = gpus // g
    change = np.diff(node, axis=1) != 0
    n = gpus.shape[1]
    widths = np.ones(len(gpus), dtype=np.int64)
    for row in range(len(gpus)):  # rows are the few rings of one group of stages
        cuts = np.flatnonzero(change[row]) + 1
        runs = np.diff(np.concatenate([[0], cuts, [n]]))
        if (runs == runs[0]).all():
            widths[row] = runs[0]
    return widths


def _step_end_flows(spec: TrainingWorkloadSpec, g: int, moe: list[int],
                    pairs: list[tuple[int, ...]]) -> tuple[int, bool]:
    """Flows of the ZeRO-1 step end, and whether the count is exact.

    Per group of pipeline ranks, a reduce-scatter and an all-gather, each a ring over all the
    group's GPUs (dense weights) plus, when the group holds MoE layers, one ring per
    expert-parallel index over the GPUs holding the same experts. A ring's width (GPUs per
    server) is a closed form when data-parallel groups are whole servers (``dp % g == 0``):
    ``g`` for the dense ring, 1 (``ep`` a multiple of ``g``) or ``g / ep`` (``ep`` divides
    ``g``) for the expert rings; otherwise it is counted from the ranks' servers (up to
    2**20 ranks), or bounded by ``g`` (a rank map, or more ranks).
    """
    lay = spec.layout
    dp, ep, edp = lay.dp, lay.ep, lay.dp // lay.ep
    default = lay.rank_map is None
    modules = (0, 1) if spec.schedule in ("dualpipe", "dualpipev") else (0,)
    exact = True
    flows = 0
    for ranks in pairs:
        held = [stage_of(spec.schedule, lay.pp, ranks[0], m) for m in modules]
        has_experts = any(moe[s] for s in held)
        n, n_e = len(ranks) * dp, len(ranks) * edp
        dense: int | None = None
        experts: list[int] | None = None  # width of each expert-parallel index's ring
        if default and dp % g == 0:
            dense = g
            if ep % g == 0 or g % ep == 0:
                experts = [max(1, g // ep)] * ep
        if (default and lay.ranks <= _RING_COUNT_LIMIT
                and (dense is None or (has_experts and experts is None))):
            first = lay.first_node * g + np.array(sorted(ranks), dtype=np.int64) * dp
            dense = int(_uniform_width((first[:, None] + np.arange(dp)).reshape(1, -1), g)[0])
            # the GPUs of EP index e in every lane of the group: one row per e
            by_e = (first[:, None, None] + np.arange(edp)[None, :, None] * ep
                    + np.arange(ep)[None, None, :]).reshape(-1, ep).T
            experts = [int(w) for w in _uniform_width(np.sort(by_e, axis=1), g)]
        if dense is None:  # a rank map, or a huge unusual placement: at most g per server
            dense, exact = min(g, n), False
        if experts is None:
            experts, exact = [min(g, n_e)] * ep, exact and not has_experts
        flows += 2 * _ring_flows(n, dense)
        if has_experts and n_e >= 2:
            flows += 2 * sum(experts) * n_e
    return flows, exact


def _token_reach(model: ModelSpec, ep: int, redundant: int, shared: bool) -> int:
    """Distinct GPUs one token's experts can be on: its top-k (and the shared expert, when
    routed), and, without EPLB replicas, only the GPUs its ``groups_per_token`` groups of
    contiguous experts span (node-limited routing, contiguous placement)."""
    reach = model.top_k
    logical = model.experts + shared
    if not redundant and logical % ep == 0:
        block = logical // ep  # experts per GPU
        group = model.experts // model.expert_groups
        aligned = group % block == 0 or block % group == 0
        span = max(1, group // block) if aligned else -(-(group - 1) // block) + 1
        reach = min(reach, model.groups_per_token * span)
    return min(reach + shared, ep)


def _alltoall_flows(ep: int, g: int, tokens: int, reach: int, kernel: str,
                    slots: int) -> tuple[int, bool]:
    """Flows of one expert-parallel all-to-all (dispatch or combine: the same count) in one
    group of ``ep`` GPUs, and whether the count is exact.

    Low-latency: every source sends to every other GPU hosting an expert slot (a 4-byte count
    goes even with no token): ``H (ep - 1)`` with ``H = min(slots, ep)`` hosts. Normal:
    at most the kernel's pairs, and at most the GPUs ``T`` tokens reaching ``R`` GPUs each
    reach: within a server ``ep min(ep - 1, T R)``; across n servers ``ep (min(n - 1, T R)
    + min(g - 1, n T R))`` (RDMA to the same-index GPU of each other server, then NVLink on).
    """
    if kernel == "low-latency":
        hosts = min(slots, ep)
        return hosts * (ep - 1), True
    reach *= tokens
    if ep <= g:
        return ep * min(ep - 1, reach), False
    servers = ep // g
    return ep * (min(servers - 1, reach) + min(g - 1, servers * reach)), False


# -- workloads -----------------------------------------------------------------------------


def _training(spec: TrainingWorkloadSpec, g: int, work: WorkloadCounts) -> None:
    """Tasks and flows of one training step (:mod:`mpft_sim.workload.training`).

    Per lane (an EP group at a pipeline rank), per schedule item: a forward layer is ATTN,
    MLP and, if MoE, a dispatch and a combine; a backward layer is MLP(B), ATTN(B), their
    weight parts unless deferred to a W item, and two all-to-alls if MoE; a W item is one
    task; with ``pipeline_sync: item`` a marker before an item that receives and after one
    that sends; one task per pipeline send (``ep`` flows). The step end adds three tasks
    (reduce-scatter, update, all-gather) per group of mirror ranks.
    """
    lay, model = spec.layout, spec.model
    pp, ep, edp = lay.pp, lay.ep, lay.dp // lay.ep
    moe_on = ep > 1
    # stages split the layers contiguously, the earlier ones one longer (stage_layers)
    count = num_stages(spec.schedule, pp)
    layers = [model.layers // count + (i < model.layers % count) for i in range(count)]
    ends = np.cumsum(layers).tolist()
    moe = [max(0, end - max(end - n, model.dense_layers)) if moe_on else 0
           for n, end in zip(layers, ends, strict=True)]
    reach = _token_reach(model, ep, spec.expert_load.redundant_experts, False)
    a2a, a2a_exact = (_alltoall_flows(ep, g, spec.batch.tokens, reach, "normal",
                                      model.experts) if moe_on else (0, True))
    whole = spec.pipeline_sync == "item"
    tasks = flows = 0
    for rank in range(pp):
        counts = count_items(spec.schedule, pp, rank, spec.batch.micro_batches)
        for (kind, f, b, zero_bubble, recvs, sends), times in counts.items():
            if kind == "W":
                tasks += times
                continue
            n = 0
            item_a2a = 0
            for module, backward in ((f, False), (b, True)):
                if module is None:
                    continue
                stage = stage_of(spec.schedule, pp, rank, module)
                n += 2 * layers[stage] + 2 * moe[stage]
                if backward and not zero_bubble:
                    n += 2 * layers[stage]
                item_a2a += 2 * moe[stage]
            n += sends + (whole and recvs > 0) + (whole and sends > 0)
            tasks += times * n
            flows += times * (item_a2a * a2a + sends * ep)
    # in flight: one all-to-all and one pipeline send per lane
    lane_flight = (a2a if any(moe) else 0) + (ep if pp > 1 else 0)
    work.add(edp * tasks, edp * flows, a2a_exact or not moe_on, pp * edp * lane_flight)
    if spec.optimizer.zero1:
        mirror = spec.optimizer.mirror and spec.schedule == "dualpipe"
        pairs: list[tuple[int, ...]] = ([(r, pp - 1 - r) for r in range(pp // 2)] if mirror
                                         else [(r,) for r in range(pp)])
        ring, exact = _step_end_flows(spec, g, moe, pairs)
        # every group's reduce-scatter at once, then its all-gather (as many flows)
        work.add(3 * len(pairs), ring, exact, ring // 2)
    if moe_on:
        work.routing_entries += _routing_entries(ep, spec.batch.tokens, model.top_k,
                                                 spec.expert_load.samples)


def _routing_entries(ep: int, tokens: int, destinations: int, samples: int) -> int:
    """(token, expert) choices held while a job's routing pool is drawn: every sample's,
    and the temporaries of the one being turned into flows."""
    return (samples + _ROUTING_TRANSIENT) * ep * tokens * destinations


def _inference(spec: InferenceWorkloadSpec, g: int, work: WorkloadCounts) -> None:
    """Tasks and flows of inference steps (:mod:`mpft_sim.workload.inference`).

    Per lane (an EP group), step and micro-batch, every layer has ATTN (decode: ATTN-0 and
    ATTN-1) and MLP, and a MoE layer also SHARED, a dispatch and a combine; a decode step
    with KV transfers adds one task of ``requests_per_step`` flows.
    """
    model, lay = spec.model, spec.layout
    ep, edp, mbs = lay.ep, lay.dp // lay.ep, spec.micro_batches
    decode = spec.phase == "decode"
    per_mb = spec.tokens_per_gpu / mbs * (2 if decode and spec.mtp_accepted else 1)
    tokens = max(1, round(per_mb))
    moe = model.moe_layers if ep > 1 else 0
    compute = mbs * ((3 if decode else 2) * model.layers + moe)
    comm = 2 * mbs * moe
    slots = model.experts + spec.expert_load.redundant_experts + int(spec.shared_as_routed)
    destinations = model.top_k + int(spec.shared_as_routed)
    reach = _token_reach(model, ep, spec.expert_load.redundant_experts, spec.shared_as_routed)
    a2a, exact = (_alltoall_flows(ep, g, tokens, reach, spec.expert_parallel.kernel, slots)
                  if moe else (0, True))
    # in flight: prefill's all-to-alls hold the lane's stream, one at a time; decode's do
    # not, and each micro-batch has one at a time
    work.add(spec.steps * edp * (compute + comm), spec.steps * edp * comm * a2a, exact,
             edp * (mbs if decode else 1) * a2a)
    kv = spec.kv_transfer
    if decode and kv is not None and kv.requests_per_step:
        flows = spec.steps * kv.requests_per_step
        work.add(spec.steps, flows, in_flight=flows)
    if ep > 1:
        work.routing_entries += _routing_entries(ep, tokens, destinations,
                                                 spec.expert_load.samples)


def _nccl(spec: NcclAllToAllSpec, work: WorkloadCounts) -> None:
    """``repeat`` tasks, one after another, of every ordered pair of ``gpus`` GPUs."""
    pairs = spec.gpus * (spec.gpus - 1)
    work.add(spec.repeat, spec.repeat * pairs, in_flight=pairs)


def count_flow_rows(path: str | Path) -> int:
    """Data rows of a flow list, counted as lines without parsing a value.

    An upper bound (exact for a list without blank lines): the header and a last line
    without a newline are accounted for; blank lines count. Reads the file in blocks, at the
    speed of a byte search.

    Raises
    ------
    SpecError
        If the file cannot be read.
    """
    lines = 0
    last = b"\n"
    try:
        with open(path, "rb") as stream:
            while block := stream.read(1 << 24):
                lines += block.count(b"\n")
                last = block[-1:]
    except OSError as exc:
        what = "file not found" if isinstance(exc, FileNotFoundError) else \
            f"cannot read file ({exc.strerror or exc})"
        raise SpecError(what, file=str(path)) from None
    lines += last != b"\n"
    return max(lines - 1, 0)


def _flows_list(spec: FlowsWorkloadSpec, work: WorkloadCounts) -> None:
    """One flow per row; at most a wait and a release task per row (one per start time)."""
    rows = count_flow_rows(spec.flows)
    work.add(2 * rows, rows, False, rows)
    work.tasks_exact = False
    work.flow_rows += rows


def count_workload(workload: WorkloadSpec, gpus_per_node: int) -> WorkloadCounts:
    """Count the tasks and flows of ``workload`` on servers of ``gpus_per_node`` GPUs.

    Raises
    ------
    SpecError
        If a flow list cannot be read.
    """
    counts = WorkloadCounts()
    jobs = workload.jobs if isinstance(workload, JobsWorkloadSpec) else (workload,)
    for job in jobs:
        if isinstance(job, TrainingWorkloadSpec):
            _training(job, gpus_per_node, counts)
        elif isinstance(job, InferenceWorkloadSpec):
            _inference(job, gpus_per_node, counts)
        elif isinstance(job, NcclAllToAllSpec):
            _nccl(job, counts)
        elif isinstance(job, FlowsWorkloadSpec):
            _flows_list(job, counts)
        else:
            raise SpecError("not a workload kind", ("kind",), getattr(job, "kind", None))
    counts.in_flight = min(counts.in_flight, counts.flows)
    return counts
