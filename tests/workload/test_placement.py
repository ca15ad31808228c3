"""Expert placement: contiguous blocks without EPLB, EPLB's redundant experts (global and
hierarchical), and the replica each token's copy goes to."""

from __future__ import annotations

import numpy as np
import pytest

from mpft_sim.workload.placement import (
    default_placement,
    eplb_placement,
    replica_rank,
    replica_slots,
)


def test_default_placement() -> None:
    """Without EPLB expert e lives on rank e // (E/EP)."""
    assert list(default_placement(8, 4)) == [0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(ValueError):
        default_placement(256, 48)


# hand-made loads: expert 0 is by far the heaviest, expert 4 second
HAND_WEIGHT = np.array([12.0, 1.0, 1.0, 1.0, 5.0, 1.0, 1.0, 1.0])


def test_eplb_global_replicates_heaviest() -> None:
    """Global EPLB gives the 4 extra slots to the heaviest experts: 0, 0, 4, 0."""
    # load per replica: 12 -> 6 (e0 x2), then max(6, 5) -> e0 x3 (4), then 5 -> e4 x2 (2.5),
    # then 4 -> e0 x4 (3)
    phy2log, log2phy, logcnt = eplb_placement(HAND_WEIGHT, 12, 1, 2, 4)
    assert list(logcnt) == [4, 1, 1, 1, 2, 1, 1, 1]
    _check_consistent(phy2log, log2phy, logcnt, 12, 4)


def test_eplb_hierarchical_hand_case() -> None:
    """Hierarchical EPLB replicates inside each node: node 0 (experts 0-3) and node 1 (4-7)."""
    # one group per node, 6 slots per node, 2 extra each: e0 (12 -> 6 -> 4), e4 (5 -> 2.5)
    phy2log, log2phy, logcnt = eplb_placement(HAND_WEIGHT, 12, 2, 2, 4)
    assert list(logcnt) == [3, 1, 1, 1, 3, 1, 1, 1]
    _check_consistent(phy2log, log2phy, logcnt, 12, 4)
    node = np.arange(12) // 6
    assert set(phy2log[node == 0]) == {0, 1, 2, 3}
    assert set(phy2log[node == 1]) == {4, 5, 6, 7}


def test_eplb_v3_prefill_layout() -> None:
    """V3 prefill (288 slots, 32 GPUs, 4 nodes): groups stay on one node, GPUs balanced."""
    weight = np.random.default_rng(7).pareto(1.5, 256) + 1.0
    phy2log, log2phy, logcnt = eplb_placement(weight, 288, 8, 4, 32)
    _check_consistent(phy2log, log2phy, logcnt, 288, 32)
    node_of_slot = np.arange(288) // 9 // 8
    for group in range(8):
        slots = log2phy[group * 32:(group + 1) * 32]
        assert len(set(node_of_slot[slots[slots >= 0]])) == 1
    # replicas went to the heaviest experts: every replicated expert outweighs every
    # unreplicated expert of its node
    for n in range(4):
        on_node = np.unique(phy2log[node_of_slot == n])
        rep, single = on_node[logcnt[on_node] > 1], on_node[logcnt[on_node] == 1]
        assert weight[rep].min() >= weight[single].max()
    gpu_load = np.bincount(np.arange(288) // 9, weights=(weight / logcnt)[phy2log])
    assert gpu_load.max() < 1.5 * gpu_load.mean()


def test_eplb_global_when_groups_do_not_split() -> None:
    """With num_groups % num_nodes != 0 the global policy is used (still consistent)."""
    weight = np.random.default_rng(8).random(256) + 0.1
    phy2log, log2phy, logcnt = eplb_placement(weight, 320, 8, 5, 40)
    _check_consistent(phy2log, log2phy, logcnt, 320, 40)


def _check_consistent(phy2log: np.ndarray, log2phy: np.ndarray, logcnt: np.ndarray,
                      replicas: int, gpus: int) -> None:
    """Every expert has >= 1 replica, slots per GPU are equal, the maps agree."""
    assert phy2log.shape == (replicas,)
    assert logcnt.min() >= 1 and logcnt.sum() == replicas
    assert np.array_equal(np.bincount(phy2log, minlength=len(logcnt)), logcnt)
    assert np.array_equal(np.bincount(np.arange(replicas) // (replicas // gpus)),
                          np.full(gpus, replicas // gpus))
    used = log2phy[log2phy >= 0]
    assert np.array_equal(np.sort(used), np.arange(replicas))
    for e in range(len(logcnt)):
        assert np.all(phy2log[log2phy[e, :logcnt[e]]] == e)
        assert np.all(log2phy[e, logcnt[e]:] == -1)


def test_replica_choice() -> None:
    """Tokens go to a replica of their expert, split about evenly among the replicas."""
    phy2log, log2phy, logcnt = eplb_placement(HAND_WEIGHT, 12, 1, 2, 4)
    experts = np.zeros((40_000, 1), dtype=np.int64)  # all to expert 0 (4 replicas)
    slots = replica_slots(experts, log2phy, logcnt, np.random.default_rng(0))
    assert np.all(phy2log[slots] == 0)
    share = np.bincount(slots.ravel(), minlength=12)[log2phy[0]] / 40_000
    assert np.allclose(share, 0.25, atol=0.01)
    ranks = replica_rank(experts, log2phy, logcnt, 3, np.random.default_rng(0))
    assert np.array_equal(ranks, slots // 3)
