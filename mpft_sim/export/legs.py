"""A run's flows taken apart for export: each path's network leg (plane, NICs, the GPUs at
its ends) and NVLink legs, its bytes as whole numbers, and the files' common pieces."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import ExportError
from mpft_sim.results.flows import FlowTable, Paths
from mpft_sim.results.result import Run
from mpft_sim.results.summary import FabricInfo
from mpft_sim.topology.fabric import LinkKind

__all__ = ["GPU_NAME", "Files", "Legs", "fabric_of", "gpu_name", "gpu_rank", "gpu_ranks",
           "header", "legs_of", "lines_chained", "require_paths", "rows_csv"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
Files = dict[str, Iterable[str]]
"""File name to its lines (without line ends), in write order."""

GPU_NAME = re.compile(r"n(\d+)/gpu(\d+)")


@dataclass(frozen=True)
class Legs:
    """Each path of each flow, taken apart: the GPUs at its ends, the NICs and plane of its
    network leg (-1 for a path inside one server), and its bytes as whole numbers."""

    path_flow: IntArray
    bytes: IntArray
    src_gpu: IntArray
    """Where the network leg starts (the flow's source unless forwarded at the source)."""
    dst_gpu: IntArray
    """Where it ends (the flow's destination unless forwarded at the destination)."""
    up_link: IntArray
    """The NIC-to-leaf link the path leaves by (-1 inside a server)."""
    down_link: IntArray
    """The leaf-to-NIC link it arrives by."""
    plane: IntArray


def require_paths(run: Run) -> tuple[FlowTable, Paths]:
    """The run's flows and their paths; :class:`ExportError` saying what to rerun if it
    kept neither or no paths."""
    flows = run.flow_table
    if flows is None:
        raise ExportError("the run has no flows table (it was written with --no-flows): rerun "
                          "mpft-sim simulate with --flow-paths")
    if flows.paths is None:
        raise ExportError("the run kept no flow paths, which export needs to place each flow "
                          "in its plane and on its NICs: rerun mpft-sim simulate with "
                          "--flow-paths")
    return flows, flows.paths


def _whole_bytes(size: FloatArray, flow_ptr: IntArray, share: FloatArray) -> IntArray:
    """Each path's bytes, whole numbers that add up to its flow's size rounded: cumulative
    shares rounded, then differenced (so a flow split in three loses no byte)."""
    total = np.rint(size).astype(np.int64)
    counts = np.diff(flow_ptr)
    path_flow = np.repeat(np.arange(len(size)), counts)
    # cumulative share within each flow, the last path of a flow forced to exactly 1
    cum = np.cumsum(share)
    before = np.repeat(np.concatenate([[0.0], cum])[flow_ptr[:-1]], counts)
    within = cum - before
    last = np.zeros(len(share), dtype=bool)
    last[flow_ptr[1:][counts > 0] - 1] = True
    within[last] = 1.0
    ends = np.rint(within * total[path_flow]).astype(np.int64)
    starts = np.zeros_like(ends)
    starts[1:] = ends[:-1]
    first = np.zeros(len(share), dtype=bool)
    first[flow_ptr[:-1][counts > 0]] = True
    starts[first] = 0
    return ends - starts


def legs_of(run: Run) -> Legs:
    """Every path of the run's flows taken apart (see :class:`Legs`), vectorised over paths.

    Raises
    ------
    ExportError
        If the run kept no flows or no paths, or a PCIe hop ends at something else than a GPU.
    """
    flows, paths = require_paths(run)
    lk = run.link_table
    g = run.summary.info.gpus_per_node
    n_paths = len(paths.share)
    counts = np.diff(paths.link_ptr)
    entry_path = np.repeat(np.arange(n_paths, dtype=np.int64), counts)
    kind = lk.kind[paths.links]
    pos = np.arange(len(paths.links), dtype=np.int64)
    big = len(paths.links)

    def first_last(mask: NDArray[np.bool_]) -> tuple[IntArray, IntArray]:
        first = np.full(n_paths, big, dtype=np.int64)
        last = np.full(n_paths, -1, dtype=np.int64)
        np.minimum.at(first, entry_path[mask], pos[mask])
        np.maximum.at(last, entry_path[mask], pos[mask])
        return first, last

    ep_first, ep_last = first_last(kind == LinkKind.ENDPOINT)
    pcie_first, pcie_last = first_last(kind == LinkKind.PCIE)
    network = ep_last >= 0
    path_flow = np.repeat(np.arange(len(flows), dtype=np.int64), np.diff(paths.flow_ptr))
    src_gpu = flows.src[path_flow].astype(np.int64)
    dst_gpu = flows.dst[path_flow].astype(np.int64)
    up = np.full(n_paths, -1, dtype=np.int64)
    down = np.full(n_paths, -1, dtype=np.int64)
    plane = np.full(n_paths, -1, dtype=np.int64)
    if network.any():
        up[network] = paths.links[ep_first[network]]
        down[network] = paths.links[ep_last[network]]
        plane[network] = lk.plane[up[network]]
        # the network leg runs between the GPUs at the ends of its PCIe hops: another GPU
        # of the server than the flow's own when it was forwarded over NVLink
        src_gpu[network] = gpu_ranks(lk.src[paths.links[pcie_first[network]]], g)
        dst_gpu[network] = gpu_ranks(lk.dst[paths.links[pcie_last[network]]], g)
    return Legs(path_flow=path_flow,
                bytes=_whole_bytes(flows.size_bytes, paths.flow_ptr, paths.share),
                src_gpu=src_gpu, dst_gpu=dst_gpu, up_link=up, down_link=down, plane=plane)


def gpu_ranks(names: NDArray[np.object_], g: int) -> IntArray:
    """Global ranks of GPU names (``n12/gpu3``) with ``g`` GPUs per server, vectorised."""
    uniq, inv = np.unique(names.astype(str), return_inverse=True)
    ranks = np.array([gpu_rank(n, g) for n in uniq.tolist()], dtype=np.int64)
    return ranks[inv] if len(names) else np.zeros(0, dtype=np.int64)


def gpu_rank(name: str, g: int) -> int:
    """The global rank of one GPU name; :class:`ExportError` if it is not a GPU's."""
    m = GPU_NAME.fullmatch(name)
    if m is None:
        raise ExportError(f"expected a GPU at the end of a PCIe hop, found {name!r}")
    return int(m.group(1)) * g + int(m.group(2))


def gpu_name(rank: int, g: int) -> str:
    """The name of global rank ``rank`` with ``g`` GPUs per server."""
    return f"n{rank // g}/gpu{rank % g}"


def fabric_of(run: Run) -> FabricInfo:
    """The fabric shape the run recorded; :class:`ExportError` for a run written before."""
    fabric = run.summary.info.fabric
    if fabric is None:
        raise ExportError("the run does not record the shape of its fabric (it was written by "
                          "an older mpft-sim): rerun mpft-sim simulate with --flow-paths")
    return fabric


def header(run: Run, what: str) -> list[str]:
    """The comment line that opens an exported file: which run, and what the file holds."""
    info = run.summary.info
    return [f"# mpft-sim export: {info.workload} on {info.topology} ({info.model} model, seed "
            f"{info.seed}): {what}"]


def lines_chained(head: list[str], body: Iterable[str]) -> Iterator[str]:
    """The lines of ``head``, then those of ``body`` (written as they come)."""
    yield from head
    yield from body


def rows_csv(header: list[str], rows: Iterable[tuple[object, ...]]) -> Iterator[str]:
    """CSV lines: the header, then one line per row (quoted where CSV needs it)."""
    yield ",".join(header)
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="")
    for row in rows:
        out.writerow(row)
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
