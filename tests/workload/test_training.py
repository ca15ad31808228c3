"""A training step through the real engine: bubbles, pipeline traffic, overlap order, ZeRO."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mpft_sim.engine import simulate
from mpft_sim.results import Result
from mpft_sim.results.steps import Timings, lane_breakdown
from mpft_sim.spec.model import ComputeSpec, ExpertLoadSpec, ModelSpec, OptimizerSpec
from mpft_sim.spec.topology import FabricSpec, NodeSpec, NvlinkSpec, SwitchSpec, TopologySpec
from mpft_sim.spec.transport import LatencySpec
from mpft_sim.spec.workload import BatchSpec, LayoutSpec, TrainingWorkloadSpec
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.bubbles import bubble_formula
from mpft_sim.workload.program import JobInfo
from tests.workload.conftest import run_job

MS = 1e-3


def mpft(nodes: int = 16, latency: bool = True) -> Fabric:
    """An 8-plane MPFT of 8-GPU servers and radix-8 switches; optionally without latency."""
    lat = LatencySpec() if latency else LatencySpec(switch_s=0.0, link_s=0.0, endpoint_s=0.0)
    node = NodeSpec() if latency else NodeSpec(nvlink=NvlinkSpec(latency_s=0.0))
    return build_fabric(TopologySpec(
        name="mpft", node=node,
        fabric=FabricSpec(kind="multi-plane-fat-tree", planes=8, nodes=nodes, latency=lat,
                          switch=SwitchSpec(radix=8, port_bandwidth_Bps=50e9))))


def timed_spec(schedule: str, pp: int, chunks: int, sync: str = "item") -> TrainingWorkloadSpec:
    """One layer per stage, F = 1 ms, B = 2 ms (W = 1 ms), negligible communication."""
    stages = 2 * pp if schedule == "dualpipev" else pp
    durations = {"attention_forward": "1ms", "attention_backward_input": "1ms",
                 "attention_backward_weight": "1ms", "mlp_forward": "0s",
                 "mlp_backward_input": "0s", "mlp_backward_weight": "0s"}
    spec = TrainingWorkloadSpec(
        name="timed", kind="training", schedule=schedule,  # type: ignore[arg-type]
        pipeline_sync=sync,  # type: ignore[arg-type]
        model=ModelSpec(layers=stages, dense_layers=stages, hidden=8),
        layout=LayoutSpec(pp=pp, dp=1, ep=1), batch=BatchSpec(tokens=1, micro_batches=chunks),
        compute=ComputeSpec(durations=durations), optimizer=OptimizerSpec(zero1=False))
    return spec


def timed_step(schedule: str, pp: int, chunks: int, sync: str = "item") -> Result:
    """The timed step (:func:`timed_spec`) simulated."""
    return simulate(mpft(2, latency=False), timed_spec(schedule, pp, chunks, sync))


def test_layer_sync_overlaps_more() -> None:
    """Letting the halves of an overlapped pair wait for their own tensors (layer sync) never
    idles more than the reference's whole-item sync, and here idles less."""
    item = timed_step("dualpipe", 4, 8).summary.job.breakdown.bubble_s  # type: ignore[union-attr]
    layer = timed_step("dualpipe", 4, 8, sync="layer").summary.job.breakdown.bubble_s  # type: ignore[union-attr]
    assert layer < item - 1e-4


@pytest.mark.parametrize(("schedule", "pp", "chunks"), [
    ("dualpipe", 4, 8), ("dualpipe", 4, 12), ("dualpipe", 8, 16), ("dualpipev", 2, 4),
    ("dualpipev", 4, 8), ("1f1b", 4, 8), ("1f1b", 8, 12), ("zb1p", 4, 8), ("zb1p", 8, 8),
])
def test_bubble_equals_closed_form(schedule: str, pp: int, chunks: int) -> None:
    """With negligible communication, every lane's bubble is the schedule's closed form."""
    summary = timed_step(schedule, pp, chunks).summary.job
    expect = bubble_formula(schedule, pp, F=MS, B=2 * MS, W=MS, FB=3 * MS)  # type: ignore[arg-type]
    timings, jobs = run_job(mpft(2, latency=False), timed_spec(schedule, pp, chunks))
    t1 = summary.step_time_s
    for lane in jobs[0].lanes:
        row = lane_breakdown(timings, lane, 0.0, t1, t1)
        assert row["bubble_s"] == pytest.approx(expect, rel=1e-4, abs=1e-7)
    assert summary.breakdown is not None
    assert summary.breakdown.total_s() == pytest.approx(t1, rel=1e-12)


def test_breakdown_rows_of_a_dualpipe_step() -> None:
    """DualPipe P=4, 8 chunks: each rank computes 8 F, 8 B (some overlapped) and the rows
    account for every millisecond: F + Bi + Bw + FB + bubble = step time."""
    s = timed_step("dualpipe", 4, 8).summary.job
    b = s.breakdown
    assert b is not None
    busy = b.forward_s + b.backward_input_s + b.backward_weight_s + b.overlapped_s
    # per rank: 8 forwards (1 ms) + 8 backwards (2 ms) of compute, overlapped or not
    assert busy == pytest.approx(24 * MS, rel=1e-4)
    assert busy + b.bubble_s == pytest.approx(s.step_time_s, rel=1e-8)
    assert b.optimizer_s == 0.0


def small_v3(schedule: str = "dualpipe", pp: int = 4, chunks: int = 8) -> TrainingWorkloadSpec:
    """A V3-shaped job scaled down: 8 layers (1 dense), EP16 over 2 servers, DP32."""
    return TrainingWorkloadSpec(
        name="v3-small", kind="training", schedule=schedule,  # type: ignore[arg-type]
        model=ModelSpec(layers=8, dense_layers=1),
        layout=LayoutSpec(pp=pp, dp=32, ep=16),
        batch=BatchSpec(tokens=512, micro_batches=chunks),
        expert_load=ExpertLoadSpec(samples=2))


@pytest.fixture(scope="module")
def v3_result() -> Result:
    return simulate(mpft(16), small_v3(), tolerance=1e-3)


@pytest.fixture(scope="module")
def v3_run() -> tuple[Timings, list[JobInfo]]:
    """The same step's program run directly: its task timings and job."""
    return run_job(mpft(16), small_v3(), tolerance=1e-3)


def test_pipeline_messages_per_link(v3_result: Result) -> None:
    """Each pipeline link carries num_chunks messages each way per data-parallel rank (§1.5):
    activations one way, gradients the other, each tokens x hidden x 2 bytes."""
    fl = v3_result.flow_table
    tags = np.array(fl.tags)[fl.tag]
    pp = np.isin(tags, ["pp_act", "pp_grad"])
    src_stage, dst_stage = fl.src[pp] // 32, fl.dst[pp] // 32
    assert np.all(np.abs(src_stage - dst_stage) == 1)
    assert np.all(fl.size_bytes[pp] == 512 * 7168 * 2)
    for r in range(3):
        for a, b in ((r, r + 1), (r + 1, r)):
            per_rank = np.sum((src_stage == a) & (dst_stage == b))
            assert per_rank == 8 * 32


def test_overlapped_chunk_order(v3_run: tuple[Timings, list[JobInfo]]) -> None:
    """Inside an F&B chunk, compute runs ATTN(F) MLP(B) MLP(W) MLP(F) ATTN(B) ATTN(W) and
    communication Combine(B) Dispatch(F) Dispatch(B) Combine(F), layer by layer (§1.9)."""
    ops, jobs = v3_run
    prog = ops.program
    kinds = np.array(prog.kinds)[prog.kind]
    cats = np.array(prog.categories)[prog.category]
    lane = jobs[0].lanes[2]  # pipeline rank 1: MoE layers only
    fb = np.flatnonzero((prog.lane == lane) & (cats == "overlapped"))
    first_chunk = fb[prog.chunk[fb] == prog.chunk[fb].min()]
    comp = [k for k in kinds[first_chunk[np.argsort(ops.start_s[first_chunk], kind="stable")]]
            if k in ("attn_f", "mlp_b", "mlp_w", "mlp_f", "attn_b", "attn_w")]
    assert comp[:6] == ["attn_f", "mlp_b", "mlp_w", "mlp_f", "attn_b", "attn_w"]
    comm = [k for k in kinds[first_chunk] if k in ("combine_bwd", "dispatch", "dispatch_bwd",
                                                    "combine")]
    assert comm[:4] == ["combine_bwd", "dispatch", "dispatch_bwd", "combine"]
    assert len(comp) == 6 * 2 and len(comm) == 4 * 2  # two MoE layers in this stage


def test_alltoall_figures(v3_result: Result) -> None:
    """Every layer runs 4 all-to-alls per micro-batch; each dispatch moves its sample's
    network bytes; the step's rows add up to its time."""
    s = v3_result.summary.job
    # stages of 2 layers (stage 0: 1 dense + 1 MoE); rank r holds stages r and 3 - r, runs
    # C/2 = 4 forwards and 4 backwards per module: a dispatch-kernel transfer per MoE layer for
    # each (forward dispatch, backward of the combine); 2 EP groups per rank
    moe = [1, 2, 2, 2]
    expect = 2 * sum((moe[r] + moe[3 - r]) * (4 + 4) for r in range(4))
    assert expect == 224
    assert s.alltoall["dispatch"].count == expect
    assert s.alltoall["combine"].count == s.alltoall["dispatch"].count
    assert s.breakdown is not None
    assert s.breakdown.total_s() == pytest.approx(s.step_time_s, rel=1e-12)
    assert 0 < s.exposed_comm_s < s.step_time_s
    assert s.alltoall["dispatch"].network_Bps_per_gpu <= 50e9 * (1 + 1e-9)


def test_same_seed_same_step() -> None:
    """The same workload and seed give the same step, to the bit."""
    spec = small_v3("1f1b", 2, 4)
    fab = mpft(8)
    a, b = simulate(fab, spec), simulate(fab, spec)
    assert a.summary.job.step_time_s == b.summary.job.step_time_s
    assert np.array_equal(a.op_table.end_s, b.op_table.end_s)
    c = simulate(fab, dataclasses.replace(spec, seed=1))
    assert not np.array_equal(a.op_table.end_s, c.op_table.end_s)


def test_analytic_model_runs_the_same_program() -> None:
    """The analytic model runs the same task graph; its all-to-alls take about as long as the
    fluid model's on a NIC-bound MPFT (within 10%)."""
    spec = small_v3("1f1b", 2, 4)
    fab = mpft(8)
    fluid = simulate(fab, spec).summary.job
    analytic = simulate(fab, spec, "analytic").summary.job
    for kernel in ("dispatch", "combine"):
        assert analytic.alltoall[kernel].mean_s == pytest.approx(
            fluid.alltoall[kernel].mean_s, rel=0.1)
    assert analytic.step_time_s == pytest.approx(fluid.step_time_s, rel=0.1)
