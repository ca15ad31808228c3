"""Expert-parallel all-to-all traffic of a job, drawn once and reused.

Routing a whole EP group's tokens through the gate for every layer and micro-batch of a
training step would be millions of gate evaluations. Tokens of different layers and
micro-batches are statistically alike, so a job draws a pool of ``samples`` routings of one
EP group (each: every source GPU's tokens through the V3 gate) and turns each into the
DeepEP flows of a dispatch and a combine (:mod:`mpft_sim.workload.deepep`). Every all-to-all
of the job then takes one sample, chosen by a seeded hash of (lane, layer, micro-batch): the
four all-to-alls of one layer and micro-batch (forward dispatch and combine, their backward
counterparts) share it, as they share the routing in a real step.

Flows are laid out on a fixed pattern of (source, destination) pairs per kernel, so a lane's
routes through the fabric are computed once (a DeepEP connection hashes the same way every
time) and each all-to-all only brings its sizes; pairs with nothing to send are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from mpft_sim.spec.model import ExpertLoadSpec, ModelSpec
from mpft_sim.workload import deepep
from mpft_sim.workload.deepep_sizes import payload_bytes, record_bytes
from mpft_sim.workload.gating import GateConfig, fanout_stats, route_group
from mpft_sim.workload.placement import default_placement, eplb_placement, replica_slots

__all__ = ["A2aPattern", "MoeTraffic", "build_moe_traffic"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class A2aPattern:
    """One kernel's flows over a pool of routing samples.

    ``src[i] -> dst[i]`` (ranks within the EP group) carries ``sizes[s, i]`` bytes in sample
    ``s``; ``leg[i]`` is 0 for the network, 1 for NVLink. ``network_bytes[s]`` is the
    sample's total on the network leg; ``logical_bytes[s]`` and ``nvl_logical_bytes[s]`` are
    the bytes of DeepEP's own bottleneck and NVLink figures (``deepep.Flows``).
    """

    src: IntArray
    dst: IntArray
    leg: NDArray[np.uint8]
    sizes: FloatArray
    network_bytes: FloatArray
    logical_bytes: FloatArray
    nvl_logical_bytes: FloatArray


@dataclass(frozen=True)
class MoeTraffic:
    """A job's all-to-all pool: dispatch and combine patterns, and per-sample compute skew."""

    ep: int
    dispatch: A2aPattern
    combine: A2aPattern
    load_factor: FloatArray
    """Per sample: the busiest rank's (token, expert) pairs over the mean (MLP time skew)."""
    fanout: dict[str, float] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        """Routing samples in the pool."""
        return len(self.load_factor)


def _pattern(ep: int, gpus_per_node: int, mode: str) -> tuple[IntArray, IntArray]:
    """Every (src, dst) pair a kernel may use, in a fixed order."""
    r = np.arange(ep)
    grid_s, grid_d = np.meshgrid(r, r, indexing="ij")
    s, d = grid_s.ravel(), grid_d.ravel()
    node_s, node_d = s // gpus_per_node, d // gpus_per_node
    if mode == "low-latency" or ep <= gpus_per_node:
        keep = s != d
    else:  # normal internode: same-index GPUs across nodes, and NVLink within a node
        same_local = (s % gpus_per_node) == (d % gpus_per_node)
        keep = (s != d) & ((node_s == node_d) | same_local)
    return s[keep], d[keep]


def _align(flows: deepep.Flows, src: IntArray, dst: IntArray, ep: int) -> FloatArray:
    index = np.full((ep, ep), -1, dtype=np.int64)
    index[src, dst] = np.arange(len(src))
    pos = index[flows.src, flows.dst]
    if (pos < 0).any():
        raise AssertionError("a DeepEP flow outside the kernel's pattern")
    out = np.zeros(len(src))
    np.add.at(out, pos, flows.bytes)
    return out


_POOLS: dict[str, MoeTraffic] = {}  # the last few pools drawn, by what they were drawn from
_POOLS_KEPT = 4


def build_moe_traffic(model: ModelSpec, load: ExpertLoadSpec, ep: int, gpus_per_node: int,
                      tokens: int, kernel: str, seed: int, shared_as_routed: bool = False,
                      nvlink_local: bool = True,
                      load_weights: FloatArray | None = None,
                      nvlink_efficiency: float = 1.0) -> MoeTraffic:
    """Draw a job's pool of routing samples and their all-to-all flows.

    The pool is a pure function of its arguments, and drawing it is the costly part of
    building a job (a gate evaluation per token): the last few pools are kept, so comparing
    designs, or sweeping parameters the pool does not depend on, draws it once.

    Parameters
    ----------
    model : ModelSpec
    load : ExpertLoadSpec
        Load shape, redundant experts (EPLB), pool size.
    ep : int
        EP group size.
    gpus_per_node : int
    tokens : int
        Tokens per source GPU per all-to-all.
    kernel : {"normal", "low-latency"}
    seed : int
        Seeds the routing samples.
    shared_as_routed : bool
        The shared expert is one more routed destination (decode EP320).
    nvlink_local : bool
        Low-latency: same-node peers over NVLink.
    load_weights : ndarray, optional
        Per-expert relative loads (``distribution: file``).
    nvlink_efficiency : float
        Normal kernels: the fraction of NVLink bandwidth their SM-driven copies reach
        (``ExpertParallelSpec.nvlink_efficiency``). A flow on the NVLink leg then holds the
        link as long as ``bytes / efficiency`` would at full rate, so its size is scaled up
        by ``1 / efficiency``; DeepEP's byte counts and the network bytes are not.

    Returns
    -------
    MoeTraffic
    """
    if not 0 < nvlink_efficiency <= 1:
        raise ValueError(f"nvlink_efficiency must be in (0, 1], got {nvlink_efficiency}")
    key = repr((model, load, ep, gpus_per_node, tokens, kernel, seed, shared_as_routed,
                nvlink_local, None if load_weights is None else load_weights.tolist(),
                nvlink_efficiency))
    pool = _POOLS.get(key)
    if pool is None:
        pool = _draw(model, load, ep, gpus_per_node, tokens, kernel,
                     np.random.default_rng(seed), shared_as_routed, nvlink_local, load_weights,
                     nvlink_efficiency)
        if len(_POOLS) >= _POOLS_KEPT:
            _POOLS.pop(next(iter(_POOLS)))
        _POOLS[key] = pool
    return pool


def _draws_and_placement(model: ModelSpec, load: ExpertLoadSpec, ep: int, gpus_per_node: int,
                         tokens: int, rng: np.random.Generator, shared_as_routed: bool,
                         load_weights: FloatArray | None) -> tuple[list[Any], IntArray]:
    """The gate's routing samples and the GPU of each expert slot (EPLB's placement with
    replicas of the hottest experts when there are redundant slots)."""
    cfg = GateConfig(model.experts, model.top_k, model.expert_groups, model.groups_per_token,
                     shared_as_routed)
    logical_experts = model.experts + (1 if shared_as_routed else 0)
    slots = logical_experts + load.redundant_experts
    if load_weights is None and load.distribution == "file":
        from mpft_sim.spec.model import read_expert_loads

        weights = load.weights or (read_expert_loads(load.file, model.experts)
                                   if load.file else ())
        load_weights = np.array(weights, dtype=np.float64)
    draws = [route_group(cfg, ep, tokens, rng, load.distribution, load.zipf_exponent,
                         load_weights) for _ in range(load.samples)]
    if load.redundant_experts:
        # EPLB places replicas from the observed load (the first sample's expert counts)
        weight = np.bincount(draws[0].ravel(), minlength=logical_experts).astype(float) + 1.0
        n_groups = model.expert_groups if not shared_as_routed else 1
        nodes = max(1, ep // gpus_per_node)
        _, log2phy, logcnt = eplb_placement(weight, slots, n_groups, nodes, ep)
        expert_rank = np.arange(slots, dtype=np.int64) // max(1, slots // ep)
        draws = [replica_slots(d, log2phy, logcnt, rng) for d in draws]
    elif logical_experts % ep == 0:
        expert_rank = default_placement(logical_experts, ep)
    else:  # more GPUs than experts: expert e on GPU e, the rest idle
        expert_rank = np.arange(logical_experts, dtype=np.int64) % ep
    return draws, expert_rank


def _draw(model: ModelSpec, load: ExpertLoadSpec, ep: int, gpus_per_node: int, tokens: int,
          kernel: str, rng: np.random.Generator, shared_as_routed: bool, nvlink_local: bool,
          load_weights: FloatArray | None, nvlink_efficiency: float = 1.0) -> MoeTraffic:
    draws, expert_rank = _draws_and_placement(model, load, ep, gpus_per_node, tokens, rng,
                                              shared_as_routed, load_weights)
    mode: Literal["normal", "low-latency"] = (
        "low-latency" if kernel == "low-latency" else "normal")
    src, dst = _pattern(ep, gpus_per_node, mode)
    back_src, back_dst = dst, src
    rec_d = record_bytes(model.hidden, model.top_k, model.dispatch_dtype, "dispatch", mode)
    rec_c = record_bytes(model.hidden, model.top_k, model.combine_dtype, "combine", mode)
    kw_d: dict[str, Any]
    kw_c: dict[str, Any]
    make_d: Callable[..., deepep.Flows]
    make_c: Callable[..., deepep.Flows]
    if mode == "normal":
        make_d, make_c = deepep.normal_dispatch, deepep.normal_combine
        kw_d = {"payload": payload_bytes(model.hidden, model.dispatch_dtype)}
        kw_c = {"payload": payload_bytes(model.hidden, model.combine_dtype)}
    else:
        make_d, make_c = deepep.low_latency_dispatch, deepep.low_latency_combine
        kw_d = kw_c = {"nvlink_local": nvlink_local}
    keys = ("d", "c", "dn", "dl", "dv", "cn", "cl", "cv", "lf")
    out: dict[str, list[Any]] = {k: [] for k in keys}
    for draw in draws:
        fd = make_d(draw, expert_rank, gpus_per_node, rec_d, **kw_d)
        fc = make_c(draw, expert_rank, gpus_per_node, rec_c, **kw_c)
        out["d"].append(_align(fd, src, dst, ep))
        out["c"].append(_align(fc, back_src, back_dst, ep))
        out["dn"].append(fd.network_bytes)
        out["dl"].append(fd.logical_bytes)
        out["dv"].append(fd.nvl_logical_bytes)
        out["cn"].append(fc.network_bytes)
        out["cl"].append(fc.logical_bytes)
        out["cv"].append(fc.nvl_logical_bytes)
        pairs = np.bincount(expert_rank[draw.ravel()], minlength=ep)
        out["lf"].append(float(pairs.max() / max(pairs.mean(), 1e-300)))
    local = (src // gpus_per_node) == (dst // gpus_per_node)
    leg = local.astype(np.uint8)
    sizes_d, sizes_c = np.stack(out["d"]), np.stack(out["c"])
    if mode == "normal" and nvlink_efficiency < 1:
        # the copies hold the NVLink 1/efficiency times as long as the bytes alone would
        sizes_d[:, local] /= nvlink_efficiency
        sizes_c[:, local] /= nvlink_efficiency
    dispatch = A2aPattern(src, dst, leg, sizes_d, np.array(out["dn"]), np.array(out["dl"]),
                          np.array(out["dv"]))
    combine = A2aPattern(back_src, back_dst, leg, sizes_c, np.array(out["cn"]),
                         np.array(out["cl"]), np.array(out["cv"]))
    source_node = np.repeat(np.arange(ep) // gpus_per_node, tokens)
    source_local = np.repeat(np.arange(ep) % gpus_per_node, tokens)
    first = draws[0].reshape(ep * tokens, -1)
    stats = fanout_stats(first, expert_rank, gpus_per_node, source_node, source_local)
    return MoeTraffic(ep, dispatch, combine, np.array(out["lf"]), stats)
