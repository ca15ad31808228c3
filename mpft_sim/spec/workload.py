"""Workload specs: what traffic to run on a fabric.

Four kinds: ``flows`` (replay a CSV of flows), ``training`` (one training step of a model
under a pipeline schedule with expert and data parallelism), ``inference`` (prefill or decode
steps), and ``jobs`` (several of those side by side on one fabric). See ``workloads/*.yaml`` and
``docs/workload.md``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from mpft_sim.errors import SpecError
from mpft_sim.spec.files import read_text
from mpft_sim.spec.limits import (
    MAX_BANDWIDTH,
    MAX_CSV_BYTES,
    MAX_DURATION,
    MAX_ELEMENT_BYTES,
    MAX_EXPERTS,
    MAX_FLOPS,
    MAX_GPUS,
    MAX_LAYERS,
    MAX_MICRO_BATCHES,
    MAX_MODEL_WIDTH,
    MAX_MTP,
    MAX_NODES,
    MAX_REPEAT,
    MAX_SAMPLES,
    MAX_SEED,
    MAX_SEQUENCE,
    MAX_SIZE,
    MAX_STEPS,
    MAX_TOKENS,
    MAX_VOCAB,
    MAX_ZIPF,
)
from mpft_sim.spec.schema import Spec, check_name, load_spec, option, read_yaml, source_field

__all__ = [
    "DURATION_COMPONENTS",
    "OPERATORS",
    "PASSES",
    "AttentionSpec",
    "BatchSpec",
    "ComputeSpec",
    "ExpertLoadSpec",
    "ExpertParallelSpec",
    "FlowsWorkloadSpec",
    "InferenceWorkloadSpec",
    "JobsWorkloadSpec",
    "KvTransferSpec",
    "LayoutSpec",
    "ModelSpec",
    "NcclAllToAllSpec",
    "OptimizerSpec",
    "TrainingWorkloadSpec",
    "WorkloadSpec",
    "load_workload",
    "workload_from_mapping",
]

Dtype = Literal["fp8", "bf16"]
Schedule = Literal["dualpipe", "dualpipev", "1f1b", "zb1p"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)
Kernel = Literal["normal", "low-latency"]
LlCrossPlane = Literal["bridged", "source", "destination"]
LoadShape = Literal["uniform", "balanced", "zipf", "file"]
# The operators of a layer the compute model times, in execution order (the dense layers' MLP
# replaces the routed and shared experts and has no gate), and their passes: the names
# compute.efficiencies and compute.durations accept (mpft_sim.workload.compute models them).
Pass = Literal["forward", "backward_input", "backward_weight"]
PASSES: tuple[Pass, ...] = ("forward", "backward_input", "backward_weight")
OPERATORS: tuple[str, ...] = (
    "attn_norm", "q_down", "kv_down", "q_norm", "kv_norm", "q_up", "kv_up", "attn_core",
    "o_proj", "mlp_norm", "gate", "routed_up", "swiglu", "routed_down", "shared_up",
    "shared_swiglu", "shared_down", "dense_up", "dense_swiglu", "dense_down")
# the components compute.durations may time besides each operator and pass (the JSON Schema
# lists them too)
DURATION_COMPONENTS: tuple[str, ...] = (
    "attention_forward", "attention_backward_input", "attention_backward_weight", "mlp_forward",
    "mlp_backward_input", "mlp_backward_weight", "shared_forward", "optimizer",
    "attention0_forward", "attention1_forward")


@dataclass(frozen=True)
class AttentionSpec(Spec):
    """Multi-head latent attention (MLA) sizes, for the FLOP model."""

    heads: int = option(default=128, ge=1, le=MAX_MODEL_WIDTH)
    q_lora_rank: int = option(default=1536, ge=0, le=MAX_MODEL_WIDTH,
                              doc="0: no query compression")
    kv_lora_rank: int = option(default=512, ge=1, le=MAX_MODEL_WIDTH)
    qk_nope_head_dim: int = option(default=128, ge=1, le=MAX_MODEL_WIDTH)
    qk_rope_head_dim: int = option(default=64, ge=0, le=MAX_MODEL_WIDTH)
    v_head_dim: int = option(default=128, ge=1, le=MAX_MODEL_WIDTH)

    def params(self, hidden: int) -> int:
        """Weights of one attention block."""
        qk = self.qk_nope_head_dim + self.qk_rope_head_dim
        q = (hidden * self.q_lora_rank + self.q_lora_rank * self.heads * qk
             if self.q_lora_rank else hidden * self.heads * qk)
        kv = hidden * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank * (
            self.heads * (self.qk_nope_head_dim + self.v_head_dim))
        return q + kv + self.heads * self.v_head_dim * hidden


@dataclass(frozen=True)
class ModelSpec(Spec):
    """A DeepSeek-V3-style MoE transformer (defaults: DeepSeek-V3)."""

    layers: int = option(default=61, ge=1, le=MAX_LAYERS)
    dense_layers: int = option(default=3, ge=0, le=MAX_LAYERS,
                               doc="leading layers with a dense MLP")
    hidden: int = option(default=7168, ge=1, le=MAX_MODEL_WIDTH)
    experts: int = option(default=256, ge=1, le=MAX_EXPERTS, doc="routed experts per MoE layer")
    shared_experts: int = option(default=1, ge=0, le=MAX_EXPERTS)
    top_k: int = option(default=8, ge=1, le=MAX_EXPERTS, doc="routed experts per token")
    expert_groups: int = option(default=8, ge=1, le=MAX_EXPERTS,
                                doc="groups of experts (node-limited routing)")
    groups_per_token: int = option(default=4, ge=1, le=MAX_EXPERTS,
                                   doc="groups a token may use (M)")
    expert_hidden: int = option(default=2048, ge=1, le=MAX_MODEL_WIDTH,
                                doc="intermediate size of an expert")
    dense_hidden: int = option(default=18432, ge=1, le=MAX_MODEL_WIDTH,
                               doc="intermediate size of a dense MLP")
    vocab: int = option(default=129280, ge=1, le=MAX_VOCAB)
    attention: AttentionSpec = field(default_factory=AttentionSpec)
    dispatch_dtype: Dtype = option(default="fp8", doc="dispatch: fp8 (with scales) or bf16")
    combine_dtype: Dtype = option(default="bf16", doc="combine: bf16")
    activation_bytes: int = option(default=2, ge=1, le=MAX_ELEMENT_BYTES,
                                   doc="bytes per element of pipeline activations (bf16: 2)")
    kv_bytes_per_token: float = option(unit="size", default=70272.0, gt=0, le=MAX_SIZE,
                                       doc="compressed KV cache per token, all layers")

    @property
    def moe_layers(self) -> int:
        """Layers with routed experts."""
        return self.layers - self.dense_layers

    def check(self) -> None:
        if self.dense_layers > self.layers:
            raise SpecError(f"must be at most the {self.layers} layers", ("dense_layers",),
                            self.dense_layers)
        if self.experts % self.expert_groups:
            raise SpecError(f"must divide the {self.experts} experts", ("expert_groups",),
                            self.expert_groups)
        if self.groups_per_token > self.expert_groups:
            raise SpecError(f"must be at most the {self.expert_groups} expert groups",
                            ("groups_per_token",), self.groups_per_token)
        if self.top_k > self.experts:
            raise SpecError(f"must be at most the {self.experts} experts", ("top_k",),
                            self.top_k)
        if self.top_k % self.groups_per_token:
            raise SpecError(f"must be a multiple of groups_per_token ({self.groups_per_token})"
                            ": a group's score is the sum of its top top_k/groups_per_token",
                            ("top_k",), self.top_k)
        if self.top_k > self.groups_per_token * (self.experts // self.expert_groups):
            raise SpecError("more than the experts of groups_per_token groups", ("top_k",),
                            self.top_k)


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
class ExpertLoadSpec(Spec):
    """How tokens pick experts."""

    distribution: LoadShape = option(default="uniform",
                                     doc="uniform, balanced (every expert the same), zipf, file")
    zipf_exponent: float = option(default=1.0, gt=0, le=MAX_ZIPF)
    file: str | None = option(default=None, doc="CSV of per-expert relative loads")
    weights: tuple[float, ...] = option(default=(), ge=0,
                                        doc="relative per-expert loads inline (distribution: "
                                            "file), or read from file")
    redundant_experts: int = option(default=0, ge=0, le=MAX_EXPERTS,
                                    doc="extra expert slots placed by EPLB")
    samples: int = option(default=8, ge=1, le=MAX_SAMPLES,
                          doc="routing samples per GPU drawn once and reused across layers "
                              "and micro-batches")

    def check(self) -> None:
        given = self.file is not None or bool(self.weights)
        if (self.distribution == "file") != given:
            raise SpecError("give file (or weights) exactly when distribution is 'file'",
                            ("file",), self.file)
        if self.weights:
            problem = _loads_problem(self.weights)
            if problem:
                raise SpecError(problem, ("weights",), self.weights)


def _loads_problem(loads: tuple[float, ...]) -> str | None:
    """What makes relative loads unusable (gating divides by their sum), or None."""
    total = math.fsum(loads)
    if total == 0:
        return "every load is zero: at least one expert must get tokens"
    if not math.isfinite(total):
        return "the loads add up to more than a float holds: scale them down"
    return None


def read_expert_loads(path: str, experts: int) -> tuple[float, ...]:
    """Per-expert relative loads from a CSV ``expert,load`` with one row per expert.

    Raises
    ------
    SpecError
        Naming the file and row of a bad value, or the first expert without a row.
    """
    import csv

    rows = list(csv.reader(read_text(path, MAX_CSV_BYTES, "expert loads").splitlines()))
    if not rows or [c.strip() for c in rows[0]] != ["expert", "load"]:
        raise SpecError("the header must be expert,load", ("row 1",),
                        ",".join(rows[0]) if rows else "", file=path)
    loads = [float("nan")] * experts
    for no, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            e, load = int(row[0]), float(row[1])
        except (ValueError, IndexError):
            raise SpecError("expected expert,load", (f"row {no}",), ",".join(row),
                            file=path) from None
        if not 0 <= e < experts:
            raise SpecError(f"expert: the model has {experts} experts", (f"row {no}",), e,
                            file=path)
        if not load >= 0:
            raise SpecError("load must be non-negative", (f"row {no}",), row[1], file=path)
        if not math.isfinite(load):
            raise SpecError("load must be a finite number", (f"row {no}",), row[1], file=path)
        if not math.isnan(loads[e]):
            raise SpecError(f"expert {e} has a second row", (f"row {no}",), ",".join(row),
                            file=path)
        loads[e] = load
    missing = [e for e, w in enumerate(loads) if w != w]
    if missing:
        raise SpecError(f"expert {missing[0]} has no row ({len(missing)} missing)", file=path)
    problem = _loads_problem(tuple(loads))
    if problem:
        raise SpecError(problem, file=path)
    return tuple(loads)


def _check_weights(load: ExpertLoadSpec, model: ModelSpec) -> None:
    if load.weights and len(load.weights) != model.experts:
        raise SpecError(f"needs one load per routed expert ({model.experts})",
                        ("expert_load", "weights"), len(load.weights))


@dataclass(frozen=True)
class ComputeSpec(Spec):
    """How long compute takes: per operator from FLOPs and bytes, or given durations."""

    peak_flops: float = option(key="peak", unit="flops", default=989e12, gt=0, le=MAX_FLOPS,
                               doc="dense BF16 peak per GPU (H800: 989 TFLOP/s)")
    fp8: bool = option(default=True, doc="expert and attention GEMMs run in FP8 (2x peak)")
    efficiency: float = option(default=0.45, gt=0, le=1,
                               doc="kernel speed: every operator runs at its measured fraction "
                                   "of peak (DeepSeek's V3 profile) x efficiency / 0.42, so "
                                   "0.42 is the profile; decode and the optimizer update run "
                                   "at this fraction of peak")
    efficiencies: dict[str, float] = option(
        default_factory=dict,
        doc="an operator's fraction of peak outright, per operator (q_up) or operator and pass "
            "(q_up.backward_input); see docs/workload.md for the operators")
    per_operator: bool = option(default=True,
                                doc="false: every operator at efficiency (one-efficiency "
                                    "roofline) instead of its measured fraction")
    recompute: bool = option(default=True,
                             doc="the backward reruns RMSNorm, the MLA up-projections and "
                                 "SwiGLU (DeepSeek-V3) instead of keeping their outputs")
    sm_fraction: float = option(default=112 / 132, gt=0, le=1,
                                doc="SMs left for compute while communication kernels run")
    memory_bandwidth_Bps: float = option(key="memory_bandwidth", unit="bandwidth",
                                         default=3.35e12, gt=0, le=MAX_BANDWIDTH,
                                         doc="HBM (H800: 3.35 TB/s)")
    durations: dict[str, str] = option(
        default_factory=dict,
        doc="explicit durations per component (attention_forward, attention_backward_input, "
            "attention_backward_weight, mlp_forward, mlp_backward_input, mlp_backward_weight, "
            "shared_forward, optimizer) or operator and pass (q_up_backward_input), such as "
            "1.2ms")

    def check(self) -> None:
        from mpft_sim.units import UnitError, parse_quantity

        operators = {f"{op}_{p}" for op in OPERATORS for p in PASSES}
        for key, value in self.durations.items():
            if key not in DURATION_COMPONENTS and key not in operators:
                known = ", ".join(sorted(DURATION_COMPONENTS))
                raise SpecError(f"unknown component (known: {known}; or an operator and pass, "
                                "such as q_up_backward_input)", ("durations", key))
            try:
                seconds = parse_quantity(value, "time")
            except UnitError as exc:
                raise SpecError(str(exc), ("durations", key), value) from None
            if not 0 <= seconds <= MAX_DURATION.value:
                what = ("must be non-negative" if seconds < 0 else
                        f"must be at most {MAX_DURATION.value:,.0f} s ({MAX_DURATION.why})")
                raise SpecError(what, ("durations", key), value)
        for key, fraction in self.efficiencies.items():
            op, _, pass_ = key.partition(".")
            if op not in OPERATORS or (pass_ and pass_ not in PASSES):
                raise SpecError(f"unknown operator or pass (operators: {', '.join(OPERATORS)}; "
                                f"passes: {', '.join(PASSES)})", ("efficiencies", key))
            if not isinstance(fraction, int | float) or not 0 < fraction <= 1:
                raise SpecError("must be a fraction in (0, 1]", ("efficiencies", key),
                                fraction)

    def duration_s(self, key: str) -> float | None:
        """An explicit duration, if given."""
        from mpft_sim.units import parse_quantity

        text = self.durations.get(key)
        return None if text is None else parse_quantity(text, "time")


@dataclass(frozen=True)
class OptimizerSpec(Spec):
    """Step-end gradient synchronisation (ZeRO-1) and the optimizer update."""

    zero1: bool = option(default=True,
                         doc="model the ZeRO-1 step end (reduce-scatter gradients, update the "
                             "shards, all-gather parameters); false leaves the step end out")
    grad_bytes: int = option(default=2, ge=1, le=MAX_ELEMENT_BYTES,
                             doc="bytes per gradient element (bf16: 2)")
    param_bytes: int = option(default=2, ge=1, le=MAX_ELEMENT_BYTES,
                              doc="bytes per parameter gathered")
    mirror: bool = option(default=True,
                          doc="DualPipe: the stage's mirror copy joins its DP group")


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
        from mpft_sim.workload.schedules import num_stages

        lay, m = self.layout, self.model
        if m.experts % lay.ep:
            raise SpecError(f"must divide the {m.experts} routed experts", ("layout", "ep"),
                            lay.ep)
        if self.schedule == "dualpipe" and lay.pp % 2:
            raise SpecError("dualpipe needs an even number of pipeline ranks", ("layout", "pp"),
                            lay.pp)
        stages = num_stages(self.schedule, lay.pp)
        if m.layers < stages:
            raise SpecError(f"fewer layers than the {stages} pipeline stages",
                            ("model", "layers"), m.layers)
        _check_weights(self.expert_load, m)
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
        _check_weights(self.expert_load, self.model)
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
    return workload_from_mapping(read_yaml(path), str(path), Path(path).parent)
