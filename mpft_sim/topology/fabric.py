"""The built network: a :class:`Fabric` of nodes and directed links as numpy arrays.

Nodes are numbered in blocks: GPUs first (so a GPU's node index is its global rank
``server * gpus_per_node + local``), then each server's NVSwitch, its NICs, its PCIe switches,
then the switches plane by plane (leaves, spines, cores). Every cable is two directed links,
``2c`` going up (GPU to NVSwitch, GPU to NIC, NIC to leaf, leaf to spine, spine to core) and
``2c + 1`` coming down. A node reads as ``n12/gpu3``, ``n12/nvswitch``, ``n12/nic3``,
``n12/pcie1``, ``p3/leaf/7``, ``p3/spine/0`` or ``p0/core/5``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import SpecError

if TYPE_CHECKING:
    import networkx as nx

    from mpft_sim.spec.topology import TopologySpec
    from mpft_sim.topology.sizing import FabricSize

__all__ = ["SWITCHED_TIERS", "Fabric", "Layout", "LinkKind", "NodeId", "NodeKind", "Tier"]

IntArray = NDArray[np.int64]


class NodeKind(IntEnum):
    """What a node of the fabric is."""

    GPU = 0
    NVSWITCH = 1
    NIC = 2
    PCIE = 3
    LEAF = 4
    SPINE = 5
    CORE = 6


class LinkKind(IntEnum):
    """What a directed link is made of."""

    NVLINK = 0
    PCIE = 1
    ENDPOINT = 2
    """A NIC port and its leaf switch."""
    FABRIC = 3
    """Switch to switch."""


class Tier(IntEnum):
    """Where a directed link sits, from the GPU outwards: the one list of tiers every table,
    summary and figure uses (``Tier.LEAF_SPINE.label == "leaf-spine"``)."""

    NODE = 0
    """Inside a server: NVLink and PCIe."""
    ENDPOINT = 1
    """A NIC port and its leaf switch."""
    LEAF_SPINE = 2
    SPINE_CORE = 3

    @property
    def label(self) -> str:
        """The tier's name in files and reports: node, endpoint, leaf-spine, spine-core."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def parse(cls, label: str) -> Tier:
        """The tier named ``label`` (raises ValueError if there is none)."""
        for tier in cls:
            if tier.label == label:
                return tier
        raise ValueError(f"no tier {label!r} (tiers: {', '.join(t.label for t in cls)})")


SWITCHED_TIERS = (Tier.ENDPOINT, Tier.LEAF_SPINE, Tier.SPINE_CORE)
"""The tiers of the switched fabric, outwards from the NIC (reports list them in this order,
then the node tier)."""
SWITCH_KINDS = {"leaf": NodeKind.LEAF, "spine": NodeKind.SPINE, "core": NodeKind.CORE}
_IN_NODE = {"gpu": NodeKind.GPU, "nic": NodeKind.NIC, "pcie": NodeKind.PCIE}
_NAME = re.compile(
    r"^\s*(?:n(?P<server>\d+)/(?:(?P<what>gpu|nic|pcie)(?P<local>\d+)|(?P<nvs>nvswitch))"
    r"|p(?P<plane>\d+)/(?P<tier>leaf|spine|core)/(?P<index>\d+))\s*$"
)


class NodeId(NamedTuple):
    """A readable node identity: ``NodeId(NodeKind.GPU, -1, 12, 3)`` is ``n12/gpu3``.

    ``plane`` is -1 for nodes inside a server; ``number`` is the server for those, and the
    switch number within its plane and tier otherwise; ``local`` is -1 where it does not apply.
    """

    kind: NodeKind
    plane: int
    number: int
    local: int

    def __str__(self) -> str:
        if self.kind == NodeKind.NVSWITCH:
            return f"n{self.number}/nvswitch"
        if self.kind in (NodeKind.GPU, NodeKind.NIC, NodeKind.PCIE):
            return f"n{self.number}/{self.kind.name.lower()}{self.local}"
        return f"p{self.plane}/{self.kind.name.lower()}/{self.number}"


@dataclass(frozen=True)
class Layout:
    """Where each block of nodes starts in the node numbering, from the sizes alone."""

    servers: int
    gpus: int
    nics: int
    pcie: int
    planes: int
    leaves: int
    spines: int
    cores: int

    @classmethod
    def of(cls, spec: TopologySpec, size: FabricSize) -> Layout:
        """The layout of a tree design."""
        tree = size.tree
        assert tree is not None
        n = spec.node
        return cls(size.nodes, n.gpus, n.nics, n.pcie.switches, size.planes, tree.leaves,
                   tree.spines, tree.cores)

    @property
    def nvswitch0(self) -> int:
        """First NVSwitch node."""
        return self.servers * self.gpus

    @property
    def nic0(self) -> int:
        """First NIC node."""
        return self.nvswitch0 + self.servers

    @property
    def pcie0(self) -> int:
        """First PCIe-switch node."""
        return self.nic0 + self.servers * self.nics

    @property
    def switch0(self) -> int:
        """First fabric switch node."""
        return self.pcie0 + self.servers * self.pcie

    @property
    def per_plane(self) -> int:
        """Switches in one plane."""
        return self.leaves + self.spines + self.cores

    @property
    def total(self) -> int:
        """All nodes."""
        return self.switch0 + self.planes * self.per_plane

    def switch(self, plane: Any, tier: NodeKind, index: Any) -> Any:
        """Node index of switch ``index`` of ``tier`` in ``plane`` (vectorised)."""
        offset = {NodeKind.LEAF: 0, NodeKind.SPINE: self.leaves,
                  NodeKind.CORE: self.leaves + self.spines}[tier]
        return self.switch0 + plane * self.per_plane + offset + index

    def index_of(self, node: NodeId) -> int:
        """Node index of ``node``; raises ``ValueError`` naming what does not exist."""
        kind, plane, index, local = node
        if kind in (NodeKind.GPU, NodeKind.NVSWITCH, NodeKind.NIC, NodeKind.PCIE):
            if not 0 <= index < self.servers:
                raise ValueError(f"no server {index}: the fabric has {self.servers}")
            count = {NodeKind.GPU: self.gpus, NodeKind.NIC: self.nics,
                     NodeKind.PCIE: self.pcie, NodeKind.NVSWITCH: 1}[kind]
            if kind != NodeKind.NVSWITCH and not 0 <= local < count:
                raise ValueError(f"no {kind.name.lower()}{local}: a server has {count}")
            if kind == NodeKind.GPU:
                return index * self.gpus + local
            if kind == NodeKind.NVSWITCH:
                return self.nvswitch0 + index
            if kind == NodeKind.NIC:
                return self.nic0 + index * self.nics + local
            return self.pcie0 + index * self.pcie + local
        if not 0 <= plane < self.planes:
            raise ValueError(f"no plane {plane}: the fabric has {self.planes}")
        count = {NodeKind.LEAF: self.leaves, NodeKind.SPINE: self.spines,
                 NodeKind.CORE: self.cores}[kind]
        if not 0 <= index < count:
            raise ValueError(f"no {kind.name.lower()} {index}: a plane has {count}")
        return int(self.switch(plane, kind, index))

    def node_id(self, i: int) -> NodeId:
        """The readable identity of node index ``i``."""
        if i < self.nvswitch0:
            return NodeId(NodeKind.GPU, -1, i // self.gpus, i % self.gpus)
        if i < self.nic0:
            return NodeId(NodeKind.NVSWITCH, -1, i - self.nvswitch0, -1)
        if i < self.pcie0:
            j = i - self.nic0
            return NodeId(NodeKind.NIC, -1, j // self.nics, j % self.nics)
        if i < self.switch0:
            j = i - self.pcie0
            return NodeId(NodeKind.PCIE, -1, j // self.pcie, j % self.pcie)
        plane, j = divmod(i - self.switch0, self.per_plane)
        if j < self.leaves:
            return NodeId(NodeKind.LEAF, plane, j, -1)
        if j < self.leaves + self.spines:
            return NodeId(NodeKind.SPINE, plane, j - self.leaves, -1)
        return NodeId(NodeKind.CORE, plane, j - self.leaves - self.spines, -1)


def parse_node_name(name: str) -> NodeId:
    """Parse ``n12/gpu3`` or ``p3/leaf/7``; raises ``ValueError`` if it is not a node name."""
    match = _NAME.match(name)
    if not match:
        raise ValueError("not a node name such as 'n12/gpu3', 'n12/nic3' or 'p3/spine/0'")
    if match.group("server") is not None:
        server = int(match.group("server"))
        if match.group("nvs"):
            return NodeId(NodeKind.NVSWITCH, -1, server, -1)
        return NodeId(_IN_NODE[match.group("what")], -1, server, int(match.group("local")))
    return NodeId(SWITCH_KINDS[match.group("tier")], int(match.group("plane")),
                  int(match.group("index")), -1)


@dataclass(frozen=True, eq=False)
class Fabric:
    """A built network: node and link arrays plus the tables routing needs.

    Attributes
    ----------
    spec : TopologySpec
        What it was built from.
    size : FabricSize
        Its closed-form counts (the arrays agree with them; the tests check).
    layout : Layout
        Node numbering.
    node_kind, node_plane : ndarray
        Per node: :class:`NodeKind`, plane (-1 inside a server).
    link_src, link_dst : ndarray of int
        Per directed link: its endpoints (node indices).
    capacity_Bps, latency_s : ndarray of float
        Per directed link: the payload bytes per second it carries (its line rate, times the
        transport's goodput on InfiniBand/RoCE links, times its degradation); latency of the
        cable plus the switch it enters.
    line_rate_Bps : ndarray of float
        Per directed link: its data rate as the spec gives it, before packet overhead and
        degradation.
    degrade : ndarray of float
        Per directed link: the fraction of its bandwidth a degraded link keeps (1 when
        healthy; a failed link keeps its value and is marked in ``link_alive``).
    link_kind, link_plane, link_tier : ndarray
        Per directed link: :class:`LinkKind`, plane (-1 inside a server), tier (0 inside a
        server, 1 NIC to leaf, 2 leaf to spine, 3 spine to core).
    link_alive, node_alive : ndarray of bool
        False for what the spec's failures removed.
    gpu_nvl_up, gpu_nvl_down : ndarray of int, shape (gpus,)
        GPU to NVSwitch and back.
    gpu_nic : ndarray of int, shape (gpus,)
        The NIC (global NIC number) each GPU uses.
    gpu_to_nic, nic_to_gpu : ndarray of int, shape (gpus, hops)
        Links from a GPU to its NIC and back (through a PCIe switch if modelled).
    port_up, port_down : ndarray of int, shape (nics, ports)
        NIC port to its leaf and back.
    port_plane, port_leaf : ndarray of int, shape (nics, ports)
        Plane of each NIC port and its leaf's number within that plane.
    up, down : ndarray of int, shape (planes, leaves, uplinks)
        Leaf uplink j to spine and back (spine ``j % spines`` in two tiers; spine j of the
        leaf's pod in three). Empty when a plane has one leaf.
    core_up, core_down : ndarray of int, shape (planes, pods, uplinks, radix // 2)
        Three tiers: spine (pod, j) uplink m to core ``j * cores_per_group + m % C`` and back.
    """

    spec: TopologySpec
    size: FabricSize
    layout: Layout
    node_kind: NDArray[np.int8]
    node_plane: NDArray[np.int16]
    link_src: NDArray[np.int32]
    link_dst: NDArray[np.int32]
    capacity_Bps: NDArray[np.float64]
    latency_s: NDArray[np.float64]
    line_rate_Bps: NDArray[np.float64]
    degrade: NDArray[np.float64]
    link_kind: NDArray[np.int8]
    link_plane: NDArray[np.int16]
    link_tier: NDArray[np.int8]
    link_alive: NDArray[np.bool_]
    node_alive: NDArray[np.bool_]
    gpu_nvl_up: IntArray
    gpu_nvl_down: IntArray
    gpu_nic: IntArray
    gpu_to_nic: IntArray
    nic_to_gpu: IntArray
    port_up: IntArray
    port_down: IntArray
    port_plane: IntArray
    port_leaf: IntArray
    up: IntArray
    down: IntArray
    core_up: IntArray
    core_down: IntArray

    @property
    def name(self) -> str:
        """The design's name."""
        return self.spec.name

    @property
    def switched(self) -> NDArray[np.bool_]:
        """Per directed link: whether it is part of the switched fabric (a NIC port's cable or
        a switch-to-switch cable), where packets carry the transport's overhead."""
        return (self.link_kind == LinkKind.ENDPOINT) | (self.link_kind == LinkKind.FABRIC)

    @property
    def n_nodes(self) -> int:
        """Number of nodes (GPUs, NVSwitches, NICs, PCIe switches, fabric switches)."""
        return len(self.node_kind)

    @property
    def n_links(self) -> int:
        """Number of directed links."""
        return len(self.link_src)

    @property
    def n_gpus(self) -> int:
        """Number of GPUs (ranks)."""
        return self.size.gpus

    @property
    def gpus_per_node(self) -> int:
        """GPUs per server."""
        return self.spec.node.gpus

    def node_id(self, i: int) -> NodeId:
        """The readable identity of node index ``i``."""
        return self.layout.node_id(int(i))

    def node_name(self, i: int) -> str:
        """The readable name of node index ``i``, such as ``n12/gpu3``."""
        return str(self.layout.node_id(int(i)))

    @cached_property
    def node_names(self) -> list[str]:
        """Names of all nodes, by index."""
        return [str(self.layout.node_id(i)) for i in range(self.n_nodes)]

    def node_index(self, name: str | NodeId) -> int:
        """Index of a node given its name or :class:`NodeId`; ``ValueError`` if unknown."""
        node = parse_node_name(name) if isinstance(name, str) else name
        return self.layout.index_of(node)

    def links_between(self, a: int, b: int) -> IntArray:
        """Directed links from node ``a`` to node ``b`` (parallel cables give several)."""
        return np.flatnonzero((self.link_src == a) & (self.link_dst == b))

    def to_networkx(self) -> nx.MultiDiGraph:
        """The fabric as a networkx multigraph: one edge per directed link, keyed by link id.

        Nodes carry ``kind`` and ``plane``; edges carry ``capacity_Bps``, ``latency_s``,
        ``kind``, ``tier`` and ``alive``.
        """
        import networkx as nx

        graph = nx.MultiDiGraph(name=self.name)
        kinds = [NodeKind(k).name.lower() for k in range(len(NodeKind))]
        graph.add_nodes_from(
            (i, {"kind": kinds[k], "plane": int(p), "name": self.node_name(i)})
            for i, (k, p) in enumerate(zip(self.node_kind, self.node_plane, strict=True))
        )
        link_kinds = [LinkKind(k).name.lower() for k in range(len(LinkKind))]
        graph.add_edges_from(
            (int(s), int(d), e, {"capacity_Bps": float(c), "latency_s": float(lat),
                                 "kind": link_kinds[k], "tier": int(t), "alive": bool(a)})
            for e, (s, d, c, lat, k, t, a) in enumerate(zip(
                self.link_src, self.link_dst, self.capacity_Bps, self.latency_s,
                self.link_kind, self.link_tier, self.link_alive, strict=True))
        )
        return graph


def resolve_node(layout: Layout, name: str, key: tuple[str | int, ...]) -> int:
    """Node index of ``name``, or a :class:`SpecError` at ``key`` saying why not."""
    try:
        return layout.index_of(parse_node_name(name))
    except ValueError as exc:
        raise SpecError(str(exc), key, name) from None
