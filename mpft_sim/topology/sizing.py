"""Sizes of a design from its spec: switches, links, capacity, bisection.

These closed forms are the single source the builders, the bill of materials and ``describe``
share, so that a 65,536-endpoint three-tier tree can be priced without building its graph.

Two-tier tree, radix k, leaf ports split d down : u up (d = u = k/2 when not oversubscribed):

- leaves L = ceil(E / d) for E endpoints per plane, at most k (a spine has k ports);
- spines S = the fewest divisors of u with L * u / S <= k (k/2 = u spines for a full tree), each
  leaf joined to each spine by u / S parallel cables;
- switch-to-switch cables L * u; a full tree holds k * d endpoints (k**2 / 2 at 1:1).

Three-tier tree (leaf, spine = aggregation, core), radix k: pods of k/2 leaves and u spines;
each spine has k/2 uplinks spread over C cores of its group (C the fewest divisors of k/2 with
pods * (k/2) / C <= k). A full tree: k**3/4 endpoints, 5k**2/4 switches, k**3/2 cables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import SpecError

__all__ = ["FabricSize", "TreeSize", "port_plane_leaf", "size_fabric"]

if TYPE_CHECKING:
    from mpft_sim.spec.topology import TopologySpec


@dataclass(frozen=True)
class TreeSize:
    """Shape of one plane of a fat-tree (every plane of a design has the same shape)."""

    tiers: int
    radix: int
    down: int
    up: int
    endpoints: int
    """Endpoint ports attached to this plane."""
    leaves: int
    spines: int
    """Spines (two tiers) or aggregation switches (three tiers) of the plane."""
    parallel: int
    """Two tiers: cables between each leaf and each spine."""
    pods: int = 1
    cores_per_group: int = 0
    """Three tiers: cores each spine (aggregation switch) reaches; 0 if there is one pod."""

    @property
    def leaves_per_pod(self) -> int:
        """Leaves in a full pod (three tiers)."""
        return self.radix // 2

    @property
    def cores(self) -> int:
        """Core switches of the plane (three tiers)."""
        return self.up * self.cores_per_group

    @property
    def core_parallel(self) -> int:
        """Cables between a spine and each core of its group (three tiers)."""
        return (self.radix // 2) // self.cores_per_group if self.cores_per_group else 0

    @property
    def leaf_spine_cables(self) -> int:
        """Leaf-to-spine cables of the plane."""
        return self.leaves * self.up if self.spines else 0

    @property
    def spine_core_cables(self) -> int:
        """Spine-to-core cables of the plane."""
        return self.pods * self.up * (self.radix // 2) if self.cores_per_group else 0


@dataclass(frozen=True)
class FabricSize:
    """Counts describing a whole design."""

    kind: str
    nodes: int
    gpus: int
    endpoints: int
    planes: int
    switches_by_tier: dict[str, int]
    links_by_tier: dict[str, int]
    """Switch-to-switch cables by the tiers they join, such as ``leaf-spine``."""
    endpoint_links: int
    nics: int
    max_gpus: int
    bisection_Bps: float | None
    tree: TreeSize | None = None

    @property
    def switches(self) -> int:
        """All switches of the fabric (NVSwitches and PCIe switches are part of the nodes)."""
        return sum(self.switches_by_tier.values())

    @property
    def links(self) -> int:
        """Switch-to-switch cables, as the published cost table counts them."""
        return sum(self.links_by_tier.values())


def _fewest_divisor(n: int, need: float) -> int:
    """The smallest divisor of ``n`` that is at least ``need``."""
    for s in range(max(1, math.ceil(need)), n + 1):
        if n % s == 0:
            return s
    return n


def _tree_size(spec: TopologySpec) -> TreeSize:
    fab, node = spec.fabric, spec.node
    k = fab.switch.radix
    d, u = fab.down_up
    nodes = fab.nodes
    assert nodes is not None
    where = ("fabric", "nodes")
    if fab.kind == "multi-plane-fat-tree":
        per_plane = nodes if node.nic.ports == 1 else nodes * node.nics
    else:
        per_plane = nodes * node.nics * node.nic.ports
    if fab.tiers == 2:
        if fab.kind == "multi-rail-fat-tree":
            groups = math.ceil(nodes / d)
            leaves = groups * node.nics
            max_nodes = (k // node.nics) * d
            if leaves > k:
                raise SpecError(
                    f"more nodes than a multi-rail fat-tree of radix {k} holds "
                    f"(at most {max_nodes:,}: {k // node.nics} groups of {d} nodes)",
                    where, nodes)
        else:
            leaves = math.ceil(per_plane / d)
            if leaves > k:
                max_nodes = (k * d) // (per_plane // nodes)
                raise SpecError(
                    f"more nodes than a two-tier fat-tree of radix {k} holds per plane "
                    f"(at most {max_nodes:,}: {k} leaves of {d} down ports)", where, nodes)
        if leaves == 1:
            if fab.spines is not None:
                raise SpecError("one leaf needs no spines", ("fabric", "spines"), fab.spines)
            return TreeSize(2, k, d, u, per_plane, 1, 0, 0)
        if fab.spines is not None:
            spines = fab.spines
            if u % spines or leaves * (u // spines) > k:
                raise SpecError(
                    f"must divide the {u} leaf uplinks and leave each spine at most {k} ports "
                    f"for {leaves} leaves", ("fabric", "spines"), spines)
        else:
            spines = _fewest_divisor(u, leaves * u / k)
        return TreeSize(2, k, d, u, per_plane, leaves, spines, u // spines)
    if fab.spines is not None:
        raise SpecError("applies only to two-tier trees", ("fabric", "spines"), fab.spines)
    leaves = math.ceil(per_plane / d)
    pods = math.ceil(leaves / (k // 2))
    if pods > k:
        max_nodes = (k * (k // 2) * d) // (per_plane // nodes)
        raise SpecError(
            f"more nodes than a three-tier fat-tree of radix {k} holds "
            f"(at most {max_nodes:,}: {k} pods of {k // 2} leaves of {d} down ports)",
            where, nodes)
    cores_per_group = 0 if pods == 1 else _fewest_divisor(k // 2, pods * (k // 2) / k)
    return TreeSize(3, k, d, u, per_plane, leaves, pods * u, 0, pods, cores_per_group)


def size_fabric(spec: TopologySpec) -> FabricSize:
    """Count the switches, cables and capacity of a design.

    Parameters
    ----------
    spec : TopologySpec

    Returns
    -------
    FabricSize

    Raises
    ------
    SpecError
        If the design cannot be built (more nodes than the radix and tiers hold, a radix too
        small for the slim-fly or dragonfly parameters).
    """
    fab, node = spec.fabric, spec.node
    if fab.kind == "slim-fly":
        return _size_slim_fly(spec)
    if fab.kind == "dragonfly":
        return _size_dragonfly(spec)
    tree = _tree_size(spec)
    nodes = fab.nodes
    assert nodes is not None
    planes, k = fab.planes, fab.switch.radix
    d = tree.down
    switches = {"leaf": tree.leaves * planes}
    links = {}
    if tree.spines:
        switches["spine"] = tree.spines * planes
        links["leaf-spine"] = tree.leaf_spine_cables * planes
    if tree.cores:
        switches["core"] = tree.cores * planes
        links["spine-core"] = tree.spine_core_cables * planes
    ports_per_node = node.nics * node.nic.ports
    endpoint_links = nodes * ports_per_node
    per_plane_per_node = tree.endpoints // nodes
    if tree.tiers == 3:
        max_endpoints = k * (k // 2) * d
    elif fab.kind == "multi-rail-fat-tree":
        max_endpoints = (k // node.nics) * d * node.nics
    else:
        max_endpoints = k * d
    max_nodes = max_endpoints // per_plane_per_node
    edge_Bps = min(node.nic.port_Bps, fab.switch.port_bandwidth_Bps)
    port = fab.switch.port_bandwidth_Bps
    cuts = [tree.endpoints * edge_Bps]
    if tree.spines:
        cuts.append(tree.leaves * tree.up * port)
    if tree.cores:
        cuts.append(tree.spine_core_cables * port)
    return FabricSize(
        kind=fab.kind,
        nodes=nodes,
        gpus=nodes * node.gpus,
        endpoints=nodes * node.gpus,
        planes=planes,
        switches_by_tier=switches,
        links_by_tier=links,
        endpoint_links=endpoint_links,
        nics=nodes * node.nics,
        max_gpus=max_nodes * node.gpus,
        bisection_Bps=min(cuts) / 2 * planes,
        tree=tree,
    )


def _size_slim_fly(spec: TopologySpec) -> FabricSize:
    fab = spec.fabric
    q = fab.q
    assert q is not None
    delta = {0: 0, 1: 1, 3: -1}.get(q % 4)
    if delta is None:
        raise SpecError("must be 4w + d with d in {-1, 0, 1} (q = 2 mod 4 has no MMS graph)",
                        ("fabric", "q"), q)
    net_radix = (3 * q - delta) // 2
    p = fab.endpoints_per_switch or math.ceil(net_radix / 2)
    _check_radix(spec, p + net_radix, f"{net_radix} network + {p} endpoint ports")
    switches = 2 * q * q
    return _cost_only_size(spec, switches, switches * p, switches * net_radix // 2)


def _size_dragonfly(spec: TopologySpec) -> FabricSize:
    fab = spec.fabric
    a, h, p = fab.group_size, fab.global_ports, fab.endpoints_per_switch
    assert a is not None and h is not None and p is not None
    groups = fab.groups if fab.groups is not None else a * h + 1
    if groups - 1 > a * h:
        raise SpecError(f"too many groups: {a} switches with {h} global ports each reach at "
                        f"most {a * h + 1} groups", ("fabric", "groups"), groups)
    _check_radix(spec, p + a - 1 + h, f"{p} endpoint + {a - 1} local + {h} global ports")
    switches = a * groups
    return _cost_only_size(spec, switches, switches * p, switches * (a - 1 + h) // 2)


def _check_radix(spec: TopologySpec, need: int, what: str) -> None:
    radix = spec.fabric.switch.radix
    if need > radix:
        raise SpecError(f"too small: the design needs {need} ports per switch ({what})",
                        ("fabric", "switch", "radix"), radix)


def _cost_only_size(spec: TopologySpec, switches: int, endpoints: int, links: int) -> FabricSize:
    node = spec.node
    if spec.fabric.nodes is not None and spec.fabric.nodes * node.nics > endpoints:
        raise SpecError(f"more nodes than the design's {endpoints:,} endpoint ports hold",
                        ("fabric", "nodes"), spec.fabric.nodes)
    nodes = spec.fabric.nodes or endpoints // node.nics
    return FabricSize(
        kind=spec.fabric.kind,
        nodes=nodes,
        gpus=nodes * node.gpus,
        endpoints=endpoints,
        planes=1,
        switches_by_tier={"switch": switches},
        links_by_tier={"switch-switch": links},
        endpoint_links=endpoints,
        nics=nodes * node.nics,
        max_gpus=endpoints // node.nics * node.gpus,
        bisection_Bps=None,
    )


def port_plane_leaf(
    spec: TopologySpec, tree: TreeSize, node: NDArray[np.int64], nic: NDArray[np.int64],
    port: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Plane and leaf (within the plane) of NIC ports, vectorised.

    Fat-tree: ports fill leaves in node order (a node's NICs on the same leaf when they fit).
    Multi-plane: NIC i (single port) or port i (multi-plane NIC) sits in plane i, nodes in order.
    Multi-rail: node group g = node // d and rail r = NIC index share leaf g * rails + r.
    """
    fab, ns = spec.fabric, spec.node
    d = tree.down
    if fab.kind == "multi-plane-fat-tree":
        if ns.nic.ports == 1:
            return nic.copy(), node // d
        return port.copy(), (node * ns.nics + nic) // d
    if fab.kind == "multi-rail-fat-tree":
        return np.zeros_like(node), (node // d) * ns.nics + nic
    position = (node * ns.nics + nic) * ns.nic.ports + port
    return np.zeros_like(node), position // d
