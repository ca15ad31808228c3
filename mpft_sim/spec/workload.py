"""Workload specs: what traffic to run on a fabric.

Four kinds: ``flows`` (replay a CSV of flows), ``training`` (one training step of a model
under a pipeline schedule with expert and data parallelism), ``inference`` (prefill or decode
steps), and ``jobs`` (several of those side by side on one fabric). See ``workloads/*.yaml`` and
``docs/workload.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from mpft_sim.errors import SpecError
from mpft_sim.spec.files import expect_kind
from mpft_sim.spec.limits import (
    MAX_GPUS,
    MAX_LAYERS,
    MAX_MICRO_BATCHES,
    MAX_MTP,
    MAX_NODES,
    MAX_REPEAT,
    MAX_SEED,
    MAX_SEQUENCE,
    MAX_SIZE,
    MAX_STEPS,
    MAX_TOKENS,
)
from mpft_sim.spec.loading import load_spec
from mpft_sim.spec.model import (
    ComputeSpec,
    ExpertLoadSpec,
    ModelSpec,
    OptimizerSpec,
    check_expert_weights,
    read_expert_loads,
)
from mpft_sim.spec.schema import Spec, check_name, option, read_yaml, source_field

__all__ = [
    "BatchSpec",
    "ExpertParallelSpec",
    "FlowsWorkloadSpec",
    "InferenceWorkloadSpec",
    "JobsWorkloadSpec",
    "KvTransferSpec",
    "LayoutSpec",
    "NcclAllToAllSpec",
    "TrainingWorkloadSpec",
    "WorkloadSpec",
    "load_workload",
    "workload_from_mapping",
]

Schedule = Literal["dualpipe", "dualpipev", "1f1b", "zb1p"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)
Kernel = Literal["normal", "low-latency"]
LlCrossPlane = Literal["bridged", "source", "destination"]


@dataclass(frozen=True)
class LayoutSpec(Spec):
    """How ranks are placed: rank = pp * dp + dp_index, dp_index = edp * ep + ep_index."""

    pp: int = option(default=1, ge=1, le=MAX_LAYERS, doc="pipeline-parallel ranks")
    dp: int = option(default=1, ge=1, le=MAX_GPUS,
                     doc="data-parallel replicas of the non-expert weights")
    ep: int = option(default=1, ge=1, le=MAX_GPUS, doc="expert-parallel group size (divides dp)")
    first_node: int = option(default=0, ge=0, le=MAX_NODES.value - 1,
                             doc="the job's first server")
    rank_map: str | None = option(default=None,
                                  doc="CSV of rank,gpu (global GPU rank or n<i>/gpu<j>)")

    @property
    def ranks(self) -> int:
        """GPUs the job uses."""
        return self.pp * self.dp

    def check(self) -> None:
        if self.dp % self.ep:
            raise SpecError(f"must divide dp ({self.dp})", ("ep",), self.ep)
        if self.ranks > MAX_GPUS.value:
            raise SpecError(f"pp x dp = {self.ranks:,} GPUs, more than {MAX_GPUS.value:,} "
                            f"({MAX_GPUS.why})", ("dp",), self.dp)


@dataclass(frozen=True)
class ExpertParallelSpec(Spec):
    """The expert-parallel all-to-all kernels (DeepEP)."""

    kernel: Kernel = option(default="normal",
                            doc="normal: RDMA to the same-index GPU, then NVLink; "
                                "low-latency: direct per expert")
    cross_plane: LlCrossPlane = option(
        default="destination",
        doc="low-latency on a multi-plane fabric: bridged (needs planes joined, as in a "
            "multi-rail tree), source (NVLink then the destination's plane), destination")
    channels: int = option(default=10, ge=1, le=1024, doc="DeepEP channels (SMs / 2)")
    nvlink_local: bool = option(default=True,
                                doc="low-latency: same-node peers over NVLink (DeepEP #173)")
    nvlink_efficiency: float = option(
        default=0.84, gt=0, le=1,
        doc="normal kernels: fraction of the NVLink bandwidth their SM copies reach (DeepEP's "
            "intranode 153 GB/s counts 1/8 self-copies: 153 x 7/8 / 160 = 0.84)")


@dataclass(frozen=True)
class BatchSpec(Spec):
    """Tokens per micro-batch and micro-batches per step."""

    tokens: int = option(default=4096, ge=1, le=MAX_TOKENS, doc="tokens per micro-batch per GPU")
    micro_batches: int = option(default=8, ge=1, le=MAX_MICRO_BATCHES,
                                doc="per pipeline per step (num_chunks)")
    sequence: int = option(default=4096, ge=1, le=MAX_SEQUENCE,
                           doc="sequence length (attention FLOPs)")


def _relative_path(base: Path, value: str | None) -> str | None:
    return None if value is None else str(base / value)


@dataclass(frozen=True)
class TrainingWorkloadSpec(Spec):
    """One training step: pipeline schedule x expert parallel x ZeRO-1 data parallel."""

    name: str = option(check=check_name, doc="short name used in reports")
    kind: Literal["training"] = option(doc="training")
    description: str = option(default="")
    seed: int = option(default=0, ge=0, le=MAX_SEED, doc="seeds routing samples")
    model: ModelSpec = field(default_factory=ModelSpec)
    layout: LayoutSpec = field(default_factory=LayoutSpec)
    batch: BatchSpec = field(default_factory=BatchSpec)
    schedule: Schedule = option(default="dualpipe", doc=", ".join(SCHEDULES))
    pipeline_sync: Literal["item", "layer"] = option(
        default="item",
        doc="item: a schedule item starts once all its inputs have arrived and sends its outputs "
            "when it ends (the reference code; the published bubbles); layer: the forward and "
            "backward halves of an overlapped pair each wait for, and send, their own tensor")
    expert_parallel: ExpertParallelSpec = field(default_factory=ExpertParallelSpec)
    expert_load: ExpertLoadSpec = field(default_factory=ExpertLoadSpec)
    compute: ComputeSpec = field(default_factory=ComputeSpec)
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    source: str | None = source_field()

    def check(self) -> None:
        lay, m = self.layout, self.model
        if m.experts % lay.ep:
            raise SpecError(f"must divide the {m.experts} routed experts", ("layout", "ep"),
                            lay.ep)
        if self.schedule == "dualpipe" and lay.pp % 2:
            raise SpecError("dualpipe needs an even number of pipeline ranks", ("layout", "pp"),
                            lay.pp)
        stages = 2 * lay.pp if self.schedule == "dualpipev" else lay.pp  # DualPipeV: a V
        if m.layers < stages:
            raise SpecError(f"fewer layers than the {stages} pipeline stages",
                            ("model", "layers"), m.layers)
        check_expert_weights(self.expert_load, m)
        need = {"dualpipe": 2 * lay.pp, "dualpipev": 2 * lay.pp}.get(self.schedule, lay.pp)
        mb = self.batch.micro_batches
        if mb < need or (self.schedule == "dualpipe" and mb % 2):
            even = " and even" if self.schedule == "dualpipe" else ""
            raise SpecError(f"{self.schedule} with pp={lay.pp} needs at least {need}{even} "
                            "micro-batches", ("batch", "micro_batches"), mb)
        if self.expert_parallel.kernel == "low-latency":
            raise SpecError("training uses the normal kernels", ("expert_parallel", "kernel"),
                            "low-latency")


@dataclass(frozen=True)
class KvTransferSpec(Spec):
    """Prefill/decode disaggregation: KV caches arriving from prefill servers."""

    first_node: int = option(ge=0, le=MAX_NODES.value - 1,
                             doc="first prefill server sending KV caches")
    nodes: int = option(default=1, ge=1, le=MAX_NODES, doc="prefill servers sending")
    requests_per_step: int = option(default=1, ge=0, le=MAX_TOKENS,
                                    doc="new requests whose cache arrives during each step")
    prompt_tokens: int = option(default=4096, ge=1, le=MAX_SEQUENCE)


@dataclass(frozen=True)
class InferenceWorkloadSpec(Spec):
    """Prefill or decode steps with two-micro-batch overlap."""

    name: str = option(check=check_name, doc="short name used in reports")
    kind: Literal["inference"] = option(doc="inference")
    phase: Literal["prefill", "decode"] = option(doc="prefill or decode")
    description: str = option(default="")
    seed: int = option(default=0, ge=0, le=MAX_SEED)
    model: ModelSpec = field(default_factory=ModelSpec)
    layout: LayoutSpec = field(default_factory=LayoutSpec)
    tokens_per_gpu: int = option(default=128, ge=1, le=MAX_TOKENS,
                                 doc="prefill: tokens per GPU per step; decode: requests per GPU")
    micro_batches: int = option(default=2, ge=1, le=2,
                                doc="2: two micro-batches overlap compute and communication")
    context: int = option(default=4096, ge=1, le=MAX_SEQUENCE,
                          doc="prompt / KV-cache length per request")
    mtp_accepted: float = option(default=0.0, ge=0, le=MAX_MTP,
                                 doc="decode: MTP draft tokens accepted per step per request")
    steps: int = option(default=1, ge=1, le=MAX_STEPS, doc="consecutive steps to simulate")
    shared_as_routed: bool = option(default=False,
                                    doc="decode: the shared expert is a routed destination")
    expert_parallel: ExpertParallelSpec = field(default_factory=ExpertParallelSpec)
    expert_load: ExpertLoadSpec = field(default_factory=ExpertLoadSpec)
    compute: ComputeSpec = field(default_factory=ComputeSpec)
    kv_transfer: KvTransferSpec | None = option(default=None)
    source: str | None = source_field()

    def check(self) -> None:
        lay = self.layout
        if lay.pp != 1:
            raise SpecError("inference runs without pipeline parallelism", ("layout", "pp"),
                            lay.pp)
        check_expert_weights(self.expert_load, self.model)
        slots = self.model.experts + self.expert_load.redundant_experts + (
            1 if self.shared_as_routed else 0)
        if slots % lay.ep and slots >= lay.ep:
            raise SpecError(f"must divide the {slots} expert slots (routed + redundant"
                            f"{' + shared' if self.shared_as_routed else ''}), or exceed them",
                            ("layout", "ep"), lay.ep)


@dataclass(frozen=True)
class NcclAllToAllSpec(Spec):
    """An NCCL all-to-all (grouped send/recv with PXN) among a set of GPUs."""

    name: str = option(check=check_name, doc="short name used in reports")
    kind: Literal["nccl-alltoall"] = option(doc="nccl-alltoall")
    gpus: int = option(ge=2, le=MAX_GPUS, doc="participating GPUs, from first_node on")
    message_bytes: float = option(key="message", unit="size", gt=0, le=MAX_SIZE,
                                  doc="bytes each GPU sends to each other GPU")
    description: str = option(default="")
    first_node: int = option(default=0, ge=0, le=MAX_NODES.value - 1)
    repeat: int = option(default=1, ge=1, le=MAX_REPEAT, doc="back-to-back all-to-alls")
    pxn: bool = option(default=True, doc="NCCL PXN: forward over NVLink to the peer's rail")
    source: str | None = source_field()


@dataclass(frozen=True)
class FlowsWorkloadSpec(Spec):
    """Replay a list of flows from a CSV file (``src,dst,size,start[,tag]``)."""

    name: str = option(check=check_name, doc="short name used in reports")
    kind: Literal["flows"] = option(doc="flows")
    flows: str = option(doc="CSV file; a relative path starts at the YAML file's folder")
    description: str = option(default="", doc="free text")
    source: str | None = source_field()


JobSpec = TrainingWorkloadSpec | InferenceWorkloadSpec | NcclAllToAllSpec


@dataclass(frozen=True)
class JobsWorkloadSpec(Spec):
    """Several jobs sharing one fabric, each on its own servers (``layout.first_node``)."""

    name: str = option(check=check_name, doc="short name used in reports")
    kind: Literal["jobs"] = option(doc="jobs")
    jobs: tuple[JobSpec, ...] = option(doc="job specs (training, inference or nccl-alltoall)")
    description: str = option(default="")
    source: str | None = source_field()

    def check(self) -> None:
        if not self.jobs:
            raise SpecError("expected a non-empty list of jobs", ("jobs",), list(self.jobs))
        names = [job.name for job in self.jobs]
        if len(set(names)) != len(names):
            raise SpecError("two jobs share a name", ("jobs",), names)


WorkloadSpec = (TrainingWorkloadSpec | InferenceWorkloadSpec | NcclAllToAllSpec
                | FlowsWorkloadSpec | JobsWorkloadSpec)

_KINDS: dict[str, type[Spec]] = {
    "training": TrainingWorkloadSpec,
    "inference": InferenceWorkloadSpec,
    "nccl-alltoall": NcclAllToAllSpec,
    "flows": FlowsWorkloadSpec,
    "jobs": JobsWorkloadSpec,
}
_JOB_KINDS = ("training", "inference", "nccl-alltoall")


def _load_one(data: Any, file: str, base: Path, key: tuple[str | int, ...] = (),
              allowed: tuple[str, ...] = tuple(_KINDS)) -> Any:
    if not isinstance(data, dict):
        raise SpecError("expected a mapping of keys", key, file=file)
    kind = data.get("kind")
    if kind is None:
        raise SpecError("missing required key", (*key, "kind"), file=file)
    if not isinstance(kind, str) or kind not in allowed:
        raise SpecError(f"must be one of {', '.join(map(repr, allowed))}", (*key, "kind"),
                        kind, file=file)
    if kind == "jobs":
        jobs = data.get("jobs")
        if not isinstance(jobs, list) or not jobs:
            raise SpecError("expected a non-empty list of jobs", (*key, "jobs"), jobs,
                            file=file)
        loaded = [_load_one(j, file, base, (*key, "jobs", i), _JOB_KINDS)
                  for i, j in enumerate(jobs)]
        return load_spec(JobsWorkloadSpec, {**data, "jobs": loaded}, file=file, key=key)
    spec = load_spec(_KINDS[kind], data, file=file, key=key)
    if isinstance(spec, FlowsWorkloadSpec):
        return dataclasses.replace(spec, flows=str(base / spec.flows))
    if isinstance(spec, TrainingWorkloadSpec | InferenceWorkloadSpec):
        lay = dataclasses.replace(spec.layout,
                                  rank_map=_relative_path(base, spec.layout.rank_map))
        load = dataclasses.replace(spec.expert_load,
                                   file=_relative_path(base, spec.expert_load.file))
        if load.file is not None and not load.weights:
            try:
                load = dataclasses.replace(load, weights=read_expert_loads(
                    load.file, spec.model.experts))
            except SpecError as exc:
                raise exc.within(prefix=(*key, "expert_load", "file")
                                 if exc.file is None else ()) from None
        return dataclasses.replace(spec, layout=lay, expert_load=load)
    return spec


def workload_from_mapping(data: Any, file: str, base: str | Path) -> WorkloadSpec:
    """Validate a workload given as a raw mapping (a workload file's YAML, perhaps edited).

    Parameters
    ----------
    data : mapping
        The parsed YAML.
    file : str
        The file it came from, for messages and the spec's ``source``.
    base : str or Path
        The folder relative file names in it (flows, rank map, expert loads) start from.

    Raises
    ------
    SpecError
        Naming the file, the key path and the bad value.
    """
    spec: WorkloadSpec = _load_one(data, file, Path(base))
    return spec


def load_workload(path: str | Path) -> WorkloadSpec:
    """Load and validate a workload YAML file; relative file paths in it are resolved.

    Raises
    ------
    SpecError
        Naming the file, the key path and the bad value.
    """
    data = read_yaml(path)
    expect_kind(data, "workload", str(path))
    return workload_from_mapping(data, str(path), Path(path).parent)
