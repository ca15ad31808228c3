"""Inference steps as programs: prefill and decode with two-micro-batch overlap.

Lanes are the job's EP groups. A step runs every layer for two micro-batches so that one's
communication hides behind the other's compute, in the orders DeepSeek's profiles show
(traffic-mechanics §3.1):

- prefill (normal kernels, 24 communication SMs): compute ATTN(mb1) | SHARED(mb0) |
  ATTN(mb0) | MLP(mb1) | MLP(mb0) | SHARED(mb1) against communication COMBINE(mb0) |
  DISPATCH(mb1) | DISPATCH(mb0) | COMBINE(mb1), mb0 running half a layer ahead;
- decode (low-latency kernels with receive hooks, 0 communication SMs): per layer ATTN-0
  (MLA projections), ATTN-1 (core attention, output projection, gate), SHARED, MLP; the
  dispatch of one micro-batch overlaps the other's SHARED and ATTN-0, its combine the other's
  ATTN-1. Transfers do not hold a stream (the hooks return at once).

Each micro-batch's data flow is ATTN -> DISPATCH -> MLP -> COMBINE -> next layer's ATTN, with
SHARED after ATTN (after ATTN-1 in decode) and before the next layer. Dense leading layers
have a dense MLP and no all-to-all. A decode step may also carry KV caches arriving from
prefill servers (disaggregation), which compete with the expert-parallel traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import SpecError
from mpft_sim.paths import hash_keys
from mpft_sim.spec.workload import InferenceWorkloadSpec
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.compute import LayerTimes, decode_times, prefill_times
from mpft_sim.workload.layout import place_ranks
from mpft_sim.workload.moe_traffic import A2aPattern, MoeTraffic, build_moe_traffic
from mpft_sim.workload.program import Category, Comm, JobInfo, ProgramBuilder, Stream, TaskKind

__all__ = ["build_inference"]

IntArray = NDArray[np.int64]
Op = tuple[str, int, int]  # (component, micro-batch, layer)


def _prefill_orders(layers: int, mbs: int) -> tuple[list[Op], list[Op]]:
    """Compute and communication orders of a prefill step."""
    if mbs == 1:
        comp, comm = [], []
        for k in range(layers):
            comp += [("attn", 0, k), ("shared", 0, k), ("mlp", 0, k)]
            comm += [("dispatch", 0, k), ("combine", 0, k)]
        return comp, comm
    comp = [("attn", 0, 0), ("mlp", 0, 0)]
    comm = [("dispatch", 0, 0)]
    for k in range(layers):
        comp += [("attn", 1, k), ("shared", 0, k), ("attn", 0, k + 1), ("mlp", 1, k),
                 ("mlp", 0, k + 1), ("shared", 1, k)]
        comm += [("combine", 0, k), ("dispatch", 1, k), ("dispatch", 0, k + 1),
                 ("combine", 1, k)]
    return [op for op in comp if op[2] < layers], [op for op in comm if op[2] < layers]


def _decode_orders(layers: int, mbs: int) -> tuple[list[Op], list[Op]]:
    """Compute order of a decode step (transfers hold no stream)."""
    if mbs == 1:
        comp = []
        for k in range(layers):
            comp += [("attn0", 0, k), ("attn1", 0, k), ("shared", 0, k), ("mlp", 0, k)]
        return comp, []
    comp = [("attn0", 0, 0), ("attn1", 0, 0)]
    for k in range(layers):
        comp += [("shared", 0, k), ("attn0", 1, k), ("mlp", 0, k), ("attn1", 1, k),
                 ("shared", 1, k), ("attn0", 0, k + 1), ("mlp", 1, k), ("attn1", 0, k + 1)]
    return [op for op in comp if op[2] < layers], []


# A routing sample per (lane, layer, step, micro-batch): the four indices, written in a mixed
# radix wider than each one can be (layers and steps are at most 1,024; 4,099 is a prime above
# that so no two tuples share a key), hashed with the job's seed.
_LAYER_RADIX, _STEP_RADIX, _MB_RADIX = 1024, 4099, 4
# KV caches of consecutive requests go to GPUs this many apart (a prime, so the destinations
# spread over the decode job's GPUs rather than filling one server first)
_KV_STRIDE = 7919


@dataclass
class _Inference:
    """What every step of an inference job shares, and how one step is added."""

    spec: InferenceWorkloadSpec
    prog: ProgramBuilder
    name: str
    lanes: list[int]
    traffic: MoeTraffic | None
    forward: str | None
    times: dict[bool, LayerTimes]
    comp_order: list[Op]
    comm_order: list[Op]

    @property
    def decode(self) -> bool:
        return self.spec.phase == "decode"

    def moe(self, layer: int) -> bool:
        """Whether a layer has routed experts (and so all-to-alls)."""
        return layer >= self.spec.model.dense_layers and self.traffic is not None

    def sample(self, lane: int, layer: int, step: int, mb: int) -> int:
        """Which of the traffic's routing samples a micro-batch's layer uses."""
        assert self.traffic is not None
        key = ((lane * _LAYER_RADIX + layer) * _STEP_RADIX + step) * _MB_RADIX + mb
        return int(hash_keys(np.array([key], dtype=np.int64), self.spec.seed)[0]
                   % np.uint64(self.traffic.samples))

    def step(self, lane: int, step: int) -> int:
        """Add one step of a lane (its computes, its all-to-alls, each micro-batch's data
        flow); return its first task."""
        tasks = self._computes(lane, step)
        tasks.update(self._alltoalls(lane, step))
        self._data_flow(tasks)
        return min(tasks.values())

    def _computes(self, lane: int, step: int) -> dict[Op, int]:
        model = self.spec.model
        tasks: dict[Op, int] = {}
        for op in self.comp_order:
            what, mb, layer = op
            lt = self.times[layer < model.dense_layers]
            if what == "shared" and not self.moe(layer):
                continue
            skew = 1.0
            if what == "mlp" and self.moe(layer):
                assert self.traffic is not None
                skew = float(self.traffic.load_factor[self.sample(lane, layer, step, mb)])
            duration = {"attn": lt.attention_forward, "attn0": lt.attention0_forward,
                        "attn1": lt.attention1_forward, "shared": lt.shared_forward,
                        "mlp": lt.mlp_forward * skew}[what]
            tasks[op] = self.prog.task(lane, Stream.COMPUTE, TaskKind(what), duration=duration,
                                       category=Category.FORWARD, chunk=step,
                                       label=f"L{layer}.mb{mb}")
        return tasks

    def _alltoalls(self, lane: int, step: int) -> dict[Op, int]:
        gpus = self.prog.lanes[lane].gpus
        comm_ops = self.comm_order or [(w, mb, layer) for kind, mb, layer in self.comp_order
                                       if kind == "mlp" for w in ("dispatch", "combine")]
        tasks: dict[Op, int] = {}
        for what, mb, layer in comm_ops:
            if not self.moe(layer):
                continue
            assert self.traffic is not None
            pattern: A2aPattern = (self.traffic.dispatch if what == "dispatch"
                                   else self.traffic.combine)
            k = self.sample(lane, layer, step, mb)
            comm = Comm(what, (gpus[pattern.src], gpus[pattern.dst], pattern.sizes[k]),
                        route_key=(lane, what), forward=self.forward,
                        logical_bytes=float(pattern.logical_bytes[k]),
                        nvl_logical_bytes=float(pattern.nvl_logical_bytes[k]),
                        network_bytes=float(pattern.network_bytes[k]))
            # decode's low-latency transfers hold no stream: their hooks return at once
            tasks[(what, mb, layer)] = self.prog.task(
                lane, Stream.COMM, TaskKind(what), comm=comm, category=Category.FORWARD,
                chunk=step, label=f"L{layer}.mb{mb}", ordered=not self.decode)
        return tasks

    def _data_flow(self, tasks: dict[Op, int]) -> None:
        """Each micro-batch: ATTN -> DISPATCH -> MLP -> COMBINE -> the next layer, SHARED
        after ATTN (ATTN-1 in decode) and before the next layer."""
        for mb in range(self.spec.micro_batches):
            prev: list[int] = []
            for layer in range(self.spec.model.layers):
                chain = ["attn0", "attn1"] if self.decode else ["attn"]
                chain += ["dispatch", "mlp", "combine"] if self.moe(layer) else ["mlp"]
                start = tasks[(chain[0], mb, layer)]
                for p in prev:
                    self.prog.edge(p, start)
                before = start
                for what in chain[1:]:
                    t = tasks[(what, mb, layer)]
                    self.prog.edge(before, t)
                    before = t
                prev = [before]
                if self.moe(layer):
                    shared = tasks[("shared", mb, layer)]
                    self.prog.edge(tasks[("attn1" if self.decode else "attn", mb, layer)],
                                   shared)
                    prev.append(shared)


def _kv_lane(spec: InferenceWorkloadSpec, fabric: Fabric, prog: ProgramBuilder, name: str,
             job_gpus: IntArray) -> int:
    """The lane of the prefill servers sending KV caches to a decode job (-1 if none)."""
    kv = spec.kv_transfer
    if spec.phase != "decode" or kv is None:
        return -1
    g = fabric.gpus_per_node
    first, last = kv.first_node * g, (kv.first_node + kv.nodes) * g
    if first >= fabric.n_gpus:
        raise SpecError(f"the fabric has {fabric.n_gpus // g} servers",
                        ("kv_transfer", "first_node"), kv.first_node)
    if last > fabric.n_gpus:
        raise SpecError(f"the fabric has {fabric.n_gpus // g} servers: {kv.nodes} from "
                        f"server {kv.first_node} on run past the last",
                        ("kv_transfer", "nodes"), kv.nodes)
    senders = np.arange(first, last)
    if np.isin(senders, job_gpus).any():
        raise SpecError("prefill servers overlap the decode job's servers",
                        ("kv_transfer", "first_node"), kv.first_node)
    return prog.lane(name, f"{name}:kv", senders)


def _kv_caches(spec: InferenceWorkloadSpec, prog: ProgramBuilder, kv_lane: int,
               job_gpus: IntArray, step: int, step_start: int) -> None:
    """The KV caches arriving in a step: released as it begins, so that they compete with its
    all-to-alls."""
    kv = spec.kv_transfer
    assert kv is not None
    senders = prog.lanes[kv_lane].gpus
    n = kv.requests_per_step
    request = step * n + np.arange(n)
    src = senders[request % len(senders)]
    dst = job_gpus[request * _KV_STRIDE % len(job_gpus)]
    size = np.full(n, kv.prompt_tokens * spec.model.kv_bytes_per_token)
    comm = Comm(TaskKind.KV_CACHE, (src, dst, size))
    prog.task(kv_lane, Stream.COMM, TaskKind.KV_CACHE, comm=comm, deps=[step_start],
              category=Category.KV, chunk=-1, label=f"step{step}", ordered=False)


def _forwarding(spec: InferenceWorkloadSpec, fabric: Fabric) -> str | None:
    """Where low-latency kernels forward cross-plane messages (None: normal kernels)."""
    if spec.expert_parallel.kernel != "low-latency":
        return None
    forward = {"bridged": "none", "source": "source",
               "destination": "destination"}[spec.expert_parallel.cross_plane]
    if forward == "none" and fabric.size.planes > 1 and fabric.spec.node.nic.ports == 1:
        raise SpecError("bridged planes need a fabric whose planes are joined (a multi-rail"
                        " or single-plane tree); this one has separate planes",
                        ("expert_parallel", "cross_plane"), "bridged")
    return forward


def build_inference(spec: InferenceWorkloadSpec, fabric: Fabric, prog: ProgramBuilder,
                    job: str | None = None) -> JobInfo:
    """Add ``spec.steps`` inference steps to a program.

    Returns
    -------
    JobInfo
    """
    name = job or spec.name
    model, lay = spec.model, spec.layout
    layout = place_ranks(lay, fabric)
    g = fabric.gpus_per_node
    mbs = spec.micro_batches
    decode = spec.phase == "decode"
    kernel = spec.expert_parallel.kernel
    requests = max(1, round(spec.tokens_per_gpu / mbs))
    per_mb = spec.tokens_per_gpu / mbs
    if decode and spec.mtp_accepted:
        per_mb *= 2  # one draft token verified per request per step
    tokens = max(1, round(per_mb))
    traffic = build_moe_traffic(
        model, spec.expert_load, lay.ep, g, tokens, kernel, spec.seed, spec.shared_as_routed,
        spec.expert_parallel.nvlink_local,
        nvlink_efficiency=spec.expert_parallel.nvlink_efficiency) if lay.ep > 1 else None
    forward = _forwarding(spec, fabric)
    slots = model.experts + spec.expert_load.redundant_experts + int(spec.shared_as_routed)
    experts_per_gpu = max(1.0, slots / lay.ep)
    times = {dense: (decode_times(model, tokens, spec.context, spec.compute, experts_per_gpu,
                                  dense, requests=requests) if decode
                     else prefill_times(model, tokens, spec.context, spec.compute, dense))
             for dense in (True, False)}
    comp_order, comm_order = (_decode_orders if decode else _prefill_orders)(model.layers, mbs)
    lanes = [prog.lane(name, f"{name}:ep{e}", layout.ep_group(0, e), stage=0)
             for e in range(layout.edp)]
    kv_lane = _kv_lane(spec, fabric, prog, name, layout.gpu)
    builder = _Inference(spec, prog, name, lanes, traffic, forward, times, comp_order,
                         comm_order)
    for step in range(spec.steps):
        starts = [builder.step(lane, step) for lane in lanes]
        if kv_lane >= 0 and spec.kv_transfer is not None and spec.kv_transfer.requests_per_step:
            _kv_caches(spec, prog, kv_lane, layout.gpu, step, starts[0])
    out_tokens = layout.gpu.size * spec.tokens_per_gpu * (
        1 + spec.mtp_accepted if decode else 1)
    info: dict[str, object] = {
        "phase": spec.phase, "ep": lay.ep, "micro_batches": mbs, "steps": spec.steps,
        "kernel": kernel, "tokens_per_micro_batch": tokens,
        "tokens_per_request": 1 + spec.mtp_accepted if decode else 1}
    if traffic is not None:
        info["fanout"] = traffic.fanout
    if kv_lane >= 0:
        info["kv_lane"] = kv_lane
    return JobInfo(name, "inference", lanes, [], int(layout.gpu.size), float(out_tokens), info)
