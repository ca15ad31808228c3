"""DeepEP traffic: record sizes, normal and low-latency flows on hand-made and V3 cases."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from mpft_sim.workload.deepep import (
    LEG_NETWORK,
    LEG_NVLINK,
    Flows,
    low_latency_combine,
    low_latency_dispatch,
    normal_combine,
    normal_dispatch,
)
from mpft_sim.workload.gating import GateConfig, route_group
from mpft_sim.workload.placement import default_placement

# traffic-mechanics §2.3, §2.4, §6.3 (H = 7168, K = 8)
V3_HIDDEN, V3_TOP_K = 7168, 8
V3_DISPATCH_FP8 = 7_472
V3_DISPATCH_BF16 = 14_416
V3_COMBINE = 14_384
V3_LL_DISPATCH_FP8 = 7_408
V3_LL_DISPATCH_BF16 = 14_352
V3_LL_COMBINE = 14_336
# §6.2 table, EP64: RDMA copies and NVLink forwards per token; §6.3: 4,096 tokens per GPU
EP64_IB_COPIES, EP64_NVL_FORWARDS, TOKENS_PER_GPU = 3.46, 6.56, 4096

DISPATCH, COMBINE = 10, 100  # record sizes of the hand cases: counts read off the bytes

# 2 nodes x 2 GPUs (rank = node*2 + local), expert e on rank e, K = 2, 3 tokens per source
HAND = np.array([
    [[0, 1], [1, 2], [2, 3]],  # rank 0 = (node 0, GPU 0)
    [[0, 2], [3, 2], [1, 0]],  # rank 1 = (node 0, GPU 1)
    [[2, 3], [0, 3], [1, 3]],  # rank 2 = (node 1, GPU 0)
    [[3, 0], [2, 1], [0, 1]],  # rank 3 = (node 1, GPU 1)
])
HAND_RANK = np.arange(4)
# (src, dst, leg) -> tokens, counted by hand:
HAND_DISPATCH = {
    # RDMA (a, i) -> (b, i): tokens of the source that hit the other node, once per node
    (0, 2, LEG_NETWORK): 2,  # rank 0's tokens 1 and 2 hit node 1 (token 2 twice: one copy)
    (1, 3, LEG_NETWORK): 2,  # rank 1's tokens 0 and 1
    (2, 0, LEG_NETWORK): 2,  # rank 2's tokens 1 and 2
    (3, 1, LEG_NETWORK): 3,  # all of rank 3's tokens
    # NVLink (b, i) -> (b, j): tokens of all sources with local index i that hit (b, j),
    # the forwarder's own node's tokens included
    (0, 1, LEG_NVLINK): 3,  # rank 0's own tokens 0, 1 + rank 2's token 2
    (1, 0, LEG_NVLINK): 4,  # rank 1's tokens 0, 2 + rank 3's tokens 0, 2
    (2, 3, LEG_NVLINK): 4,  # rank 0's token 2 + rank 2's own tokens 0, 1, 2
    (3, 2, LEG_NVLINK): 3,  # rank 1's tokens 0, 1 + rank 3's own token 1
}
HAND_NODE_PAIRS = 18  # (token, distinct node) pairs, own node included: 4 + 4 + 5 + 5
# the same tokens on one node of 4 GPUs (intranode kernels): tokens of s that hit GPU j
HAND_INTRANODE = {
    (0, 1): 2, (0, 2): 2, (0, 3): 1,
    (1, 0): 2, (1, 2): 2, (1, 3): 1,
    (2, 0): 1, (2, 1): 1, (2, 3): 3,
    (3, 0): 2, (3, 1): 2, (3, 2): 1,
}

# low latency: 2 nodes x 2 GPUs, 8 experts, experts 2r and 2r+1 on rank r, 2 tokens each
LL = np.array([
    [[0, 1], [2, 4]],  # rank 0: token 0 twice to itself, token 1 to ranks 1 and 2
    [[6, 7], [0, 5]],  # rank 1: token 0 twice to rank 3
    [[4, 5], [1, 3]],  # rank 2: token 0 twice to itself
    [[2, 3], [7, 6]],  # rank 3: token 0 twice to rank 1, token 1 twice to itself
])
LL_RANK = np.arange(8) // 2
# (src, dst) -> messages (no dedup); every pair also carries 2 experts x 4 B of counts
LL_MESSAGES = {
    (0, 1): 1, (0, 2): 1, (0, 3): 0,
    (1, 0): 1, (1, 2): 1, (1, 3): 2,
    (2, 0): 1, (2, 1): 1, (2, 3): 0,
    (3, 0): 0, (3, 1): 2, (3, 2): 0,
}
LL_SIGNALS = 2 * 4


def as_dict(flows: Flows) -> dict[tuple[int, int, int], float]:
    """Flows as {(src, dst, leg): bytes}, checking there is one flow per key."""
    keys = list(zip(flows.src.tolist(), flows.dst.tolist(), flows.leg.tolist(), strict=True))
    assert len(set(keys)) == len(keys)
    assert flows.src.dtype == np.int64 and flows.dst.dtype == np.int64
    assert flows.bytes.dtype == np.float64 and flows.leg.dtype == np.uint8
    return dict(zip(keys, flows.bytes.tolist(), strict=True))


def test_normal_dispatch_hand_case() -> None:
    """Every flow of a 2-node dispatch has the hand-counted bytes (dedup per node and GPU)."""
    flows = normal_dispatch(HAND, HAND_RANK, 2, DISPATCH)
    assert as_dict(flows) == {k: v * DISPATCH for k, v in HAND_DISPATCH.items()}
    assert flows.network_bytes == 9 * DISPATCH
    assert flows.logical_bytes == HAND_NODE_PAIRS * DISPATCH


def test_normal_combine_is_transpose() -> None:
    """Combine is dispatch reversed, leg by leg, with the combine record."""
    flows = normal_combine(HAND, HAND_RANK, 2, COMBINE)
    assert as_dict(flows) == {(d, s, leg): v * COMBINE
                              for (s, d, leg), v in HAND_DISPATCH.items()}
    assert flows.logical_bytes == HAND_NODE_PAIRS * COMBINE


def test_normal_intranode_hand_case() -> None:
    """A group inside one node: one NVLink copy per (token, destination GPU)."""
    flows = normal_dispatch(HAND, HAND_RANK, 4, DISPATCH)
    assert as_dict(flows) == {(s, d, LEG_NVLINK): v * DISPATCH
                              for (s, d), v in HAND_INTRANODE.items()}
    assert flows.logical_bytes == 24 * DISPATCH  # 12 tokens x 2 distinct GPUs, self included
    back = normal_combine(HAND, HAND_RANK, 4, COMBINE)
    assert as_dict(back) == {(d, s, LEG_NVLINK): v * COMBINE
                             for (s, d), v in HAND_INTRANODE.items()}


def test_normal_dedup_same_gpu() -> None:
    """Two experts of a token on one remote GPU: one record on each leg, not two."""
    experts = np.zeros((4, 1, 2), dtype=np.int64)
    experts[0, 0] = [6, 7]  # rank 0's token: both experts on rank 3 (node 1, GPU 1)
    experts[1:, 0] = [[2, 3], [4, 5], [6, 7]]  # the others stay on their own GPU
    flows = normal_dispatch(experts, np.arange(8) // 2, 2, DISPATCH)
    assert as_dict(flows) == {(0, 2, LEG_NETWORK): DISPATCH, (2, 3, LEG_NVLINK): DISPATCH}


def reference_normal(experts: np.ndarray, expert_rank: np.ndarray,
                     g: int) -> dict[tuple[int, int, int], float]:
    """Independent per-token oracle for internode normal dispatch (tokens as sets)."""
    out: dict[tuple[int, int, int], float] = defaultdict(float)
    for s, tokens in enumerate(experts):
        a, i = divmod(s, g)
        for token in tokens:
            gpus = {int(expert_rank[e]) for e in token}
            for b in {r // g for r in gpus} - {a}:
                out[(s, b * g + i, LEG_NETWORK)] += 1
            for r in gpus:
                if r % g != i:
                    out[(r // g * g + i, r, LEG_NVLINK)] += 1
    return dict(out)


def test_normal_dispatch_matches_oracle() -> None:
    """On a random EP16 sample (4 experts per GPU) the flows equal the per-token oracle."""
    cfg = GateConfig(experts=64, top_k=6, groups=8, top_groups=3)
    experts = route_group(cfg, 16, 50, np.random.default_rng(4))
    placement = default_placement(64, 16)
    assert as_dict(normal_dispatch(experts, placement, 4, 1)) == reference_normal(
        experts, placement, 4)


def test_low_latency_dispatch_hand_case() -> None:
    """LL sends one message per (token, expert) without dedup, plus a count per expert."""
    flows = low_latency_dispatch(LL, LL_RANK, 2, DISPATCH)
    expected = {(s, d, LEG_NVLINK if s // 2 == d // 2 else LEG_NETWORK):
                n * DISPATCH + LL_SIGNALS for (s, d), n in LL_MESSAGES.items()}
    assert as_dict(flows) == expected
    assert flows.logical_bytes == LL.size * DISPATCH  # 16 messages, self included


def test_low_latency_network_only() -> None:
    """Before DeepEP PR #173 (nvlink_local=False) same-node pairs use the network too."""
    flows = low_latency_dispatch(LL, LL_RANK, 2, DISPATCH, nvlink_local=False)
    assert as_dict(flows) == {(s, d, LEG_NETWORK): n * DISPATCH + LL_SIGNALS
                              for (s, d), n in LL_MESSAGES.items()}


def test_low_latency_combine_is_transpose() -> None:
    """LL combine returns one row per (token, expert) plus a flag per (expert, source)."""
    flows = low_latency_combine(LL, LL_RANK, 2, COMBINE)
    expected = {(d, s, LEG_NVLINK if s // 2 == d // 2 else LEG_NETWORK):
                n * COMBINE + LL_SIGNALS for (s, d), n in LL_MESSAGES.items()}
    assert as_dict(flows) == expected
    assert flows.logical_bytes == LL.size * COMBINE


def test_bad_groups() -> None:
    """Groups of partial nodes and expert ids off the placement are rejected."""
    with pytest.raises(ValueError):
        normal_dispatch(np.zeros((12, 1, 1), dtype=np.int64), np.arange(12), 8, 1)
    with pytest.raises(ValueError):
        normal_dispatch(HAND, np.arange(3), 2, 1)
    with pytest.raises(ValueError):
        low_latency_dispatch(HAND, np.array([0, 1, 2, 4]), 2, 1)


@pytest.fixture(scope="module")
def v3_ep64() -> np.ndarray:
    """One V3 routing sample per GPU of an EP64 group, 4,096 tokens each."""
    return route_group(GateConfig(256, 8, 8, 4), 64, TOKENS_PER_GPU, np.random.default_rng(64))


def test_v3_ep64_dispatch_volume(v3_ep64: np.ndarray) -> None:
    """EP64 FP8 dispatch: ~4096 x 3.46 x 7472 B (~106 MB) of RDMA per GPU, §6.3, within 2%."""
    flows = normal_dispatch(v3_ep64, default_placement(256, 64), 8, V3_DISPATCH_FP8)
    per_gpu_ib = np.bincount(flows.src[flows.leg == LEG_NETWORK],
                             weights=flows.bytes[flows.leg == LEG_NETWORK], minlength=64)
    target = TOKENS_PER_GPU * EP64_IB_COPIES * V3_DISPATCH_FP8
    assert per_gpu_ib.mean() == pytest.approx(target, rel=0.02)
    assert per_gpu_ib.mean() == pytest.approx(106e6, rel=0.02)
    assert flows.nvlink_bytes / 64 == pytest.approx(
        TOKENS_PER_GPU * EP64_NVL_FORWARDS * V3_DISPATCH_FP8, rel=0.02)
    # RDMA stays on the rail: (a, i) -> (b, i)
    net = flows.leg == LEG_NETWORK
    assert np.all(flows.src[net] % 8 == flows.dst[net] % 8)
    assert np.all(flows.src[~net] // 8 == flows.dst[~net] // 8)
    # 8 x 7 remote nodes per GPU on the network, 8 x 7 local pairs on NVLink
    assert net.sum() == 64 * 7 and (~net).sum() == 64 * 7


def test_v3_ep64_combine_volume(v3_ep64: np.ndarray) -> None:
    """EP64 BF16 combine: ~204 MB of RDMA per GPU (§6.3), same token counts as dispatch."""
    placement = default_placement(256, 64)
    back = normal_combine(v3_ep64, placement, 8, V3_COMBINE)
    assert back.network_bytes / 64 == pytest.approx(204e6, rel=0.02)
    there = normal_dispatch(v3_ep64, placement, 8, V3_DISPATCH_FP8)
    assert back.network_bytes / V3_COMBINE == there.network_bytes / V3_DISPATCH_FP8
    assert back.logical_bytes / V3_COMBINE == there.logical_bytes / V3_DISPATCH_FP8
