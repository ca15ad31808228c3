"""m4 input from a run: the fabric as an ns-3 topology with GPUs as hosts, a flow per path,
each flow's path, and the map of m4 flows to the run's (see :mod:`mpft_sim.export`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpft_sim.errors import ExportError
from mpft_sim.export.legs import (
    GPU_NAME,
    Files,
    gpu_rank,
    legs_of,
    require_paths,
    rows_csv,
)
from mpft_sim.results.columns import float_text
from mpft_sim.results.result import Run
from mpft_sim.results.tables import LinkTable

__all__ = ["m4_files"]


def m4_files(run: Run) -> Files:
    """The m4 files of a run (see :func:`export_run`), name to lines, in write order.

    Raises
    ------
    ExportError
        As :func:`export_run`.
    """
    flows, paths = require_paths(run)
    lk = run.link_table
    g = run.summary.info.gpus_per_node
    legs = legs_of(run)
    node = _nodes(lk, g)
    n_gpus = int(node.gpus)
    # every path with bytes is one m4 flow: m4 takes one path per flow
    rows = np.flatnonzero(legs.bytes > 0)
    m4_id = np.arange(len(rows))
    flow = legs.path_flow[rows]
    src, dst = flows.src[flow].astype(np.int64), flows.dst[flow].astype(np.int64)
    start = float_text(flows.release_s[flow])
    flow_lines = [str(len(rows))] + [
        f"{i} {s} {d} 3 100 {b} {t}" for i, s, d, b, t in zip(
            m4_id.tolist(), src.tolist(), dst.tolist(), legs.bytes[rows].tolist(), start,
            strict=True)]
    used: set[int] = set()
    path_lines = []
    for i, p in zip(m4_id.tolist(), rows.tolist(), strict=True):
        links = paths.links[paths.link_ptr[p]:paths.link_ptr[p + 1]].tolist()
        used.update(links)
        hops = ",".join(f"{node.src[x]}-{node.dst[x]}" for x in links)
        path_lines.append(f"{i}:{src[i]}-{dst[i]},{hops},")
    return {
        "topology.txt": _topology(lk, node, n_gpus),
        "flows.txt": flow_lines,
        "path_1.txt": [f"{len(rows)},{len(used)}", *path_lines],
        "map.csv": rows_csv(["id", "flow", "bytes", "start_s"],
                        zip(m4_id.tolist(), flow.tolist(), legs.bytes[rows].tolist(), start,
                            strict=True)),
    }


@dataclass(frozen=True)
class _Nodes:
    """m4 node ids of each link's ends: GPUs are hosts 0..gpus-1 (their global ranks),
    every other node (NVSwitch, NIC, PCIe switch, leaf, spine, core) a switch after them, in
    the order the links table first names it."""

    src: list[int]
    dst: list[int]
    gpus: int
    switches: list[int]


def _nodes(lk: LinkTable, g: int) -> _Nodes:
    ids: dict[str, int] = {}
    names = np.empty(2 * len(lk), dtype=object)
    names[0::2], names[1::2] = lk.src, lk.dst
    gpus = [n for n in dict.fromkeys(names.tolist()) if GPU_NAME.fullmatch(n)]
    for n in gpus:
        ids[n] = gpu_rank(n, g)
    if sorted(ids.values()) != list(range(len(gpus))):
        raise ExportError("the links table does not list every GPU of the fabric")
    switches = []
    for n in dict.fromkeys(names.tolist()):
        if n not in ids:
            ids[n] = len(ids)
            switches.append(ids[n])
    return _Nodes([ids[n] for n in lk.src.tolist()], [ids[n] for n in lk.dst.tolist()],
                  len(gpus), switches)


def _topology(lk: LinkTable, node: _Nodes, n_gpus: int) -> list[str]:
    """ns-3 topology: ``nodes switches cables``, the switch ids, then ``a b rate delay
    error`` per live cable: its line rate times its degradation (m4 models packets, so no
    goodput), and half its round trip's latency each way (a cable's two directions differ by
    the switch each enters)."""
    cables = np.flatnonzero(lk.alive[0::2] & lk.alive[1::2])
    up, down = 2 * cables, 2 * cables + 1
    rate = lk.line_rate_Bps[up] * lk.degrade[up] * 8
    delay = (lk.latency_s[up] + lk.latency_s[down]) / 2
    lines = [f"{n_gpus + len(node.switches)} {len(node.switches)} {len(cables)}",
             " ".join(map(str, node.switches))]
    lines += [f"{node.src[a]} {node.dst[a]} {round(r)}bps {round(s * 1e9)}ns 0"
              for a, r, s in zip(up.tolist(), rate.tolist(), delay.tolist(), strict=True)]
    return lines


