"""What a run's numbers say, as frozen records: :class:`RunSummary` and what it holds.

A summary is computed once, when the run's :class:`~mpft_sim.results.result.Result` is built,
and is what summary.json holds (:meth:`RunSummary.to_dict`); :meth:`RunSummary.from_dict`
reads it back, checked key by key, so a report drawn from a run directory and one drawn from
memory read the same object.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args, get_origin

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import SpecError
from mpft_sim.topology.cost import BillOfMaterials

__all__ = ["AllToAllStats", "Breakdown", "EngineStats", "FabricInfo", "FctCdf", "HotLink",
           "JobSummary",
           "LinkUse", "NcclStats", "Provenance", "Quantiles", "RunInfo", "RunSummary",
           "from_plain", "to_plain"]

FloatArray = NDArray[np.float64]
T = TypeVar("T")


@dataclass(frozen=True)
class Quantiles:
    """Median, 99th percentile, maximum and mean of a per-flow figure."""

    p50: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: FloatArray) -> Quantiles:
        """The quantiles of ``values`` (all zero when there are none)."""
        if len(values) == 0:
            return cls(0.0, 0.0, 0.0, 0.0)
        p50, p99 = np.percentile(values, [50, 99])
        return cls(float(p50), float(p99), float(values.max()), float(values.mean()))


@dataclass(frozen=True)
class FctCdf:
    """Quantiles ``q`` of flow completion time and slowdown: enough to draw both CDFs without
    the flows."""

    q: tuple[float, ...]
    fct_s: tuple[float, ...]
    slowdown: tuple[float, ...]

    @classmethod
    def of(cls, fct: FloatArray, slowdown: FloatArray, points: int = 201) -> FctCdf:
        """The CDFs of ``fct`` and ``slowdown`` at ``points`` evenly spaced quantiles."""
        q = np.linspace(0.0, 1.0, points)
        if len(fct) == 0:
            return cls(tuple(q.tolist()), (0.0,) * points, (1.0,) * points)
        return cls(tuple(q.tolist()), tuple(np.quantile(fct, q).tolist()),
                   tuple(np.quantile(slowdown, q).tolist()))

    def __post_init__(self) -> None:
        if not len(self.q) == len(self.fct_s) == len(self.slowdown) or len(self.q) < 2:
            raise SpecError("expected q, fct_s and slowdown of one length (at least 2)",
                            ("fct_cdf",))


@dataclass(frozen=True)
class LinkUse:
    """How hard a group of links (a plane, or a tier) worked.

    ``mean``: bytes carried over (capacity x makespan), over all the group's links;
    ``peak``: the highest load over capacity any of them reached; ``bytes``: what they
    carried. Over the links that carried traffic: ``hot``, the mean share of the run they
    spent at or above 90% of capacity; ``p99_mean``, the 99th percentile of their mean
    utilisation (a tier whose few links run hot shows here, not in the mean).
    """

    mean: float
    peak: float
    bytes: float
    hot: float = 0.0
    p99_mean: float = 0.0


@dataclass(frozen=True)
class HotLink:
    """One of the links that spent longest at full capacity."""

    id: int
    link: str
    tier: str
    plane: int | None
    saturated_s: float
    mean_util: float
    bytes: float


@dataclass(frozen=True)
class EngineStats:
    """What the fluid engine did: re-solves of max-min rates, and flows re-solved in all."""

    solves: int = 0
    flows_resolved: int = 0


@dataclass(frozen=True)
class Breakdown:
    """Where a training step's time went (mean over the job's lanes); the six add up to the
    step time. See :mod:`mpft_sim.results.steps`."""

    forward_s: float
    bubble_s: float
    backward_input_s: float
    backward_weight_s: float
    overlapped_s: float
    optimizer_s: float

    def total_s(self) -> float:
        """The sum of the rows: the step time."""
        return sum(float(getattr(self, f.name)) for f in dataclasses.fields(self))


@dataclass(frozen=True)
class AllToAllStats:
    """One DeepEP kernel's calls (dispatch, or combine; backward ones counted with the kernel
    they run): count, mean and p99 duration, per-GPU bandwidth counting the bytes put on the
    network and, separately, in DeepEP's own definitions (its test's printed figures, see
    docs/workload.md): ``logical`` its headline (bottleneck) figure -- RDMA bytes between
    servers, NVLink bytes inside one -- and ``logical_nvl`` its NVLink figure."""

    count: int
    mean_s: float
    p99_s: float
    network_Bps_per_gpu: float
    logical_Bps_per_gpu: float
    network_bytes_per_gpu: float
    logical_nvl_Bps_per_gpu: float = 0.0


@dataclass(frozen=True)
class NcclStats:
    """NCCL all-to-alls: mean and longest time, and algorithm bandwidth per GPU
    (``message x (gpus - 1) / time``)."""

    mean_s: float
    max_s: float
    algbw_Bps_per_gpu: float


@dataclass(frozen=True)
class JobSummary:
    """One job's step.

    ``step_time_s`` is per step (an inference job's steps are averaged); ``exposed_comm_s``
    the mean over its lanes of the time a transfer is in flight and nothing computes.
    ``breakdown`` is for training, ``tpot_s`` for decode, ``nccl`` for NCCL all-to-alls;
    ``info`` is what the job's builder said of it (layout, tokens, ...).
    """

    name: str
    kind: str
    gpus: int
    step_time_s: float
    exposed_comm_s: float
    alltoall: Mapping[str, AllToAllStats] = field(default_factory=dict)
    breakdown: Breakdown | None = None
    tokens_per_s: float | None = None
    tpot_s: float | None = None
    nccl: NcclStats | None = None
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FabricInfo:
    """The shape of the fabric a run used, and its links' packet overhead: what the report
    states and what an export to a packet-level simulator rebuilds (``mpft-sim export``).

    The tree is one plane's (every plane has the same): ``leaf_down`` and ``leaf_up`` ports
    of a leaf, ``leaves`` and ``spines`` (aggregation switches in three tiers) per plane,
    ``parallel`` cables between a leaf and each spine (two tiers), ``pods``, ``cores`` and
    ``core_parallel`` cables between a spine and each core of its group (three tiers).
    """

    kind: str
    planes: int
    tiers: int
    radix: int
    leaf_down: int
    leaf_up: int
    leaves: int
    spines: int
    parallel: int
    pods: int
    cores: int
    core_parallel: int
    transport: str
    mtu_bytes: int
    header_bytes: int
    ack: bool

    @property
    def goodput(self) -> float:
        """Payload over wire bytes of a full packet on the switched links."""
        return self.mtu_bytes / (self.mtu_bytes + self.header_bytes)


@dataclass(frozen=True)
class RunInfo:
    """What ran: the inputs and the run options (the same for the same inputs and seed)."""

    topology: str
    workload: str
    workload_kind: str
    model: str
    seed: int
    tolerance: float
    routing: str
    cross_plane: str
    failures: tuple[str, ...]
    gpus_per_node: int
    topology_file: str | None = None
    topology_sha256: str | None = None
    workload_file: str | None = None
    workload_sha256: str | None = None
    fabric: FabricInfo | None = None
    """None in a run directory written before it was recorded."""


@dataclass(frozen=True)
class Provenance:
    """Which mpft-sim made a run, how long it took and how much memory the process used at
    its peak: the one part of a summary that changes from run to run."""

    mpft_sim: str
    python: str
    wall_s: float
    peak_rss_bytes: int


@dataclass(frozen=True)
class RunSummary:
    """The headline numbers of a run (what summary.json holds).

    Attributes
    ----------
    info : RunInfo
        What ran.
    makespan_s : float
        From the first release to the last completion.
    flows, bytes : int, float
        How many flows, and the bytes they moved.
    fct_s, slowdown : Quantiles
        Flow completion time, and completion time over the time alone on an idle network.
    fct_cdf : FctCdf
        Their distributions.
    by_plane, by_tier : mapping of str to LinkUse
        Utilisation of the switched links per plane (``"0"``, ``"1"`` ...) and per tier (the
        switched tiers, and ``node`` for the links inside servers).
    hottest_links : tuple of HotLink
        The links longest at full capacity, then by bytes.
    engine : EngineStats
    cost : BillOfMaterials
        The design's bill of materials and cost.
    jobs : tuple of JobSummary
        One per job (none for a flow list).
    provenance : Provenance
    """

    info: RunInfo
    makespan_s: float
    flows: int
    bytes: float
    fct_s: Quantiles
    slowdown: Quantiles
    fct_cdf: FctCdf
    by_plane: Mapping[str, LinkUse]
    by_tier: Mapping[str, LinkUse]
    hottest_links: tuple[HotLink, ...]
    engine: EngineStats
    cost: BillOfMaterials
    jobs: tuple[JobSummary, ...]
    provenance: Provenance

    @property
    def job(self) -> JobSummary:
        """The run's only job.

        Raises
        ------
        ValueError
            If the run has no job (a flow list) or several.
        """
        if len(self.jobs) != 1:
            raise ValueError(f"this run has {len(self.jobs)} jobs; use .jobs")
        return self.jobs[0]

    @property
    def slowest(self) -> JobSummary | None:
        """The job with the longest step (None for a flow list)."""
        return max(self.jobs, key=lambda j: j.step_time_s) if self.jobs else None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for summary.json."""
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Any, file: str | None = None) -> RunSummary:
        """Read a summary back from plain data, checked key by key.

        Raises
        ------
        SpecError
            Naming ``file`` and the key path of the first value that does not fit.
        """
        try:
            return from_plain(cls, data)
        except SpecError as exc:
            raise exc.within(file) from None


def to_plain(value: Any) -> Any:
    """A summary record as JSON-ready data: dataclasses as mappings, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def from_plain(cls: type[T], data: Any, key: tuple[str | int, ...] = ()) -> T:
    """Build the record ``cls`` from plain data, checking each value against its field's type.

    Raises
    ------
    SpecError
        With the key path of the first value that does not fit.
    """
    return typing.cast(T, _convert(cls, data, key))


def _convert(tp: Any, value: Any, key: tuple[str | int, ...]) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (types.UnionType, typing.Union):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(get_args(tp)):
            return None
        return _convert(args[0], value, key)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise SpecError("expected a mapping", key, _short(value))
        hints = typing.get_type_hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name not in value:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise SpecError("missing required key", (*key, f.name))
                continue
            kwargs[f.name] = _convert(hints[f.name], value[f.name], (*key, f.name))
        return typing.cast(Any, tp)(**kwargs)
    if origin is tuple:
        if not isinstance(value, list):
            raise SpecError("expected a list", key, _short(value))
        item = get_args(tp)[0]
        return tuple(_convert(item, v, (*key, i)) for i, v in enumerate(value))
    if origin in (Mapping, dict) or tp is dict:
        if not isinstance(value, Mapping):
            raise SpecError("expected a mapping", key, _short(value))
        item = get_args(tp)[1] if get_args(tp) else Any
        return {str(k): _convert(item, v, (*key, str(k))) for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            raise SpecError("expected a finite number", key, _short(value))
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError("expected a whole number", key, _short(value))
        return value
    if tp is str:
        if not isinstance(value, str):
            raise SpecError("expected a string", key, _short(value))
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise SpecError("expected true or false", key, _short(value))
        return value
    raise TypeError(f"unsupported record field type {tp}")  # a bug in a record class


def _short(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value if not isinstance(value, str) or len(value) <= 60 else value[:57] + "..."
    return f"<{type(value).__name__}>"

