"""htsim input from a run: a connection matrix and a -topo fat-tree per plane, the map of
connections to flows and the NVLink legs htsim does not model (see :mod:`mpft_sim.export`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mpft_sim.errors import ExportError
from mpft_sim.export.legs import (
    Files,
    FloatArray,
    IntArray,
    Legs,
    fabric_of,
    gpu_name,
    header,
    legs_of,
    lines_chained,
    rows_csv,
)
from mpft_sim.results.columns import float_text
from mpft_sim.results.result import Run
from mpft_sim.results.summary import FabricInfo
from mpft_sim.results.tables import LinkTable
from mpft_sim.topology.fabric import LinkKind

__all__ = ["HTSIM_MAX_BYTES", "htsim_files"]

HTSIM_MAX_BYTES = 2**31 - 1
"""htsim reads a connection's size as a 32-bit int."""

_LEAF = re.compile(r"p(\d+)/leaf/(\d+)")


@dataclass(frozen=True)
class _Tree:
    """One plane as htsim builds it: hosts (padded to full leaves and pods), and the tier
    lines of its -topo file."""

    hosts: int
    podsize: int
    tiers: list[list[str]]
    notes: list[str]


def _one(values: FloatArray, what: str) -> float:
    uniq = np.unique(values)
    if len(uniq) != 1:
        raise ExportError(f"htsim gives every link of a tier one {what}; this fabric's "
                          f"{what}s are {', '.join(float_text(uniq[:4]))}")
    return float(uniq[0])


def _gbps(rate_Bps: float, what: str) -> int:
    gbps = rate_Bps * 8 / 1e9
    if abs(gbps - round(gbps)) > 1e-9 * gbps or round(gbps) < 1:
        raise ExportError(f"htsim takes link speeds in whole Gb/s; the {what} links run at "
                          f"{gbps:g} Gb/s")
    return round(gbps)


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def _htsim_tree(run: Run, f: FabricInfo) -> _Tree:
    """The -topo tiers of one plane, checked against htsim's own arithmetic (its fat-tree
    derives the switch counts from the hosts, radixes, speeds and bundles: they must come out
    as mpft-sim's)."""
    lk = run.link_table
    up_links = (lk.kind == LinkKind.ENDPOINT) & (np.arange(len(lk)) % 2 == 0)
    down_links = (lk.kind == LinkKind.ENDPOINT) & (np.arange(len(lk)) % 2 == 1)
    host_Bps = _one(lk.line_rate_Bps[up_links], "host link speed")
    link_s = _one(lk.latency_s[down_links], "cable latency")
    switch_s = _one(lk.latency_s[up_links], "cable-plus-switch latency") - link_s
    d, u = f.leaf_down, f.leaf_up
    if u == 0 or d % u:
        raise ExportError(f"htsim's fat-tree needs a whole leaf oversubscription, down ports "
                          f"over up ports; the leaves here have {d} down and {u} up")
    cable_ns = _ns(link_s)
    notes = []
    if cable_ns < 1:
        notes.append(f"cable latency {link_s * 1e9:g} ns written as 1 ns (htsim needs a "
                     f"positive Downlink_Latency_ns)")
        cable_ns = 1

    def tier(t: int, rate_Bps: float, down: int, up: int | None, bundle: int) -> list[str]:
        lines = [f"Tier {t}", f"Downlink_speed_Gbps {_gbps(rate_Bps, f'tier {t} down')}",
                 f"Radix_Down {down}"]
        if up is not None:
            lines.append(f"Radix_Up {up}")
        if t == 0:
            lines.append(f"Oversubscribed {d // u}")
        if t > 0:
            lines.append(f"Bundle {bundle}")
        return [*lines, f"Downlink_Latency_ns {cable_ns}", f"Switch_Latency_ns {_ns(switch_s)}"]

    fabric_rates = {t: lk.line_rate_Bps[(lk.kind == LinkKind.FABRIC) & (lk.tier == t)]
                    for t in (2, 3)}
    spine_Bps = _one(fabric_rates[2], "leaf-spine speed") if len(fabric_rates[2]) else host_Bps
    if spine_Bps != host_Bps:
        # htsim counts a leaf's uplinks as hosts x host speed / (uplink speed x oversubscription)
        raise ExportError(f"htsim's fat-tree assumes the host and leaf-spine links run at one "
                          f"speed; here {host_Bps * 8 / 1e9:g} and {spine_Bps * 8 / 1e9:g} Gb/s")
    if f.tiers == 2 or f.cores == 0:
        spines, parallel = (f.spines, f.parallel) if f.spines else (u, 1)
        if not f.spines:
            notes.append("one leaf per plane: mpft-sim has no spine, htsim builds idle ones")
        hosts = f.leaves * d
        tiers = [tier(0, host_Bps, d, u, 1), tier(1, spine_Bps, f.leaves * parallel, None,
                                                   parallel)]
        assert spines * parallel == u  # htsim: aggregation switches x bundle = leaf uplinks
        return _Tree(hosts, hosts, tiers, notes)
    core_Bps = _one(fabric_rates[3], "spine-core speed")
    if core_Bps != spine_Bps:
        raise ExportError(f"htsim's fat-tree assumes the leaf-spine and spine-core links run "
                          f"at one speed; here {spine_Bps * 8 / 1e9:g} and "
                          f"{core_Bps * 8 / 1e9:g} Gb/s")
    per_pod = f.radix // 2
    podsize = per_pod * d
    hosts = f.pods * podsize
    tiers = [tier(0, host_Bps, d, u, 1), tier(1, spine_Bps, per_pod, per_pod, 1),
             tier(2, core_Bps, f.pods * f.core_parallel, None, f.core_parallel)]
    # htsim: cores = pods x leaves x uplinks / core down radix
    assert f.pods * per_pod * u // (f.pods * f.core_parallel) == f.cores
    return _Tree(hosts, podsize, tiers, notes)


def _hosts(lk: LinkTable, d: int) -> IntArray:
    """Per link, the htsim host of the NIC port its cable joins (-1 for other links): host =
    leaf x d + the port's place among its leaf's ports, so host h sits under ToR h // d as
    htsim builds it."""
    n = len(lk)
    ids = np.arange(n)
    up = np.flatnonzero((lk.kind == LinkKind.ENDPOINT) & (ids % 2 == 0))
    leaf = np.array([int(_LEAF.fullmatch(str(x)).group(2))  # type: ignore[union-attr]
                     for x in lk.dst[up].tolist()], dtype=np.int64)
    plane = lk.plane[up]
    order = np.lexsort((up, leaf, plane))
    key = plane[order] * (leaf.max(initial=0) + 1) + leaf[order]
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    place = np.arange(len(order)) - np.repeat(start, np.diff(np.r_[start, len(order)]))
    if len(place) and place.max() >= d:
        raise ExportError(f"a leaf has more than its {d} down ports in use")
    host = np.full(n, -1, dtype=np.int64)
    host[up[order]] = leaf[order] * d + place
    host[up[order] + 1] = host[up[order]]  # the cable's down link: the same host
    return host


def htsim_files(run: Run) -> Files:
    """The htsim files of a run (see :func:`export_run`), name to lines, in write order.

    Raises
    ------
    ExportError
        As :func:`export_run`.
    """
    f = fabric_of(run)
    legs = legs_of(run)
    flows = run.flow_table
    assert flows is not None
    lk = run.link_table
    g = run.summary.info.gpus_per_node
    tree = _htsim_tree(run, f)
    host = _hosts(lk, f.leaf_down)
    # one connection per flow and plane: htsim chooses the paths inside a plane itself
    net = np.flatnonzero(legs.plane >= 0)
    key = legs.path_flow[net] * max(f.planes, 1) + legs.plane[net]
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    rows = net[first]
    size = np.bincount(inverse, legs.bytes[net], minlength=len(uniq)).astype(np.int64)
    keep = size > 0
    rows, size = rows[keep], size[keep]
    too_big = size > HTSIM_MAX_BYTES
    if too_big.any():
        i = int(np.argmax(too_big))
        raise ExportError(f"flow {int(legs.path_flow[rows[i]])} puts {int(size[i]):,} bytes on "
                          f"one plane, more than htsim's 32-bit connection sizes")
    flow = legs.path_flow[rows]
    conn_id = np.arange(1, len(rows) + 1)
    plane = legs.plane[rows]
    src_host, dst_host = host[legs.up_link[rows]], host[legs.down_link[rows]]
    start_ps = np.rint(flows.release_s[flow] * 1e12).astype(np.int64)
    zero = int((flows.size_bytes[np.unique(legs.path_flow[net])] <= 0).sum())
    out: Files = {}
    for p in range(f.planes):
        mine = plane == p
        head = header(run, f"flows on plane {p} of {f.planes}; ids match map.csv")
        if zero and p == 0:
            head.append(f"# {_count(zero, 'zero-byte flow')} (latency only) left out")
        body = (f"{s}->{d} id {k} start {t} size {b}" for s, d, k, t, b in zip(
            src_host[mine].tolist(), dst_host[mine].tolist(), conn_id[mine].tolist(),
            start_ps[mine].tolist(), size[mine].tolist(), strict=True))
        out[f"plane{p}.cm"] = lines_chained(
            [*head, f"Nodes {tree.hosts}", f"Connections {int(mine.sum())}"], body)
        out[f"plane{p}.topo"] = _topo_lines(run, f, tree, p)
    out["map.csv"] = rows_csv(
        ["id", "flow", "plane", "src_host", "dst_host", "bytes", "start_ps", "src_gpu",
         "dst_gpu", "src_nic", "dst_nic", "nvlink_before", "nvlink_after"],
        zip(conn_id.tolist(), flow.tolist(), plane.tolist(), src_host.tolist(),
            dst_host.tolist(), size.tolist(), start_ps.tolist(),
            [gpu_name(r, g) for r in legs.src_gpu[rows].tolist()],
            [gpu_name(r, g) for r in legs.dst_gpu[rows].tolist()],
            lk.src[legs.up_link[rows]].tolist(), lk.dst[legs.down_link[rows]].tolist(),
            [str(b).lower() for b in (legs.src_gpu[rows] != flows.src[flow]).tolist()],
            [str(b).lower() for b in (legs.dst_gpu[rows] != flows.dst[flow]).tolist()],
            strict=True))
    out["nvlink.csv"] = _nvlink_lines(run, legs, conn_id, rows)
    return out


def _topo_lines(run: Run, f: FabricInfo, tree: _Tree, p: int) -> list[str]:
    lk = run.link_table
    mine = lk.plane == p
    lines = header(run, f"plane {p} of {f.planes}, a {f.tiers}-tier tree of radix {f.radix}")
    leaves = "leaf" if f.leaves == 1 else "leaves"
    lines.append(f"# {f.leaves:,} {leaves} of {f.leaf_down} down and {f.leaf_up} up ports, "
                 + _count(f.spines, "spine") + (f", {_count(f.cores, 'core')}" if f.cores else "")
                 + f"; hosts are NIC ports, host h under leaf h // {f.leaf_down} (map.csv)")
    lines += [f"# {n}" for n in tree.notes]
    cable = mine & (np.arange(len(lk)) % 2 == 0)  # a cable's up link names it
    slow = np.unique(lk.degrade[mine & lk.alive])
    if mine.any() and not lk.alive[mine].any():
        lines.append("# the whole plane failed in the run (htsim's tree has it)")
    elif len(slow) == 1 and slow[0] < 1:
        lines.append(f"# the whole plane ran at {slow[0]:.0%} of its bandwidth in the run "
                     f"(htsim's tree has it at full speed)")
    else:
        lines += _listed(lk, np.flatnonzero(cable & ~lk.alive), "failed in the run (htsim's "
                         "tree has them)")
        lines += _listed(lk, np.flatnonzero(cable & lk.degraded), "degraded in the run "
                         "(htsim's tree has them at full speed)")
    lines += [f"Nodes {tree.hosts}", f"Tiers {len(tree.tiers)}", f"Podsize {tree.podsize}"]
    for t in tree.tiers:
        lines += ["", *t]
    return lines


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def _listed(lk: LinkTable, cables: IntArray, what: str, most: int = 20) -> list[str]:
    """Comment lines naming some cables (at most ``most``, then how many more)."""
    if not len(cables):
        return []
    lines = [f"# {_count(len(cables), 'cable')} {what}:"]
    lines += [f"#   {lk.src[i]} - {lk.dst[i]}"
              + (f" at {lk.degrade[i]:.0%}" if lk.degrade[i] < 1 else "")
              for i in cables[:most].tolist()]
    if len(cables) > most:
        lines.append(f"#   and {len(cables) - most} more")
    return lines


def _nvlink_lines(run: Run, legs: Legs, conn_id: IntArray, rows: IntArray) -> Iterator[str]:
    """The NVLink legs: forwards before and after a network leg, and transfers inside a
    server, with the connection they belong to (empty for the latter)."""
    flows = run.flow_table
    assert flows is not None
    g = run.summary.info.gpus_per_node
    # a flow's sprayed paths share one connection per plane: look it up by (flow, plane)
    lookup = dict(zip(zip(legs.path_flow[rows].tolist(), legs.plane[rows].tolist(),
                          strict=True), conn_id.tolist(), strict=True))
    out = ["flow,side,src_gpu,dst_gpu,bytes,start_s,id"]
    start = float_text(flows.release_s)
    for i in range(len(legs.path_flow)):
        f, b = int(legs.path_flow[i]), int(legs.bytes[i])
        if b <= 0:
            continue
        src, dst = int(flows.src[f]), int(flows.dst[f])
        if legs.plane[i] < 0:
            out.append(f"{f},local,{gpu_name(src, g)},{gpu_name(dst, g)},{b},{start[f]},")
            continue
        k = lookup.get((f, int(legs.plane[i])), "")
        if legs.src_gpu[i] != src:
            out.append(f"{f},source,{gpu_name(src, g)},{gpu_name(int(legs.src_gpu[i]), g)},"
                       f"{b},{start[f]},{k}")
        if legs.dst_gpu[i] != dst:
            out.append(f"{f},destination,{gpu_name(int(legs.dst_gpu[i]), g)},"
                       f"{gpu_name(dst, g)},{b},{start[f]},{k}")
    return iter(out)


