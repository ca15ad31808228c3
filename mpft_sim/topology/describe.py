"""A design's vital statistics: as plain data (``mpft-sim describe --json``) and in words
(``mpft-sim describe``)."""

from __future__ import annotations

from typing import Any

from mpft_sim.spec.topology import TopologySpec
from mpft_sim.topology.sizing import size_fabric
from mpft_sim.units import format_bandwidth, format_bitrate

__all__ = ["describe_lines", "describe_topology"]


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


def _both(bytes_per_s: float) -> str:
    """A bandwidth in bits (how links are sold) and bytes (how transfers are sized)."""
    return f"{format_bitrate(bytes_per_s)} ({format_bandwidth(bytes_per_s)})"


def _count(n: int, one: str, many: str | None = None) -> str:
    """``1 leaf``, ``8 leaves``, ``2,048 GPUs``."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _kind_words(info: dict[str, Any]) -> str:
    kind = str(info["kind"]).replace("-fat-tree", " fat-tree")
    if "tiers" not in info:
        return f"a {kind} (cost only: priced, not simulated)"
    planes = int(info["planes"])
    tiers = f"{info['tiers']} switch tiers"
    return f"a {kind} of {planes} planes, {tiers}" if planes > 1 else f"a {kind}, {tiers}"


def describe_lines(info: dict[str, Any]) -> list[tuple[str, str]]:
    """A design's description (:func:`describe_topology`) as (label, words) lines for people:
    counts with thousands separators, bandwidths in bits and bytes per second.

    Parameters
    ----------
    info : dict
        What :func:`describe_topology` returns.

    Returns
    -------
    list of (str, str)
    """
    gpus, nodes = int(info["gpus"]), int(info["nodes"])
    per_node = gpus // nodes if nodes else 0
    plural = {"leaf": "leaves", "switch": "switches"}
    tiers = ", ".join(_count(n, t, plural.get(t)) for t, n in info["switches_by_tier"].items())
    cables = ", ".join(f"{t} {n:,}" for t, n in info["links_by_tier"].items())
    lines = [
        ("design", f"{info['name']}: {_kind_words(info)}"),
        ("servers", f"{nodes:,} of {_count(per_node, 'GPU')}: {_count(gpus, 'GPU')} (the "
                    f"radix and tiers hold at most {int(info['max_gpus']):,})"),
        ("switches", f"{int(info['switches']):,}: {tiers}" if tiers else "0"),
        ("switch ports", f"{int(info['radix'])} x {_both(float(info['port_bandwidth_Bps']))}"),
        ("switch-switch cables", f"{int(info['links']):,}" + (f" ({cables})" if cables else "")),
        ("endpoint cables", f"{int(info['endpoint_links']):,} (NIC port to switch)"),
        ("oversubscription", f"{info['oversubscription']} (leaf ports down:up)"),
    ]
    per_plane = info.get("per_plane")
    if per_plane:
        spines = f", {_count(per_plane['spines'], 'spine')}" if per_plane["spines"] else ""
        cores = f", {_count(per_plane['cores'], 'core')}" if per_plane["cores"] else ""
        lines.append(("per plane", f"{_count(per_plane['endpoints'], 'endpoint')}, "
                                   f"{_count(per_plane['leaves'], 'leaf', 'leaves')}{spines}"
                                   f"{cores}; a leaf has {per_plane['leaf_down_ports']} ports "
                                   f"down and {per_plane['leaf_up_ports']} up"))
    bisection = info.get("bisection_Bps")
    lines.append(("bisection bandwidth", f"{_both(float(bisection))} per direction"
                  if bisection is not None else "-"))
    routing = info.get("routing")
    if routing:
        where = {"source": "the source (NCCL PXN)",
                 "destination": "the destination (DeepEP)"}[routing["cross_plane"]]
        lines.append(("routing", routing["policy"] if int(info["planes"]) == 1 else
                      f"{routing['policy']}; cross-plane traffic forwarded over NVLink at "
                      f"{where}"))
        failures = info.get("failures") or []
        lines.append(("failures", ", ".join(failures) if failures else "none"))
    transport = info.get("transport")
    if transport:
        lines.append(("transport", _transport_words(transport)))
    return lines


def _transport_words(t: dict[str, Any]) -> str:
    """``InfiniBand: goodput 99.37% (4,096 B packets + 26 B of headers); ends at the last
    ACK``."""
    name = {"infiniband": "InfiniBand", "roce": "RoCE", "none": "none"}[t["preset"]]
    if not t["header_bytes"] and not t["ack"]:
        return f"{name}: line rate, no acknowledgement"
    ack = "; ends at the last ACK" if t["ack"] else "; no ACK"
    return (f"{name}: goodput {100 * float(t['goodput']):.2f}% ({int(t['mtu_bytes']):,} B "
            f"packets + {int(t['header_bytes'])} B of headers){ack}")
