"""Sizes of a design from its spec alone: the closed forms of the module docstring, for two-
and three-tier trees, oversubscription, planes, rails, multi-port NICs and the cost-only
kinds, and the capacity limits that make a design impossible."""

from __future__ import annotations

import numpy as np
import pytest

from mpft_sim.errors import SpecError
from mpft_sim.spec.topology import FabricSpec, NodeSpec, SwitchSpec, TopologySpec, load_topology
from mpft_sim.topology.sizing import FabricSize, port_plane_leaf, size_fabric
from tests.conftest import TOPOLOGIES
from tests.topology.conftest import PORT_Bps, tree_spec


def tree_of(size: FabricSize) -> tuple[int, int, int, int, int, int]:
    """(leaves, spines, parallel, pods, cores per group, cores) of one plane."""
    tree = size.tree
    assert tree is not None
    return (tree.leaves, tree.spines, tree.parallel, tree.pods, tree.cores_per_group,
            tree.cores)


# -- two tiers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [4, 8, 16, 32, 64])
def test_full_two_tier_tree(k: int) -> None:
    """Radix k at 1:1 holds k**2/2 endpoints on k leaves and k/2 spines, one cable per pair:
    k**2/2 cables, and half its endpoints' bandwidth across the bisection."""
    size = size_fabric(tree_spec(nodes=k * k // 2, radix=k))
    assert tree_of(size) == (k, k // 2, 1, 1, 0, 0)
    assert size.switches_by_tier == {"leaf": k, "spine": k // 2}
    assert size.switches == 3 * k // 2
    assert size.links_by_tier == {"leaf-spine": k * k // 2}
    assert size.max_gpus == k * k // 2
    assert size.bisection_Bps == k * k // 2 * PORT_Bps / 2


@pytest.mark.parametrize(("nodes", "radix", "leaves", "spines", "parallel", "bisection_Bps"), [
    # L = ceil(E / d); S = the fewest divisors of u with L * u / S <= k; u / S cables a pair
    pytest.param(12, 8, 3, 2, 2, 300e9, id="k8-E12"),
    pytest.param(20, 16, 3, 2, 4, 500e9, id="k16-E20"),
    pytest.param(17, 8, 5, 4, 1, 425e9, id="k8-E17"),
    pytest.param(128, 16, 16, 8, 1, 3200e9, id="k16-full"),
])
def test_partial_two_tier_tree(nodes: int, radix: int, leaves: int, spines: int, parallel: int,
                               bisection_Bps: float) -> None:
    """A partly filled tree has ceil(E/d) leaves and the fewest spines that take their uplinks;
    every leaf uses all its u uplinks, so the cables are L * u."""
    size = size_fabric(tree_spec(nodes=nodes, radix=radix))
    assert tree_of(size) == (leaves, spines, parallel, 1, 0, 0)
    assert size.links == leaves * radix // 2
    assert size.max_gpus == radix * radix // 2
    assert size.bisection_Bps == bisection_Bps


def test_one_leaf_has_no_spines() -> None:
    """Endpoints that fit one leaf need no spine tier and no switch-to-switch cable; the
    bisection is half the endpoints' bandwidth."""
    size = size_fabric(tree_spec(nodes=16, radix=64))
    assert tree_of(size) == (1, 0, 0, 1, 0, 0)
    assert size.switches_by_tier == {"leaf": 1}
    assert size.links_by_tier == {}
    assert size.bisection_Bps == 16 * PORT_Bps / 2


@pytest.mark.parametrize(("radix", "ratio", "down", "up", "spines", "max_gpus"), [
    pytest.param(8, (3, 1), 6, 2, 2, 48, id="k8-3:1"),
    pytest.param(64, (3, 1), 48, 16, 16, 3072, id="k64-3:1"),
    pytest.param(12, (2, 1), 8, 4, 4, 96, id="k12-2:1"),
])
def test_oversubscribed_two_tier_tree(radix: int, ratio: tuple[int, int], down: int, up: int,
                                      spines: int, max_gpus: int) -> None:
    """At d:u a full tree's leaves split their ports d down and u up, need u spines and hold
    k * d endpoints; the bisection is the uplinks' bandwidth, u/d of the endpoints'."""
    size = size_fabric(tree_spec(nodes=max_gpus, radix=radix, ratio=ratio))
    tree = size.tree
    assert tree is not None
    assert (tree.down, tree.up, tree.leaves, tree.spines) == (down, up, radix, spines)
    assert size.max_gpus == max_gpus
    assert size.links == radix * up
    assert size.bisection_Bps == radix * up * PORT_Bps / 2


def test_spines_given_in_the_spec() -> None:
    """An explicit spine count replaces the fewest that fit, with u / S cables per pair."""
    size = size_fabric(tree_spec(nodes=12, radix=8, spines=4))
    assert tree_of(size) == (3, 4, 1, 1, 0, 0)
    assert size.links == 12


# -- three tiers -------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [4, 8, 16, 64])
def test_full_three_tier_tree(k: int) -> None:
    """Three tiers of radix k: k pods of k/2 leaves and k/2 spines, k**2/4 cores; k**3/4
    endpoints, 5k**2/4 switches, k**3/4 cables between each pair of tiers."""
    size = size_fabric(tree_spec(nodes=k**3 // 4, radix=k, tiers=3))
    assert tree_of(size) == (k * k // 2, k * k // 2, 0, k, k // 2, k * k // 4)
    assert size.switches_by_tier == {"leaf": k * k // 2, "spine": k * k // 2,
                                     "core": k * k // 4}
    assert size.switches == 5 * k * k // 4
    assert size.links_by_tier == {"leaf-spine": k**3 // 4, "spine-core": k**3 // 4}
    assert size.max_gpus == k**3 // 4
    assert size.bisection_Bps == k**3 // 4 * PORT_Bps / 2


def test_partial_three_tier_tree() -> None:
    """32 endpoints at radix 8 fill 8 leaves in 2 pods; each spine needs 1 core for 2 pods,
    so 4 cores take 4 parallel cables from each spine."""
    size = size_fabric(tree_spec(nodes=32, radix=8, tiers=3))
    assert tree_of(size) == (8, 8, 0, 2, 1, 4)
    tree = size.tree
    assert tree is not None
    assert (tree.leaves_per_pod, tree.core_parallel) == (4, 4)
    assert size.links_by_tier == {"leaf-spine": 32, "spine-core": 32}
    assert size.max_gpus == 8 * 4 * 4
    assert size.bisection_Bps == 32 * PORT_Bps / 2


def test_one_pod_has_no_cores() -> None:
    """A three-tier tree that fits one pod has leaves and spines only."""
    size = size_fabric(tree_spec(nodes=16, radix=8, tiers=3))
    assert tree_of(size) == (4, 4, 0, 1, 0, 0)
    assert size.switches_by_tier == {"leaf": 4, "spine": 4}
    assert size.links_by_tier == {"leaf-spine": 16}


# -- planes, rails, ports ----------------------------------------------------------------------

def test_multi_plane_counts_are_per_plane_times_planes() -> None:
    """Four planes of a radix-4 tree, NIC i in plane i: each plane has one endpoint per server
    (4 leaves, 2 spines), and the design has four times its switches, cables and bisection."""
    size = size_fabric(tree_spec("multi-plane-fat-tree", nodes=8, radix=4, planes=4, gpus=4,
                                 nics=4))
    tree = size.tree
    assert tree is not None
    assert (tree.endpoints, tree.leaves, tree.spines) == (8, 4, 2)
    assert size.switches_by_tier == {"leaf": 16, "spine": 8}
    assert size.links_by_tier == {"leaf-spine": 32}
    assert (size.gpus, size.nics, size.endpoint_links, size.max_gpus) == (32, 32, 32, 32)
    assert size.bisection_Bps == 4 * 8 * PORT_Bps / 2


def test_multi_port_nics_put_a_port_in_each_plane() -> None:
    """A 2-port NIC puts one 25 GB/s port in each of 2 planes: every NIC is an endpoint of
    every plane, and the bisection counts the ports' bandwidth, not the switches'."""
    size = size_fabric(tree_spec("multi-plane-fat-tree", nodes=8, radix=8, planes=2, gpus=4,
                                 nics=4, ports=2))
    tree = size.tree
    assert tree is not None
    assert (tree.endpoints, tree.leaves, tree.spines) == (32, 8, 4)
    assert (size.nics, size.endpoint_links) == (32, 64)
    assert size.links == 2 * 8 * 4
    assert size.bisection_Bps == 2 * 32 * (PORT_Bps / 2) / 2


def test_multi_rail_tree_has_a_leaf_per_rail_and_group() -> None:
    """Multi-rail: ceil(nodes / d) groups, each with a leaf per NIC; radix k holds k / nics
    groups of d servers."""
    size = size_fabric(tree_spec("multi-rail-fat-tree", nodes=8, radix=8, gpus=4, nics=4))
    assert tree_of(size) == (8, 4, 1, 1, 0, 0)
    assert size.max_gpus == (8 // 4) * 4 * 4


def test_deployed_cluster() -> None:
    """The deployed 2,048-GPU MPFT: 8 planes of 8 leaves and 4 spines, 8 cables a pair."""
    size = size_fabric(load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml"))
    assert tree_of(size) == (8, 4, 8, 1, 0, 0)
    assert size.switches == 8 * 12
    assert size.links == 8 * 8 * 32


def test_bisection_of_a_full_tree() -> None:
    """A non-blocking tree's bisection is half its endpoints at full rate, summed over planes."""
    size = size_fabric(load_topology(TOPOLOGIES / "mpft-16k.yaml"))
    assert size.bisection_Bps == pytest.approx(16_384 * 50e9 / 2)


# -- cost-only kinds ---------------------------------------------------------------------------

def test_slim_fly_counts() -> None:
    """Slim-fly q=5 (q = 4w + 1): 2q**2 = 50 switches of network radix (3q - 1)/2 = 7 and
    ceil(7/2) = 4 endpoints each; 50 * 7 / 2 cables; no bisection, no tree."""
    spec = TopologySpec(name="sf", fabric=FabricSpec(kind="slim-fly", q=5,
                                                     switch=SwitchSpec(radix=11)))
    size = size_fabric(spec)
    assert (size.switches, size.links, size.endpoints, size.endpoint_links) == (50, 175, 200, 200)
    assert (size.nodes, size.gpus, size.max_gpus) == (25, 200, 200)
    assert (size.bisection_Bps, size.tree) == (None, None)


def test_dragonfly_counts() -> None:
    """Dragonfly a=4, h=2, p=2: a*h + 1 = 9 groups of 4 switches, 72 endpoints, and
    36 * (a - 1 + h) / 2 = 90 cables."""
    spec = TopologySpec(name="df", fabric=FabricSpec(
        kind="dragonfly", group_size=4, global_ports=2, endpoints_per_switch=2,
        switch=SwitchSpec(radix=7)))
    size = size_fabric(spec)
    assert (size.switches, size.links, size.endpoints) == (36, 90, 72)
    assert size.switches_by_tier == {"switch": 36}


# -- capacity limits ---------------------------------------------------------------------------

LIMITS = [
    pytest.param(lambda: tree_spec(nodes=33, radix=8),
                 "fabric.nodes: more nodes than a two-tier fat-tree of radix 8 holds per plane "
                 "(at most 32: 8 leaves of 4 down ports), got 33", id="two-tier"),
    pytest.param(lambda: tree_spec(nodes=17, radix=4, tiers=3),
                 "fabric.nodes: more nodes than a three-tier fat-tree of radix 4 holds (at most "
                 "16: 4 pods of 2 leaves of 2 down ports), got 17", id="three-tier"),
    pytest.param(lambda: tree_spec("multi-rail-fat-tree", nodes=9, radix=8, gpus=4, nics=4),
                 "fabric.nodes: more nodes than a multi-rail fat-tree of radix 8 holds (at most "
                 "8: 2 groups of 4 nodes), got 9", id="multi-rail"),
    pytest.param(lambda: tree_spec(nodes=12, radix=8, spines=3),
                 "fabric.spines: must divide the 4 leaf uplinks and leave each spine at most 8 "
                 "ports for 3 leaves, got 3", id="spines-not-dividing"),
    pytest.param(lambda: tree_spec(nodes=12, radix=8, spines=1),
                 "fabric.spines: must divide the 4 leaf uplinks and leave each spine at most 8 "
                 "ports for 3 leaves, got 1", id="spines-too-few"),
    pytest.param(lambda: tree_spec(nodes=4, radix=8, spines=2),
                 "fabric.spines: one leaf needs no spines, got 2", id="spines-one-leaf"),
    pytest.param(lambda: tree_spec(nodes=32, radix=8, tiers=3, spines=2),
                 "fabric.spines: applies only to two-tier trees, got 2", id="spines-three-tier"),
    pytest.param(lambda: TopologySpec(name="sf", fabric=FabricSpec(
        kind="slim-fly", q=6, switch=SwitchSpec(radix=64))),
        "fabric.q: must be 4w + d with d in {-1, 0, 1} (q = 2 mod 4 has no MMS graph), got 6",
        id="slim-fly-q"),
    pytest.param(lambda: TopologySpec(name="sf", fabric=FabricSpec(
        kind="slim-fly", q=5, switch=SwitchSpec(radix=10))),
        "fabric.switch.radix: too small: the design needs 11 ports per switch (7 network + 4 "
        "endpoint ports), got 10", id="slim-fly-radix"),
    pytest.param(lambda: TopologySpec(name="df", fabric=FabricSpec(
        kind="dragonfly", group_size=4, global_ports=2, endpoints_per_switch=2, groups=10,
        switch=SwitchSpec(radix=7))),
        "fabric.groups: too many groups: 4 switches with 2 global ports each reach at most 9 "
        "groups, got 10", id="dragonfly-groups"),
    pytest.param(lambda: TopologySpec(name="df", node=NodeSpec(gpus=8, nics=8), fabric=FabricSpec(
        kind="dragonfly", group_size=4, global_ports=2, endpoints_per_switch=2, nodes=10,
        switch=SwitchSpec(radix=7))),
        "fabric.nodes: more nodes than the design's 72 endpoint ports hold, got 10",
        id="cost-only-nodes"),
]


@pytest.mark.parametrize(("build", "message"), LIMITS)
def test_impossible_designs_are_spec_errors(build: object, message: str) -> None:
    """A design the radix and tiers cannot hold fails when its spec is built, naming the key,
    the limit and the value."""
    assert callable(build)
    with pytest.raises(SpecError) as err:
        build()
    assert str(err.value) == message


# -- where ports sit ---------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "ports", "planes", "leaves"), [
    # fat-tree: ports fill leaves of d = 4 in node order, a node's 4 NICs on one leaf
    ("fat-tree", 1, [0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 4, 4, 4, 4]),
    # multi-plane: NIC i in plane i, node n on leaf n // d of every plane
    ("multi-plane-fat-tree", 1, [0, 1, 2, 3, 0, 1, 2, 3], [0, 0, 0, 0, 1, 1, 1, 1]),
    # multi-plane NICs: port p in plane p, NIC (n, i) on leaf (4n + i) // d
    ("multi-plane-fat-tree", 2, [0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 0, 0, 1, 1]),
    # multi-rail: node group n // d and rail i share leaf (n // d) * nics + i
    ("multi-rail-fat-tree", 1, [0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 2, 3, 4, 5, 6, 7]),
])
def test_port_plane_leaf(kind: str, ports: int, planes: list[int], leaves: list[int]) -> None:
    """The plane and leaf of NIC ports follow each kind's wiring rule."""
    planes_n = ports if ports > 1 else (4 if kind == "multi-plane-fat-tree" else 1)
    spec = tree_spec(kind, nodes=4 if ports > 1 else 8, radix=8, planes=planes_n, gpus=4,
                     nics=4, ports=ports)
    size = size_fabric(spec)
    assert size.tree is not None
    if ports > 1:  # node 0 NICs 0, 2 and node 1 NICs 0, 2, each on ports 0 and 1
        node = np.array([0, 0, 1, 1, 0, 0, 1, 1])
        nic = np.array([0, 2, 0, 2, 0, 2, 0, 2])
        port = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    else:  # NICs 0..3 of node 0, then of node 4
        node = np.array([0, 0, 0, 0, 4, 4, 4, 4])
        nic = np.array([0, 1, 2, 3, 0, 1, 2, 3])
        port = np.zeros(8, dtype=np.int64)
    got_plane, got_leaf = port_plane_leaf(spec, size.tree, node, nic, port)
    assert got_plane.tolist() == planes
    assert got_leaf.tolist() == leaves
