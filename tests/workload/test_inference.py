"""Inference steps: decode figures (TPOT, tokens/s), KV-cache transfers, low-latency forwarding,
prefill's two-micro-batch order and what the overlap buys."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest

from mpft_sim.engine import simulate
from mpft_sim.errors import SpecError
from mpft_sim.results import JobSummary, OpTable, Result
from mpft_sim.spec.topology import FabricSpec, SwitchSpec, TopologySpec
from mpft_sim.spec.workload import InferenceWorkloadSpec, load_workload
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from tests.conftest import ROOT

WORKLOADS = ROOT / "workloads"
KV_BYTES_PER_TOKEN = 70272


@pytest.fixture(scope="module")
def mpft() -> Fabric:
    """16 servers of 8 GPUs, 8 planes of radix-8 switches (4 leaves, 2 spines per plane)."""
    return build_fabric(TopologySpec(name="mpft16", fabric=FabricSpec(
        kind="multi-plane-fat-tree", planes=8, nodes=16,
        switch=SwitchSpec(radix=8, port_bandwidth_Bps=50e9))))


@pytest.fixture(scope="module")
def mrft() -> Fabric:
    """A multi-rail fat-tree of 16 servers: every rail reaches every other through spines."""
    return build_fabric(TopologySpec(name="mrft16", fabric=FabricSpec(
        kind="multi-rail-fat-tree", nodes=16,
        switch=SwitchSpec(radix=16, port_bandwidth_Bps=50e9))))


def small_decode() -> InferenceWorkloadSpec:
    """The shipped decode workload on 2 servers (EP16), 4 layers, KV from servers 2-3."""
    spec = load_workload(WORKLOADS / "deepseek-v3-decode.yaml")
    assert isinstance(spec, InferenceWorkloadSpec) and spec.kv_transfer is not None
    return dataclasses.replace(
        spec,
        layout=dataclasses.replace(spec.layout, dp=16, ep=16),
        model=dataclasses.replace(spec.model, layers=4, dense_layers=1),
        expert_load=dataclasses.replace(spec.expert_load, redundant_experts=16, samples=1),
        kv_transfer=dataclasses.replace(spec.kv_transfer, first_node=2, nodes=2))


def small_prefill(tokens: int, micro_batches: int) -> InferenceWorkloadSpec:
    """The shipped prefill workload on 2 servers (EP16), 4 layers."""
    spec = load_workload(WORKLOADS / "deepseek-v3-prefill.yaml")
    assert isinstance(spec, InferenceWorkloadSpec)
    return dataclasses.replace(
        spec, tokens_per_gpu=tokens, micro_batches=micro_batches,
        layout=dataclasses.replace(spec.layout, dp=16, ep=16),
        model=dataclasses.replace(spec.model, layers=4, dense_layers=1),
        expert_load=dataclasses.replace(spec.expert_load, redundant_experts=16, samples=1))


@pytest.fixture(scope="module")
def decode(mpft: Fabric) -> tuple[Result, JobSummary]:
    """The small decode step, run once."""
    result = simulate(mpft, small_decode())
    return result, result.summary.job


def test_decode_tpot(decode: tuple[Result, JobSummary]) -> None:
    """TPOT is the step time over the tokens a request gains per step (1 + accepted drafts)."""
    _, summary = decode
    assert summary.step_time_s > 0
    assert summary.tpot_s == summary.step_time_s / (1 + 0.85)


def test_decode_tokens_per_s(decode: tuple[Result, JobSummary]) -> None:
    """Tokens/s = GPUs x requests per GPU x (1 + accepted drafts) / step time."""
    _, summary = decode
    assert summary.tokens_per_s == pytest.approx(16 * 128 * 1.85 / summary.step_time_s,
                                                 rel=1e-12)
    assert summary.gpus == 16


def test_decode_alltoall_counts(decode: tuple[Result, JobSummary]) -> None:
    """A dispatch and a combine per MoE layer per micro-batch: 3 MoE layers x 2."""
    _, summary = decode
    a2a = summary.alltoall
    assert a2a["dispatch"].count == 6
    assert a2a["combine"].count == 6
    assert a2a["dispatch"].network_Bps_per_gpu > 0
    # MTP doubles the tokens of a micro-batch: 128 requests / 2 micro-batches x 2 tokens
    assert summary.info["tokens_per_micro_batch"] == 128


def test_decode_kv_cache_flows(decode: tuple[Result, JobSummary]) -> None:
    """16 KV caches of prompt_tokens x 70,272 B go from the prefill servers to 16 decode GPUs."""
    result, _ = decode
    fl = result.flow_table
    kv = fl.tag == fl.tags.index("kv_cache")
    assert kv.sum() == 16
    assert np.all(fl.size_bytes[kv] == 4096 * KV_BYTES_PER_TOKEN)
    assert set(fl.src[kv].tolist()) <= set(range(16, 32))
    assert sorted(fl.dst[kv].tolist()) == list(range(16))


def test_decode_kv_caches_compete_with_the_alltoalls(
        decode: tuple[Result, JobSummary]) -> None:
    """KV caches arriving during a decode step are in flight while the step's all-to-alls run:
    they are released no later than the step's first all-to-all."""
    result, _ = decode
    fl = result.flow_table
    kv = fl.tag == fl.tags.index("kv_cache")
    a2a = np.isin(fl.tag, [fl.tags.index("dispatch"), fl.tags.index("combine")])
    assert fl.release_s[kv].max() <= fl.release_s[a2a].min()


def test_decode_transfers_hold_no_stream(decode: tuple[Result, JobSummary]) -> None:
    """Decode's compute stream runs its ops back to back in the decode pipeline's order."""
    result, _ = decode
    names = _sorted_ops(result, "compute")
    ops = result.op_table
    assert ops is not None
    tasks = _lane0(ops, "compute")
    assert names[:8] == ["attn0 L0.mb0", "attn1 L0.mb0", "attn0 L0.mb1", "mlp L0.mb0",
                         "attn1 L0.mb1", "attn0 L1.mb0", "mlp L0.mb1", "attn1 L1.mb0"]
    assert names[8:16] == ["shared L1.mb0", "attn0 L1.mb1", "mlp L1.mb0", "attn1 L1.mb1",
                           "shared L1.mb1", "attn0 L2.mb0", "mlp L1.mb1", "attn1 L2.mb0"]
    assert np.all(ops.start_s[tasks][1:] >= ops.end_s[tasks][:-1])


def test_low_latency_bridged_needs_joined_planes(mpft: Fabric) -> None:
    """Low-latency kernels with cross_plane bridged are refused on separate planes."""
    spec = small_decode()
    bridged = dataclasses.replace(spec, expert_parallel=dataclasses.replace(
        spec.expert_parallel, cross_plane="bridged"))
    with pytest.raises(SpecError) as info:
        simulate(mpft, bridged)
    # planning names the workload's file, kept through dataclasses.replace
    assert str(info.value) == (
        f"{WORKLOADS / 'deepseek-v3-decode.yaml'}: expert_parallel.cross_plane: bridged planes "
        "need a fabric whose planes are joined (a multi-rail or single-plane tree); this one "
        "has separate planes, got 'bridged'")


def test_low_latency_bridged_on_a_multi_rail_tree(mrft: Fabric) -> None:
    """On a multi-rail tree the bridged decode step runs and has a finite TPOT."""
    spec = small_decode()
    bridged = dataclasses.replace(spec, expert_parallel=dataclasses.replace(
        spec.expert_parallel, cross_plane="bridged"))
    summary = simulate(mrft, bridged).summary.job
    assert summary.tpot_s is not None and np.isfinite(summary.tpot_s) and summary.tpot_s > 0
    assert summary.alltoall["dispatch"].count == 6


@pytest.mark.parametrize("cross_plane", ["source", "destination"])
def test_low_latency_forwarding_on_mpft(mpft: Fabric, cross_plane: str) -> None:
    """Forwarding cross-plane messages at the source or the destination both run on an MPFT;
    without kv_transfer there are no KV-cache flows."""
    spec = small_decode()
    spec = dataclasses.replace(spec, kv_transfer=None, expert_parallel=dataclasses.replace(
        spec.expert_parallel, cross_plane=cross_plane))
    result = simulate(mpft, spec)
    summary = result.summary.job
    assert np.isfinite(summary.step_time_s) and summary.step_time_s > 0
    assert "kv_cache" not in result.flow_table.tags  # no kv_transfer: no KV flows


def _lane0(ops: OpTable, stream: str) -> np.ndarray:
    """The tasks of the first lane's ``stream``, in the order they started."""
    tasks = np.flatnonzero((ops.lane == ops.lane[0]) & (ops.stream == stream))
    return tasks[np.argsort(ops.start_s[tasks], kind="stable")]


def _sorted_ops(result: Result, stream: str) -> list[str]:
    ops = result.op_table
    assert ops is not None
    return [f"{ops.kind[t]} {ops.label[t]}" for t in _lane0(ops, stream)]


@pytest.fixture(scope="module")
def prefill(mpft: Fabric) -> Result:
    """A small two-micro-batch prefill step, run once."""
    return simulate(mpft, small_prefill(1024, 2))


def test_prefill_compute_order(prefill: Result) -> None:
    """Steady state: ATTN(mb1) SHARED(mb0) ATTN(mb0) MLP(mb1) MLP(mb0) SHARED(mb1), mb0 half a
    layer ahead; the dense layer 0 has no shared expert."""
    names = _sorted_ops(prefill, "compute")
    assert names == [
        "attn L0.mb0", "mlp L0.mb0",
        "attn L0.mb1", "attn L1.mb0", "mlp L0.mb1", "mlp L1.mb0",
        "attn L1.mb1", "shared L1.mb0", "attn L2.mb0", "mlp L1.mb1", "mlp L2.mb0",
        "shared L1.mb1",
        "attn L2.mb1", "shared L2.mb0", "attn L3.mb0", "mlp L2.mb1", "mlp L3.mb0",
        "shared L2.mb1",
        "attn L3.mb1", "shared L3.mb0", "mlp L3.mb1", "shared L3.mb1",
    ]


def test_prefill_communication_order(prefill: Result) -> None:
    """Communication: COMBINE(mb0) DISPATCH(mb1) DISPATCH(mb0) COMBINE(mb1) per layer."""
    names = _sorted_ops(prefill, "comm")
    assert names == [
        "dispatch L1.mb0",
        "combine L1.mb0", "dispatch L1.mb1", "dispatch L2.mb0", "combine L1.mb1",
        "combine L2.mb0", "dispatch L2.mb1", "dispatch L3.mb0", "combine L2.mb1",
        "combine L3.mb0", "dispatch L3.mb1", "combine L3.mb1",
    ]


def test_prefill_data_flow(prefill: Result) -> None:
    """Per micro-batch and MoE layer: ATTN ends before DISPATCH starts, DISPATCH before MLP,
    MLP before COMBINE, COMBINE before the next layer's ATTN; streams never overlap."""
    ops = prefill.op_table
    assert ops is not None
    when: dict[str, tuple[float, float]] = {}
    for t in np.flatnonzero(ops.lane == ops.lane[0]):
        when[f"{ops.kind[t]} {ops.label[t]}"] = (ops.start_s[t], ops.end_s[t])
    for mb in (0, 1):
        for layer in (1, 2, 3):
            chain = [f"{k} L{layer}.mb{mb}" for k in ("attn", "dispatch", "mlp", "combine")]
            for a, b in itertools.pairwise(chain):
                assert when[a][1] <= when[b][0], (a, b)
            if layer < 3:
                assert when[chain[-1]][1] <= when[f"attn L{layer + 1}.mb{mb}"][0]
    for stream in ("compute", "comm"):
        tasks = _lane0(ops, stream)
        assert np.all(ops.start_s[tasks][1:] >= ops.end_s[tasks][:-1])


def test_two_micro_batches_hide_communication(mpft: Fabric) -> None:
    """Splitting 4,096 tokens per GPU into two overlapping micro-batches shortens the step and
    exposes less communication than one micro-batch of the same tokens."""
    one = simulate(mpft, small_prefill(4096, 1)).summary.job
    two = simulate(mpft, small_prefill(4096, 2)).summary.job
    assert one.exposed_comm_s > 0.1 * one.step_time_s  # communication matters
    assert two.step_time_s < one.step_time_s
    assert two.exposed_comm_s < one.exposed_comm_s
    assert two.tokens_per_s is not None and one.tokens_per_s is not None
    assert two.tokens_per_s > one.tokens_per_s
    assert one.tokens_per_s == pytest.approx(16 * 4096 / one.step_time_s, rel=1e-12)


def test_expert_load_file_is_used(mpft: Fabric, tmp_path: Path) -> None:
    """``expert_load: {distribution: file}`` reads its CSV of per-expert loads: the step runs
    (or a bad file is a SpecError naming it), never a ValueError."""
    loads = tmp_path / "experts.csv"
    loads.write_text("expert,load\n" + "".join(f"{e},{1 + (e % 8 == 0) * 4}\n"
                                               for e in range(256)), encoding="utf-8")
    (tmp_path / "w.yaml").write_text(
        "name: skewed\nkind: inference\nphase: prefill\nmodel: {layers: 1, dense_layers: 0}\n"
        "layout: {dp: 16, ep: 16}\ntokens_per_gpu: 256\nmicro_batches: 1\n"
        "expert_load: {distribution: file, file: experts.csv, samples: 1}\n",
        encoding="utf-8")
    spec = load_workload(tmp_path / "w.yaml")
    try:
        summary = simulate(mpft, spec).summary.job
    except SpecError as exc:
        assert str(loads) in str(exc)
    else:
        assert summary.step_time_s > 0
