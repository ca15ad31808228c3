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

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import SpecError
from mpft_sim.paths import hash_keys
from mpft_sim.spec.workload import InferenceWorkloadSpec
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.compute import LayerTimes, decode_times, prefill_times
from mpft_sim.workload.layout import place_ranks
from mpft_sim.workload.moe_traffic import A2aPattern, MoeTraffic, build_moe_traffic
from mpft_sim.workload.program import Comm, ProgramBuilder, Stream
from mpft_sim.workload.training import JobInfo

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
    traffic: MoeTraffic | None = None
    if lay.ep > 1:
        traffic = build_moe_traffic(model, spec.expert_load, lay.ep, g, tokens, kernel,
                                    spec.seed, spec.shared_as_routed,
                                    spec.expert_parallel.nvlink_local,
                                    nvlink_efficiency=spec.expert_parallel.nvlink_efficiency)
    forward = None
    if kernel == "low-latency":
        forward = {"bridged": "none", "source": "source",
                   "destination": "destination"}[spec.expert_parallel.cross_plane]
        if forward == "none" and fabric.size.planes > 1 and fabric.spec.node.nic.ports == 1:
            raise SpecError("bridged planes need a fabric whose planes are joined (a multi-rail"
                            " or single-plane tree); this one has separate planes",
                            ("expert_parallel", "cross_plane"), "bridged")
    slots = model.experts + spec.expert_load.redundant_experts + int(spec.shared_as_routed)
    experts_per_gpu = max(1.0, slots / lay.ep)
    times: dict[bool, LayerTimes] = {}
    for dense in (True, False):
        if decode:
            times[dense] = decode_times(model, tokens, spec.context, spec.compute,
                                        experts_per_gpu, dense, requests=requests)
        else:
            times[dense] = prefill_times(model, tokens, spec.context, spec.compute, dense)
    orders = _decode_orders if decode else _prefill_orders
    comp_order, comm_order = orders(model.layers, mbs)
    lanes = []
    for e in range(layout.edp):
        lanes.append(prog.lane(name, f"{name}:ep{e}", layout.ep_group(0, e), stage=0))
    kv_lane = -1
    if decode and spec.kv_transfer is not None:
        kv = spec.kv_transfer
        first, last = kv.first_node * g, (kv.first_node + kv.nodes) * g
        if first >= fabric.n_gpus:
            raise SpecError(f"the fabric has {fabric.n_gpus // g} servers",
                            ("kv_transfer", "first_node"), kv.first_node)
        if last > fabric.n_gpus:
            raise SpecError(f"the fabric has {fabric.n_gpus // g} servers: {kv.nodes} from "
                            f"server {kv.first_node} on run past the last",
                            ("kv_transfer", "nodes"), kv.nodes)
        senders = np.arange(first, last)
        if np.isin(senders, layout.gpu).any():
            raise SpecError("prefill servers overlap the decode job's servers",
                            ("kv_transfer", "first_node"), kv.first_node)
        kv_lane = prog.lane(name, f"{name}:kv", senders)

    def sample(lane: int, layer: int, step: int, mb: int) -> int:
        assert traffic is not None
        key = np.array([((lane * 1024 + layer) * 4099 + step) * 4 + mb], dtype=np.int64)
        return int(hash_keys(key, spec.seed)[0] % np.uint64(traffic.samples))

    for step in range(spec.steps):
        for lane in lanes:
            gpus = prog.lanes[lane].gpus
            tasks: dict[Op, int] = {}
            first_task = -1
            if lane == lanes[0]:
                step_start = -1

            def moe(layer: int) -> bool:
                return layer >= model.dense_layers and traffic is not None

            for op in comp_order:
                what, mb, layer = op
                lt = times[layer < model.dense_layers]
                if what == "shared" and not moe(layer):
                    continue
                skew = 1.0
                if what == "mlp" and moe(layer):
                    assert traffic is not None
                    skew = float(traffic.load_factor[sample(lane, layer, step, mb)])
                duration = {"attn": lt.attention_forward, "attn0": lt.attention0_forward,
                            "attn1": lt.attention1_forward, "shared": lt.shared_forward,
                            "mlp": lt.mlp_forward * skew}[what]
                t = prog.task(lane, Stream.COMPUTE, what, duration=duration,
                              category="forward", chunk=step, label=f"L{layer}.mb{mb}")
                tasks[op] = t
                if first_task < 0:
                    first_task = t
                    if lane == lanes[0]:
                        step_start = t
            comm_ops = comm_order or [(w, mb, layer) for _, mb, layer in comp_order
                                      if _ == "mlp" for w in ("dispatch", "combine")]
            for what, mb, layer in comm_ops:
                if not moe(layer):
                    continue
                assert traffic is not None
                pattern: A2aPattern = traffic.dispatch if what == "dispatch" else traffic.combine
                k = sample(lane, layer, step, mb)
                src, dst = gpus[pattern.src], gpus[pattern.dst]
                comm = Comm(what, (src, dst, pattern.sizes[k]),
                            route_key=(lane, what), forward=forward,
                            logical_bytes=float(pattern.logical_bytes[k]),
                            nvl_logical_bytes=float(pattern.nvl_logical_bytes[k]),
                            network_bytes=float(pattern.network_bytes[k]))
                tasks[(what, mb, layer)] = prog.task(
                    lane, Stream.COMM, what, comm=comm, category="forward", chunk=step,
                    label=f"L{layer}.mb{mb}", ordered=not decode)
            # data flow of each micro-batch
            for mb in range(mbs):
                prev: list[int] = []
                for layer in range(model.layers):
                    chain = (["attn0", "attn1"] if decode else ["attn"])
                    chain += ["dispatch", "mlp", "combine"] if moe(layer) else ["mlp"]
                    start = tasks[(chain[0], mb, layer)]
                    for p in prev:
                        prog.edge(p, start)
                    before = start
                    for what in chain[1:]:
                        t = tasks[(what, mb, layer)]
                        prog.edge(before, t)
                        before = t
                    prev = [before]
                    if moe(layer):
                        shared = tasks[("shared", mb, layer)]
                        prog.edge(tasks[("attn1" if decode else "attn", mb, layer)], shared)
                        prev.append(shared)
        if kv_lane >= 0 and spec.kv_transfer is not None and spec.kv_transfer.requests_per_step:
            kv = spec.kv_transfer
            senders = prog.lanes[kv_lane].gpus
            n = kv.requests_per_step
            base = step * n
            src = senders[(base + np.arange(n)) % len(senders)]
            dst = layout.gpu[(base + np.arange(n)) * 7919 % len(layout.gpu)]
            size = np.full(n, kv.prompt_tokens * model.kv_bytes_per_token)
            comm = Comm("kv_cache", (src, dst, size))
            # released as the step begins, so the caches compete with its all-to-alls
            prog.task(kv_lane, Stream.COMM, "kv_cache", comm=comm, deps=[step_start],
                      category="kv", chunk=-1, label=f"step{step}", ordered=False)
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
