"""Topology specs: what a topology YAML file says, validated and frozen.

A topology file has four sections: ``node`` (the 8-GPU server), ``fabric`` (the switched
network), ``routing`` (how flows pick paths) and ``failures`` (what is broken). See
``topologies/*.yaml`` for examples and ``docs/topology.md`` for every key. The fabric's
latency and transport sections are in :mod:`mpft_sim.spec.transport`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from mpft_sim.errors import SpecError
from mpft_sim.spec.files import expect_kind
from mpft_sim.spec.limits import (
    MAX_BANDWIDTH,
    MAX_GPUS,
    MAX_GPUS_PER_NODE,
    MAX_LATENCY,
    MAX_NODES,
    MAX_PLANES,
    MAX_RADIX,
)
from mpft_sim.spec.loading import load_spec
from mpft_sim.spec.schema import Spec, check_name, option, read_yaml, source_field
from mpft_sim.spec.transport import LatencySpec, TransportSpec

__all__ = [
    "CROSS_PLANE_POLICIES",
    "FABRIC_KINDS",
    "ROUTING_POLICIES",
    "TREE_KINDS",
    "FabricSpec",
    "FailureSpec",
    "NicSpec",
    "NodeSpec",
    "NvlinkSpec",
    "PcieSpec",
    "RoutingSpec",
    "SwitchSpec",
    "TopologySpec",
    "load_topology",
    "parse_failure",
]

FabricKind = Literal[
    "fat-tree", "multi-plane-fat-tree", "multi-rail-fat-tree", "slim-fly", "dragonfly"
]
FABRIC_KINDS: tuple[str, ...] = get_args(FabricKind)
TREE_KINDS = ("fat-tree", "multi-plane-fat-tree", "multi-rail-fat-tree")
RoutingPolicy = Literal["ecmp", "adaptive", "spray"]
ROUTING_POLICIES: tuple[str, ...] = get_args(RoutingPolicy)
CrossPlane = Literal["source", "destination"]
CROSS_PLANE_POLICIES: tuple[str, ...] = get_args(CrossPlane)
FAILURE_KINDS = ("plane", "switch", "nic", "link")


@dataclass(frozen=True)
class NvlinkSpec(Spec):
    """NVLink between a GPU and the node's NVSwitch fabric."""

    bandwidth_Bps: float = option(key="bandwidth", unit="bandwidth", default=200e9, gt=0,
                                  le=MAX_BANDWIDTH, doc="per GPU, per direction (H800: 200 GB/s)")
    efficiency: float = option(default=0.8, gt=0, le=1,
                               doc="achievable fraction of bandwidth (H800: ~160 of 200 GB/s)")
    latency_s: float = option(key="latency", unit="time", default=3.33e-6, ge=0, le=MAX_LATENCY,
                              doc="small-message end-to-end latency inside a node")

    @property
    def effective_Bps(self) -> float:
        """Bandwidth a transfer can actually reach, per direction."""
        return self.bandwidth_Bps * self.efficiency


@dataclass(frozen=True)
class NicSpec(Spec):
    """A scale-out NIC."""

    bandwidth_Bps: float = option(key="bandwidth", unit="bandwidth", default=50e9, gt=0,
                                  le=MAX_BANDWIDTH,
                                  doc="per direction, all ports together (CX-7: 400Gb/s)")
    ports: int = option(default=1, ge=1, le=MAX_PLANES,
                        doc="physical ports; >1 is a multi-plane NIC with one port per plane")

    @property
    def port_Bps(self) -> float:
        """Bandwidth of one port."""
        return self.bandwidth_Bps / self.ports


@dataclass(frozen=True)
class PcieSpec(Spec):
    """PCIe between GPUs and NICs."""

    bandwidth_Bps: float = option(key="bandwidth", unit="bandwidth", default=64e9, gt=0,
                                  le=MAX_BANDWIDTH, doc="per x16 link, per direction")
    switches: int = option(default=0, ge=0, le=MAX_GPUS_PER_NODE,
                           doc="PCIe switches per node; 0 joins each GPU to its NIC directly")


@dataclass(frozen=True)
class NodeSpec(Spec):
    """One server: GPUs on an NVSwitch, NICs on PCIe."""

    gpus: int = option(default=8, ge=1, le=MAX_GPUS_PER_NODE)
    nvlink: NvlinkSpec = field(default_factory=NvlinkSpec)
    nics: int = option(default=8, ge=1, le=MAX_GPUS_PER_NODE,
                       doc="scale-out NICs; GPU i uses NIC i*nics//gpus")
    nic: NicSpec = field(default_factory=NicSpec)
    pcie: PcieSpec = field(default_factory=PcieSpec)

    def check(self) -> None:
        if self.gpus % self.nics:
            raise SpecError(f"must divide the {self.gpus} GPUs per node", ("nics",), self.nics)
        sw = self.pcie.switches
        if sw and (self.gpus % sw or self.nics % sw):
            raise SpecError(
                f"must divide both the {self.gpus} GPUs and the {self.nics} NICs per node",
                ("pcie", "switches"), sw,
            )


@dataclass(frozen=True)
class SwitchSpec(Spec):
    """A fabric switch model."""

    radix: int = option(default=64, ge=2, le=MAX_RADIX, doc="ports per switch")
    port_bandwidth_Bps: float = option(key="port_bandwidth", unit="bandwidth", default=50e9,
                                       gt=0, le=MAX_BANDWIDTH, doc="per port, per direction")


def parse_ratio(value: object) -> tuple[int, int]:
    """Parse an oversubscription ratio ``"3:1"`` (down:up ports) or a number ``3``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return (value, 1)
    if isinstance(value, str) and len(value) < 100:
        match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", value, flags=re.ASCII)
        if match and int(match.group(1)) > 0 and int(match.group(2)) > 0:
            return (int(match.group(1)), int(match.group(2)))
    raise ValueError("expected a down:up port ratio such as '1:1' or '3:1'")


_KIND_KEYS = {
    "q": ("slim-fly",),
    "endpoints_per_switch": ("slim-fly", "dragonfly"),
    "group_size": ("dragonfly",),
    "global_ports": ("dragonfly",),
    "groups": ("dragonfly",),
    "spines": TREE_KINDS,
}


@dataclass(frozen=True)
class FabricSpec(Spec):
    """The switched fabric joining the nodes' NICs."""

    kind: FabricKind = option(doc="one of " + ", ".join(FABRIC_KINDS))
    nodes: int | None = option(default=None, ge=1, le=MAX_NODES,
                               doc="servers; required for the fat-tree kinds")
    planes: int = option(default=1, ge=1, le=MAX_PLANES,
                         doc="independent planes (multi-plane-fat-tree)")
    tiers: int = option(default=2, ge=2, le=3, doc="switch tiers of a fat-tree: 2 or 3")
    switch: SwitchSpec = field(default_factory=SwitchSpec)
    oversubscription: tuple[int, int] = option(default=(1, 1), parse=parse_ratio, ge=1,
                                               le=MAX_RADIX,
                                               doc="leaf down:up ports, such as '1:1' or '3:1'")
    spines: int | None = option(default=None, ge=1, le=MAX_RADIX,
                                doc="spines per plane; default: the fewest that fit")
    latency: LatencySpec = field(default_factory=LatencySpec)
    transport: TransportSpec = field(default_factory=TransportSpec)
    q: int | None = option(default=None, ge=3, le=MAX_RADIX,
                           doc="slim-fly: the MMS graph parameter")
    endpoints_per_switch: int | None = option(default=None, ge=1, le=MAX_RADIX,
                                              doc="slim-fly, dragonfly: endpoint ports")
    group_size: int | None = option(default=None, ge=2, le=MAX_RADIX,
                                    doc="dragonfly: switches per group")
    global_ports: int | None = option(default=None, ge=1, le=MAX_RADIX,
                                      doc="dragonfly: global ports per switch")
    groups: int | None = option(default=None, ge=2, le=MAX_RADIX.value ** 2 + 1,
                                doc="dragonfly: groups (default group_size*global_ports+1)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.transport.preset is None:
            # the link layer the latency preset names carries its own packet overhead
            object.__setattr__(self, "transport", dataclasses.replace(
                self.transport, preset=self.latency.preset))

    @property
    def is_tree(self) -> bool:
        """Whether this is one of the fat-tree kinds (simulated, not cost-only)."""
        return self.kind in TREE_KINDS

    @property
    def down_up(self) -> tuple[int, int]:
        """Leaf ports facing down (endpoints) and up (spines)."""
        d, u = self.oversubscription
        return self.switch.radix * d // (d + u), self.switch.radix * u // (d + u)

    def check(self) -> None:
        for key, kinds in _KIND_KEYS.items():
            if getattr(self, key) is not None and self.kind not in kinds:
                raise SpecError(f"applies only to kind {' or '.join(kinds)}, not {self.kind}",
                                (key,), getattr(self, key))
        if self.kind != "multi-plane-fat-tree" and self.planes != 1:
            raise SpecError(f"a {self.kind} has one plane; use kind multi-plane-fat-tree",
                            ("planes",), self.planes)
        if self.kind == "slim-fly" and self.q is None:
            raise SpecError("missing required key for kind slim-fly", ("q",))
        if self.kind == "dragonfly":
            for key in ("endpoints_per_switch", "group_size", "global_ports"):
                if getattr(self, key) is None:
                    raise SpecError("missing required key for kind dragonfly", (key,))
        if not self.is_tree:
            return
        if self.nodes is None:
            raise SpecError(f"missing required key for kind {self.kind}", ("nodes",))
        if self.kind != "fat-tree" and self.tiers != 2:
            raise SpecError(f"a {self.kind} has two tiers", ("tiers",), self.tiers)
        k = self.switch.radix
        d, u = self.oversubscription
        if (k * d) % (d + u) or (k * u) % (d + u):
            raise SpecError(f"switch radix {k} cannot split {d}:{u} into down and up ports",
                            ("oversubscription",), f"{d}:{u}")
        if self.tiers == 3 and k % 2:
            raise SpecError("a three-tier fat-tree needs an even radix", ("switch", "radix"), k)


@dataclass(frozen=True)
class RoutingSpec(Spec):
    """How flows choose paths."""

    policy: RoutingPolicy = option(default="ecmp",
                                   doc="ecmp (hashed path), adaptive (least loaded), spray")
    cross_plane: CrossPlane = option(
        default="destination",
        doc="MPFT cross-plane traffic is forwarded over NVLink at the source (NCCL PXN) or at "
            "the destination (DeepEP)")


@dataclass(frozen=True)
class FailureSpec(Spec):
    """One failed or degraded component: give exactly one of plane, switch, nic, link, and
    a ``factor`` to degrade it instead of failing it."""

    plane: int | None = option(default=None, ge=0, le=MAX_PLANES.value - 1, doc="a whole plane")
    switch: str | None = option(default=None, doc="a switch, such as 'p3/spine/0'")
    nic: str | None = option(default=None, doc="a NIC, such as 'n12/nic3'")
    link: str | None = option(default=None,
                              doc="every cable between two nodes: 'p0/leaf/1 - p0/spine/0'")
    factor: float | None = option(
        default=None, ge=0, le=1,
        doc="the fraction of its bandwidth the component keeps (a 400G link trained down to "
            "200G: 0.5); absent or 0: failed")

    def check(self) -> None:
        given = [k for k in FAILURE_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise SpecError("give exactly one of plane, switch, nic, link", (),
                            ", ".join(given) or "none")

    @property
    def dead(self) -> bool:
        """Whether the component is removed (no factor, or 0) rather than slowed down."""
        return not self.factor

    @property
    def what(self) -> str:
        """The component as ``kind=name``, with ``:factor`` when one is given (what
        :func:`parse_failure` reads back)."""
        for key in FAILURE_KINDS:
            if getattr(self, key) is not None:
                tail = "" if self.factor is None else f":{_short(self.factor)}"
                return f"{key}={getattr(self, key)}{tail}"
        raise AssertionError("unreachable: check() ensures one key")


def _short(x: float) -> str:
    """The shortest text that reads back to ``x``: 0.5, 1, 0.125."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def parse_failure(text: object) -> FailureSpec:
    """The failure ``kind=name`` names, with ``:factor`` for a degraded component:
    ``plane=3``, ``switch=p0/spine/1``, ``nic=n4/nic2``, ``link=p0/leaf/0 - p0/spine/1``,
    ``plane=3:0.5`` (half its bandwidth). The one parser of ``--fail``, ``--degrade``, sweeps
    and compare.

    Raises
    ------
    SpecError
        If ``text`` is not ``kind=name[:factor]`` with a known kind (a plane is a number, a
        factor a number in [0, 1]).
    """
    if not isinstance(text, str) or "=" not in text:
        raise SpecError("expected kind=name, such as plane=3 or switch=p0/spine/1",
                        value=text)
    kind, _, name = (part.strip() for part in text.partition("="))
    if kind not in FAILURE_KINDS:
        close = difflib.get_close_matches(kind, FAILURE_KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SpecError(f"the kind must be one of {', '.join(FAILURE_KINDS)}{hint}",
                        value=text)
    factor: float | None = None
    if ":" in name:  # no node name holds a colon: what follows the last one is the factor
        name, _, tail = (part.strip() for part in name.rpartition(":"))
        try:
            factor = float(tail)
        except ValueError:
            factor = math.nan
        if not 0 <= factor <= 1:  # NaN fails too
            raise SpecError(f"the factor after ':' is the fraction of its bandwidth the {kind} "
                            f"keeps, a number in [0, 1], such as {kind}=...:0.5", value=text)
    if kind == "plane":
        if not name.isdigit():
            raise SpecError("a plane is a number, such as plane=3", value=text)
        return FailureSpec(plane=int(name), factor=factor)
    if not name:
        raise SpecError(f"name the {kind}, such as {kind}=...", value=text)
    named: dict[str, Any] = {kind: name, "factor": factor}
    return FailureSpec(**named)


@dataclass(frozen=True)
class TopologySpec(Spec):
    """A whole design: servers, fabric, routing policy and failures."""

    name: str = option(check=check_name, doc="short name used in reports and folder names")
    fabric: FabricSpec = option(doc="the switched network")
    description: str = option(default="", doc="free text")
    node: NodeSpec = field(default_factory=NodeSpec)
    routing: RoutingSpec = field(default_factory=RoutingSpec)
    failures: tuple[FailureSpec, ...] = option(default=(), doc="failed components")
    source: str | None = source_field()

    def check(self) -> None:
        from mpft_sim.topology.sizing import size_fabric

        fab, node = self.fabric, self.node
        if fab.nodes is not None and fab.nodes * node.gpus > MAX_GPUS.value:
            raise SpecError(f"{fab.nodes:,} servers of {node.gpus:,} GPUs are more than "
                            f"{MAX_GPUS.value:,} GPUs ({MAX_GPUS.why})", ("fabric", "nodes"),
                            fab.nodes)
        if not fab.is_tree:
            if self.failures:
                raise SpecError(f"a {fab.kind} is cost-only and cannot have failures",
                                ("failures",), len(self.failures))
            size_fabric(self)  # checks the radix
            return
        if fab.kind == "multi-plane-fat-tree":
            ports = node.nic.ports
            if ports == 1 and fab.planes != node.nics:
                raise SpecError(
                    f"must equal the {node.nics} NICs per node (NIC i sits in plane i)",
                    ("fabric", "planes"), fab.planes)
            if ports > 1 and fab.planes != ports:
                raise SpecError(
                    f"must equal the {ports} ports of each multi-plane NIC (one per plane)",
                    ("fabric", "planes"), fab.planes)
        elif fab.kind == "multi-rail-fat-tree" and node.nic.ports != 1:
            raise SpecError("a multi-rail fat-tree needs single-port NICs",
                            ("node", "nic", "ports"), node.nic.ports)
        size_fabric(self)  # capacity: more nodes than the radix and tiers can hold
        if self.failures:
            from mpft_sim.topology.failures import check_failures

            # by name, from the node numbering and wiring rules: no fabric is built
            check_failures(self)


def load_topology(path: str | Path) -> TopologySpec:
    """Load and validate a topology YAML file.

    Parameters
    ----------
    path : str or Path
        The YAML file.

    Returns
    -------
    TopologySpec

    Raises
    ------
    SpecError
        Naming the file, the key path and the bad value.
    """
    data = read_yaml(path)
    expect_kind(data, "topology", str(path))
    return load_spec(TopologySpec, data, file=str(path))
