"""Equal-cost paths between two leaves of a plane: the hash, the candidate sets of each
fat-tree shape, spray's even shares and paired cables, ECMP's hashed hops, adaptive's least
loaded choice, and failed links left out."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.typing import NDArray

from mpft_sim.paths import PlanePaths, TreePaths, hash_keys, pick
from mpft_sim.spec.topology import FailureSpec, TopologySpec
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from tests.topology.conftest import tree_spec

IntArray = NDArray[np.int64]
MASK64 = (1 << 64) - 1

# radix 4, 4 servers: 2 leaves, 1 spine, 2 parallel cables per leaf (u = 2)
FT2_NARROW = tree_spec(nodes=4, radix=4)
# radix 8, 32 servers: 8 leaves, 4 spines, 1 cable per pair (u = 4)
FT2_WIDE = tree_spec(nodes=32, radix=8)
# radix 8, three tiers, 32 servers: 2 pods of 4 leaves and 4 spines, 1 core per spine group
# with 4 parallel cables
FT3_PARTIAL = tree_spec(nodes=32, radix=8, tiers=3)
# radix 4, three tiers, full: 4 pods of 2 leaves and 2 spines, 2 cores per group
FT3_FULL = tree_spec(nodes=16, radix=4, tiers=3)
# 4 planes of a radix-4 tree, 8 servers of 4 GPUs: per plane 4 leaves and 2 spines
MPFT = tree_spec("multi-plane-fat-tree", nodes=8, radix=4, planes=4, gpus=4, nics=4)


def splitmix64(state: int) -> int:
    """The reference SplitMix64 output after ``state`` (Steele, Lea and Flood 2014)."""
    z = (state + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def built(spec: TopologySpec, *failures: FailureSpec) -> Fabric:
    """The fabric of ``spec`` with ``failures``."""
    return build_fabric(dataclasses.replace(spec, failures=failures) if failures else spec)


def ask(n: int, plane: int, ls: int, ld: int) -> tuple[IntArray, IntArray, IntArray,
                                                        NDArray[np.uint64]]:
    """``n`` requests from leaf ``ls`` to leaf ``ld`` of ``plane``, hashes 0 .. n-1."""
    return (np.full(n, plane, dtype=np.int64), np.full(n, ls, dtype=np.int64),
            np.full(n, ld, dtype=np.int64), np.arange(n, dtype=np.uint64))


# -- the hash and the pick -------------------------------------------------------------------

@pytest.mark.parametrize("key", [0, 1, 2, 12345, 2**40 + 7])
def test_hash_is_splitmix64(key: int) -> None:
    """With salt 0, key k hashes to SplitMix64's output from state k * golden ratio."""
    state = (key * 0x9E3779B97F4A7C15) & MASK64
    assert int(hash_keys(np.array([key]), 0)[0]) == splitmix64(state)


def test_hash_known_value() -> None:
    """Key 0, salt 0 is SplitMix64's first output from seed 0, 0xE220A8397B1DCDAF."""
    assert int(hash_keys(np.array([0]), 0)[0]) == 0xE220A8397B1DCDAF


def test_hash_is_vectorised_deterministic_and_salted() -> None:
    """A batch hashes as its keys one by one, the same every call, and another salt changes
    every value."""
    keys = np.arange(100, dtype=np.int64)
    out = hash_keys(keys, 3)
    assert out.dtype == np.uint64
    assert out.tolist() == [int(hash_keys(np.array([k]), 3)[0]) for k in range(100)]
    assert np.array_equal(out, hash_keys(keys, 3))
    assert not np.any(out == hash_keys(keys, 4))
    assert len(set(out.tolist())) == 100


def test_pick_takes_the_hashed_true_entry() -> None:
    """Per row, the ``h % count``-th true column; -1 for a row with none."""
    mask = np.array([[True, False, True], [False, False, False], [False, True, False],
                     [True, True, True]])
    h = np.array([1, 5, 7, 5], dtype=np.uint64)
    assert pick(mask, h).tolist() == [2, -1, 1, 2]
    assert pick(np.zeros((2, 3), dtype=bool), h[:2]).tolist() == [-1, -1]


# -- spray: equal-cost path sets ----------------------------------------------------------------

@pytest.mark.parametrize(("spec", "plane", "ls", "ld", "paths"), [
    pytest.param(FT2_NARROW, 0, 0, 1, 2, id="ft2-k4: u uplinks"),
    pytest.param(FT2_WIDE, 0, 0, 7, 4, id="ft2-k8: u uplinks"),
    pytest.param(MPFT, 3, 0, 2, 2, id="mpft-k4: u uplinks in plane 3"),
    pytest.param(FT3_PARTIAL, 0, 0, 3, 4, id="ft3-k8 same pod: u spines"),
    pytest.param(FT3_PARTIAL, 0, 0, 4, 16, id="ft3-k8 cross pod: u spines x k/2 cables"),
    pytest.param(FT3_FULL, 0, 0, 1, 2, id="ft3-k4 same pod"),
    pytest.param(FT3_FULL, 0, 0, 7, 4, id="ft3-k4 cross pod: u spines x k/2 cores"),
])
def test_spray_splits_evenly_over_every_equal_cost_path(spec: TopologySpec, plane: int,
                                                        ls: int, ld: int, paths: int) -> None:
    """Spray gives a request one path per equal-cost choice, each with an equal share."""
    fab = built(spec)
    out = PlanePaths(fab, "spray").choose(*ask(1, plane, ls, ld))
    assert out.row.tolist() == [0] * paths
    assert out.share.tolist() == [1 / paths] * paths
    assert len({tuple(r) for r in out.links.tolist()}) == paths


def test_spray_pairs_each_uplink_with_the_same_index_cable_down() -> None:
    """Two tiers: uplink j of the source leaf goes with cable j down to the destination leaf,
    and the core columns are empty."""
    fab = built(FT2_NARROW)
    out = PlanePaths(fab, "spray").choose(*ask(1, 0, 0, 1))
    assert sorted(out.links.tolist()) == sorted(
        [[int(fab.up[0, 0, j]), -1, -1, int(fab.down[0, 1, j])] for j in range(2)])


def test_spray_pairs_core_cables_across_pods() -> None:
    """Three tiers across pods: spine uplink (j, m) goes with core cable (j, m) down to the
    destination pod, and spine j's down cable to the destination leaf."""
    fab = built(FT3_FULL)
    out = PlanePaths(fab, "spray").choose(*ask(1, 0, 0, 7))  # pod 0 to pod 3
    expected = [[int(fab.up[0, 0, j]), int(fab.core_up[0, 0, j, m]),
                 int(fab.core_down[0, 3, j, m]), int(fab.down[0, 7, j])]
                for j in range(2) for m in range(2)]
    assert sorted(out.links.tolist()) == sorted(expected)


def test_spray_rows_follow_their_requests() -> None:
    """Requests of one call keep their own paths: each row's shares sum to 1, same-pod rows
    have 4 paths and cross-pod rows 16."""
    fab = built(FT3_PARTIAL)
    plane = np.zeros(3, dtype=np.int64)
    out = PlanePaths(fab, "spray").choose(plane, np.array([0, 0, 5]), np.array([4, 3, 1]),
                                          np.arange(3, dtype=np.uint64))
    assert np.bincount(out.row, out.share).tolist() == pytest.approx([1.0] * 3, rel=1e-12)
    assert np.bincount(out.row).tolist() == [16, 4, 16]


# -- ECMP ----------------------------------------------------------------------------------------

def test_ecmp_hashes_each_hop() -> None:
    """ECMP takes one path, the whole flow: uplink ``hash(h, 1) % u`` and, at the spine,
    parallel cable ``hash(h, 2) % parallel``; over 64 flows every combination occurs."""
    fab = built(FT2_NARROW)
    req = ask(64, 0, 0, 1)
    out = PlanePaths(fab, "ecmp").choose(*req)
    assert isinstance(out, TreePaths)
    assert out.row.tolist() == list(range(64))
    assert out.share.tolist() == [1.0] * 64
    h = req[3]
    j = (hash_keys(h, 1) % np.uint64(2)).astype(np.int64)
    q = (hash_keys(h, 2) % np.uint64(2)).astype(np.int64)
    assert out.links[:, 0].tolist() == fab.up[0, 0, j].tolist()
    assert out.links[:, 3].tolist() == fab.down[0, 1, q].tolist()
    assert (out.links[:, 1:3] == -1).all()
    assert len({(a, b) for a, b in zip(j.tolist(), q.tolist(), strict=True)}) == 4


def test_ecmp_is_deterministic() -> None:
    """The same requests and hashes choose the same paths on a fresh path chooser."""
    fab = built(FT3_PARTIAL)
    req = ask(50, 0, 0, 4)
    a = PlanePaths(fab, "ecmp").choose(*req)
    b = PlanePaths(fab, "ecmp").choose(*req)
    assert np.array_equal(a.links, b.links)


def test_ecmp_cross_pod_path_is_a_chain() -> None:
    """Across pods ECMP fills all four hops: leaf up to a spine, on to a core, down to the
    destination pod's spine, down to the leaf."""
    fab = built(FT3_PARTIAL)
    out = PlanePaths(fab, "ecmp").choose(*ask(20, 0, 0, 4))
    assert (out.links >= 0).all()
    links = out.links
    assert (fab.link_dst[links[:, :-1]] == fab.link_src[links[:, 1:]]).all()
    assert set(fab.link_src[links[:, 0]].tolist()) == {fab.node_index("p0/leaf/0")}
    assert set(fab.link_dst[links[:, 3]].tolist()) == {fab.node_index("p0/leaf/4")}


# -- adaptive ------------------------------------------------------------------------------------

def test_adaptive_needs_the_current_flows() -> None:
    """Adaptive routing without the flows per link is a programming error."""
    with pytest.raises(ValueError, match="adaptive routing needs the current flows per link"):
        PlanePaths(built(FT2_WIDE), "adaptive").choose(*ask(1, 0, 0, 1))


def test_adaptive_takes_the_least_loaded_uplink_and_counts_it() -> None:
    """With three of four uplinks carrying a flow, a new flow takes the idle one; its two
    links each gain one flow."""
    fab = built(FT2_WIDE)
    flows = np.zeros(fab.n_links)
    flows[fab.up[0, 0, :3]] = 1.0
    out = PlanePaths(fab, "adaptive").choose(*ask(1, 0, 0, 1), link_flows=flows)
    idle = int(fab.up[0, 0, 3])
    assert out.links[0, 0] == idle
    assert out.links[0, 3] == fab.down[0, 1, 3]
    assert flows[fab.up[0, 0]].tolist() == [1.0] * 4
    assert flows.sum() == 3 + 2


def test_adaptive_batch_spreads() -> None:
    """Four flows placed in one call on idle links take the four uplinks, one each."""
    fab = built(FT2_WIDE)
    flows = np.zeros(fab.n_links)
    out = PlanePaths(fab, "adaptive").choose(*ask(4, 0, 0, 1), link_flows=flows)
    assert sorted(out.links[:, 0].tolist()) == sorted(fab.up[0, 0].tolist())


# -- failures ------------------------------------------------------------------------------------

def test_a_failed_spine_is_never_a_candidate() -> None:
    """With spine 1 failed, spray splits in thirds over the other spines and ECMP never picks
    the dead uplink; the leaves still reach each other."""
    fab = built(FT2_WIDE, FailureSpec(switch="p0/spine/1"))
    dead = int(fab.up[0, 0, 1])
    spray = PlanePaths(fab, "spray").choose(*ask(1, 0, 0, 1))
    assert spray.share.tolist() == [1 / 3] * 3
    assert dead not in spray.links[:, 0].tolist()
    ecmp = PlanePaths(fab, "ecmp").choose(*ask(200, 0, 0, 1))
    assert set(ecmp.links[:, 0].tolist()) == set(fab.up[0, 0].tolist()) - {dead}
    assert PlanePaths(fab, "ecmp").reachable(*ask(1, 0, 0, 1)[:3]).tolist() == [True]


def test_a_cut_leaf_is_unreachable_but_reaches_itself() -> None:
    """With every cable between leaf 1 and the spine failed, leaf 0 cannot reach leaf 1;
    a leaf always reaches itself."""
    fab = built(FT2_NARROW, FailureSpec(link="p0/leaf/1 - p0/spine/0"))
    paths = PlanePaths(fab, "ecmp")
    plane = np.zeros(3, dtype=np.int64)
    assert paths.reachable(plane, np.array([0, 1, 1]), np.array([1, 0, 1])).tolist() == [
        False, False, True]


def test_spray_moves_off_a_dead_paired_cable() -> None:
    """When the same-index cable down is dead but its twin lives, both sprayed halves go down
    the live cable."""
    fab = built(FT2_NARROW)
    alive = fab.link_alive.copy()
    alive[fab.down[0, 1, 0]] = False
    broken = dataclasses.replace(fab, link_alive=alive)
    out = PlanePaths(broken, "spray").choose(*ask(1, 0, 0, 1))
    assert out.share.tolist() == [0.5, 0.5]
    assert sorted(out.links[:, 0].tolist()) == sorted(fab.up[0, 0].tolist())
    assert out.links[:, 3].tolist() == [int(fab.down[0, 1, 1])] * 2
