"""How long a GPU computes: per operator, from its FLOPs and bytes, or given durations.

A layer is a list of operators (:func:`layer_operators`), each with the tensor-core FLOPs
and HBM bytes of its forward, backward-for-input and backward-for-weight passes. An
operator's time in a pass is a roofline at the operator's own efficiency::

    compute:  flops / (peak x (2 if FP8) x sm_fraction x efficiency[op, pass])
    memory:   bytes / (memory_bandwidth x efficiency[op, pass])        (norms, SwiGLU)
    GEMMs and core attention take the larger of their FLOP time and their byte time
    (at memory_bandwidth x efficiency); the FLOP time wins at training and prefill sizes.

The backward-for-input pass of an operator DeepSeek-V3 recomputes (RMSNorm, the MLA
up-projections, SwiGLU; V3 report §3.2.3, §3.3.3) also runs its forward again first.

Efficiencies: DeepSeek's own kernels, measured. ``PROFILE_EFFICIENCY`` holds every
operator's fraction of peak in each pass as the kernels of DeepSeek's published training
profile reach it (profile-data ``train.json``: V3, EP64, 4,096-token micro-batches, 112 of
132 SMs computing; an operator's time is all its kernels, the FP8 casts and transposes it
needs included). ``compute.efficiency`` scales them all: at ``PROFILE_SCALE`` (0.42) the
operators take exactly the profile's times, and 0.42 is also the single efficiency at which
the former one-efficiency roofline gave a V3 MoE layer the profile's forward time, so the
key keeps its meaning for the forward pass. ``compute.efficiencies`` sets an operator's
fraction outright; ``compute.per_operator: false`` runs every operator at ``efficiency``.

Decode keeps the single-efficiency roofline (:func:`decode_times`): DeepSeek's decode
profile is not public, and decode's small batches are bound by weight and KV-cache reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mpft_sim.spec.model import PASSES, ComputeSpec, ModelSpec, Pass

__all__ = [
    "PROFILE_EFFICIENCY",
    "PROFILE_SCALE",
    "LayerTimes",
    "Operator",
    "decode_times",
    "layer_operators",
    "operator_efficiency",
    "operator_seconds",
    "prefill_times",
    "training_times",
]

Component = Literal["attention", "mlp", "shared"]
Kind = Literal["gemm", "attention", "memory"]

# Fraction of peak per (forward, backward-input, backward-weight) pass of DeepSeek's V3
# training kernels on H800 (profile-data train.json: one F&B chunk pair of 4 MoE layers,
# EP64, 4,096 tokens, 112 SMs computing; per operator the mean over the 4 layers of all its
# kernels' times). Compute operators: FLOPs / (time x peak x 112/132), peak 1,979 TFLOP/s
# FP8, 989 BF16 (core attention, gate); memory operators: bytes / (time x 3.35 TB/s).
# Backward-input excludes the recomputed forward (its own kernels, at the forward's pace).
# docs/workload.md lists the measured times behind each value.
PROFILE_EFFICIENCY: dict[str, tuple[float, float, float]] = {
    "attn_norm": (0.299, 0.298, 0.0),
    "q_down": (0.333, 0.283, 0.394),
    "kv_down": (0.179, 0.129, 0.289),
    "q_norm": (0.197, 0.360, 0.0),
    "kv_norm": (0.179, 0.216, 0.0),
    "q_up": (0.472, 0.262, 0.399),
    "kv_up": (0.320, 0.132, 0.370),
    "attn_core": (0.620, 0.491, 0.0),
    "o_proj": (0.460, 0.416, 0.382),
    "mlp_norm": (0.289, 0.215, 0.0),
    "gate": (0.059, 0.153, 0.380),
    "routed_up": (0.462, 0.428, 0.379),
    "swiglu": (0.549, 0.589, 0.0),
    "routed_down": (0.374, 0.468, 0.379),
    "shared_up": (0.524, 0.295, 0.415),
    "shared_swiglu": (0.600, 0.730, 0.0),
    "shared_down": (0.434, 0.332, 0.396),
}
# the dense layers' MLP is not in the profile: it runs like the shared expert's GEMMs
_PROFILE_OF = {"dense_up": "shared_up", "dense_swiglu": "shared_swiglu",
               "dense_down": "shared_down"}
PROFILE_SCALE = 0.42
"""The ``compute.efficiency`` at which operators run exactly at ``PROFILE_EFFICIENCY``."""

_FP8_BYTES, _BF16_BYTES, _FP32_BYTES = 1.0, 2.0, 4.0


@dataclass(frozen=True)
class LayerTimes:
    """Seconds per component of one layer for one micro-batch on one GPU."""

    attention_forward: float
    attention_backward_input: float
    attention_backward_weight: float
    mlp_forward: float
    mlp_backward_input: float
    mlp_backward_weight: float
    shared_forward: float = 0.0
    attention0_forward: float = 0.0
    attention1_forward: float = 0.0


@dataclass(frozen=True)
class Operator:
    """One operator of a layer: its work in each pass.

    Attributes
    ----------
    name : str
        One of ``OPERATORS``.
    component : {"attention", "mlp", "shared"}
        The layer component it belongs to (DeepSeek's ATTN / MLP split; the post-attention
        RMSNorm and the gate run in ATTN, as in DeepSeek's profile).
    kind : {"gemm", "attention", "memory"}
        GEMM (FP8 when ``compute.fp8``, except the BF16 gate), core attention (BF16), or a
        memory-bound elementwise operator.
    flops, bytes : tuple of 3 floats
        Tensor-core FLOPs and HBM bytes of the forward, backward-input and backward-weight
        passes.
    recomputed : bool
        DeepSeek-V3 recomputes its forward in the backward pass instead of keeping its
        output.
    bf16 : bool
        Runs at the BF16 peak even when GEMMs run in FP8 (core attention, gate).
    """

    name: str
    component: Component
    kind: Kind
    flops: tuple[float, float, float]
    bytes: tuple[float, float, float]
    recomputed: bool = False
    bf16: bool = False


def _gemm(name: str, component: Component, m: float, n: float, k: float, *,
          weights: float = 1.0, bf16: bool = False, recomputed: bool = False) -> Operator:
    """``Y[m, n] = X[m, k] W[k, n]`` (``weights`` copies of W, for a GPU's experts).

    FLOPs 2mnk in each pass (forward Y = XW, backward-input dX = dY W^T, backward-weight
    dW = X^T dY). Bytes: forward X + W + Y, backward-input dY + W + dX, backward-weight
    X + dY + dW, with X, W, dY in FP8 (BF16 for a BF16 operator), Y and dX in BF16 and dW
    an FP32 accumulation (read and written).
    """
    a = _BF16_BYTES if bf16 else _FP8_BYTES
    x, w, y = m * k, k * n * weights, m * n
    flops = 2.0 * m * n * k
    return Operator(name, component, "gemm", (flops, flops, flops),
                    (x * a + w * a + y * _BF16_BYTES, y * a + w * a + x * _BF16_BYTES,
                     x * a + y * a + w * 2 * _FP32_BYTES), recomputed, bf16)


def _rmsnorm(name: str, component: Component, tokens: float, width: float) -> Operator:
    """RMSNorm over ``width`` values per token: forward reads x and writes y (4 B per value,
    BF16), backward reads x and dy and writes dx (6 B per value); recomputed in backward."""
    n = tokens * width
    return Operator(name, component, "memory", (0.0, 0.0, 0.0),
                    (4 * n, 6 * n, 0.0), recomputed=True)


def _swiglu(name: str, component: Component, rows: float, inter: float) -> Operator:
    """SwiGLU of ``rows`` (token, expert) rows: forward reads the gate and up halves (BF16)
    and writes the activation in FP8 with its scales (I + I/32 B); backward reads both
    halves and the activation's gradient (BF16) and writes both halves' gradients: 10 B per
    intermediate value. Recomputed in backward (V3 keeps its input only)."""
    return Operator(name, component, "memory", (0.0, 0.0, 0.0),
                    (rows * (4 * inter + inter + inter / 32), rows * 10 * inter, 0.0),
                    recomputed=True)


def layer_operators(model: ModelSpec, tokens: float, context: float, dense: bool,
                    experts_per_gpu: float | None = None) -> tuple[Operator, ...]:
    """The operators of one layer for ``tokens`` tokens on one GPU.

    With T tokens, H hidden, MLA ranks r_q and r_kv, n heads of d_nope + d_rope (query/key)
    and d_v (value), K routed experts per token of intermediate size I, s shared experts:

    ==============  ================================  ======================================
    operator        shape (m x n x k) or bytes         notes
    ==============  ================================  ======================================
    attn_norm       RMSNorm, T x H                     recomputed in backward
    q_down          T x r_q x H                        MLA query down-projection
    kv_down         T x (r_kv + d_rope) x H            MLA key/value down-projection
    q_norm          RMSNorm, T x r_q                   recomputed
    kv_norm         RMSNorm, T x r_kv                  recomputed
    q_up            T x n(d_nope + d_rope) x r_q       MLA up-projection, recomputed
    kv_up           T x n(d_nope + d_v) x r_kv         MLA up-projection, recomputed
    attn_core       see below                          BF16 flash attention
    o_proj          T x H x n d_v                      output projection
    mlp_norm        RMSNorm, T x H                     recomputed
    gate            T x E x H, BF16                    router (MoE layers)
    routed_up       TK x 2I x H                        gate and up GEMMs of the routed experts
    swiglu          TK rows of I                       recomputed
    routed_down     TK x H x I                         down GEMM of the routed experts
    shared_up       Ts x 2I x H                        shared experts, likewise
    shared_swiglu   Ts rows of I                       recomputed
    shared_down     Ts x H x I
    dense_*         as shared with s = 1, I = dense    the dense layers' MLP instead
    ==============  ================================  ======================================

    Core attention attends on average to ``context`` keys per query (half the sequence when
    causal): forward 2 T c n (d_qk + d_v) FLOPs (QK^T, PV; d_qk = d_nope + d_rope); the
    backward recomputes QK^T and computes dV, dP, dQ, dK: 2 T c n (3 d_qk + 2 d_v) (2.6x the
    forward for MLA; 2.5x when d_qk = d_v, FlashAttention-2's count). Bytes: forward reads
    Q, K, V and writes O; backward reads Q, K, V, O, dO and writes dQ, dK, dV (BF16).

    The routed GEMMs assume balanced routing: each GPU serves T x K (token, expert) rows.

    Parameters
    ----------
    model : ModelSpec
    tokens : float
        Tokens of the micro-batch on this GPU.
    context : float
        Keys each query attends to on average.
    dense : bool
        A dense-MLP layer (no experts, no gate).
    experts_per_gpu : float, optional
        Routed experts whose weights the GPU reads (bytes only); default ``top_k``.
    """
    att, h, t = model.attention, model.hidden, float(tokens)
    qk = att.qk_nope_head_dim + att.qk_rope_head_dim
    q_rank = att.q_lora_rank
    ops: list[Operator] = [_rmsnorm("attn_norm", "attention", t, h)]
    if q_rank:
        ops.append(_gemm("q_down", "attention", t, q_rank, h))
    ops.append(_gemm("kv_down", "attention", t, att.kv_lora_rank + att.qk_rope_head_dim, h))
    if q_rank:
        ops.append(_rmsnorm("q_norm", "attention", t, q_rank))
    ops.append(_rmsnorm("kv_norm", "attention", t, att.kv_lora_rank))
    # without query compression the query projection is one GEMM from the hidden state
    ops.append(_gemm("q_up", "attention", t, att.heads * qk, q_rank or h,
                     recomputed=bool(q_rank)))
    ops.append(_gemm("kv_up", "attention", t, att.heads * (att.qk_nope_head_dim
                                                          + att.v_head_dim),
                     att.kv_lora_rank, recomputed=True))
    core = 2.0 * t * context * att.heads
    qkv = t * att.heads * (2 * qk + att.v_head_dim) * _BF16_BYTES
    o = t * att.heads * att.v_head_dim * _BF16_BYTES
    ops.append(Operator("attn_core", "attention", "attention",
                        (core * (qk + att.v_head_dim), core * (3 * qk + 2 * att.v_head_dim),
                         0.0), (qkv + o, qkv + 2 * o + qkv, 0.0), bf16=True))
    ops.append(_gemm("o_proj", "attention", t, h, att.heads * att.v_head_dim))
    ops.append(_rmsnorm("mlp_norm", "attention", t, h))
    inter = model.expert_hidden
    if dense:
        inter = model.dense_hidden
        ops += [_gemm("dense_up", "mlp", t, 2 * inter, h),
                _swiglu("dense_swiglu", "mlp", t, inter),
                _gemm("dense_down", "mlp", t, h, inter)]
        return tuple(ops)
    rows = t * model.top_k
    local = float(model.top_k if experts_per_gpu is None else experts_per_gpu)
    shared = t * model.shared_experts
    ops += [_gemm("gate", "attention", t, model.experts, h, bf16=True),
            _gemm("routed_up", "mlp", rows, 2 * inter, h, weights=local),
            _swiglu("swiglu", "mlp", rows, inter),
            _gemm("routed_down", "mlp", rows, h, inter, weights=local)]
    if model.shared_experts:
        ops += [_gemm("shared_up", "shared", shared, 2 * inter, h,
                      weights=model.shared_experts),
                _swiglu("shared_swiglu", "shared", shared, inter),
                _gemm("shared_down", "shared", shared, h, inter,
                      weights=model.shared_experts)]
    return tuple(ops)


def operator_efficiency(compute: ComputeSpec, name: str, pass_: Pass) -> float:
    """An operator's fraction of peak in a pass (see the module docstring).

    ``compute.efficiencies`` (``name.pass`` before ``name``) wins; else the profile's value
    scaled by ``efficiency / PROFILE_SCALE`` (at most 1) when ``compute.per_operator``;
    else ``compute.efficiency``.
    """
    own = compute.efficiencies.get(f"{name}.{pass_}", compute.efficiencies.get(name))
    if own is not None:
        return own
    profiled = PROFILE_EFFICIENCY.get(_PROFILE_OF.get(name, name))
    if not compute.per_operator or profiled is None:
        return compute.efficiency
    measured = profiled[PASSES.index(pass_)]
    if measured <= 0:  # a pass the operator does not have (no weights, no work)
        return compute.efficiency
    return min(1.0, measured * compute.efficiency / PROFILE_SCALE)


def _work_seconds(compute: ComputeSpec, op: Operator, pass_: Pass) -> float:
    """One pass's own work, recomputation excluded."""
    i = PASSES.index(pass_)
    flops, nbytes = op.flops[i], op.bytes[i]
    if flops == 0 and nbytes == 0:
        return 0.0
    eff = operator_efficiency(compute, op.name, pass_)
    if op.kind == "memory":
        return nbytes / (compute.memory_bandwidth_Bps * eff)
    peak = compute.peak_flops * (2.0 if compute.fp8 and not op.bf16 else 1.0)
    return max(flops / (peak * compute.sm_fraction * eff),
               nbytes / (compute.memory_bandwidth_Bps * compute.efficiency))


def operator_seconds(compute: ComputeSpec, op: Operator, pass_: Pass) -> float:
    """Seconds of one operator in one pass on one GPU.

    ``compute.durations["<name>_<pass>"]`` gives it outright; otherwise the roofline of the
    module docstring, the backward-input pass of a recomputed operator (with
    ``compute.recompute``) including a rerun of its forward.
    """
    given = compute.duration_s(f"{op.name}_{pass_}")
    if given is not None:
        return given
    seconds = _work_seconds(compute, op, pass_)
    if pass_ == "backward_input" and op.recomputed and compute.recompute:
        seconds += operator_seconds(compute, op, "forward")
    return seconds


def _component_seconds(compute: ComputeSpec, ops: tuple[Operator, ...],
                       components: tuple[Component, ...], pass_: Pass) -> float:
    return sum(operator_seconds(compute, op, pass_) for op in ops
               if op.component in components)


def _explicit(compute: ComputeSpec, times: LayerTimes) -> LayerTimes:
    fields = {name: compute.duration_s(name) for name in LayerTimes.__dataclass_fields__}
    return LayerTimes(**{name: (value if value is not None else getattr(times, name))
                         for name, value in fields.items()})


def _rates(compute: ComputeSpec) -> tuple[float, float]:
    """(GEMM FLOP/s, core-attention FLOP/s) of the single-efficiency roofline."""
    base = compute.peak_flops * compute.efficiency * compute.sm_fraction
    return base * (2.0 if compute.fp8 else 1.0), base


def _attention_flops(model: ModelSpec, context: float) -> tuple[float, float]:
    """(projection FLOPs, core FLOPs) per token."""
    att = model.attention
    qk = att.qk_nope_head_dim + att.qk_rope_head_dim
    return 2.0 * att.params(model.hidden), 2.0 * att.heads * (qk + att.v_head_dim) * context


def _expert_flops(model: ModelSpec, experts_per_token: float) -> float:
    return experts_per_token * 3 * 2.0 * model.hidden * model.expert_hidden


def training_times(model: ModelSpec, tokens: int, sequence: int, compute: ComputeSpec,
                   dense: bool, experts_per_gpu: float | None = None) -> LayerTimes:
    """Per-layer component times of a training micro-batch (``dense``: a dense-MLP layer).

    Each component is the sum of its operators' times in the pass (:func:`operator_seconds`);
    the MLP's includes the shared experts. Attention attends to half the sequence on
    average (causal). The MoE MLP time is the balanced average per GPU.
    """
    ops = layer_operators(model, tokens, sequence / 2, dense, experts_per_gpu)
    att: tuple[Component, ...] = ("attention",)
    mlp: tuple[Component, ...] = ("mlp", "shared")
    times = LayerTimes(*(_component_seconds(compute, ops, part, p)
                         for part in (att, mlp) for p in PASSES))
    return _explicit(compute, times)


def prefill_times(model: ModelSpec, tokens: int, context: int, compute: ComputeSpec,
                  dense: bool) -> LayerTimes:
    """Per-layer times of a prefill micro-batch: the forward pass of the same operators as
    training, with the shared experts apart (``shared_forward``)."""
    ops = layer_operators(model, tokens, context / 2, dense)
    att = _component_seconds(compute, ops, ("attention",), "forward")
    mlp = _component_seconds(compute, ops, ("mlp",), "forward")
    shared = _component_seconds(compute, ops, ("shared",), "forward")
    return _explicit(compute, LayerTimes(att, 0.0, 0.0, mlp, 0.0, 0.0, shared))


def decode_times(model: ModelSpec, tokens: int, context: int, compute: ComputeSpec,
                 experts_per_gpu: float, dense: bool, weight_bytes: int = 1,
                 requests: int | None = None) -> LayerTimes:
    """Per-layer times of a decode micro-batch of ``tokens`` tokens from ``requests`` requests
    (more tokens than requests with MTP drafts, which share their request's KV cache),
    memory-bound parts included: attention weights, the KV cache of every request, the GPU's
    expert weights. A single-efficiency roofline: GEMMs at ``peak x (2 if fp8) x efficiency
    x sm_fraction``, core attention at the BF16 rate, bytes at ``memory_bandwidth x
    efficiency``.

    ``attention0`` is MLA's down/up projections, ``attention1`` core attention with the output
    projection and gate (the DeepSeek decode pipeline's ATTN-0 and ATTN-1).
    """
    gemm, core = _rates(compute)
    bw = compute.memory_bandwidth_Bps * compute.efficiency
    att = model.attention
    proj, attn_core = _attention_flops(model, context)
    o_proj = 2.0 * att.heads * att.v_head_dim * model.hidden
    weights = att.params(model.hidden) * weight_bytes
    kv = (requests or tokens) * context * model.kv_bytes_per_token / model.layers
    requests = tokens  # from here on, compute scales with the tokens
    a0 = max(requests * (proj - o_proj) / gemm,
             (weights - att.heads * att.v_head_dim * model.hidden * weight_bytes) / bw)
    a1 = max(requests * (attn_core / core + o_proj / gemm),
             kv / bw + att.heads * att.v_head_dim * model.hidden * weight_bytes / bw)
    expert_weights = 3 * model.hidden * model.expert_hidden * weight_bytes
    if dense:
        mlp = max(requests * 3 * 2.0 * model.hidden * model.dense_hidden / gemm,
                  3 * model.hidden * model.dense_hidden * weight_bytes / bw)
        shared = 0.0
    else:
        mlp = max(requests * _expert_flops(model, model.top_k) / gemm,
                  experts_per_gpu * expert_weights / bw)
        shared = max(requests * _expert_flops(model, model.shared_experts) / gemm,
                     model.shared_experts * expert_weights / bw)
    times = LayerTimes(a0 + a1, 0.0, 0.0, mlp, 0.0, 0.0, shared, a0, a1)
    return _explicit(compute, times)
