"""Flow-list replay: read ``src,dst,size,start[,tag]`` rows from a CSV file, and the program
that releases each flow at its start time."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import SpecError
from mpft_sim.spec.files import read_text
from mpft_sim.spec.limits import MAX_CSV_BYTES, MAX_DURATION, MAX_FLOW_ROWS, MAX_SIZE, Limit
from mpft_sim.topology.fabric import Fabric, NodeKind, parse_node_name
from mpft_sim.units import UnitError, parse_quantity
from mpft_sim.workload.program import Comm, Program, ProgramBuilder, Stream, TaskKind

__all__ = ["FlowList", "flow_program", "read_flow_csv"]

COLUMNS = ("src", "dst", "size", "start")


@dataclass(frozen=True)
class FlowList:
    """Flows to replay: GPU ranks, bytes, release times (s), a tag each."""

    src: NDArray[np.int64]
    dst: NDArray[np.int64]
    size_bytes: NDArray[np.float64]
    start_s: NDArray[np.float64]
    tag: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.src)


def _endpoint(text: str, fabric: Fabric) -> int:
    text = text.strip()
    if text.lstrip("-").isascii() and text.lstrip("-").isdigit():
        if len(text) > 18:  # more digits than any rank, and than int() converts cheaply
            raise ValueError(f"no GPU rank {text[:20]}...: the fabric has {fabric.n_gpus}")
        rank = int(text)
        if not 0 <= rank < fabric.n_gpus:
            raise ValueError(f"no GPU rank {rank}: the fabric has {fabric.n_gpus}")
        return rank
    node = parse_node_name(text)
    if node.kind != NodeKind.GPU:
        raise ValueError("an endpoint must be a GPU such as 'n12/gpu3' or a global rank")
    return fabric.node_index(node)


def _number(text: str, kind: str) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return parse_quantity(text, kind)  # type: ignore[arg-type]


# the ceiling of each number column: a flow larger than a GPU's memory, or released after a
# day of simulated time, is a mistake (and 1e300 bytes would overflow the engine's sums)
_CEILINGS: dict[str, Limit] = {"size": MAX_SIZE, "start": MAX_DURATION}


def read_flow_csv(path: str | Path, fabric: Fabric) -> FlowList:
    """Read a flow list; endpoints are ``n<node>/gpu<local>`` or global GPU ranks.

    ``size`` is bytes (a plain number, or with a unit such as ``1MiB``); ``start`` is seconds
    (a plain number, or with a unit such as ``10us``); ``tag`` is optional text.

    Raises
    ------
    SpecError
        Naming the file and the row (header = row 1) of the first bad value.
    """
    name = str(path)
    text = read_text(path, MAX_CSV_BYTES, printable=True)
    try:
        reader = csv.reader(text.splitlines())
        header = [h.strip() for h in next(reader, [])]
        if tuple(header[:4]) != COLUMNS or header[4:] not in ([], ["tag"]):
            raise SpecError("the header must be src,dst,size,start or src,dst,size,start,tag",
                            ("row 1",), ",".join(header))
        has_tag = len(header) == 5
        src: list[int] = []
        dst: list[int] = []
        size: list[float] = []
        start: list[float] = []
        tags: list[str] = []
        for row_no, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            key = (f"row {row_no}",)
            if len(src) >= MAX_FLOW_ROWS:
                raise SpecError(f"more than {MAX_FLOW_ROWS:,} flows: split the list or "
                                "generate the traffic from a workload", key)
            if len(row) != len(header):
                raise SpecError(f"expected {len(header)} columns ({','.join(header)})", key,
                                ",".join(row))
            for col, ends in (("src", src), ("dst", dst)):
                try:
                    ends.append(_endpoint(row[header.index(col)], fabric))
                except ValueError as exc:
                    raise SpecError(f"{col}: {exc}", key, row[header.index(col)]) from None
            if src[-1] == dst[-1]:
                raise SpecError("src and dst are the same GPU", key, row[header.index("src")])
            for col, kind, out in (("size", "size", size), ("start", "time", start)):
                cell = row[header.index(col)]
                try:
                    value = _number(cell, kind)
                except (ValueError, UnitError) as exc:
                    raise SpecError(f"{col}: {exc}", key, cell) from None
                if not np.isfinite(value):
                    raise SpecError(f"{col}: must be a finite number", key, cell)
                if value < 0:
                    raise SpecError(f"{col}: must be a non-negative number", key, cell)
                ceiling = _CEILINGS[col]
                if value > ceiling.value:
                    unit = "bytes" if col == "size" else "s"
                    raise SpecError(f"{col}: must be at most {ceiling.value:,.0f} {unit} "
                                    f"({ceiling.why})", key, cell)
                out.append(value)
            tags.append(row[4].strip() if has_tag else "")
    except SpecError as exc:
        raise exc.within(name) from None
    if not src:
        raise SpecError("no flows in the file", file=name)
    return FlowList(np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64),
                    np.array(size, dtype=np.float64), np.array(start, dtype=np.float64),
                    tuple(tags))


def flow_program(flows: FlowList) -> tuple[Program, NDArray[np.int64]]:
    """The program that replays a flow list: for each distinct start time, a wait until it,
    then the flows that start then, released together (one routing call, one re-solve).

    Returns
    -------
    (Program, ndarray)
        The program, and the order in which it releases the flows (the network numbers
        flows in that order; ``argsort`` of it gives them back their input order).
    """
    order = np.argsort(flows.start_s, kind="stable")
    starts = flows.start_s[order]
    batches = np.split(order, np.flatnonzero(np.diff(starts)) + 1) if len(order) else []
    prog = ProgramBuilder()
    lane = prog.lane("flows", "flows", np.unique(np.r_[flows.src, flows.dst]))
    for k, batch in enumerate(batches):
        at = float(flows.start_s[batch[0]])
        wait = prog.task(lane, Stream.COMPUTE, TaskKind.RELEASE, duration=at, chunk=k,
                         label=f"t={at!r}", ordered=False)
        comm = Comm(TaskKind.FLOWS, (flows.src[batch], flows.dst[batch],
                                     flows.size_bytes[batch]),
                    tags=tuple(flows.tag[i] for i in batch.tolist()))
        prog.task(lane, Stream.COMM, TaskKind.FLOWS, comm=comm, deps=[wait], chunk=k,
                  label=f"t={at!r}", ordered=False)
    return prog.build(), order
