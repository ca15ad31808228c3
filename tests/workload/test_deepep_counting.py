"""DeepEP's own counting: the bytes and times behind its "GB/s (RDMA)" and "GB/s (NVL)", on
hand-made token layouts (exact bytes), against a loop-by-loop copy of its test, and through a
simulated all-to-all; and the NVLink efficiency of the normal kernels' copies."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from mpft_sim.engine import simulate
from mpft_sim.results.summary import to_plain
from mpft_sim.spec.topology import FabricSpec, SwitchSpec, TopologySpec
from mpft_sim.spec.workload import InferenceWorkloadSpec, load_workload
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.deepep import LEG_NETWORK, LEG_NVLINK, normal_combine, normal_dispatch
from mpft_sim.workload.deepep_sizes import payload_bytes, per_gpu_bandwidth, record_bytes
from mpft_sim.workload.moe_traffic import build_moe_traffic
from tests.conftest import ROOT
from tests.workload.test_deepep import HAND, HAND_NODE_PAIRS, HAND_RANK

RECORD, PAYLOAD = 10, 7  # hand cases: a record and a smaller counted payload, both exact

# HAND (2 nodes x 2 GPUs, expert e on rank e, 3 tokens per source): every token's two experts
# sit on two distinct GPUs, so each of the 12 tokens is received by 2 GPUs: 24 rows
HAND_ROWS = 24
# per source rank: (token, distinct node) pairs, own node included (DeepEP's
# num_rdma_token_sent): rank 0: t0 {0}, t1 {0, 1}, t2 {1} = 4; rank 1: {0, 1}, {1}, {0} = 4;
# rank 2: {1}, {0, 1}, {0, 1} = 5; rank 3: {1, 0}, {1, 0}, {0} = 5
HAND_RDMA_PER_RANK = [4, 4, 5, 5]
# per destination rank: rows received (DeepEP's recv_x.size(0))
HAND_RECV_PER_RANK = [6, 6, 6, 6]


def deepep_test_counts(experts: np.ndarray, expert_rank: np.ndarray,
                       gpus_per_node: int) -> tuple[list[int], list[int]]:
    """DeepEP's tests/test_internode.py counting, loop by loop: per rank, the (token,
    distinct node) pairs it sends (``num_rdma_token_sent``) and the rows it receives
    (``gbl_num_tokens_per_rank[rank]``)."""
    ep = experts.shape[0]
    rdma = [0] * ep
    recv = [0] * ep
    for src in range(ep):
        for token in experts[src]:
            ranks = {int(expert_rank[e]) for e in token}
            rdma[src] += len({r // gpus_per_node for r in ranks})
            for r in ranks:
                recv[r] += 1
    return rdma, recv


def test_payload_is_deepeps_fp8_factor() -> None:
    """The counted payload is the test's ``hidden * 2 * fp8_factor``, not the record."""
    fp8_factor = (1 + 4 / 128) / 2
    assert payload_bytes(7168, "fp8") == 7168 * 2 * fp8_factor == 7392
    assert payload_bytes(7168, "bf16") == 14336
    assert payload_bytes(7168, "fp8") < record_bytes(7168, 8, "fp8", "dispatch", "normal")
    with pytest.raises(ValueError):
        payload_bytes(7000, "fp8")


def test_hand_layout_counts() -> None:
    """The hand layout: 18 (token, node) pairs sent, 24 rows received, on top of the flows'
    own bytes (network and NVLink records unchanged by the counted payload)."""
    assert sum(HAND_RDMA_PER_RANK) == HAND_NODE_PAIRS
    assert deepep_test_counts(HAND, HAND_RANK, 2) == (HAND_RDMA_PER_RANK, HAND_RECV_PER_RANK)
    flows = normal_dispatch(HAND, HAND_RANK, 2, RECORD, payload=PAYLOAD)
    assert (flows.rdma_tokens, flows.nvl_tokens) == (HAND_NODE_PAIRS, HAND_ROWS)
    assert flows.logical_bytes == HAND_NODE_PAIRS * PAYLOAD
    assert flows.nvl_logical_bytes == HAND_ROWS * PAYLOAD
    assert flows.network_bytes == 9 * RECORD  # the records, as before
    same = normal_dispatch(HAND, HAND_RANK, 2, RECORD)
    assert np.array_equal(flows.bytes, same.bytes)


def test_combine_counts_mirror_dispatch() -> None:
    """Combine counts the same tokens (DeepEP: rdma_recv = rdma_send, nvl_send = nvl_recv)."""
    flows = normal_combine(HAND, HAND_RANK, 2, RECORD, payload=PAYLOAD)
    assert flows.logical_bytes == HAND_NODE_PAIRS * PAYLOAD
    assert flows.nvl_logical_bytes == HAND_ROWS * PAYLOAD


def test_intranode_counts_received_rows() -> None:
    """One node (DeepEP's intranode kernels): no RDMA; the bottleneck figure is the NVL one,
    the received rows, each GPU's rows from itself included."""
    flows = normal_dispatch(HAND, HAND_RANK, 4, RECORD, payload=PAYLOAD)
    assert flows.rdma_tokens == 0
    assert flows.nvl_tokens == HAND_ROWS
    assert flows.logical_bytes == flows.nvl_logical_bytes == HAND_ROWS * PAYLOAD
    # 20 of the 24 rows cross NVLink; 4 tokens have an expert on their own GPU (rank r hosts
    # expert r: rank 0's token 0, rank 1's token 2, rank 2's token 0, rank 3's token 0)
    assert flows.bytes[flows.leg == LEG_NVLINK].sum() == 20 * RECORD


def test_own_node_counted_but_not_sent() -> None:
    """A token whose experts all sit on its own node counts once in DeepEP's RDMA bytes but
    puts nothing on the network."""
    experts = np.array([[[1, 1]], [[0, 0]], [[3, 3]], [[2, 2]]])  # each stays on its node
    flows = normal_dispatch(experts, HAND_RANK, 2, RECORD, payload=PAYLOAD)
    assert flows.network_bytes == 0
    assert flows.logical_bytes == 4 * PAYLOAD
    assert flows.nvl_logical_bytes == 4 * PAYLOAD  # one row each, at the other local GPU
    assert set(flows.leg.tolist()) == {LEG_NVLINK}


@pytest.mark.parametrize(("ep", "g", "experts", "k"), [(8, 4, 16, 3), (12, 4, 24, 4),
                                                     (16, 8, 32, 8), (4, 4, 8, 2)])
def test_counts_match_deepeps_test(ep: int, g: int, experts: int, k: int) -> None:
    """Random layouts: the counts equal DeepEP's test counting, rank by rank summed."""
    rng = np.random.default_rng(ep * 100 + k)
    layout = np.stack([np.stack([rng.choice(experts, size=k, replace=False)
                                 for _ in range(9)]) for _ in range(ep)])
    expert_rank = np.arange(experts) // (experts // ep)
    rdma, recv = deepep_test_counts(layout, expert_rank, g)
    flows = normal_dispatch(layout, expert_rank, g, RECORD, payload=PAYLOAD)
    assert flows.nvl_tokens == sum(recv)
    assert flows.nvl_logical_bytes == sum(recv) * PAYLOAD
    if ep > g:
        assert flows.rdma_tokens == sum(rdma)
        assert flows.logical_bytes == sum(rdma) * PAYLOAD
    else:
        assert flows.logical_bytes == sum(recv) * PAYLOAD


def test_per_gpu_bandwidth_definition() -> None:
    """Per call: the group's bytes over its GPUs over the call's time; the mean over calls;
    calls of zero time left out."""
    b = np.array([100.0, 200.0, 5.0])
    g = np.array([2, 2, 1])
    t = np.array([1.0, 0.5, 0.0])
    assert per_gpu_bandwidth(b, g, t) == (50.0 + 200.0) / 2
    assert per_gpu_bandwidth(b[2:], g[2:], t[2:]) == 0.0


@pytest.fixture(scope="module")
def mpft() -> Fabric:
    """16 servers of 8 GPUs, 8 planes of radix-8 switches, 50 GB/s NICs."""
    return build_fabric(TopologySpec(name="mpft16", fabric=FabricSpec(
        kind="multi-plane-fat-tree", planes=8, nodes=16,
        switch=SwitchSpec(radix=8, port_bandwidth_Bps=50e9))))


def ep_alltoall(ep: int, tokens: int = 512, **parallel: Any) -> InferenceWorkloadSpec:
    """The shipped ep-alltoall benchmark at one EP size (one dispatch, one combine)."""
    spec = load_workload(ROOT / "workloads" / "ep-alltoall.yaml")
    assert isinstance(spec, InferenceWorkloadSpec)
    return dataclasses.replace(
        spec, tokens_per_gpu=tokens,
        layout=dataclasses.replace(spec.layout, dp=ep, ep=ep),
        expert_parallel=dataclasses.replace(spec.expert_parallel, **parallel))


def test_summary_uses_deepeps_definitions(mpft: Fabric) -> None:
    """The summary's figures are the pool's DeepEP byte counts over the GPUs and the call's
    simulated time, and the counts are per payload: 7,392 B (FP8) and 14,336 B (BF16)."""
    spec = ep_alltoall(16)
    summary = to_plain(simulate(mpft, spec).summary.job)
    pool = build_moe_traffic(spec.model, spec.expert_load, 16, 8, 512, "normal", spec.seed,
                             nvlink_efficiency=spec.expert_parallel.nvlink_efficiency)
    for kernel, pattern, payload in (("dispatch", pool.dispatch, 7392),
                                     ("combine", pool.combine, 14336)):
        a = summary["alltoall"][kernel]
        assert a["count"] == 1
        rdma, nvl = pattern.logical_bytes[0], pattern.nvl_logical_bytes[0]
        assert a["logical_Bps_per_gpu"] == pytest.approx(rdma / 16 / a["mean_s"], rel=1e-12)
        assert a["logical_nvl_Bps_per_gpu"] == pytest.approx(nvl / 16 / a["mean_s"], rel=1e-12)
        assert rdma % payload == 0 and nvl % payload == 0
        # 2 nodes: a token hits 1 or 2 nodes, and 1 to 8 GPUs
        assert 512 * 16 <= rdma / payload <= 2 * 512 * 16
        assert rdma / payload <= nvl / payload <= 8 * 512 * 16


def test_nvlink_efficiency_scales_only_nvlink_flows() -> None:
    """The normal kernels' NVLink flows are sized bytes / efficiency; network flows and
    DeepEP's counts are not."""
    spec = ep_alltoall(16)
    full = build_moe_traffic(spec.model, spec.expert_load, 16, 8, 512, "normal", spec.seed,
                             nvlink_efficiency=1.0)
    half = build_moe_traffic(spec.model, spec.expert_load, 16, 8, 512, "normal", spec.seed,
                             nvlink_efficiency=0.5)
    for a, b in ((full.dispatch, half.dispatch), (full.combine, half.combine)):
        nvl = a.leg == LEG_NVLINK
        assert np.array_equal(b.sizes[:, nvl], a.sizes[:, nvl] * 2)
        assert np.array_equal(b.sizes[:, ~nvl], a.sizes[:, ~nvl])
        assert (a.leg[~nvl] == LEG_NETWORK).all()
        assert np.array_equal(b.logical_bytes, a.logical_bytes)
        assert np.array_equal(b.nvl_logical_bytes, a.nvl_logical_bytes)
        assert np.array_equal(b.network_bytes, a.network_bytes)


def test_intranode_time_scales_with_nvlink_efficiency(mpft: Fabric) -> None:
    """EP8 runs on NVLink alone, so every byte-time stretches by 1 / efficiency: a dispatch's
    time less its latency doubles from efficiency 1 to 1/2 and again to 1/4."""
    times = [simulate(mpft, ep_alltoall(8, nvlink_efficiency=e)).summary.job
             .alltoall["dispatch"].mean_s for e in (1.0, 0.5, 0.25)]
    assert times[2] - times[1] == pytest.approx(2 * (times[1] - times[0]), rel=1e-9)
