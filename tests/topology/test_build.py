"""Builders: counts equal the closed forms; wiring, names and failures are right."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest

from mpft_sim.spec.topology import (
    FabricSpec,
    FailureSpec,
    NicSpec,
    NodeSpec,
    PcieSpec,
    SwitchSpec,
    TopologySpec,
    load_topology,
)
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric, LinkKind, NodeKind
from mpft_sim.topology.failures import cables_between
from tests.conftest import TOPOLOGIES, no_overhead


def design(kind: str, nodes: int, radix: int, *, planes: int = 1, tiers: int = 2,
           ratio: tuple[int, int] = (1, 1), gpus: int = 8, nics: int = 8,
           **node_kw: object) -> TopologySpec:
    """A design built in code."""
    fabric = FabricSpec(kind=kind, nodes=nodes, planes=planes, tiers=tiers,  # type: ignore[arg-type]
                        oversubscription=ratio,
                        switch=SwitchSpec(radix=radix, port_bandwidth_Bps=50e9))
    node = NodeSpec(gpus=gpus, nics=nics, **node_kw)  # type: ignore[arg-type]
    return TopologySpec(name=f"{kind}-{nodes}", fabric=fabric, node=node)


def switch_cables(fabric: Fabric, tier: int | None = None) -> int:
    """Switch-to-switch cables counted from the built link arrays."""
    mask = fabric.link_kind == LinkKind.FABRIC
    if tier is not None:
        mask &= fabric.link_tier == tier
    return int(mask.sum()) // 2


def switches(fabric: Fabric, kind: NodeKind | None = None) -> int:
    """Switches counted from the built node arrays."""
    if kind is None:
        return int((fabric.node_kind >= NodeKind.LEAF).sum())
    return int((fabric.node_kind == kind).sum())


@pytest.mark.parametrize("k", [4, 8, 16, 32, 64])
def test_full_two_tier_closed_form(k: int) -> None:
    """Radix k holds k**2/2 endpoints on k leaves and k/2 spines, with k**2/2 cables."""
    fabric = build_fabric(design("fat-tree", k * k // 2, k, gpus=1, nics=1))
    assert fabric.n_gpus == k * k // 2
    assert switches(fabric, NodeKind.LEAF) == k == fabric.size.switches_by_tier["leaf"]
    assert switches(fabric, NodeKind.SPINE) == k // 2 == fabric.size.switches_by_tier["spine"]
    assert switches(fabric) == 3 * k // 2 == fabric.size.switches
    assert switch_cables(fabric) == k * k // 2 == fabric.size.links
    assert fabric.size.max_gpus == k * k // 2


def test_full_two_tier_degrees() -> None:
    """In a full tree every switch uses all k ports: d down + u up at leaves, k down at spines."""
    k = 16
    fabric = build_fabric(design("fat-tree", k * k // 2 // 8, k))
    out_degree = np.bincount(fabric.link_src, minlength=fabric.n_nodes)
    in_degree = np.bincount(fabric.link_dst, minlength=fabric.n_nodes)
    sw = fabric.node_kind >= NodeKind.LEAF
    assert set(out_degree[sw]) == {k}
    assert set(in_degree[sw]) == {k}
    assert set(out_degree[fabric.node_kind == NodeKind.GPU]) == {2}  # NVSwitch and NIC


def test_mpft_16k_closed_form() -> None:
    """Eight planes of a full radix-64 tree: 16,384 GPUs, 768 switches, 16,384 cables."""
    fabric = build_fabric(load_topology(TOPOLOGIES / "mpft-16k.yaml"))
    assert fabric.n_gpus == 16_384
    assert switches(fabric) == 768
    assert switch_cables(fabric) == 16_384
    assert int((fabric.link_kind == LinkKind.ENDPOINT).sum()) // 2 == 16_384
    for plane in range(8):
        in_plane = fabric.node_plane == plane
        assert int((in_plane & (fabric.node_kind == NodeKind.LEAF)).sum()) == 64
        assert int((in_plane & (fabric.node_kind == NodeKind.SPINE)).sum()) == 32


def test_deployed_cluster_has_fewer_leaves_and_spines() -> None:
    """256 nodes fill 8 leaves per plane; 4 spines take their 256 uplinks, 8 cables per pair."""
    fabric = build_fabric(load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml"))
    tree = fabric.size.tree
    assert tree is not None
    assert (tree.leaves, tree.spines, tree.parallel) == (8, 4, 8)
    assert switches(fabric) == 8 * 12
    assert switch_cables(fabric) == 8 * 8 * 32
    leaf, spine = fabric.node_index("p0/leaf/0"), fabric.node_index("p0/spine/3")
    assert len(fabric.links_between(leaf, spine)) == 8


@pytest.mark.parametrize("k", [4, 8, 16, 64])
def test_full_three_tier_closed_form(k: int) -> None:
    """Three tiers of radix k: k**3/4 endpoints, 5k**2/4 switches, k**3/2 cables."""
    per_node = 8 if k == 64 else 1
    fabric = build_fabric(design("fat-tree", k**3 // 4 // per_node, k, tiers=3,
                                 gpus=per_node, nics=per_node))
    assert fabric.n_gpus == k**3 // 4
    assert switches(fabric) == 5 * k * k // 4 == fabric.size.switches
    assert switches(fabric, NodeKind.CORE) == k * k // 4
    assert switch_cables(fabric) == k**3 // 2 == fabric.size.links
    assert switch_cables(fabric, tier=2) == k**3 // 4
    assert switch_cables(fabric, tier=3) == k**3 // 4


def test_oversubscription_means_fewer_spines() -> None:
    """At 3:1 a radix-64 leaf has 48 down and 16 up ports: 16 spines, 3,072 endpoints."""
    fabric = build_fabric(design("fat-tree", 384, 64, ratio=(3, 1)))
    assert fabric.size.tree is not None
    assert (fabric.size.tree.down, fabric.size.tree.up) == (48, 16)
    assert switches(fabric, NodeKind.LEAF) == 64
    assert switches(fabric, NodeKind.SPINE) == 16
    assert switch_cables(fabric) == 64 * 16
    assert fabric.size.max_gpus == 3072
    assert fabric.size.bisection_Bps == pytest.approx(64 * 16 * 50e9 / 2)


def test_mpft_nic_i_in_plane_i() -> None:
    """NIC i of every server sits in plane i; planes share no switch and no link."""
    fabric = build_fabric(load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml"))
    nics = np.arange(fabric.port_plane.shape[0])
    assert np.array_equal(fabric.port_plane[:, 0], nics % 8)
    fab = fabric.link_kind >= LinkKind.ENDPOINT
    src_plane = fabric.node_plane[fabric.link_src[fab]]
    dst_plane = fabric.node_plane[fabric.link_dst[fab]]
    link_plane = fabric.link_plane[fab]
    switch_end = np.where(src_plane >= 0, src_plane, dst_plane)
    assert np.array_equal(switch_end, link_plane)
    assert np.all((src_plane < 0) | (dst_plane < 0) | (src_plane == dst_plane))
    g = fabric.to_networkx().to_undirected(as_view=True)
    assert nx.is_connected(g)


def test_mrft_is_rail_aligned() -> None:
    """NIC r of the servers in group g shares leaf g*8 + r; one plane; spines shared."""
    fabric = build_fabric(load_topology(TOPOLOGIES / "mrft-2048.yaml"))
    leaf_of = fabric.port_leaf[:, 0]
    node, rail = np.divmod(np.arange(len(leaf_of)), 8)
    assert np.array_equal(leaf_of, (node // 32) * 8 + rail)
    assert np.all(fabric.port_plane == 0)


def test_fat_tree_is_node_aligned() -> None:
    """In the single-plane tree a server's 8 NICs share a leaf, 4 servers per leaf."""
    fabric = build_fabric(load_topology(TOPOLOGIES / "ft2-2048.yaml"))
    leaf_of = fabric.port_leaf[:, 0].reshape(256, 8)
    assert np.all(leaf_of == (np.arange(256) // 4)[:, None])


def test_intra_node_wiring() -> None:
    """Each GPU has an NVLink pair to its NVSwitch and a PCIe pair to its NIC (capacities at
    line rate: the transport overhead pinned off)."""
    spec = no_overhead(load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml"))
    fabric = build_fabric(spec)
    gpu = np.arange(fabric.n_gpus)
    assert np.array_equal(fabric.link_src[fabric.gpu_nvl_up], gpu)
    assert np.all(fabric.node_kind[fabric.link_dst[fabric.gpu_nvl_up]] == NodeKind.NVSWITCH)
    assert np.array_equal(fabric.link_dst[fabric.gpu_nvl_down], gpu)
    assert np.allclose(fabric.capacity_Bps[fabric.gpu_nvl_up], 160e9)
    nic_nodes = fabric.layout.nic0 + fabric.gpu_nic
    assert np.array_equal(fabric.link_dst[fabric.gpu_to_nic[:, -1]], nic_nodes)
    assert np.array_equal(fabric.link_src[fabric.nic_to_gpu[:, 0]], nic_nodes)
    assert np.allclose(fabric.capacity_Bps[fabric.port_up], 50e9)


def test_pcie_switches_are_shared() -> None:
    """With 4 PCIe switches, GPU i and NIC i meet at switch i // 2."""
    spec = design("multi-plane-fat-tree", 4, 8, planes=8, pcie=PcieSpec(switches=4))
    fabric = build_fabric(spec)
    mid = fabric.link_dst[fabric.gpu_to_nic[:, 0]]
    assert np.all(fabric.node_kind[mid] == NodeKind.PCIE)
    assert np.array_equal(fabric.link_src[fabric.gpu_to_nic[:, 1]], mid)
    assert [fabric.node_name(m) for m in mid[:8]] == [f"n0/pcie{i // 2}" for i in range(8)]


def test_routing_tables_point_the_right_way() -> None:
    """up[p, l, j] leaves leaf l for a spine; down[p, l, j] comes back from the same spine."""
    fabric = build_fabric(load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml"))
    lay = fabric.layout
    p, leaf, j = np.meshgrid(np.arange(8), np.arange(8), np.arange(32), indexing="ij")
    assert np.array_equal(fabric.link_src[fabric.up], lay.switch(p, NodeKind.LEAF, leaf))
    assert np.array_equal(fabric.link_dst[fabric.up], lay.switch(p, NodeKind.SPINE, j % 4))
    assert np.array_equal(fabric.link_src[fabric.down], fabric.link_dst[fabric.up])
    assert np.array_equal(fabric.link_dst[fabric.down], fabric.link_src[fabric.up])
    assert np.array_equal(fabric.link_dst[fabric.port_up[:, 0]],
                          lay.switch(fabric.port_plane[:, 0], NodeKind.LEAF,
                                     fabric.port_leaf[:, 0]))


def test_three_tier_tables() -> None:
    """core_up joins spine (pod, j) to core j*C + m % C, and core_down comes back."""
    fabric = build_fabric(design("fat-tree", 8, 8, tiers=3, gpus=8, nics=8))
    tree = fabric.size.tree
    assert tree is not None and (tree.pods, tree.cores_per_group, tree.core_parallel) == (4, 2, 2)
    lay = fabric.layout
    p, pod, j, m = np.meshgrid(np.arange(1), np.arange(4), np.arange(4), np.arange(4),
                               indexing="ij")
    c = tree.cores_per_group
    spine, core = lay.switch(p, NodeKind.SPINE, pod * 4 + j), lay.switch(p, NodeKind.CORE,
                                                                         j * c + m % c)
    assert np.array_equal(fabric.link_src[fabric.core_up], spine)
    assert np.array_equal(fabric.link_dst[fabric.core_up], core)
    assert np.array_equal(fabric.link_src[fabric.core_down], fabric.link_dst[fabric.core_up])


def test_every_node_name_round_trips() -> None:
    """Each node's readable name parses back to its index."""
    for name in ("tiny-mpft", "deepseek-v3-2048"):
        fabric = build_fabric(load_topology(TOPOLOGIES / f"{name}.yaml"))
        for i, node_name in enumerate(fabric.node_names):
            assert fabric.node_index(node_name) == i
    fabric = build_fabric(load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml"))
    assert fabric.node_name(fabric.node_index("n12/gpu3")) == "n12/gpu3"
    assert fabric.node_index("n12/gpu3") == 12 * 8 + 3
    assert fabric.node_name(fabric.layout.switch(3, NodeKind.LEAF, 7)) == "p3/leaf/7"


def test_link_latency_includes_the_switch_it_enters() -> None:
    """A cable into a switch costs propagation + switch; a cable into a NIC, propagation."""
    spec = load_topology(TOPOLOGIES / "tiny-mpft.yaml")
    fabric = build_fabric(spec)
    lat = spec.fabric.latency
    assert np.allclose(fabric.latency_s[fabric.port_up], lat.link + lat.switch)
    assert np.allclose(fabric.latency_s[fabric.port_down], lat.link)
    assert np.allclose(fabric.latency_s[fabric.up], lat.link + lat.switch)
    assert np.allclose(fabric.latency_s[fabric.gpu_nvl_up], 0.0)


class TestFailures:
    """Failures remove exactly what they name."""

    base = load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml")

    def build(self, *failures: FailureSpec) -> Fabric:
        return build_fabric(dataclasses.replace(self.base, failures=failures))

    def test_plane(self) -> None:
        """A failed plane loses all its switches and links, NIC cables included."""
        fabric = self.build(FailureSpec(plane=3))
        dead = ~fabric.link_alive
        assert np.array_equal(dead, fabric.link_plane == 3)
        assert int((~fabric.node_alive).sum()) == 12
        assert not fabric.link_alive[fabric.port_up[3::8]].any()

    def test_switch(self) -> None:
        """A failed spine loses its 64 ports in both directions, nothing else."""
        fabric = self.build(FailureSpec(switch="p2/spine/1"))
        n = fabric.node_index("p2/spine/1")
        dead = ~fabric.link_alive
        assert int(dead.sum()) == 2 * 64
        assert np.all((fabric.link_src[dead] == n) | (fabric.link_dst[dead] == n))

    def test_nic(self) -> None:
        """A failed NIC loses its PCIe and leaf cables."""
        fabric = self.build(FailureSpec(nic="n5/nic2"))
        assert int((~fabric.link_alive).sum()) == 4
        assert not fabric.link_alive[fabric.port_up[5 * 8 + 2]].any()

    def test_link(self) -> None:
        """A failed link removes every parallel cable between the two switches."""
        fabric = self.build(FailureSpec(link="p0/leaf/1 - p0/spine/2"))
        assert int((~fabric.link_alive).sum()) == 2 * 8


WIRING = {
    "two tiers": design("fat-tree", 6, 8, gpus=2, nics=2),
    "three tiers": design("fat-tree", 10, 4, tiers=3, gpus=1, nics=1),
    "oversubscribed": design("fat-tree", 8, 8, ratio=(3, 1), gpus=2, nics=2),
    "pcie switches": design("fat-tree", 3, 8, gpus=4, nics=2, pcie=PcieSpec(switches=2)),
    "multi-plane": design("multi-plane-fat-tree", 5, 4, planes=2, gpus=2, nics=2),
    "multi-port nics": TopologySpec(
        name="mp-nic", node=NodeSpec(gpus=2, nics=1, nic=NicSpec(ports=2)),
        fabric=FabricSpec(kind="multi-plane-fat-tree", nodes=5, planes=2,
                          switch=SwitchSpec(radix=4))),
    "multi-port nics, one plane": TopologySpec(
        name="mp-nic-1", node=NodeSpec(gpus=2, nics=2, nic=NicSpec(ports=2)),
        fabric=FabricSpec(kind="fat-tree", nodes=3, switch=SwitchSpec(radix=8))),
    "multi-rail": design("multi-rail-fat-tree", 4, 8, gpus=2, nics=2),
}


@pytest.mark.parametrize("name", sorted(WIRING))
def test_cables_between_matches_the_built_links(name: str) -> None:
    """The closed-form wiring rule counts, for every pair of nodes, the cables the builder
    made between them (validation resolves failed links with it, without building)."""
    spec = WIRING[name]
    fabric = build_fabric(spec)
    n = fabric.n_nodes
    built = np.zeros((n, n), dtype=np.int64)
    np.add.at(built, (fabric.link_src[0::2], fabric.link_dst[0::2]), 1)
    built += built.T
    tree = fabric.size.tree
    assert tree is not None
    closed = np.array([[cables_between(spec, tree, fabric.layout, a, b) for b in range(n)]
                       for a in range(n)])
    assert (closed == built).all()
