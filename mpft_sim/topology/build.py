"""Build a :class:`~mpft_sim.topology.fabric.Fabric` from a topology spec.

One function per family (:func:`fat_tree`, :func:`multi_plane_fat_tree`,
:func:`multi_rail_fat_tree`); they differ only in which leaf each NIC port plugs into, so they
share one vectorised construction. Slim Fly and Dragonfly are cost-only families: they have
sizes and a bill of materials but no graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import SpecError
from mpft_sim.spec.topology import TopologySpec
from mpft_sim.topology.fabric import Fabric, Layout, LinkKind, NodeKind
from mpft_sim.topology.failures import apply_failures
from mpft_sim.topology.sizing import TreeSize, port_plane_leaf, size_fabric

__all__ = ["build_fabric", "fat_tree", "multi_plane_fat_tree", "multi_rail_fat_tree"]


def build_fabric(spec: TopologySpec) -> Fabric:
    """Build the network a topology spec describes, with its failures applied.

    Parameters
    ----------
    spec : TopologySpec

    Returns
    -------
    Fabric

    Raises
    ------
    SpecError
        If the design is cost-only (slim-fly, dragonfly) or a failure names a cable that
        does not exist.
    """
    builders = {
        "fat-tree": fat_tree,
        "multi-plane-fat-tree": multi_plane_fat_tree,
        "multi-rail-fat-tree": multi_rail_fat_tree,
    }
    builder = builders.get(spec.fabric.kind)
    if builder is None:
        raise SpecError(f"a {spec.fabric.kind} is cost-only: it has a bill of materials but "
                        "cannot be built or simulated", ("fabric", "kind"), spec.fabric.kind)
    return builder(spec)


def fat_tree(spec: TopologySpec) -> Fabric:
    """Single-plane two- or three-tier fat-tree; a server's NIC ports fill leaves in order.

    Notes
    -----
    Radix k, leaf ports d down and u up, E = nodes * nics endpoints. Two tiers: L = ceil(E/d)
    leaves, S spines (k/2 for a full tree), L*u leaf-spine cables; at most k*d endpoints,
    k**2/2 = 2,048 for k = 64. Three tiers: pods of k/2 leaves and u spines, (k/2)**2 cores in
    a full tree: k**3/4 endpoints, 5k**2/4 switches, k**3/2 switch-to-switch cables.
    Inside each server: one NVLink cable per GPU to the NVSwitch, one PCIe path per GPU to its
    NIC, one cable per NIC port to its leaf.
    """
    _expect(spec, "fat-tree")
    return _build_tree(spec)


def multi_plane_fat_tree(spec: TopologySpec) -> Fabric:
    """Multi-plane fat-tree (MPFT): NIC i of every server in plane i, planes disjoint.

    Notes
    -----
    Each of the P planes is a two-tier tree over one NIC per server (or, with multi-plane NICs,
    over port i of every NIC). Per plane: ceil(nodes/d) leaves and the fewest spines that fit;
    the whole fabric has P times the switches and cables of one plane: at k = 64 and 8 planes,
    16,384 GPUs, 768 switches and 16,384 switch-to-switch cables.
    """
    _expect(spec, "multi-plane-fat-tree")
    return _build_tree(spec)


def multi_rail_fat_tree(spec: TopologySpec) -> Fabric:
    """Multi-rail fat-tree (MRFT): rail-aligned leaves sharing one spine layer.

    Notes
    -----
    Servers form groups of d (the leaf's down ports); NIC r of the servers in group g plugs
    into leaf ``g * nics + r``. Leaves = groups * nics <= k, so a radix-64 tree with 8 rails
    holds 8 groups of 32 servers: 2,048 GPUs on 64 leaves and 32 spines.
    """
    _expect(spec, "multi-rail-fat-tree")
    return _build_tree(spec)


def _expect(spec: TopologySpec, kind: str) -> None:
    if spec.fabric.kind != kind:
        raise SpecError(f"expected kind {kind}", ("fabric", "kind"), spec.fabric.kind)


@dataclass
class _Cables:
    """Accumulates blocks of cables; cable c becomes directed links 2c (up) and 2c+1."""

    lower: list[NDArray[np.int64]] = field(default_factory=list)
    upper: list[NDArray[np.int64]] = field(default_factory=list)
    capacity: list[NDArray[np.float64]] = field(default_factory=list)
    lat_up: list[NDArray[np.float64]] = field(default_factory=list)
    lat_down: list[NDArray[np.float64]] = field(default_factory=list)
    kind: list[NDArray[np.int64]] = field(default_factory=list)
    plane: list[NDArray[np.int64]] = field(default_factory=list)
    tier: list[NDArray[np.int64]] = field(default_factory=list)
    count: int = 0

    def add(self, lower: NDArray[np.int64], upper: NDArray[np.int64], capacity: float,
            lat_up: float, lat_down: float, kind: LinkKind, plane: NDArray[np.int64] | int,
            tier: int) -> NDArray[np.int64]:
        """Add cables between ``lower[i]`` and ``upper[i]``; return their up-link ids."""
        n = lower.size
        self.lower.append(lower.ravel())
        self.upper.append(upper.ravel())
        self.capacity.append(np.full(n, capacity))
        self.lat_up.append(np.full(n, lat_up))
        self.lat_down.append(np.full(n, lat_down))
        self.kind.append(np.full(n, int(kind)))
        self.plane.append(np.broadcast_to(np.asarray(plane), lower.shape).ravel())
        self.tier.append(np.full(n, tier))
        ids = 2 * (self.count + np.arange(n))
        self.count += n
        return ids

    def directed(self, name: str) -> NDArray[np.float64] | NDArray[np.int64]:
        """Interleave a per-cable attribute into per-directed-link order."""
        if name == "src":
            up, down = np.concatenate(self.lower), np.concatenate(self.upper)
        elif name == "dst":
            up, down = np.concatenate(self.upper), np.concatenate(self.lower)
        elif name == "latency":
            up, down = np.concatenate(self.lat_up), np.concatenate(self.lat_down)
        else:
            up = down = np.concatenate(getattr(self, name))
        out = np.empty(2 * len(up), dtype=up.dtype)
        out[0::2], out[1::2] = up, down
        return out


def _build_tree(spec: TopologySpec) -> Fabric:
    size = size_fabric(spec)
    tree = size.tree
    assert tree is not None
    lay = Layout.of(spec, size)
    ns, fab = spec.node, spec.fabric
    lat = fab.latency
    hop = lat.link + lat.switch  # a cable into a switch: propagation, then the switch
    n_nics, ports = size.nodes * ns.nics, ns.nic.ports
    cab = _Cables()
    nvl, gpu_nic, gpu_to_nic, nic_to_gpu = _server_links(cab, spec, lay, size.nodes)
    port_nic = np.repeat(np.arange(n_nics), ports)
    port_no = np.tile(np.arange(ports), n_nics)
    plane, leaf = port_plane_leaf(spec, tree, port_nic // ns.nics, port_nic % ns.nics, port_no)
    edge_Bps = min(ns.nic.port_Bps, fab.switch.port_bandwidth_Bps)
    ep = cab.add(lay.nic0 + port_nic, lay.switch(plane, NodeKind.LEAF, leaf), edge_Bps,
                 hop, lat.link, LinkKind.ENDPOINT, plane, 1)
    up, core_up = _switch_links(cab, spec, tree, lay, size.planes, hop)
    node_kind, node_plane = _node_kinds(lay, tree, size.planes)

    src = cab.directed("src").astype(np.int32)
    dst = cab.directed("dst").astype(np.int32)
    link_plane = cab.directed("plane").astype(np.int16)
    link_kind = cab.directed("kind").astype(np.int8)
    node_alive, link_alive, degrade = apply_failures(spec, tree, lay, src, dst, node_kind,
                                                      node_plane, link_plane, link_kind)
    line = cab.directed("capacity").astype(np.float64)
    # packets on the InfiniBand/RoCE cables carry headers: payload moves at the goodput
    switched = (link_kind == LinkKind.ENDPOINT) | (link_kind == LinkKind.FABRIC)
    goodput = np.where(switched, fab.transport.goodput, 1.0)
    return Fabric(
        spec=spec, size=size, layout=lay,
        node_kind=node_kind, node_plane=node_plane,
        link_src=src, link_dst=dst,
        capacity_Bps=line * goodput * degrade,
        latency_s=cab.directed("latency").astype(np.float64),
        line_rate_Bps=line, degrade=degrade,
        link_kind=link_kind,
        link_plane=link_plane,
        link_tier=cab.directed("tier").astype(np.int8),
        link_alive=link_alive, node_alive=node_alive,
        gpu_nvl_up=nvl, gpu_nvl_down=nvl + 1, gpu_nic=gpu_nic,
        gpu_to_nic=gpu_to_nic, nic_to_gpu=nic_to_gpu,
        port_up=ep.reshape(n_nics, ports), port_down=ep.reshape(n_nics, ports) + 1,
        port_plane=plane.reshape(n_nics, ports), port_leaf=leaf.reshape(n_nics, ports),
        up=up, down=up + 1 if up.size else up,
        core_up=core_up, core_down=core_up + 1 if core_up.size else core_up,
    )


def _server_links(cab: _Cables, spec: TopologySpec, lay: Layout, servers: int
                  ) -> tuple[NDArray[np.int64], ...]:
    """Cable the inside of every server: each GPU to its NVSwitch, and each GPU to its NIC
    over PCIe (directly, or through the server's PCIe switches).

    Returns
    -------
    (nvl, gpu_nic, gpu_to_nic, nic_to_gpu)
        Each GPU's NVLink uplink, its NIC, and its PCIe path to the NIC and back.
    """
    ns = spec.node
    g, nics = ns.gpus, ns.nics
    gpu = np.arange(servers * g)
    nvl = cab.add(gpu, lay.nvswitch0 + gpu // g, ns.nvlink.effective_Bps, 0.0, 0.0,
                  LinkKind.NVLINK, -1, 0)
    gpu_nic = (gpu // g) * nics + (gpu % g) * nics // g
    pcie_Bps = ns.pcie.bandwidth_Bps
    if ns.pcie.switches == 0:
        direct = cab.add(gpu, lay.nic0 + gpu_nic, pcie_Bps, 0.0, 0.0, LinkKind.PCIE, -1, 0)
        return nvl, gpu_nic, direct[:, None], direct[:, None] + 1
    per = ns.pcie.switches
    gpu_sw = lay.pcie0 + (gpu // g) * per + (gpu % g) // (g // per)
    to_gpu = cab.add(gpu, gpu_sw, pcie_Bps, 0.0, 0.0, LinkKind.PCIE, -1, 0)
    nic = np.arange(servers * nics)
    nic_sw = lay.pcie0 + (nic // nics) * per + (nic % nics) // (nics // per)
    to_nic = cab.add(lay.nic0 + nic, nic_sw, pcie_Bps, 0.0, 0.0, LinkKind.PCIE, -1, 0)
    gpu_to_nic = np.stack([to_gpu, to_nic[gpu_nic] + 1], axis=1)
    nic_to_gpu = np.stack([to_nic[gpu_nic], to_gpu + 1], axis=1)
    return nvl, gpu_nic, gpu_to_nic, nic_to_gpu


def _switch_links(cab: _Cables, spec: TopologySpec, tree: TreeSize, lay: Layout, planes: int,
                  hop: float) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Cable the switches of every plane: leaf to spine, and spine to core in three tiers.

    Returns
    -------
    (up, core_up)
        The uplinks, shape (planes, leaves, up), and the core uplinks, shape
        (planes, pods, up, radix / 2); empty where the tree has no such tier.
    """
    k, u = tree.radix, tree.up
    port_Bps = spec.fabric.switch.port_bandwidth_Bps
    up = np.zeros((planes, tree.leaves, 0), dtype=np.int64)
    core_up = np.zeros((planes, 0, 0, 0), dtype=np.int64)
    if tree.spines:
        p, leaf_i, j = np.meshgrid(np.arange(planes), np.arange(tree.leaves), np.arange(u),
                                   indexing="ij")
        # two tiers: uplink j goes to spine j % S; three: to spine j of the leaf's pod
        two = tree.tiers == 2
        spine = j % tree.spines if two else (leaf_i // tree.leaves_per_pod) * u + j
        up = cab.add(lay.switch(p, NodeKind.LEAF, leaf_i), lay.switch(p, NodeKind.SPINE, spine),
                     port_Bps, hop, hop, LinkKind.FABRIC, p, 2).reshape(p.shape)
    if tree.cores:
        half, c = k // 2, tree.cores_per_group
        p, pod, j, m = np.meshgrid(np.arange(planes), np.arange(tree.pods), np.arange(u),
                                   np.arange(half), indexing="ij")
        core_up = cab.add(lay.switch(p, NodeKind.SPINE, pod * u + j),
                          lay.switch(p, NodeKind.CORE, j * c + m % c), port_Bps, hop, hop,
                          LinkKind.FABRIC, p, 3).reshape(p.shape)
    return up, core_up


def _node_kinds(lay: Layout, tree: TreeSize, planes: int
                ) -> tuple[NDArray[np.int8], NDArray[np.int16]]:
    """The kind of every node, and the plane of every switch (-1 for the others)."""
    node_kind = np.empty(lay.total, dtype=np.int8)
    node_plane = np.full(lay.total, -1, dtype=np.int16)
    node_kind[:lay.nvswitch0] = NodeKind.GPU
    node_kind[lay.nvswitch0:lay.nic0] = NodeKind.NVSWITCH
    node_kind[lay.nic0:lay.pcie0] = NodeKind.NIC
    node_kind[lay.pcie0:lay.switch0] = NodeKind.PCIE
    for pl in range(planes):
        for tier, count in ((NodeKind.LEAF, tree.leaves), (NodeKind.SPINE, tree.spines),
                            (NodeKind.CORE, tree.cores)):
            first = lay.switch(pl, tier, 0)
            node_kind[first:first + count] = tier
            node_plane[first:first + count] = pl
    return node_kind, node_plane
