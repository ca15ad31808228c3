"""A job's pool of expert-parallel all-to-alls: the (source, destination) pattern of each
kernel, byte counts that follow from DeepEP's record sizes under balanced routing, and pools
that are a pure function of their arguments (the same for a seed)."""

from __future__ import annotations

import numpy as np
import pytest

from mpft_sim.spec.model import ExpertLoadSpec, ModelSpec
from mpft_sim.workload import moe_traffic
from mpft_sim.workload.deepep_sizes import payload_bytes, record_bytes
from mpft_sim.workload.moe_traffic import MoeTraffic, build_moe_traffic

# 16 experts in 4 groups, 4 per token from 2 groups; H = 256: records of
# LL dispatch 16 + H + H/128*4 = 280 B, LL combine 2H = 512 B,
# normal dispatch align16(H + H/128*4 + 8 + 8K) = 304 B, normal combine align16(2H + 8 + 4K)
# = 544 B; payloads counted by DeepEP: FP8 H + H/32 = 264 B, BF16 2H = 512 B
MODEL = ModelSpec(layers=4, dense_layers=1, hidden=256, experts=16, top_k=4, expert_groups=4,
                  groups_per_token=2)
TOKENS = 16  # per source GPU
K = 4
BALANCED = ExpertLoadSpec(distribution="balanced", samples=2)
UNIFORM = ExpertLoadSpec(distribution="uniform", samples=3)


def pool(ep: int, gpus_per_node: int, kernel: str, load: ExpertLoadSpec = BALANCED,
         seed: int = 0) -> MoeTraffic:
    """The pool of an EP group of ``ep`` GPUs, ``gpus_per_node`` to a node."""
    return build_moe_traffic(MODEL, load, ep, gpus_per_node, TOKENS, kernel, seed)


def test_record_sizes_of_the_model() -> None:
    """The record and payload sizes the byte counts below are built from."""
    assert [record_bytes(256, K, "fp8", "dispatch", "low-latency"),
            record_bytes(256, K, "bf16", "combine", "low-latency"),
            record_bytes(256, K, "fp8", "dispatch", "normal"),
            record_bytes(256, K, "bf16", "combine", "normal"),
            payload_bytes(256, "fp8"), payload_bytes(256, "bf16")] == [280, 512, 304, 544,
                                                                      264, 512]


# -- patterns -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("ep", "g", "kernel", "pairs"), [
    pytest.param(8, 4, "low-latency", 8 * 7, id="LL: every other rank"),
    pytest.param(8, 4, "normal", 8 * 3 + 8 * 1, id="normal internode: node peers + rail"),
    pytest.param(4, 4, "normal", 4 * 3, id="normal intranode: every other rank"),
    pytest.param(4, 8, "low-latency", 4 * 3, id="LL in one node"),
])
def test_pattern_pairs(ep: int, g: int, kernel: str, pairs: int) -> None:
    """A kernel's pattern holds each (source, destination) pair it may use once, never a rank
    to itself; normal internode kernels use only same-node and same-local-index pairs; NVLink
    is the leg of exactly the same-node pairs; the combine runs the dispatch's pairs back."""
    p = pool(ep, g, kernel)
    d = p.dispatch
    assert len(d.src) == pairs
    assert len(set(zip(d.src.tolist(), d.dst.tolist(), strict=True))) == pairs
    assert not np.any(d.src == d.dst)
    same_node = d.src // g == d.dst // g
    if kernel == "normal":
        assert np.all(same_node | (d.src % g == d.dst % g))
    assert d.leg.tolist() == same_node.astype(int).tolist()
    assert np.array_equal(p.combine.src, d.dst) and np.array_equal(p.combine.dst, d.src)
    assert d.sizes.shape == p.combine.sizes.shape == (2, pairs)


# -- byte counts ----------------------------------------------------------------------------------

def test_low_latency_internode_bytes() -> None:
    """Balanced LL on EP8 over 2 nodes: each pair carries T*K/EP = 8 messages plus one 4-byte
    signal per expert of the destination (2): 8 * 280 + 8 B dispatch, 8 * 512 + 8 B combine;
    32 of the 56 pairs cross the network; DeepEP counts every (token, expert) message."""
    p = pool(8, 4, "low-latency")
    assert p.dispatch.sizes.tolist() == [[8 * 280 + 8] * 56] * 2
    assert p.combine.sizes.tolist() == [[8 * 512 + 8] * 56] * 2
    assert p.dispatch.network_bytes.tolist() == [32 * (8 * 280 + 8)] * 2
    assert p.combine.network_bytes.tolist() == [32 * (8 * 512 + 8)] * 2
    assert p.dispatch.logical_bytes.tolist() == [8 * TOKENS * K * 280] * 2
    assert p.combine.logical_bytes.tolist() == [8 * TOKENS * K * 512] * 2
    assert p.dispatch.nvl_logical_bytes.tolist() == [0.0, 0.0]


def test_low_latency_intranode_bytes() -> None:
    """Balanced LL on EP4 in one node: 16 messages and 4 signals a pair, nothing on the
    network."""
    p = pool(4, 8, "low-latency")
    assert p.dispatch.sizes.tolist() == [[16 * 280 + 16] * 12] * 2
    assert p.dispatch.network_bytes.tolist() == [0.0, 0.0]
    assert p.dispatch.logical_bytes.tolist() == [4 * TOKENS * K * 280] * 2


def test_normal_internode_bytes() -> None:
    """Balanced normal kernels on EP8 over 2 nodes: every token reaches both nodes and K GPUs,
    so every pair carries 16 records; DeepEP's RDMA figure counts (token, node) pairs and its
    NVLink figure (token, GPU) pairs, times the payload."""
    p = pool(8, 4, "normal")
    assert p.fanout == {"nodes_per_token": 2.0, "gpus_per_token": 4.0,
                        "ib_copies_per_token": 1.0, "nvlink_forwards_per_token": 3.0}
    assert p.dispatch.sizes.tolist() == [[16 * 304] * 32] * 2
    assert p.combine.sizes.tolist() == [[16 * 544] * 32] * 2
    assert p.dispatch.network_bytes.tolist() == [8 * 16 * 304] * 2
    assert p.combine.network_bytes.tolist() == [8 * 16 * 544] * 2
    assert p.dispatch.logical_bytes.tolist() == [8 * TOKENS * 2 * 264] * 2
    assert p.dispatch.nvl_logical_bytes.tolist() == [8 * TOKENS * 4 * 264] * 2
    assert p.combine.logical_bytes.tolist() == [8 * TOKENS * 2 * 512] * 2
    assert p.combine.nvl_logical_bytes.tolist() == [8 * TOKENS * 4 * 512] * 2


def test_normal_intranode_bytes() -> None:
    """Balanced normal kernels on EP4 in one node: each token hits 2 of the 4 GPUs, so a pair
    carries 8 records, all over NVLink; the headline figure is the NVLink one."""
    p = pool(4, 4, "normal")
    assert p.dispatch.sizes.tolist() == [[8 * 304] * 12] * 2
    assert p.dispatch.network_bytes.tolist() == [0.0, 0.0]
    assert p.dispatch.logical_bytes.tolist() == p.dispatch.nvl_logical_bytes.tolist() == [
        4 * TOKENS * 2 * 264] * 2


def test_balanced_load_has_no_skew() -> None:
    """Under balanced routing every rank gets the same (token, expert) pairs: load factor 1."""
    assert pool(8, 4, "normal").load_factor.tolist() == [1.0, 1.0]


@pytest.mark.parametrize(("kernel", "record"), [("normal", 304), ("low-latency", 280)])
def test_uniform_bytes_follow_the_records(kernel: str, record: int) -> None:
    """Under random routing the sizes still follow the records: normal flows are whole
    records, the network bytes are the network leg's sizes, and the LL figure is every
    (token, expert) message."""
    p = pool(8, 4, kernel, UNIFORM, seed=5)
    d = p.dispatch
    assert p.samples == 3
    assert d.network_bytes.tolist() == d.sizes[:, d.leg == 0].sum(axis=1).tolist()
    if kernel == "normal":
        assert np.all(d.sizes % record == 0)
    else:
        assert d.logical_bytes.tolist() == [8 * TOKENS * K * record] * 3
    assert np.all(p.load_factor >= 1.0)


# -- a pure function of the arguments -------------------------------------------------------------

def test_same_seed_same_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawn afresh with the same seed, a pool is identical; another seed draws other
    routings."""
    first = pool(8, 4, "normal", UNIFORM, seed=11)
    monkeypatch.setattr(moe_traffic, "_POOLS", {})
    again = pool(8, 4, "normal", UNIFORM, seed=11)
    other = pool(8, 4, "normal", UNIFORM, seed=12)
    assert again is not first
    assert np.array_equal(first.dispatch.sizes, again.dispatch.sizes)
    assert np.array_equal(first.combine.sizes, again.combine.sizes)
    assert np.array_equal(first.load_factor, again.load_factor)
    assert not np.array_equal(first.dispatch.sizes, other.dispatch.sizes)


def test_a_pool_is_drawn_once() -> None:
    """The same arguments return the pool already drawn."""
    assert pool(8, 4, "low-latency", UNIFORM, seed=21) is pool(8, 4, "low-latency", UNIFORM,
                                                              seed=21)


@pytest.mark.parametrize("efficiency", [0.0, -0.5, 1.5])
def test_nvlink_efficiency_out_of_range(efficiency: float) -> None:
    """An NVLink efficiency outside (0, 1] is refused."""
    with pytest.raises(ValueError, match=r"nvlink_efficiency must be in \(0, 1\]"):
        build_moe_traffic(MODEL, BALANCED, 8, 4, TOKENS, "normal", 0,
                          nvlink_efficiency=efficiency)
