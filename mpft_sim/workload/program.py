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
from enum import IntEnum, StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["MARKERS", "WEIGHT_KINDS", "Category", "Comm", "JobInfo", "Lane", "Program",
           "ProgramBuilder", "Stream", "TaskKind"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
FlowSet = tuple[IntArray, IntArray, FloatArray]


class Stream(IntEnum):
    """A lane's streams."""

    COMPUTE = 0
    COMM = 1
    PP = 2


class TaskKind(StrEnum):
    """What a task does: the one vocabulary of task kinds that builders write, step statistics
    match and the report colours (a member equals its string, as in ops.csv)."""

    # training compute: attention and MLP, forward / backward-input / backward-weight
    ATTN_F = "attn_f"
    ATTN_B = "attn_b"
    ATTN_W = "attn_w"
    MLP_F = "mlp_f"
    MLP_B = "mlp_b"
    MLP_W = "mlp_w"
    W = "w"
    """A zero-bubble schedule's deferred weight-gradient item."""
    OPTIMIZER = "optimizer"
    # inference compute
    ATTN = "attn"
    ATTN0 = "attn0"
    """MLA down/up projections (DeepSeek's decode pipeline: ATTN-0)."""
    ATTN1 = "attn1"
    """Core attention, output projection and gate (ATTN-1)."""
    MLP = "mlp"
    SHARED = "shared"
    # communication
    DISPATCH = "dispatch"
    COMBINE = "combine"
    DISPATCH_BWD = "dispatch_bwd"
    """The backward of the dispatch: a combine-pattern transfer."""
    COMBINE_BWD = "combine_bwd"
    """The backward of the combine: a dispatch-pattern transfer."""
    PP_ACT = "pp_act"
    PP_GRAD = "pp_grad"
    GRAD_RS = "grad_rs"
    PARAM_AG = "param_ag"
    KV_CACHE = "kv_cache"
    NCCL_ALLTOALL = "nccl_alltoall"
    FLOWS = "flows"
    """A batch of a replayed flow list."""
    # zero-length synchronisation points and waits: not work
    ITEM_START = "item_start"
    ITEM_END = "item_end"
    RELEASE = "release"
    """Waiting for a replayed flow list's release time."""


MARKERS = frozenset({TaskKind.ITEM_START, TaskKind.ITEM_END, TaskKind.RELEASE})
"""Task kinds that mark time rather than do work (left out of breakdowns and timelines)."""

WEIGHT_KINDS = frozenset({TaskKind.MLP_W, TaskKind.ATTN_W, TaskKind.W})
"""Compute kinds that produce weight gradients."""


class Category(StrEnum):
    """Which part of a step a task belongs to (the rows of the step breakdown)."""

    NONE = ""
    FORWARD = "forward"
    BACKWARD = "backward"
    BACKWARD_INPUT = "backward_input"
    BACKWARD_WEIGHT = "backward_weight"
    OVERLAPPED = "overlapped"
    OPTIMIZER = "optimizer"
    KV = "kv"


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
    tags : tuple of str, optional
        A tag per flow, instead of ``tag`` for all (a replayed flow list).
    """

    tag: str
    flows: FlowSet
    route_key: Hashable | None = None
    extra_latency_s: float = 0.0
    logical_bytes: float = 0.0
    network_bytes: float = 0.0
    nvl_logical_bytes: float = 0.0
    forward: str | None = None
    tags: tuple[str, ...] | None = None


@dataclass
class Program:
    """An immutable task graph (see the module docstring).

    Per task: ``lane``, ``stream``, ``kind`` (index into ``kinds``), ``duration_s`` (compute),
    ``comm`` (or None), ``category`` (index into ``categories``: which part of the step it
    belongs to, F/B/W/FB/optimizer), ``chunk`` (the schedule item it belongs to, -1 if none),
    ``label``; successors in CSR form; ``n_deps`` predecessors each.
    """

    lanes: list[Lane]
    kinds: list[TaskKind]
    categories: list[Category]
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
class JobInfo:
    """What a job's builder says of it: its lanes (pipeline ranks x EP groups, or EP
    groups), the lanes of its step-end collectives, its GPUs, the tokens a step
    processes, and what else the summary should show (``info``)."""

    name: str
    kind: str
    lanes: list[int]
    """The job's main lanes (pipeline ranks x EP groups, or EP groups)."""
    step_lanes: list[int] = field(default_factory=list)
    """Lanes of step-end collectives."""
    gpus: int = 0
    tokens_per_step: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProgramBuilder:
    """Accumulates lanes and tasks; :meth:`build` freezes them into a :class:`Program`."""

    lanes: list[Lane] = field(default_factory=list)
    _kinds: dict[TaskKind, int] = field(default_factory=dict)
    _cats: dict[Category, int] = field(default_factory=dict)
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
        ``ordered``. Returns its id.

        Raises
        ------
        ValueError
            If ``kind`` is not a :class:`TaskKind` or ``category`` not a :class:`Category`
            (a builder bug).
        """
        tid = len(self._lane)
        kind, category = TaskKind(kind), Category(category)
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
