"""MoE routing: the V3 gate, load shapes, fan-out against the published table."""

from __future__ import annotations

import numpy as np
import pytest

from mpft_sim.workload.gating import (
    GateConfig,
    expert_bias,
    fanout_stats,
    route_group,
    route_tokens,
)
from mpft_sim.workload.placement import default_placement

V3 = GateConfig(experts=256, top_k=8, groups=8, top_groups=4)
GPUS_PER_NODE = 8
TOKENS = 20_000

# traffic-mechanics §6.2, "Expected fan-out" (20,000-token Monte Carlo, uniform scores, V3
# gate, source GPU uniform over the group):
# EP: (nodes/token, distinct GPUs/token, RDMA copies/token, NVLink forwards/token)
FANOUT_TABLE = {
    16: (1.97, 5.73, 0.98, 5.01),
    32: (3.12, 6.86, 2.34, 6.00),
    64: (3.96, 7.49, 3.46, 6.56),
    128: (5.72, 7.83, 5.37, 6.86),
}
FANOUT_KEYS = ("nodes_per_token", "gpus_per_token", "ib_copies_per_token",
               "nvlink_forwards_per_token")


@pytest.fixture(scope="module")
def uniform_v3() -> np.ndarray:
    """20,000 tokens routed by the V3 gate with uniform scores."""
    return route_tokens(V3, TOKENS, np.random.default_rng(2024))


def test_v3_gate_structure(uniform_v3: np.ndarray) -> None:
    """Every token gets exactly 8 distinct experts from at most 4 of the 8 groups."""
    ex = uniform_v3
    assert ex.shape == (TOKENS, 8) and ex.dtype == np.int64
    assert ex.min() >= 0 and ex.max() < 256
    srt = np.sort(ex, axis=1)
    assert np.all(srt[:, 1:] != srt[:, :-1])
    groups = np.sort(ex // 32, axis=1)
    n_groups = 1 + (groups[:, 1:] != groups[:, :-1]).sum(axis=1)
    assert n_groups.max() <= 4
    assert n_groups.min() >= 1


def test_v3_gate_matches_brute_force() -> None:
    """On a small sample the vectorised gate equals a per-token transcription of V3's Gate."""
    cfg = GateConfig(experts=16, top_k=4, groups=4, top_groups=2)
    ex = route_tokens(cfg, 200, np.random.default_rng(3))
    # the same affinities, recomputed: sigmoid(gumbel) = 1 / (1 + Exp(1))
    x = np.random.default_rng(3).standard_exponential((200, 16), dtype=np.float32)
    aff = np.reciprocal(x + np.float32(1.0))  # float32, as the gate computes them
    for t in range(200):  # reference oracle: one token at a time, as the PyTorch code reads
        grouped = aff[t].reshape(4, 4)
        score = np.sort(grouped, axis=1)[:, -2:].sum(axis=1)
        keep = np.argsort(-score)[:2]
        masked = np.full(16, -np.inf)
        for g in keep:
            masked[g * 4:(g + 1) * 4] = aff[t, g * 4:(g + 1) * 4]
        assert list(ex[t]) == list(np.argsort(-masked)[:4])


@pytest.mark.parametrize("ep", sorted(FANOUT_TABLE))
def test_fanout_matches_published_table(uniform_v3: np.ndarray, ep: int) -> None:
    """Mean nodes, GPUs, RDMA copies and NVLink forwards per token are within 2% of §6.2."""
    rng = np.random.default_rng(ep)
    src = rng.integers(0, ep, TOKENS)  # source GPU uniform over the group
    stats = fanout_stats(uniform_v3, default_placement(256, ep), GPUS_PER_NODE,
                         src // GPUS_PER_NODE, src % GPUS_PER_NODE)
    for key, published in zip(FANOUT_KEYS, FANOUT_TABLE[ep], strict=True):
        assert stats[key] == pytest.approx(published, rel=0.02), key
    # without the source's local index the forwards are the expectation over it
    expected = fanout_stats(uniform_v3, default_placement(256, ep), GPUS_PER_NODE,
                            src // GPUS_PER_NODE)
    assert expected["nvlink_forwards_per_token"] == pytest.approx(
        FANOUT_TABLE[ep][3], rel=0.02)


def test_fanout_stats_hand_case() -> None:
    """Fan-out definitions on two hand-made tokens (2 nodes x 2 GPUs, one expert per GPU)."""
    experts = np.array([[0, 1, 3], [2, 3, 2]])
    # token 0 from rank 0 (node 0, local 0): nodes {0,1}, GPUs {0,1,3}, 1 remote node,
    #   forwards = GPUs with local index != 0 = {1, 3} -> 2
    # token 1 from rank 1 (node 0, local 1): nodes {1}, GPUs {2,3}, 1 remote node,
    #   forwards = {2} -> 1
    stats = fanout_stats(experts, np.arange(4), 2, np.array([0, 0]), np.array([0, 1]))
    assert stats == {"nodes_per_token": 1.5, "gpus_per_token": 2.5,
                     "ib_copies_per_token": 1.0, "nvlink_forwards_per_token": 1.5}
    assert fanout_stats(experts, np.arange(4), 2, 0)["nvlink_forwards_per_token"] == 1.25


def test_balanced_is_exact() -> None:
    """'balanced' gives every expert exactly tokens*K/E tokens, M groups x K/M per token."""
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    ex = route_tokens(V3, 4096, rng, "balanced")
    assert rng.bit_generator.state == state  # nothing drawn
    assert np.array_equal(np.bincount(ex.ravel(), minlength=256),
                          np.full(256, 4096 * 8 // 256))
    srt = np.sort(ex, axis=1)
    assert np.all(srt[:, 1:] != srt[:, :-1])
    per_group = np.stack([np.bincount(row // 32, minlength=8) for row in ex[:64]])
    assert np.all(np.sort(per_group, axis=1)[:, -4:] == 2)
    assert np.all(np.sort(per_group, axis=1)[:, :4] == 0)
    # hand check of the round-robin: token 0 takes groups 0, 4, 2, 6 (bit-reversed order),
    # the first two experts of each group's spread order (offsets 0 and 16)
    assert list(ex[0]) == [0, 16, 128, 144, 64, 80, 192, 208]
    assert np.array_equal(ex, route_tokens(V3, 4096, np.random.default_rng(9), "balanced"))


def test_balanced_uneven_total() -> None:
    """When tokens*K/E is not an integer the balanced counts differ by at most one."""
    counts = np.bincount(route_tokens(V3, 1000, np.random.default_rng(0), "balanced").ravel(),
                         minlength=256)
    assert counts.sum() == 8000
    assert counts.max() - counts.min() <= 1


def test_zipf_skews_load() -> None:
    """Under zipf the most popular expert gets many times the tokens of the least popular."""
    zipf = np.bincount(route_tokens(V3, TOKENS, np.random.default_rng(1), "zipf").ravel(),
                       minlength=256)
    uniform = np.bincount(route_tokens(V3, TOKENS, np.random.default_rng(1)).ravel(),
                          minlength=256)
    assert zipf.max() > 20 * max(zipf.min(), 1)
    assert uniform.max() < 1.5 * uniform.min()
    # rank 1 of zipf(1) carries 1/H_256 ~ 16% of the first-pick mass: near-certain selection
    assert zipf.max() > 0.5 * TOKENS


def test_zipf_bias_mapping() -> None:
    """The zipf tilt is log(rank**-a), centred, on a random permutation of the experts."""
    tilt = expert_bias("zipf", 8, np.random.default_rng(0), zipf_exponent=2.0)
    ranks = np.sort(tilt)[::-1]
    expected = -2.0 * np.log(np.arange(1, 9))
    assert np.allclose(ranks, expected - expected.mean())
    assert np.array_equal(expert_bias("uniform", 8, np.random.default_rng(0)), np.zeros(8))


def test_group_shares_popular_experts() -> None:
    """route_group draws the load shape once, so every source favours the same expert."""
    ex = route_group(V3, 4, 2_000, np.random.default_rng(5), "zipf")
    assert ex.shape == (4, 2_000, 8)
    hottest = {int(np.argmax(np.bincount(src.ravel(), minlength=256))) for src in ex}
    assert len(hottest) == 1


def test_file_weights() -> None:
    """'file' weights steer selection: a 50x-weighted expert is picked far more often."""
    w = np.ones(256)
    w[7] = 50.0
    w[200] = 0.0
    counts = np.bincount(route_tokens(V3, 5_000, np.random.default_rng(2), "file",
                                      weights=w).ravel(), minlength=256)
    assert counts[7] > 5 * np.median(counts)
    assert counts[200] == 0


def test_deterministic_for_a_seed() -> None:
    """The same seed gives the same routing; another seed a different one."""
    a = route_tokens(V3, 1_000, np.random.default_rng(11), "zipf", 1.2)
    b = route_tokens(V3, 1_000, np.random.default_rng(11), "zipf", 1.2)
    c = route_tokens(V3, 1_000, np.random.default_rng(12), "zipf", 1.2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_shared_as_routed() -> None:
    """With the shared expert routed every token gets K+1 ids, the last being E."""
    cfg = GateConfig(256, 8, 8, 4, shared_as_routed=True)
    for load in ("uniform", "balanced"):
        ex = route_tokens(cfg, 100, np.random.default_rng(0), load)
        assert ex.shape == (100, 9)
        assert np.all(ex[:, -1] == 256) and ex[:, :-1].max() < 256


def test_bad_inputs() -> None:
    """Inconsistent gate shapes and unknown loads are rejected."""
    with pytest.raises(ValueError):
        GateConfig(experts=250, top_k=8, groups=8, top_groups=4)
    with pytest.raises(ValueError):
        GateConfig(experts=256, top_k=8, groups=8, top_groups=9)
    with pytest.raises(ValueError):
        route_tokens(V3, 10, np.random.default_rng(0), "pareto")
    with pytest.raises(ValueError):
        route_tokens(V3, 10, np.random.default_rng(0), "file")
    with pytest.raises(ValueError):
        route_tokens(GateConfig(256, 6, 8, 4), 10, np.random.default_rng(0), "balanced")
