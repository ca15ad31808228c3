"""A design's vital statistics as plain data (``mpft-sim describe``)."""

from __future__ import annotations

from typing import Any

from mpft_sim.spec.topology import TopologySpec
from mpft_sim.topology.sizing import size_fabric

__all__ = ["describe_topology"]


def describe_topology(spec: TopologySpec) -> dict[str, Any]:
    """Counts and capacities of a design, computed from its spec without building it.

    Returns
    -------
    dict
        ``name, kind, nodes, gpus, planes, switches, switches_by_tier, links`` (switch-to-switch
        cables), ``endpoint_links, max_gpus`` (what the radix and tiers could hold),
        ``bisection_Bps`` (half the smaller of the endpoint and the tier-to-tier capacity,
        per direction, summed over planes; null for cost-only designs), ``oversubscription``
        (leaf down:up), and for the fat-tree kinds the shape of one plane and the transport
        (packet overhead and goodput of the switched links).
    """
    size = size_fabric(spec)
    fab = spec.fabric
    down, up = fab.oversubscription
    out: dict[str, Any] = {
        "name": spec.name,
        "kind": fab.kind,
        "nodes": size.nodes,
        "gpus": size.gpus,
        "planes": size.planes,
        "switches": size.switches,
        "switches_by_tier": dict(size.switches_by_tier),
        "links": size.links,
        "links_by_tier": dict(size.links_by_tier),
        "endpoint_links": size.endpoint_links,
        "max_gpus": size.max_gpus,
        "bisection_Bps": size.bisection_Bps,
        "oversubscription": f"{down}:{up}",
        "radix": fab.switch.radix,
        "port_bandwidth_Bps": fab.switch.port_bandwidth_Bps,
    }
    if size.tree is not None:
        tree = size.tree
        out["tiers"] = tree.tiers
        out["per_plane"] = {
            "endpoints": tree.endpoints,
            "leaves": tree.leaves,
            "spines": tree.spines,
            "cores": tree.cores,
            "leaf_down_ports": tree.down,
            "leaf_up_ports": tree.up,
        }
        out["routing"] = {"policy": spec.routing.policy, "cross_plane": spec.routing.cross_plane}
        out["failures"] = [f.what for f in spec.failures]
        t = fab.transport
        out["transport"] = {"preset": t.preset, "mtu_bytes": t.mtu_bytes,
                            "header_bytes": t.header_bytes, "ack": t.ack,
                            "goodput": t.goodput}
    return out
