"""The shipped program workloads run, scaled down to a small fabric, with the published
figures where the arithmetic gives them."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mpft_sim.engine import simulate
from mpft_sim.results.summary import to_plain
from mpft_sim.spec.topology import FabricSpec, SwitchSpec, TopologySpec
from mpft_sim.spec.workload import (
    InferenceWorkloadSpec,
    NcclAllToAllSpec,
    TrainingWorkloadSpec,
    load_workload,
)
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from tests.conftest import ROOT

Run = Callable[..., tuple[int, str, str]]
WORKLOADS = ROOT / "workloads"
DISPATCH_RECORD = 7472  # FP8 normal dispatch record of V3 (hidden, scales, meta, top-k)
COMBINE_RECORD = 14384  # BF16 normal combine record
NIC_Bps = 50e9


@pytest.fixture(scope="module")
def mpft() -> Fabric:
    """16 servers of 8 GPUs, 8 planes of radix-8 switches."""
    return build_fabric(TopologySpec(name="mpft16", fabric=FabricSpec(
        kind="multi-plane-fat-tree", planes=8, nodes=16,
        switch=SwitchSpec(radix=8, port_bandwidth_Bps=50e9))))


def scaled(name: str) -> Any:
    """A shipped workload cut down to 2-4 servers, 4 layers and one routing sample."""
    spec = load_workload(WORKLOADS / f"{name}.yaml")
    if isinstance(spec, NcclAllToAllSpec):
        return dataclasses.replace(spec, gpus=16)
    assert isinstance(spec, TrainingWorkloadSpec | InferenceWorkloadSpec)
    model = dataclasses.replace(spec.model, layers=min(spec.model.layers, 4),
                                dense_layers=min(spec.model.dense_layers, 1))
    load = dataclasses.replace(spec.expert_load, samples=1)
    if isinstance(spec, TrainingWorkloadSpec):
        return dataclasses.replace(
            spec, model=model, expert_load=load,
            layout=dataclasses.replace(spec.layout, pp=2, dp=16, ep=16),
            batch=dataclasses.replace(spec.batch, tokens=512, micro_batches=4, sequence=512))
    if load.redundant_experts:
        # keep the slots a multiple of the 16 ranks: 256 (+1 shared) + redundant
        load = dataclasses.replace(load, redundant_experts=16 - int(spec.shared_as_routed))
    out = dataclasses.replace(spec, model=model, expert_load=load,
                              tokens_per_gpu=min(spec.tokens_per_gpu, 1024),
                              layout=dataclasses.replace(spec.layout, dp=16, ep=16))
    if out.kv_transfer is not None:
        out = dataclasses.replace(out, kv_transfer=dataclasses.replace(
            out.kv_transfer, first_node=2, nodes=2))
    return out


PROGRAMS = ["deepseek-v3-train", "deepseek-v3-train-16k", "deepseek-v3-train-short",
            "deepseek-v3-prefill",
            "deepseek-v3-decode",
            "deepseek-v3-decode-ep320", "ep-alltoall", "nccl-alltoall"]


def test_every_program_workload_is_covered() -> None:
    """Every shipped workload other than a flow list is exercised here."""
    kinds = {p.stem: load_workload(p).kind for p in WORKLOADS.glob("*.yaml")}
    assert sorted(k for k, v in kinds.items() if v != "flows") == sorted(PROGRAMS)


@pytest.mark.parametrize("name", PROGRAMS)
def test_scaled_workload_runs(name: str, mpft: Fabric) -> None:
    """The scaled-down workload simulates to a finite, positive step time."""
    spec = scaled(name)
    result = simulate(mpft, spec)
    summary = result.summary.job
    assert np.isfinite(summary.step_time_s) and summary.step_time_s > 0
    assert summary.name == spec.name
    if spec.kind == "training":
        assert summary.breakdown is not None
        assert summary.breakdown.total_s() == pytest.approx(summary.step_time_s, rel=1e-9)
        assert summary.tokens_per_s == pytest.approx(
            512 * 4 * 16 / summary.step_time_s, rel=1e-12)
        assert {"dispatch", "combine"} <= set(summary.alltoall)
    if spec.kind == "inference":
        assert summary.tokens_per_s is not None and summary.tokens_per_s > 0
        assert (summary.tpot_s is not None) == (spec.phase == "decode")


@pytest.fixture(scope="module")
def ep16(mpft: Fabric) -> dict[str, Any]:
    """The shipped ep-alltoall benchmark at EP16 (2 servers), 4,096 tokens per GPU."""
    spec = load_workload(WORKLOADS / "ep-alltoall.yaml")
    assert isinstance(spec, InferenceWorkloadSpec)
    assert spec.tokens_per_gpu == 4096
    spec = dataclasses.replace(spec, layout=dataclasses.replace(spec.layout, dp=16, ep=16))
    return to_plain(simulate(mpft, spec).summary.job)


def test_ep16_dispatch_network_bytes(ep16: dict[str, Any]) -> None:
    """Dispatch puts ~0.98 RDMA copies x 7,472 B per token on the network per GPU (3%), and
    exactly the sample's copies per token x tokens x 7,472 B."""
    net = ep16["alltoall"]["dispatch"]["network_bytes_per_gpu"]
    assert net == pytest.approx(4096 * 0.98 * DISPATCH_RECORD, rel=0.03)
    copies = ep16["info"]["fanout"]["ib_copies_per_token"]
    assert 0.95 < copies < 1 - 1 / 70 + 1e-9  # at most P(a token needs the other node)
    assert net == pytest.approx(copies * 4096 * DISPATCH_RECORD, rel=1e-12)


def test_ep16_combine_mirrors_dispatch(ep16: dict[str, Any]) -> None:
    """Combine sends the same rows back, in 14,384 B BF16 records instead of 7,472 B."""
    a2a = ep16["alltoall"]
    assert a2a["combine"]["network_bytes_per_gpu"] == pytest.approx(
        a2a["dispatch"]["network_bytes_per_gpu"] * COMBINE_RECORD / DISPATCH_RECORD, rel=1e-12)
    assert a2a["dispatch"]["count"] == a2a["combine"]["count"] == 1


def test_ep16_step_is_the_two_alltoalls(ep16: dict[str, Any]) -> None:
    """With zero compute the step is the dispatch followed by the combine."""
    a2a = ep16["alltoall"]
    assert ep16["step_time_s"] == pytest.approx(a2a["dispatch"]["mean_s"]
                                                + a2a["combine"]["mean_s"], rel=1e-9)
    assert a2a["dispatch"]["network_Bps_per_gpu"] == pytest.approx(
        a2a["dispatch"]["network_bytes_per_gpu"] / a2a["dispatch"]["mean_s"], rel=1e-12)
    assert a2a["dispatch"]["network_Bps_per_gpu"] <= NIC_Bps


@pytest.mark.parametrize("gpus", [16, 32])
def test_nccl_alltoall_algbw(gpus: int, mpft: Fabric) -> None:
    """algbw = message x (N - 1) / time; with PXN each NIC sends N - 8 messages, so the time is
    that at 50 GB/s plus a few microseconds of latency."""
    spec = load_workload(WORKLOADS / "nccl-alltoall.yaml")
    assert isinstance(spec, NcclAllToAllSpec)
    spec = dataclasses.replace(spec, gpus=gpus)
    summary = simulate(mpft, spec).summary.job
    assert summary.nccl is not None
    time = summary.nccl.mean_s
    assert summary.nccl.algbw_Bps_per_gpu == pytest.approx(2 ** 20 * (gpus - 1) / time,
                                                           rel=1e-12)
    bound = (gpus - 8) * 2 ** 20 / NIC_Bps
    assert bound < time < bound + 10e-6
    # two back-to-back all-to-alls make the step
    assert summary.step_time_s == pytest.approx(2 * time, rel=1e-9)


def test_cli_simulate_writes_program_outputs(run_cli: Run, tmp_path: Path) -> None:
    """``mpft-sim simulate`` on a program workload writes ops.csv and a summary with the step."""
    topo = tmp_path / "mpft16.yaml"
    topo.write_text("name: mpft16\nfabric:\n  kind: multi-plane-fat-tree\n  planes: 8\n"
                    "  nodes: 16\n  switch: {radix: 8, port_bandwidth: 400Gb/s}\n",
                    encoding="utf-8")
    work = tmp_path / "a2a.yaml"
    work.write_text((WORKLOADS / "nccl-alltoall.yaml").read_text(encoding="utf-8")
                    .replace("gpus: 64", "gpus: 16"), encoding="utf-8")
    code, out, err = run_cli("simulate", topo, work, "-q", "-o", tmp_path / "out")
    assert code == 0, err
    assert "step time" in out
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert {"flows.csv", "links.csv", "ops.csv", "summary.json", "timeline.csv"} <= set(names)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["jobs"][0]["step_time_s"] > 0
    assert summary["info"]["workload_file"] == str(work)
    ops = (tmp_path / "out" / "ops.csv").read_text(encoding="utf-8").splitlines()
    assert ops[0] == "id,job,lane,ranks,stream,kind,category,label,chunk,start_s,end_s,flows"
    assert len(ops) == 1 + 2  # two back-to-back all-to-alls
    assert ops[1].split(",")[2:6] == ["nccl-alltoall:all", "0-15", "comm", "nccl_alltoall"]
    assert int(ops[1].split(",")[-1]) == 16 * 15
