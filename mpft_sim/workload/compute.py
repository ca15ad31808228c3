"""How long a GPU computes: a roofline over FLOPs and HBM bytes, or given durations.

FLOPs per token of one layer (the usual 2 FLOPs per multiply-add):

- attention projections: 2 x the MLA weights; core attention: 2 x heads x (qk + v head dims)
  x the attended context (half the sequence when causal);
- MoE MLP: (top_k + shared) experts x 3 GEMMs x hidden x expert_hidden x 2, plus the gate;
- dense MLP: 3 x hidden x dense_hidden x 2.

Backward: the input gradient costs the forward GEMMs again (core attention twice its forward),
the weight gradient the forward GEMMs once more. GEMMs run at ``peak x (2 if fp8) x efficiency
x sm_fraction``; core attention at BF16 peak. A component reading more bytes than it computes
(decode) takes ``bytes / memory_bandwidth`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from mpft_sim.spec.workload import ComputeSpec, ModelSpec

__all__ = ["LayerTimes", "decode_times", "prefill_times", "training_times"]


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


def _rates(compute: ComputeSpec) -> tuple[float, float]:
    """(GEMM FLOP/s, core-attention FLOP/s) available to compute kernels."""
    base = compute.peak_flops * compute.efficiency * compute.sm_fraction
    return base * (2.0 if compute.fp8 else 1.0), base


def _explicit(compute: ComputeSpec, times: LayerTimes) -> LayerTimes:
    fields = {name: compute.duration_s(name) for name in LayerTimes.__dataclass_fields__}
    return LayerTimes(**{name: (value if value is not None else getattr(times, name))
                         for name, value in fields.items()})


def _attention_flops(model: ModelSpec, context: float) -> tuple[float, float]:
    """(projection FLOPs, core FLOPs) per token."""
    att = model.attention
    qk = att.qk_nope_head_dim + att.qk_rope_head_dim
    return 2.0 * att.params(model.hidden), 2.0 * att.heads * (qk + att.v_head_dim) * context


def _expert_flops(model: ModelSpec, experts_per_token: float) -> float:
    return experts_per_token * 3 * 2.0 * model.hidden * model.expert_hidden


def training_times(model: ModelSpec, tokens: int, sequence: int, compute: ComputeSpec,
                   dense: bool) -> LayerTimes:
    """Per-layer component times of a training micro-batch (``dense``: a dense-MLP layer).

    The MoE MLP time is the balanced average per GPU: each GPU serves ``tokens x top_k``
    (token, expert) pairs plus its own tokens' shared experts.
    """
    gemm, core = _rates(compute)
    proj, attn_core = _attention_flops(model, sequence / 2)
    att_f = tokens * (proj / gemm + attn_core / core)
    att_bi = tokens * (proj / gemm + 2 * attn_core / core)
    att_bw = tokens * proj / gemm
    if dense:
        mlp = tokens * 3 * 2.0 * model.hidden * model.dense_hidden / gemm
    else:
        per_token = _expert_flops(model, model.top_k + model.shared_experts)
        mlp = tokens * (per_token + 2.0 * model.hidden * model.experts) / gemm
    times = LayerTimes(att_f, att_bi, att_bw, mlp, mlp, mlp)
    return _explicit(compute, times)


def prefill_times(model: ModelSpec, tokens: int, context: int, compute: ComputeSpec,
                  dense: bool) -> LayerTimes:
    """Per-layer times of a prefill micro-batch: forward only; shared experts apart."""
    gemm, core = _rates(compute)
    proj, attn_core = _attention_flops(model, context / 2)
    att = tokens * (proj / gemm + attn_core / core)
    if dense:
        mlp = tokens * 3 * 2.0 * model.hidden * model.dense_hidden / gemm
        shared = 0.0
    else:
        mlp = tokens * (_expert_flops(model, model.top_k) + 2.0 * model.hidden
                        * model.experts) / gemm
        shared = tokens * _expert_flops(model, model.shared_experts) / gemm
    return _explicit(compute, LayerTimes(att, 0.0, 0.0, mlp, 0.0, 0.0, shared))


def decode_times(model: ModelSpec, tokens: int, context: int, compute: ComputeSpec,
                 experts_per_gpu: float, dense: bool, weight_bytes: int = 1,
                 requests: int | None = None) -> LayerTimes:
    """Per-layer times of a decode micro-batch of ``tokens`` tokens from ``requests`` requests
    (more tokens than requests with MTP drafts, which share their request's KV cache),
    memory-bound parts included: attention weights, the KV cache of every request, the GPU's
    expert weights.

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
