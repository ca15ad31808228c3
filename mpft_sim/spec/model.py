"""Model specs: what a job computes -- the model's shape (attention, experts), how its
experts' load is spread, how long each operator takes, and the optimizer's sizes. The
workload specs (:mod:`mpft_sim.spec.workload`) hold one of each."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from mpft_sim.errors import SpecError
from mpft_sim.spec.files import read_text
from mpft_sim.spec.limits import (
    MAX_BANDWIDTH,
    MAX_CSV_BYTES,
    MAX_DURATION,
    MAX_ELEMENT_BYTES,
    MAX_EXPERTS,
    MAX_FLOPS,
    MAX_LAYERS,
    MAX_MODEL_WIDTH,
    MAX_SAMPLES,
    MAX_SIZE,
    MAX_VOCAB,
    MAX_ZIPF,
)
from mpft_sim.spec.schema import Spec, option

__all__ = [
    "DURATION_COMPONENTS",
    "OPERATORS",
    "PASSES",
    "AttentionSpec",
    "ComputeSpec",
    "ExpertLoadSpec",
    "ModelSpec",
    "OptimizerSpec",
    "Pass",
    "check_expert_weights",
    "read_expert_loads",
]

Dtype = Literal["fp8", "bf16"]
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


def check_expert_weights(load: ExpertLoadSpec, model: ModelSpec) -> None:
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
