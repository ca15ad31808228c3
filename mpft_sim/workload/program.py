"""A program: what every rank does, as a graph of tasks on streams.

Ranks that run the same op sequence in lockstep form a *lane* (the GPUs of one expert-parallel
group at one pipeline stage: their all-to-alls synchronise them). A lane has streams: compute,
communication (expert-parallel all-to-alls and collectives), pipeline sends. A task is a compute
of some duration, a communication (a set of flows: it ends when its last flow lands, plus any
extra latency), or a zero-length marker. Tasks on one stream of one lane run in program order;
other dependencies (data: dispatch before the experts' MLP, an activation before the next
stage's forward) are explicit edges. The graph is built once and is immutable.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

__all__ = ["Comm", "Lane", "Program", "ProgramBuilder", "Stream"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
FlowSet = tuple[IntArray, IntArray, FloatArray]


class Stream(IntEnum):
    """A lane's streams."""

    COMPUTE = 0
    COMM = 1
    PP = 2


@dataclass(frozen=True)
class Lane:
    """GPUs that run one op sequence in lockstep."""

    job: str
    name: str
    gpus: IntArray
    stage: int = -1

    @property
    def ranks_text(self) -> str:
        """The GPUs as ``first-last`` when contiguous, else a space-separated list."""
        g = self.gpus
        if len(g) > 1 and np.all(np.diff(g) == 1):
            return f"{g[0]}-{g[-1]}"
        return " ".join(map(str, g))


@dataclass(frozen=True)
class Comm:
    """What a communication task sends.

    Attributes
    ----------
    tag : str
        Names the flows (``dispatch``, ``pp_act`` ...).
    flows : (src, dst, size)
        Global GPU ranks and bytes; with a ``route_key``, pairs of zero bytes are skipped.
    route_key : hashable, optional
        Tasks with the same key send between the same (src, dst) pairs in the same order, so
        their routes can be reused (ECMP hashes a connection the same way every time).
    extra_latency_s : float
        Added after the last flow lands (a ring's per-step latency).
    logical_bytes : float
        The bytes the kernel itself reports moving (DeepEP's bottleneck figure), if relevant.
    nvl_logical_bytes : float
        The bytes of DeepEP's NVLink figure, if relevant.
    network_bytes : float
        The bytes it puts on the scale-out network (not NVLink), if relevant.
    forward : str, optional
        Overrides the router's forwarding for these flows ("pxn", "source", "destination").
    """

    tag: str
    flows: FlowSet
    route_key: Hashable | None = None
    extra_latency_s: float = 0.0
    logical_bytes: float = 0.0
    network_bytes: float = 0.0
    nvl_logical_bytes: float = 0.0
    forward: str | None = None


@dataclass
class Program:
    """An immutable task graph (see the module docstring).

    Per task: ``lane``, ``stream``, ``kind`` (index into ``kinds``), ``duration_s`` (compute),
    ``comm`` (or None), ``category`` (index into ``categories``: which part of the step it
    belongs to, F/B/W/FB/optimizer), ``chunk`` (the schedule item it belongs to, -1 if none),
    ``label``; successors in CSR form; ``n_deps`` predecessors each.
    """

    lanes: list[Lane]
    kinds: list[str]
    categories: list[str]
    lane: IntArray
    stream: IntArray
    kind: IntArray
    duration_s: FloatArray
    category: IntArray
    chunk: IntArray
    label: list[str]
    comm: list[Comm | None]
    succ_ptr: IntArray
    succ: IntArray
    n_deps: IntArray

    def __len__(self) -> int:
        return len(self.lane)


@dataclass
class ProgramBuilder:
    """Accumulates lanes and tasks; :meth:`build` freezes them into a :class:`Program`."""

    lanes: list[Lane] = field(default_factory=list)
    _kinds: dict[str, int] = field(default_factory=dict)
    _cats: dict[str, int] = field(default_factory=dict)
    _lane: list[int] = field(default_factory=list)
    _stream: list[int] = field(default_factory=list)
    _kind: list[int] = field(default_factory=list)
    _duration: list[float] = field(default_factory=list)
    _category: list[int] = field(default_factory=list)
    _chunk: list[int] = field(default_factory=list)
    _label: list[str] = field(default_factory=list)
    _comm: list[Comm | None] = field(default_factory=list)
    _edges_from: list[int] = field(default_factory=list)
    _edges_to: list[int] = field(default_factory=list)
    _last: dict[tuple[int, int], int] = field(default_factory=dict)

    def lane(self, job: str, name: str, gpus: IntArray, stage: int = -1) -> int:
        """Add a lane; return its index."""
        self.lanes.append(Lane(job, name, np.asarray(gpus, dtype=np.int64), stage))
        return len(self.lanes) - 1

    def task(self, lane: int, stream: Stream, kind: str, *, duration: float = 0.0,
             comm: Comm | None = None, deps: Sequence[int] = (), category: str = "",
             chunk: int = -1, label: str = "", ordered: bool = True) -> int:
        """Add a task; it also waits for the previous task of its lane's stream if
        ``ordered``. Returns its id."""
        tid = len(self._lane)
        self._lane.append(lane)
        self._stream.append(int(stream))
        self._kind.append(self._kinds.setdefault(kind, len(self._kinds)))
        self._duration.append(float(duration))
        self._category.append(self._cats.setdefault(category, len(self._cats)))
        self._chunk.append(chunk)
        self._label.append(label)
        self._comm.append(comm)
        before = set(d for d in deps if d >= 0)
        if ordered:
            prev = self._last.get((lane, int(stream)))
            if prev is not None:
                before.add(prev)
            self._last[(lane, int(stream))] = tid
        for d in sorted(before):
            self._edges_from.append(d)
            self._edges_to.append(tid)
        return tid

    def edge(self, before: int, after: int) -> None:
        """Make task ``after`` wait for task ``before`` too."""
        self._edges_from.append(before)
        self._edges_to.append(after)

    def last(self, lane: int, stream: Stream) -> int:
        """The latest task on a lane's stream (-1 if none)."""
        return self._last.get((lane, int(stream)), -1)

    def build(self) -> Program:
        """Freeze into a Program."""
        n = len(self._lane)
        src = np.array(self._edges_from, dtype=np.int64)
        dst = np.array(self._edges_to, dtype=np.int64)
        order = np.argsort(src, kind="stable")
        succ_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=succ_ptr[1:])
        return Program(
            lanes=list(self.lanes),
            kinds=list(self._kinds),
            categories=list(self._cats),
            lane=np.array(self._lane, dtype=np.int64),
            stream=np.array(self._stream, dtype=np.int64),
            kind=np.array(self._kind, dtype=np.int64),
            duration_s=np.array(self._duration, dtype=np.float64),
            category=np.array(self._category, dtype=np.int64),
            chunk=np.array(self._chunk, dtype=np.int64),
            label=list(self._label),
            comm=list(self._comm),
            succ_ptr=succ_ptr,
            succ=dst[order],
            n_deps=np.bincount(dst, minlength=n).astype(np.int64),
        )
