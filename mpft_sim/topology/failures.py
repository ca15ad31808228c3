"""Failed and degraded components of a built fabric: resolving a failure's name to links
(:func:`resolve_failure`), the cables between two nodes in closed form
(:func:`cables_between`), applying failures while a fabric is built, and checking a spec's
failures without building it (:func:`check_failures`)."""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import SpecError
from mpft_sim.spec.topology import FailureSpec, TopologySpec
from mpft_sim.topology.fabric import Layout, LinkKind, NodeKind, resolve_node
from mpft_sim.topology.sizing import TreeSize, port_plane_leaf, size_fabric

__all__ = ["apply_failures", "cables_between", "check_failures", "resolve_failure"]


def apply_failures(
    spec: TopologySpec, tree: TreeSize, lay: Layout, src: NDArray[np.int32],
    dst: NDArray[np.int32],
    node_kind: NDArray[np.int8], node_plane: NDArray[np.int16], link_plane: NDArray[np.int16],
    link_kind: NDArray[np.int8],
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.float64]]:
    """Alive masks of nodes and links once the spec's failures are removed, and the fraction
    of its bandwidth each link keeps once the degraded components are slowed down.

    A failure with a factor in (0, 1] degrades instead of removing: every link of a plane or
    a switch, the cables of a NIC's ports, or the cables between two nodes keep that fraction
    of their bandwidth. Two degradations of one link multiply.
    """
    node_alive = np.ones(len(node_kind), dtype=bool)
    link_alive = np.ones(len(src), dtype=bool)
    degrade = np.ones(len(src))
    for i, failure in enumerate(spec.failures):
        nodes = resolve_failure(spec, tree, lay, failure, ("failures", i))
        links = _failed_links(failure, nodes, src, dst, link_plane, link_kind)
        if failure.dead:
            link_alive[links] = False
            if failure.plane is not None:
                node_alive[(node_plane == failure.plane) & (node_kind >= NodeKind.LEAF)] = False
            elif failure.link is None:
                node_alive[nodes[0]] = False
        else:
            assert failure.factor is not None
            degrade[links] *= failure.factor
    return node_alive, link_alive, degrade


def _failed_links(
    failure: FailureSpec, nodes: tuple[int, ...], src: NDArray[np.int32],
    dst: NDArray[np.int32], link_plane: NDArray[np.int16], link_kind: NDArray[np.int8],
) -> NDArray[np.bool_]:
    """The links a failed or degraded component (resolved to ``nodes``) takes down or slows
    down, as a mask."""
    if failure.plane is not None:
        return link_plane == failure.plane
    if failure.link is not None:
        a, b = nodes
        return ((src == a) & (dst == b)) | ((src == b) & (dst == a))
    (n,) = nodes
    touching = (src == n) | (dst == n)
    if failure.nic is not None and not failure.dead:
        # a NIC at a fraction of its bandwidth is its ports trained down: the PCIe side keeps
        # its own rate (a dead NIC takes its PCIe links with it)
        touching &= link_kind == LinkKind.ENDPOINT
    return touching


def resolve_failure(spec: TopologySpec, tree: TreeSize, lay: Layout, failure: FailureSpec,
                    key: tuple[str | int, ...]) -> tuple[int, ...]:
    """The node indices a switch, NIC or link failure names, checked without building.

    Validation resolves failures with this on designs of millions of nodes, so it works from
    the node numbering and the wiring rules alone (:func:`cables_between`), never the arrays.

    Returns
    -------
    tuple of int
        ``(node,)`` for a switch or NIC, ``(a, b)`` for a link, ``()`` for a plane.

    Raises
    ------
    SpecError
        At ``key`` + the failure's kind: a name that is not a node of the design, a switch
        failure naming a NIC (or the reverse), a link between two nodes without a cable.
    """
    if failure.plane is not None:
        return ()
    if failure.link is not None:
        where = (*key, "link")
        ends = re.split(r"\s+-\s+|\s*-\s*(?=[np]\d)", failure.link.strip())
        if len(ends) != 2:
            raise SpecError("expected two node names joined by ' - '", where, failure.link)
        a, b = (resolve_node(lay, e, where) for e in ends)
        if not cables_between(spec, tree, lay, a, b):
            raise SpecError(f"no cable between {ends[0]} and {ends[1]}", where, failure.link)
        return a, b
    name = failure.switch if failure.switch is not None else failure.nic
    assert name is not None
    what = "switch" if failure.switch is not None else "nic"
    n = resolve_node(lay, name, (*key, what))
    want = _SWITCHES if what == "switch" else (NodeKind.NIC,)
    if lay.node_id(n).kind not in want:
        raise SpecError(f"not a {what}", (*key, what), name)
    return (n,)


_SWITCHES = (NodeKind.LEAF, NodeKind.SPINE, NodeKind.CORE)


def cables_between(spec: TopologySpec, tree: TreeSize, lay: Layout, a: int, b: int) -> int:
    """Cables joining nodes ``a`` and ``b`` (either way round), from the wiring rules.

    Notes
    -----
    The rules :func:`_build_tree` wires by, as closed forms (g GPUs, r NICs, p PCIe switches
    per server; u leaf uplinks, S spines per plane, C cores per spine group, radix k):

    - GPU l of server s: one cable to the server's NVSwitch; to NIC ``l*r//g`` (no PCIe
      switches) or to PCIe switch ``l // (g/p)``; NIC i to PCIe switch ``i // (r/p)``;
    - NIC port to the leaf :func:`~mpft_sim.topology.sizing.port_plane_leaf` gives (one
      cable per port, so a multi-port NIC may reach a leaf more than once);
    - two tiers: every leaf to every spine of its plane, ``u/S`` cables each; three tiers:
      a leaf to the u spines of its pod (``leaf // (k/2)``), one cable each; spine j of a
      pod to cores ``j*C .. j*C + C - 1``, ``(k/2)/C`` cables each.
    """
    x, y = sorted((lay.node_id(a), lay.node_id(b)), key=lambda n: n.kind)
    node = spec.node
    g, nics, per = node.gpus, node.nics, node.pcie.switches
    if x.kind <= NodeKind.PCIE and y.kind <= NodeKind.PCIE:
        if x.number != y.number:
            return 0  # inside-a-server cables never leave it
        pair = (x.kind, y.kind)
        if pair == (NodeKind.GPU, NodeKind.NVSWITCH):
            return 1
        if pair == (NodeKind.GPU, NodeKind.NIC):
            return int(per == 0 and y.local == x.local * nics // g)
        if pair == (NodeKind.GPU, NodeKind.PCIE):
            return int(y.local == x.local // (g // per))
        if pair == (NodeKind.NIC, NodeKind.PCIE):
            return int(y.local == x.local // (nics // per))
        return 0
    if x.kind == NodeKind.NIC and y.kind == NodeKind.LEAF:
        ports = np.arange(node.nic.ports)
        plane, leaf = port_plane_leaf(spec, tree, np.full_like(ports, x.number),
                                      np.full_like(ports, x.local), ports)
        return int(((plane == y.plane) & (leaf == y.number)).sum())
    if x.kind < NodeKind.LEAF or x.plane != y.plane:
        return 0
    half = tree.radix // 2
    if (x.kind, y.kind) == (NodeKind.LEAF, NodeKind.SPINE):
        if tree.tiers == 2:
            return tree.parallel
        return int(y.number // tree.up == x.number // half)
    if (x.kind, y.kind) == (NodeKind.SPINE, NodeKind.CORE):
        return tree.core_parallel if y.number // tree.cores_per_group == x.number % tree.up \
            else 0
    return 0


def check_failures(spec: TopologySpec) -> None:
    """Check that every failure of a tree design names what exists, without building it.

    Raises
    ------
    SpecError
        At ``failures[i]``: a plane beyond the design's, a name that is not one of its
        nodes, a switch or NIC of the wrong kind, a link without a cable.
    """
    size = size_fabric(spec)
    tree = size.tree
    assert tree is not None
    lay = Layout.of(spec, size)
    for i, failure in enumerate(spec.failures):
        if failure.plane is not None and failure.plane >= size.planes:
            raise SpecError(f"no such plane: the fabric has {size.planes}",
                            ("failures", i, "plane"), failure.plane)
        resolve_failure(spec, tree, lay, failure, ("failures", i))
