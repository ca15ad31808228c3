"""The per-link, per-time-bin and per-task records of a run: :class:`LinkTable`,
:class:`TimelineTable` (over :class:`LinkGroup` s) and :class:`OpTable`. Their columns are
defined once (:class:`~mpft_sim.results.columns.Column`) and serve the file, the frame and the
loader alike; the per-flow records are in :mod:`mpft_sim.results.flows`."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import SpecError
from mpft_sim.results.columns import Column, float_text, read_csv, read_table
from mpft_sim.topology.fabric import LinkKind, Tier

if TYPE_CHECKING:
    from mpft_sim.topology.fabric import Fabric
    from mpft_sim.workload.program import Program

__all__ = ["LinkGroup", "LinkTable", "OpTable", "TimelineTable"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
TextArray = NDArray[np.object_]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class LinkTable:
    """Per directed link: what it is, what it carried and how hard it worked.

    ``capacity_Bps`` is the payload rate it carries: its ``line_rate_Bps`` times the
    transport's goodput (InfiniBand and RoCE links) times ``degrade``, the fraction of its
    bandwidth a degraded link keeps (1 when healthy). ``mean_util`` is bytes over (capacity x
    makespan); ``busy_s`` the time it carried traffic, ``hot_s`` the time at or above 90% of
    its capacity, ``saturated_s`` the time it was full; ``peak_util`` the highest load over
    capacity it reached. ``plane`` is -1 for links inside a server.
    """

    src: TextArray
    dst: TextArray
    kind: IntArray
    plane: IntArray
    tier: IntArray
    capacity_Bps: FloatArray
    latency_s: FloatArray
    bytes: FloatArray
    busy_s: FloatArray
    mean_util: FloatArray
    peak_util: FloatArray
    hot_s: FloatArray
    saturated_s: FloatArray
    alive: BoolArray
    line_rate_Bps: FloatArray
    degrade: FloatArray

    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("id", "int", "directed link id (2c up, 2c + 1 down for cable c)"),
        Column("src", "text", "the node it leaves"),
        Column("dst", "text", "the node it enters"),
        Column("kind", "text", "nvlink, pcie, endpoint (NIC-leaf) or fabric (switch-switch)",
               category=True),
        Column("plane", "optional_int", "its plane (empty inside a server)"),
        Column("tier", "text", "node, endpoint, leaf-spine or spine-core", category=True),
        Column("capacity_Bps", "float", "payload capacity per direction: line rate x "
               "goodput x degrade [B/s]"),
        Column("latency_s", "float", "propagation plus the switch it enters [s]"),
        Column("bytes", "float", "bytes carried"),
        Column("busy_s", "float", "time it carried traffic [s]"),
        Column("mean_util", "float", "bytes over (capacity x makespan)"),
        Column("peak_util", "float", "highest load over capacity"),
        Column("hot_s", "float", "time at or above 90% of capacity [s]"),
        Column("saturated_s", "float", "time at full capacity [s]"),
        Column("alive", "bool", "false for a failed link"),
        Column("line_rate_Bps", "float", "data rate of the healthy link as the spec gives it, "
               "before packet overhead and degradation [B/s]"),
        Column("degrade", "float", "fraction of its bandwidth a degraded link keeps (1: "
               "healthy)"),
    )
    ADDED: ClassVar[tuple[str, ...]] = ("line_rate_Bps", "degrade")
    """Columns a run directory written before they existed lacks: read as the link's capacity
    and 1."""

    @property
    def degraded(self) -> BoolArray:
        """Per link: alive, and slowed down by a degraded component."""
        return self.alive & (self.degrade < 1.0)

    def __len__(self) -> int:
        return len(self.src)

    def columns(self) -> tuple[Column, ...]:
        """The file's columns."""
        return self.COLUMNS

    def rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Rows ``start:stop`` in the form files show."""
        sl = slice(start, stop)
        kinds = np.array([k.name.lower() for k in LinkKind], dtype=object)
        tiers = np.array([t.label for t in Tier], dtype=object)
        return {"id": np.arange(start, stop, dtype=np.int64), "src": self.src[sl],
                "dst": self.dst[sl], "kind": kinds[self.kind[sl]], "plane": self.plane[sl],
                "tier": tiers[self.tier[sl]], "capacity_Bps": self.capacity_Bps[sl],
                "latency_s": self.latency_s[sl], "bytes": self.bytes[sl],
                "busy_s": self.busy_s[sl], "mean_util": self.mean_util[sl],
                "peak_util": self.peak_util[sl], "hot_s": self.hot_s[sl],
                "saturated_s": self.saturated_s[sl],
                "alive": self.alive[sl], "line_rate_Bps": self.line_rate_Bps[sl],
                "degrade": self.degrade[sl]}

    @classmethod
    def of(cls, fabric: Fabric, bytes_: FloatArray, busy_s: FloatArray, hot_s: FloatArray,
           saturated_s: FloatArray, peak_util: FloatArray, makespan_s: float) -> LinkTable:
        """The table of a fabric's links with the load figures a network accumulated."""
        names = np.array(fabric.node_names, dtype=object)
        span = max(makespan_s, 1e-300)
        return cls(src=names[fabric.link_src], dst=names[fabric.link_dst],
                   kind=fabric.link_kind.astype(np.int64),
                   plane=fabric.link_plane.astype(np.int64),
                   tier=fabric.link_tier.astype(np.int64),
                   capacity_Bps=np.asarray(fabric.capacity_Bps, dtype=np.float64),
                   latency_s=np.asarray(fabric.latency_s, dtype=np.float64),
                   bytes=np.asarray(bytes_, dtype=np.float64),
                   busy_s=np.asarray(busy_s, dtype=np.float64),
                   mean_util=bytes_ / (fabric.capacity_Bps * span),
                   peak_util=np.minimum(np.asarray(peak_util, dtype=np.float64), 1.0),
                   hot_s=np.asarray(hot_s, dtype=np.float64),
                   saturated_s=np.asarray(saturated_s, dtype=np.float64),
                   alive=np.asarray(fabric.link_alive, dtype=bool),
                   line_rate_Bps=np.asarray(fabric.line_rate_Bps, dtype=np.float64),
                   degrade=np.asarray(fabric.degrade, dtype=np.float64))

    @classmethod
    def read(cls, path: str | Path) -> LinkTable:
        """Read a links file (CSV or Parquet) written by ``write_run``.

        Raises
        ------
        SpecError
            Naming the file, line and column of the first bad cell.
        """
        file = str(path)
        c = read_table(path, cls.COLUMNS, optional=cls.ADDED)
        if len(c["id"]) == 0:
            raise SpecError("no links listed", file=file)
        degrade = c.get("degrade")
        if degrade is not None and not ((degrade >= 0) & (degrade <= 1)).all():
            raise SpecError("column 'degrade': expected fractions in [0, 1]", file=file)
        return cls(src=c["src"], dst=c["dst"],
                   kind=_codes(c["kind"], [k.name.lower() for k in LinkKind], file, "kind"),
                   plane=c["plane"],
                   tier=_codes(c["tier"], [t.label for t in Tier], file, "tier"),
                   capacity_Bps=c["capacity_Bps"], latency_s=c["latency_s"],
                   bytes=c["bytes"], busy_s=c["busy_s"], mean_util=c["mean_util"],
                   peak_util=c["peak_util"], hot_s=c["hot_s"], saturated_s=c["saturated_s"],
                   alive=c["alive"], line_rate_Bps=c.get("line_rate_Bps", c["capacity_Bps"]),
                   degrade=c.get("degrade", np.ones(len(c["id"]))))


def _codes(values: TextArray, names: Sequence[str], file: str, column: str) -> IntArray:
    lookup = {n: i for i, n in enumerate(names)}
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values.tolist()):
        if v not in lookup:
            raise SpecError(f"line {i + 2}, column {column!r}: expected one of "
                            f"{', '.join(names)}", value=str(v)[:60], file=file)
        out[i] = lookup[v]
    return out


# ------------------------------------------------------------------------------ timeline


@dataclass(frozen=True, order=True)
class LinkGroup:
    """The links of one plane and tier (``plane`` None: the links inside servers)."""

    plane: int | None
    tier: Tier

    @property
    def name(self) -> str:
        """``p3/endpoint``, or ``node/node`` for the links inside servers."""
        where = "node" if self.plane is None else f"p{self.plane}"
        return f"{where}/{self.tier.label}"

    @classmethod
    def parse(cls, name: str) -> LinkGroup:
        """The group named ``name`` (raises ValueError if it is not one)."""
        where, _, tier = name.partition("/")
        if where == "node":
            return cls(None, Tier.parse(tier))
        if re.fullmatch(r"p\d{1,6}", where):
            return cls(int(where[1:]), Tier.parse(tier))
        raise ValueError(f"not a link group such as 'p3/endpoint': {name!r}")

    def sort_key(self) -> tuple[int, int]:
        """Tier outwards from the GPU (the node tier last), then plane."""
        rank = 99 if self.tier == Tier.NODE else int(self.tier)
        return rank, -1 if self.plane is None else self.plane


@dataclass(frozen=True, eq=False)
class TimelineTable:
    """Mean utilisation of each plane and tier of links in equal time bins.

    ``util[i, g]`` is group ``groups[g]``'s load integrated over bin ``i``
    (``edges_s[i]..edges_s[i + 1]``), over the bin's length and the group's capacity.
    """

    edges_s: FloatArray
    groups: tuple[LinkGroup, ...]
    util: FloatArray

    BIN_COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("start_s", "float", "bin start [s]"),
        Column("end_s", "float", "bin end [s]"),
    )
    LONG_COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("start_s", "float", "bin start [s]"),
        Column("end_s", "float", "bin end [s]"),
        Column("plane", "optional_int", "plane (empty: links inside servers)"),
        Column("tier", "text", "node, endpoint, leaf-spine or spine-core"),
        Column("utilisation", "float", "mean load over capacity of the group in the bin"),
    )

    def __len__(self) -> int:
        return len(self.edges_s) - 1

    def write_wide(self, path: str | Path) -> None:
        """timeline.csv: ``start_s, end_s`` and a column per group (``p0/endpoint`` ...)."""
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle, lineterminator="\n")
            out.writerow(["start_s", "end_s", *(g.name for g in self.groups)])
            starts, ends = float_text(self.edges_s[:-1]), float_text(self.edges_s[1:])
            for i in range(len(self)):
                out.writerow([starts[i], ends[i], *float_text(self.util[i])])

    def write_long(self, path: str | Path) -> None:
        """timeline_long.csv: one row per bin and group (``start_s, end_s, plane, tier,
        utilisation``), the form plotting libraries take."""
        bins, _groups = self.util.shape
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow([c.name for c in self.LONG_COLUMNS])
        starts, ends = float_text(self.edges_s[:-1]), float_text(self.edges_s[1:])
        for i in range(bins):
            util = float_text(self.util[i])
            for g, group in enumerate(self.groups):
                out.writerow([starts[i], ends[i], "" if group.plane is None else group.plane,
                              group.tier.label, util[g]])
        Path(path).write_text(buf.getvalue(), encoding="utf-8")

    def long_form(self) -> _LongTimeline:
        """The table in long form (a row per bin and group), for the Parquet writer."""
        return _LongTimeline(self)

    @classmethod
    def read(cls, path: str | Path) -> TimelineTable:
        """Read timeline.csv.

        Raises
        ------
        SpecError
            On a malformed file (naming it).
        """
        file = str(path)
        try:
            with Path(path).open(newline="", encoding="utf-8") as handle:
                header = next(csv.reader(handle), [])
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise SpecError(f"cannot read: {exc}", file=file) from None
        if not header:
            raise SpecError("empty file: expected a header row", file=file)
        if header[:2] != ["start_s", "end_s"] or len(header) < 3:
            raise SpecError("expected the columns start_s, end_s and one per link group",
                            file=file)
        try:
            groups = tuple(LinkGroup.parse(h) for h in header[2:])
        except ValueError as exc:
            raise SpecError(str(exc), file=file) from None
        cols = (*cls.BIN_COLUMNS, *(Column(g.name, "float", "") for g in groups))
        c = read_csv(path, cols)
        n = len(c["start_s"])
        util = (np.column_stack([c[g.name] for g in groups]) if n
                else np.zeros((0, len(groups))))
        edges = np.r_[c["start_s"][:1], c["end_s"]] if n else np.zeros(1)
        return cls(edges_s=edges, groups=groups, util=util)


class _LongTimeline:
    """A timeline in long form as a table: ``start_s, end_s, plane, tier, utilisation``."""

    COLUMNS: ClassVar[tuple[Column, ...]] = TimelineTable.LONG_COLUMNS

    def __init__(self, timeline: TimelineTable) -> None:
        self.timeline = timeline
        self.groups = len(timeline.groups)

    def __len__(self) -> int:
        return len(self.timeline) * self.groups

    def columns(self) -> tuple[Column, ...]:
        return self.COLUMNS

    def rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
        t, g = np.divmod(np.arange(start, stop), self.groups)
        planes = np.array([-1 if x.plane is None else x.plane for x in self.timeline.groups],
                          dtype=np.int64)
        tiers = np.array([x.tier.label for x in self.timeline.groups], dtype=object)
        return {"start_s": self.timeline.edges_s[t], "end_s": self.timeline.edges_s[t + 1],
                "plane": planes[g], "tier": tiers[g], "utilisation": self.timeline.util[t, g]}


# ----------------------------------------------------------------------------------- ops


@dataclass(frozen=True, eq=False)
class OpTable:
    """When each task of a program ran: per task, its lane (the GPUs that run in lockstep,
    with their ranks), stream, kind, step category, schedule item (``chunk``, -1 if none),
    start and end, and the flows it released."""

    job: TextArray
    lane: TextArray
    ranks: TextArray
    stream: TextArray
    kind: TextArray
    category: TextArray
    label: TextArray
    chunk: IntArray
    start_s: FloatArray
    end_s: FloatArray
    flows: IntArray

    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("id", "int", "task id"),
        Column("job", "text", "the job it belongs to", category=True),
        Column("lane", "text", "GPUs that run in lockstep", category=True),
        Column("ranks", "text", "the lane's global GPU ranks ('0-7' or '0 8 16')",
               category=True),
        Column("stream", "text", "compute, comm or pp", category=True),
        Column("kind", "text", "what it does (attn_f, dispatch, pp_act ...)", category=True),
        Column("category", "text", "step part: forward, backward, overlapped, optimizer ...",
               category=True),
        Column("label", "text", "which layer and micro-batch"),
        Column("chunk", "int", "the schedule item it belongs to (-1 if none)"),
        Column("start_s", "float", "start [s]"),
        Column("end_s", "float", "end [s]"),
        Column("flows", "int", "flows it released (communication)"),
    )

    def __len__(self) -> int:
        return len(self.start_s)

    def columns(self) -> tuple[Column, ...]:
        """The file's columns."""
        return self.COLUMNS

    def rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Rows ``start:stop`` in the form files show."""
        sl = slice(start, stop)
        return {"id": np.arange(start, stop, dtype=np.int64), "job": self.job[sl],
                "lane": self.lane[sl], "ranks": self.ranks[sl], "stream": self.stream[sl],
                "kind": self.kind[sl], "category": self.category[sl], "label": self.label[sl],
                "chunk": self.chunk[sl], "start_s": self.start_s[sl], "end_s": self.end_s[sl],
                "flows": self.flows[sl]}

    @classmethod
    def of(cls, program: Program, start_s: FloatArray, end_s: FloatArray,
           flows: IntArray) -> OpTable:
        """The table of a program that ran, from each task's start and end."""
        lanes = program.lanes
        lane_job = np.array([lane.job for lane in lanes], dtype=object)
        lane_name = np.array([lane.name for lane in lanes], dtype=object)
        lane_ranks = np.array([lane.ranks_text for lane in lanes], dtype=object)
        streams = np.array(["compute", "comm", "pp"], dtype=object)
        kinds = np.array([str(k) for k in program.kinds], dtype=object)
        cats = np.array([str(c) for c in program.categories], dtype=object)
        return cls(job=lane_job[program.lane], lane=lane_name[program.lane],
                   ranks=lane_ranks[program.lane], stream=streams[program.stream],
                   kind=kinds[program.kind] if len(kinds) else np.zeros(0, dtype=object),
                   category=cats[program.category] if len(cats) else np.zeros(0, dtype=object),
                   label=np.array(program.label, dtype=object), chunk=program.chunk.copy(),
                   start_s=start_s, end_s=end_s, flows=flows)

    @classmethod
    def read(cls, path: str | Path) -> OpTable:
        """Read an ops file (CSV or Parquet) written by ``write_run``.

        Raises
        ------
        SpecError
            Naming the file, line and column of the first bad cell.
        """
        c = read_table(path, cls.COLUMNS)
        return cls(**{f.name: c[f.name] for f in fields(cls)})
