"""One training step as a program: pipeline schedule x expert parallel x ZeRO-1 data parallel.

Lanes are the EP groups at each pipeline rank (``ep`` GPUs that all-to-all together run in
lockstep). Each lane runs its pipeline rank's schedule (:mod:`mpft_sim.workload.schedules`);
every schedule item expands into its stage's layers:

- forward of a MoE layer: ATTN(F) -> dispatch -> MLP(F) -> combine; a dense layer has no
  all-to-all; the first layer waits for the activation from the upstream stage, the last one's
  output is sent downstream (production style: sent when ready, the consumer waits for it);
- backward, layers in reverse: Combine(B) (a dispatch-pattern FP8 all-to-all) -> MLP(B) ->
  [MLP(W)] -> Dispatch(B) (combine pattern, BF16) -> ATTN(B) -> [ATTN(W)]; a zero-bubble
  backward (Bz) defers the W parts to the next W item;
- an overlapped F&B pair interleaves the two layer by layer on two streams, as DeepSeek's
  profile shows: compute ATTN(F), MLP(B), MLP(W), MLP(F), ATTN(B), ATTN(W); communication
  Combine(B), Dispatch(F), Dispatch(B), Combine(F) (traffic-mechanics §1.9).

At the end of the step each pair of mirror pipeline ranks (DualPipe: ranks r and P-1-r hold
the same stages) reduce-scatters its gradients over its data-parallel group, updates its
optimizer shard and all-gathers the parameters (ZeRO-1, :mod:`mpft_sim.workload.zero1`),
experts over their expert-DP groups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mpft_sim.paths import hash_keys
from mpft_sim.spec.workload import TrainingWorkloadSpec
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.compute import LayerTimes, training_times
from mpft_sim.workload.layout import RankLayout, place_ranks
from mpft_sim.workload.moe_traffic import A2aPattern, MoeTraffic, build_moe_traffic
from mpft_sim.workload.pipelines import Item
from mpft_sim.workload.program import Category, Comm, JobInfo, ProgramBuilder, Stream, TaskKind
from mpft_sim.workload.schedules import num_stages, pipeline_items, stage_of
from mpft_sim.workload.zero1 import zero1_step

__all__ = ["build_training", "stage_layers"]

IntArray = NDArray[np.int64]


def stage_layers(layers: int, stages: int) -> list[list[int]]:
    """Split layers 0..layers-1 into contiguous stages, the earlier stages one longer."""
    return [list(map(int, part)) for part in np.array_split(np.arange(layers), stages)]


def _sample(seed: int, lane: int, layer: int, mb: int, count: int) -> int:
    key = np.array([((lane * 1024 + layer) * 1_000_003 + mb)], dtype=np.int64)
    return int(hash_keys(key, seed)[0] % np.uint64(count))


@dataclass
class _Chain:
    """One direction (forward or backward) of a schedule item as it is built: its
    micro-batch, where its tasks go, the task the next one follows, and its first task."""

    mb: int
    cat: Category
    chunk: int
    prev: list[int]
    first: int = -1

    def then(self, task: int) -> None:
        """``task`` is the chain's newest: the next one waits for it."""
        self.prev = [task]
        if self.first < 0:
            self.first = task

    @property
    def last(self) -> int:
        """The chain's newest task (the item's gate if it has none; -1 if neither)."""
        return self.prev[0] if self.prev else -1


class _Builder:
    """State while expanding one training job."""

    def __init__(self, spec: TrainingWorkloadSpec, fabric: Fabric, prog: ProgramBuilder,
                 job: str) -> None:
        self.spec, self.fabric, self.prog, self.job = spec, fabric, prog, job
        self.model = spec.model
        self.layout: RankLayout = place_ranks(spec.layout, fabric)
        lay = self.layout
        self.P, self.C = lay.pp, spec.batch.micro_batches
        self.stages = num_stages(spec.schedule, self.P)
        self.layers = stage_layers(self.model.layers, self.stages)
        b = spec.batch
        self.times = {dense: training_times(self.model, b.tokens, b.sequence, spec.compute,
                                            dense, self.model.experts / lay.ep)
                      for dense in (True, False)}
        g = fabric.gpus_per_node
        self.traffic: MoeTraffic | None = None
        if lay.ep > 1:
            self.traffic = build_moe_traffic(
                self.model, spec.expert_load, lay.ep, g, b.tokens, "normal", spec.seed,
                nvlink_efficiency=spec.expert_parallel.nvlink_efficiency)
        self.pp_bytes = b.tokens * self.model.hidden * self.model.activation_bytes
        self.lane_of: dict[tuple[int, int], int] = {}
        for pp in range(self.P):
            for edp in range(lay.edp):
                self.lane_of[(pp, edp)] = prog.lane(job, f"{job}:pp{pp}.edp{edp}",
                                                    lay.ep_group(pp, edp), stage=pp)
        self.deferred: dict[int, list[float]] = {lane: [] for lane in self.lane_of.values()}
        self.sends: dict[tuple[Any, ...], int] = {}
        self.waits: list[tuple[tuple[Any, ...], int]] = []
        self._ends: dict[tuple[int, str], tuple[IntArray, IntArray]] = {}

    # -- helpers ------------------------------------------------------------------------------

    def is_moe(self, layer: int) -> bool:
        return layer >= self.model.dense_layers and self.traffic is not None

    @property
    def pool(self) -> MoeTraffic:
        assert self.traffic is not None, "an all-to-all without expert parallelism"
        return self.traffic

    def lt(self, layer: int) -> LayerTimes:
        return self.times[layer < self.model.dense_layers]

    def compute(self, lane: int, kind: TaskKind, duration: float, deps: list[int],
                cat: Category, chunk: int, label: str) -> int:
        return self.prog.task(lane, Stream.COMPUTE, kind, duration=duration, deps=deps,
                              category=cat, chunk=chunk, label=label)

    def a2a(self, lane: int, kind: TaskKind, pattern: A2aPattern, which: str, sample: int,
            deps: list[int], cat: Category, chunk: int, label: str) -> int:
        gpus = self.prog.lanes[lane].gpus
        ends = self._ends.get((lane, which))
        if ends is None:
            ends = (gpus[pattern.src], gpus[pattern.dst])
            self._ends[(lane, which)] = ends
        src, dst = ends
        sizes = pattern.sizes[sample]
        comm = Comm(kind, (src, dst, sizes), route_key=(lane, which),
                    logical_bytes=float(pattern.logical_bytes[sample]),
                    nvl_logical_bytes=float(pattern.nvl_logical_bytes[sample]),
                    network_bytes=float(pattern.network_bytes[sample]))
        return self.prog.task(lane, Stream.COMM, kind, comm=comm, deps=deps, category=cat,
                              chunk=chunk, label=label)

    def pp_send(self, lane: int, pp: int, msg: Any, after: int, cat: str, chunk: int) -> None:
        edp = int(self.prog.lanes[lane].name.rsplit("edp", 1)[1])
        peer_lane = self.lane_of[(msg.peer, edp)]
        src = self.prog.lanes[lane].gpus
        dst = self.prog.lanes[peer_lane].gpus
        size = np.full(len(src), float(self.pp_bytes))
        kind = TaskKind.PP_ACT if msg.kind == "a" else TaskKind.PP_GRAD
        comm = Comm(kind, (src, dst, size), route_key=("pp", lane, peer_lane))
        task = self.prog.task(lane, Stream.PP, kind, comm=comm, deps=[after], category=cat,
                              chunk=chunk, label=f"{msg.kind}{msg.module}.{msg.mb}")
        self.sends[(pp, msg.peer, msg.kind, msg.module, msg.mb, edp)] = task

    def wait_for(self, lane: int, pp: int, item: Item, want: str, task: int) -> None:
        """Make ``task`` wait for the item's incoming messages of kind ``want``."""
        edp = int(self.prog.lanes[lane].name.rsplit("edp", 1)[1])
        for msg in item.recvs:
            if msg.kind == want:
                self.waits.append(((msg.peer, pp, msg.kind, msg.module, msg.mb, edp), task))

    # -- one schedule item --------------------------------------------------------------------

    def forward_layers(self, pp: int, module: int) -> list[int]:
        return self.layers[stage_of(self.spec.schedule, self.P, pp, module)]

    def item(self, lane: int, pp: int, item: Item, chunk: int) -> None:
        """Add one schedule item of a lane: a forward, a backward, an overlapped pair of
        both, or a deferred weight-gradient pass, layer by layer; then its pipeline sends."""
        cat = {"F": Category.FORWARD, "W": Category.BACKWARD_WEIGHT,
               "FB": Category.OVERLAPPED}.get(
            item.kind, Category.BACKWARD_INPUT if item.zero_bubble else Category.BACKWARD)
        if item.kind == "W":
            work = self.deferred[lane].pop(0) if self.deferred[lane] else 0.0
            self.compute(lane, TaskKind.W, work, [], cat, chunk, "W")
            return
        whole = self.spec.pipeline_sync == "item"
        gate = -1
        if whole and item.recvs:
            # the item starts once the rank is free and all its inputs are in (a zero-length
            # marker in the compute stream waits for them)
            gate = self.prog.task(lane, Stream.COMPUTE, TaskKind.ITEM_START, category=cat,
                                  chunk=chunk, label=item.kind)
        start = [gate] if gate >= 0 else []
        fwd = _Chain(item.f[1] if item.f else -1, cat, chunk, list(start))
        bwd = _Chain(item.b[1] if item.b else -1, cat, chunk, list(start))
        f_layers = self.forward_layers(pp, item.f[0]) if item.f else []
        b_layers = list(reversed(self.forward_layers(pp, item.b[0]))) if item.b else []
        deferred = 0.0
        for i in range(max(len(f_layers), len(b_layers))):
            lf = f_layers[i] if i < len(f_layers) else None
            lb = b_layers[i] if i < len(b_layers) else None
            # the stream order of an overlapped pair (§1.9): comm Combine(B), Dispatch(F),
            # Dispatch(B), Combine(F); compute ATTN(F), MLP(B), MLP(W), MLP(F), ATTN(B), ATTN(W)
            if lb is not None and self.is_moe(lb):
                self._alltoall(lane, TaskKind.COMBINE_BWD, "dispatch", lb, bwd)
            if lf is not None:
                self._attention_forward(lane, lf, fwd)
            if lb is not None:
                deferred += self._mlp_backward(lane, lb, bwd, item.zero_bubble)
            if lf is not None:
                self._mlp_forward(lane, lf, fwd)
            if lb is not None:
                deferred += self._attention_backward(lane, lb, bwd, item.zero_bubble)
        if item.zero_bubble:
            self.deferred[lane].append(deferred)
        self._connect(lane, pp, item, gate, fwd, bwd)

    def _alltoall(self, lane: int, kind: TaskKind, which: str, layer: int,
                  chain: _Chain) -> None:
        """An all-to-all of a layer on a chain: the dispatch or combine pattern ``which``."""
        k = _sample(self.spec.seed, lane, layer, chain.mb, self.pool.samples)
        pattern = self.pool.dispatch if which == "dispatch" else self.pool.combine
        chain.then(self.a2a(lane, kind, pattern, which, k, chain.prev, chain.cat, chain.chunk,
                            f"L{layer}.mb{chain.mb}"))

    def _attention_forward(self, lane: int, layer: int, chain: _Chain) -> None:
        chain.then(self.compute(lane, TaskKind.ATTN_F, self.lt(layer).attention_forward,
                                chain.prev, chain.cat, chain.chunk, f"L{layer}.mb{chain.mb}"))
        if self.is_moe(layer):
            self._alltoall(lane, TaskKind.DISPATCH, "dispatch", layer, chain)

    def _mlp_forward(self, lane: int, layer: int, chain: _Chain) -> None:
        chain.then(self.compute(lane, TaskKind.MLP_F, self.lt(layer).mlp_forward
                                * self._skew(lane, layer, chain.mb), chain.prev, chain.cat,
                                chain.chunk, f"L{layer}.mb{chain.mb}"))
        if self.is_moe(layer):
            self._alltoall(lane, TaskKind.COMBINE, "combine", layer, chain)

    def _mlp_backward(self, lane: int, layer: int, chain: _Chain, zero_bubble: bool) -> float:
        """The MLP's input gradient, its weight gradient (or, zero-bubble, the seconds it is
        deferred by) and the backward dispatch; returns the seconds deferred."""
        skew = self._skew(lane, layer, chain.mb)
        lt = self.lt(layer)
        label = f"L{layer}.mb{chain.mb}"
        chain.then(self.compute(lane, TaskKind.MLP_B, lt.mlp_backward_input * skew,
                                chain.prev, chain.cat, chain.chunk, label))
        deferred = 0.0
        if zero_bubble:
            deferred = lt.mlp_backward_weight * skew
        else:
            self.compute(lane, TaskKind.MLP_W, lt.mlp_backward_weight * skew, [], chain.cat,
                         chain.chunk, label)
        if self.is_moe(layer):
            self._alltoall(lane, TaskKind.DISPATCH_BWD, "combine", layer, chain)
        return deferred

    def _attention_backward(self, lane: int, layer: int, chain: _Chain,
                            zero_bubble: bool) -> float:
        """Attention's input gradient and its weight gradient (or the seconds deferred)."""
        lt = self.lt(layer)
        label = f"L{layer}.mb{chain.mb}"
        chain.then(self.compute(lane, TaskKind.ATTN_B, lt.attention_backward_input,
                                chain.prev, chain.cat, chain.chunk, label))
        if zero_bubble:
            return lt.attention_backward_weight
        self.compute(lane, TaskKind.ATTN_W, lt.attention_backward_weight, [], chain.cat,
                     chain.chunk, label)
        return 0.0

    def _connect(self, lane: int, pp: int, item: Item, gate: int, fwd: _Chain,
                 bwd: _Chain) -> None:
        """The item's pipeline messages: it waits for its inputs (at the gate, or at the first
        task of each direction) and sends its outputs (after the whole item, or after each
        direction's last task)."""
        if gate >= 0:
            self.wait_for(lane, pp, item, "a", gate)
            self.wait_for(lane, pp, item, "g", gate)
        else:
            if fwd.first >= 0:
                self.wait_for(lane, pp, item, "a", fwd.first)
            if bwd.first >= 0:
                self.wait_for(lane, pp, item, "g", bwd.first)
        f_last, b_last = fwd.last, bwd.last
        if self.spec.pipeline_sync == "item" and item.sends:
            # outputs leave when the whole item has ended
            end = self.prog.task(lane, Stream.COMPUTE, TaskKind.ITEM_END,
                                 deps=[t for t in (f_last, b_last, self.prog.last(
                                     lane, Stream.COMPUTE)) if t >= 0], category=fwd.cat,
                                 chunk=fwd.chunk, label=item.kind, ordered=False)
            f_last = b_last = end
        for msg in item.sends:
            self.pp_send(lane, pp, msg, f_last if msg.kind == "a" else b_last, fwd.cat,
                         fwd.chunk)

    def _skew(self, lane: int, layer: int, mb: int) -> float:
        if not self.is_moe(layer):
            return 1.0
        assert self.traffic is not None
        return float(self.traffic.load_factor[_sample(self.spec.seed, lane, layer, mb,
                                                      self.traffic.samples)])


def build_training(spec: TrainingWorkloadSpec, fabric: Fabric, prog: ProgramBuilder,
                   job: str | None = None,
                   progress: Callable[[float], None] | None = None) -> JobInfo:
    """Add one training step of ``spec`` to a program.

    Parameters
    ----------
    spec : TrainingWorkloadSpec
    fabric : Fabric
    prog : ProgramBuilder
    job : str, optional
        The job's name in the program (default: the spec's name).

    Returns
    -------
    JobInfo
    """
    name = job or spec.name
    b = _Builder(spec, fabric, prog, name)
    lay = b.layout
    chunk = 0
    for pp in range(b.P):
        items = pipeline_items(spec.schedule, b.P, pp, b.C)
        for edp in range(lay.edp):
            lane = b.lane_of[(pp, edp)]
            for item in items:
                b.item(lane, pp, item, chunk)
                chunk += 1
        if progress is not None:
            progress((pp + 1) / b.P)
    for key, consumer in b.waits:
        prog.edge(b.sends[key], consumer)
    dp_lanes = zero1_step(spec, fabric, prog, name, lay, b.lane_of, b.layers)
    tokens = spec.batch.tokens * spec.batch.micro_batches * lay.dp
    info: dict[str, Any] = {
        "schedule": spec.schedule, "pp": lay.pp, "dp": lay.dp, "ep": lay.ep,
        "micro_batches": b.C, "stage_layers": [len(s) for s in b.layers],
    }
    if b.traffic is not None:
        info["fanout"] = b.traffic.fanout
        info["routing_samples"] = b.traffic.samples
    return JobInfo(name, "training", list(b.lane_of.values()), dp_lanes, lay.pp * lay.dp,
                   float(tokens), info)
