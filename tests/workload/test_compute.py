"""The compute model from operators: exact FLOPs and bytes per formula on a small model,
per-operator efficiencies, recomputation, overrides, and DeepSeek's profile reproduced."""

from __future__ import annotations

import dataclasses

import pytest

from mpft_sim.errors import SpecError
from mpft_sim.spec.loading import load_spec
from mpft_sim.spec.model import OPERATORS, PASSES, AttentionSpec, ComputeSpec, ModelSpec
from mpft_sim.workload.compute import (
    PROFILE_EFFICIENCY,
    PROFILE_SCALE,
    Operator,
    layer_operators,
    operator_efficiency,
    operator_seconds,
    prefill_times,
    training_times,
)

# a small MLA MoE model whose counts are easy to check by hand
T, C = 10, 6  # tokens, mean context
H, RQ, RKV, N, DN, DR, DV = 64, 16, 8, 2, 4, 2, 3
E, K, S, INTER, DENSE = 8, 2, 1, 5, 7
SMALL = ModelSpec(layers=4, dense_layers=1, hidden=H, experts=E, shared_experts=S, top_k=K,
                  expert_groups=1, groups_per_token=1, expert_hidden=INTER, dense_hidden=DENSE,
                  attention=AttentionSpec(heads=N, q_lora_rank=RQ, kv_lora_rank=RKV,
                                          qk_nope_head_dim=DN, qk_rope_head_dim=DR,
                                          v_head_dim=DV))
DQK = DN + DR  # 6

# hand-counted: (F, B, W) FLOPs of each GEMM, 2 m n k
GEMM_FLOPS = {
    "q_down": 2 * T * RQ * H,                 # 20,480
    "kv_down": 2 * T * (RKV + DR) * H,         # 12,800
    "q_up": 2 * T * N * DQK * RQ,              # 3,840
    "kv_up": 2 * T * N * (DN + DV) * RKV,      # 1,120
    "o_proj": 2 * T * H * N * DV,              # 7,680
    "gate": 2 * T * E * H,                     # 10,240
    "routed_up": 2 * T * K * 2 * INTER * H,        # 25,600
    "routed_down": 2 * T * K * H * INTER,          # 12,800
    "shared_up": 2 * T * S * 2 * INTER * H,        # 12,800
    "shared_down": 2 * T * S * H * INTER,          # 6,400
}
CORE_F = 2 * T * C * N * (DQK + DV)            # 2,160
CORE_B = 2 * T * C * N * (3 * DQK + 2 * DV)    # 5,760
# memory operators: (F, B) bytes
MEMORY_BYTES = {
    "attn_norm": (4 * T * H, 6 * T * H),
    "q_norm": (4 * T * RQ, 6 * T * RQ),
    "kv_norm": (4 * T * RKV, 6 * T * RKV),
    "mlp_norm": (4 * T * H, 6 * T * H),
    "swiglu": (T * K * (5 * INTER + INTER / 32), 10 * T * K * INTER),
    "shared_swiglu": (T * S * (5 * INTER + INTER / 32), 10 * T * S * INTER),
}
RECOMPUTED = {"attn_norm", "q_norm", "kv_norm", "q_up", "kv_up", "mlp_norm", "swiglu",
              "shared_swiglu"}
UNIFORM = ComputeSpec(efficiency=0.5, per_operator=False, sm_fraction=1.0, fp8=True,
                      peak_flops=1e15, memory_bandwidth_Bps=1e12)


def ops_by_name(dense: bool = False, **kw: float) -> dict[str, Operator]:
    ops = layer_operators(SMALL, T, C, dense, **kw)
    assert len({op.name for op in ops}) == len(ops)
    return {op.name: op for op in ops}


def test_moe_layer_operators_in_order() -> None:
    """A MoE layer: MLA, core attention, output projection, norm, gate, routed and shared
    experts, in execution order, every one a known operator."""
    names = [op.name for op in layer_operators(SMALL, T, C, False)]
    assert names == ["attn_norm", "q_down", "kv_down", "q_norm", "kv_norm", "q_up", "kv_up",
                     "attn_core", "o_proj", "mlp_norm", "gate", "routed_up", "swiglu",
                     "routed_down", "shared_up", "shared_swiglu", "shared_down"]
    assert set(names) <= set(OPERATORS)


@pytest.mark.parametrize("name", sorted(GEMM_FLOPS))
def test_gemm_flops(name: str) -> None:
    """Every GEMM does 2 m n k FLOPs in each pass (Y = XW, dX = dY W^T, dW = X^T dY)."""
    op = ops_by_name()[name]
    assert op.kind == "gemm"
    assert op.flops == (GEMM_FLOPS[name],) * 3
    assert op.bf16 == (name == "gate")
    assert op.recomputed == (name in RECOMPUTED)


def test_gemm_bytes() -> None:
    """GEMM bytes: X + W + Y forward, dY + W + dX backward-input, X + dY + 2 x 4 B dW."""
    op = ops_by_name(experts_per_gpu=3)["routed_down"]  # m = TK = 20, n = H, k = INTER
    m, n, k = T * K, H, INTER
    assert op.bytes == (m * k + 3 * k * n + 2 * m * n, m * n + 3 * k * n + 2 * m * k,
                        m * k + m * n + 8 * 3 * k * n)
    gate = ops_by_name()["gate"]  # BF16 operands
    assert gate.bytes[0] == 2 * T * H + 2 * H * E + 2 * T * E


def test_core_attention_flops_and_bytes() -> None:
    """Core attention: 2 T c n (d_qk + d_v) forward; the backward's five products
    2 T c n (3 d_qk + 2 d_v); no weights; Q, K, V, O (and gradients) in BF16."""
    op = ops_by_name()["attn_core"]
    assert op.flops == (CORE_F, CORE_B, 0.0)
    qkv, o = 2 * T * N * (2 * DQK + DV), 2 * T * N * DV
    assert op.bytes == (qkv + o, 2 * qkv + 2 * o, 0.0)
    assert op.bf16 and not op.recomputed


@pytest.mark.parametrize("name", sorted(MEMORY_BYTES))
def test_memory_operator_bytes(name: str) -> None:
    """RMSNorm: 4 B per value forward, 6 backward; SwiGLU: 4I in, INTER + INTER/32 out per row
    forward, 10I per row backward; all recomputed in the backward pass."""
    op = ops_by_name()[name]
    assert op.kind == "memory" and op.flops == (0.0, 0.0, 0.0)
    assert op.bytes == (*MEMORY_BYTES[name], 0.0)
    assert op.recomputed


def test_dense_layer_operators() -> None:
    """A dense layer: the same attention, no gate, a dense MLP of dense_hidden."""
    ops = ops_by_name(dense=True)
    assert "gate" not in ops and "routed_up" not in ops
    assert ops["dense_up"].flops == (2 * T * 2 * DENSE * H,) * 3
    assert ops["dense_down"].flops == (2 * T * H * DENSE,) * 3
    assert ops["dense_swiglu"].bytes[:2] == (T * (5 * DENSE + DENSE / 32), 10 * T * DENSE)


def test_no_query_compression() -> None:
    """q_lora_rank 0: the query projection is one GEMM from the hidden state, kept."""
    model = dataclasses.replace(SMALL, attention=dataclasses.replace(SMALL.attention,
                                                                     q_lora_rank=0))
    ops = {op.name: op for op in layer_operators(model, T, C, False)}
    assert "q_down" not in ops and "q_norm" not in ops
    assert ops["q_up"].flops[0] == 2 * T * N * DQK * H
    assert not ops["q_up"].recomputed


def test_uniform_roofline_seconds() -> None:
    """per_operator false: GEMMs at peak x 2 (FP8) x efficiency, BF16 ones at peak x
    efficiency, memory operators at bandwidth x efficiency."""
    ops = ops_by_name()
    peak = 1e15 * 0.5
    # compute-bound: memory at its ceiling
    fast_memory = dataclasses.replace(UNIFORM, memory_bandwidth_Bps=1e15)
    assert operator_seconds(fast_memory, ops["q_down"], "forward") == GEMM_FLOPS[
        "q_down"] / (2 * peak)
    assert operator_seconds(fast_memory, ops["gate"], "backward_weight") == GEMM_FLOPS[
        "gate"] / peak
    assert operator_seconds(fast_memory, ops["attn_core"], "forward") == CORE_F / peak
    assert operator_seconds(UNIFORM, ops["attn_norm"], "forward") == 4 * T * H / 0.5e12
    assert operator_seconds(UNIFORM, ops["attn_core"], "backward_weight") == 0.0


def test_memory_bound_gemm() -> None:
    """A GEMM reading more bytes than it computes takes bytes / (bandwidth x efficiency)."""
    ops = ops_by_name(experts_per_gpu=1000)
    op = ops["routed_up"]
    assert operator_seconds(UNIFORM, op, "forward") == op.bytes[0] / 0.5e12


@pytest.mark.parametrize("name", sorted(RECOMPUTED))
def test_recompute_adds_the_forward(name: str) -> None:
    """The backward-input pass of a recomputed operator reruns its forward first."""
    op = ops_by_name()[name]
    keep = dataclasses.replace(UNIFORM, recompute=False)
    with_rc = operator_seconds(UNIFORM, op, "backward_input")
    assert with_rc == pytest.approx(operator_seconds(keep, op, "backward_input")
                                    + operator_seconds(UNIFORM, op, "forward"), rel=1e-15)
    assert operator_seconds(keep, op, "forward") == operator_seconds(UNIFORM, op, "forward")


def test_profile_efficiency_scales_with_efficiency() -> None:
    """Each operator runs at its measured fraction x efficiency / 0.42, at most 1."""
    at_profile = ComputeSpec(efficiency=PROFILE_SCALE)
    for name, values in PROFILE_EFFICIENCY.items():
        for p, value in zip(PASSES, values, strict=True):
            if value:
                assert operator_efficiency(at_profile, name, p) == pytest.approx(value)
    faster = ComputeSpec(efficiency=0.84)
    assert operator_efficiency(faster, "q_up", "forward") == pytest.approx(0.944)
    assert operator_efficiency(faster, "attn_core", "forward") == 1.0  # 1.24, capped
    assert operator_efficiency(ComputeSpec(efficiency=0.42), "dense_up", "backward_input") == \
        PROFILE_EFFICIENCY["shared_up"][1]


def test_backward_below_forward_in_the_profile() -> None:
    """The measured backward-input kernels run below their forward for the attention
    GEMMs, core attention and the experts' up-projections; the weight gradients of the big
    GEMMs too; the small GEMMs (kv_down, kv_up) run below the big ones in every pass."""
    for name in ("q_down", "q_up", "kv_up", "attn_core", "o_proj", "routed_up", "shared_up"):
        assert PROFILE_EFFICIENCY[name][1] < PROFILE_EFFICIENCY[name][0]
    for name in ("q_up", "o_proj", "routed_up", "shared_up"):
        assert PROFILE_EFFICIENCY[name][2] < PROFILE_EFFICIENCY[name][0]
    for small in ("kv_down", "kv_up"):
        for big in ("o_proj", "routed_up"):
            assert all(s_ < b_ for s_, b_ in zip(PROFILE_EFFICIENCY[small],
                                                 PROFILE_EFFICIENCY[big], strict=True))


def test_efficiencies_override() -> None:
    """efficiencies: operator.pass before operator, absolute (not scaled by efficiency)."""
    compute = ComputeSpec(efficiency=0.3, efficiencies={"q_up": 0.5, "q_up.forward": 0.25})
    assert operator_efficiency(compute, "q_up", "forward") == 0.25
    assert operator_efficiency(compute, "q_up", "backward_weight") == 0.5
    assert operator_efficiency(compute, "kv_up", "forward") == pytest.approx(
        PROFILE_EFFICIENCY["kv_up"][0] * 0.3 / 0.42)


def test_durations_override_operator_and_component() -> None:
    """A measured duration replaces an operator's pass; a component's replaces the sum."""
    base = ComputeSpec()
    ops = ops_by_name()
    timed = dataclasses.replace(base, durations={"q_up_backward_input": "7ms"})
    assert operator_seconds(timed, ops["q_up"], "backward_input") == pytest.approx(7e-3)
    before = training_times(SMALL, T, 2 * C, base, False)
    after = training_times(SMALL, T, 2 * C, timed, False)
    own = operator_seconds(base, ops["q_up"], "backward_input")
    assert after.attention_backward_input == pytest.approx(
        before.attention_backward_input - own + 7e-3, rel=1e-12)
    assert after.attention_forward == before.attention_forward
    component = dataclasses.replace(timed, durations={**timed.durations,
                                                      "attention_backward_input": "1ms"})
    assert training_times(SMALL, T, 2 * C, component, False).attention_backward_input == \
        pytest.approx(1e-3)


def test_training_components_sum_their_operators() -> None:
    """attention_* sums the attention operators (the gate and the MLP's norm with them, as in
    DeepSeek's split), mlp_* the routed and shared experts."""
    compute = ComputeSpec()
    ops = layer_operators(SMALL, T, C, False)
    times = training_times(SMALL, T, 2 * C, compute, False)
    for p, att, mlp in zip(PASSES, (times.attention_forward, times.attention_backward_input,
                                    times.attention_backward_weight),
                           (times.mlp_forward, times.mlp_backward_input,
                            times.mlp_backward_weight), strict=True):
        assert att == pytest.approx(sum(operator_seconds(compute, op, p) for op in ops
                                        if op.component == "attention"), rel=1e-12)
        assert mlp == pytest.approx(sum(operator_seconds(compute, op, p) for op in ops
                                        if op.component in ("mlp", "shared")), rel=1e-12)
    pre = prefill_times(SMALL, T, 2 * C, compute, False)
    assert pre.mlp_forward + pre.shared_forward == pytest.approx(times.mlp_forward, rel=1e-12)
    assert pre.attention_forward == pytest.approx(times.attention_forward, rel=1e-12)


# DeepSeek's profile (profile-data train.json), per V3 MoE layer of 4,096 tokens, ms: the
# attention and MLP components of the forward, backward-input and backward-weight passes
PROFILE_MS = {"attention_forward": 4.0785, "attention_backward_input": 8.8828,
              "attention_backward_weight": 2.4357, "mlp_forward": 4.6573,
              "mlp_backward_input": 5.1830, "mlp_backward_weight": 5.0630}


def test_v3_layer_reproduces_the_profile() -> None:
    """At efficiency 0.42 a V3 MoE layer takes DeepSeek's measured times (the efficiencies
    are rounded to 3 digits: within 0.4 %; recomputed operators at their forward's time)."""
    times = training_times(ModelSpec(), 4096, 4096, ComputeSpec(efficiency=PROFILE_SCALE),
                           False)
    for key, ms in PROFILE_MS.items():
        assert getattr(times, key) * 1e3 == pytest.approx(ms, rel=4e-3), key


def test_v3_backward_above_forward() -> None:
    """The shipped efficiency: backward-for-input 1.6x the forward, weight 0.86x; before
    (one efficiency, no recomputation) B was 1.22 F."""
    compute = ComputeSpec(efficiency=0.45)
    t = training_times(ModelSpec(), 4096, 4096, compute, False)
    f = t.attention_forward + t.mlp_forward
    b = t.attention_backward_input + t.mlp_backward_input
    w = t.attention_backward_weight + t.mlp_backward_weight
    assert b / f == pytest.approx(1.61, abs=0.01)
    assert w / f == pytest.approx(0.86, abs=0.01)
    old = training_times(ModelSpec(), 4096, 4096, dataclasses.replace(
        compute, per_operator=False, recompute=False), False)
    assert old.attention_backward_input + old.mlp_backward_input < b


def test_compute_spec_checks() -> None:
    """Unknown operators or passes, and fractions outside (0, 1], are spec errors; operator
    durations are accepted."""
    ok = load_spec(ComputeSpec, {"efficiencies": {"q_up.forward": 0.5, "gate": 1},
                                 "durations": {"attn_core_backward_input": "2ms"}})
    assert ok.duration_s("attn_core_backward_input") == pytest.approx(2e-3)
    for bad, path in (({"efficiencies": {"q_upp": 0.5}}, "efficiencies.q_upp"),
                      ({"efficiencies": {"q_up.backward": 0.5}}, "efficiencies.q_up.backward"),
                      ({"efficiencies": {"q_up": 1.5}}, "efficiencies.q_up"),
                      ({"durations": {"q_up_backward": "1ms"}}, "durations.q_up_backward")):
        with pytest.raises(SpecError, match=path.replace(".", r"\.")):
            load_spec(ComputeSpec, bad)
