"""Errors found while planning a job on a fabric name the spec's file and the right key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mpft_sim.errors import SpecError
from mpft_sim.spec.schema import in_source
from mpft_sim.spec.topology import load_topology
from mpft_sim.spec.workload import (
    InferenceWorkloadSpec,
    JobsWorkloadSpec,
    KvTransferSpec,
    NcclAllToAllSpec,
    load_workload,
)
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.jobs import build_program
from tests.conftest import DATA, ROOT


@pytest.fixture(scope="module")
def tiny() -> Fabric:
    """4 servers of 2 GPUs."""
    return build_fabric(load_topology(DATA / "csv" / "tiny.yaml"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "w.yaml"
    path.write_text(text, encoding="utf-8")
    return path


DECODE = ("name: d\nkind: inference\nphase: decode\nlayout: {dp: 4, ep: 4}\n"
          "model: {layers: 2, dense_layers: 0, experts: 8, expert_groups: 4, "
          "groups_per_token: 2, top_k: 2}\n")


def _plan(path: Path, fabric: Fabric) -> None:
    workload = load_workload(path)
    with in_source(workload):
        build_program(workload, fabric)


def test_kv_transfer_first_node_beyond_the_fabric(tiny: Fabric, tmp_path: Path) -> None:
    """A prefill server past the last one is reported under kv_transfer.first_node (it was
    reported under kv_transfer.nodes), in the workload's file."""
    path = _write(tmp_path, DECODE + "kv_transfer: {first_node: 9, nodes: 1}\n")
    with pytest.raises(SpecError) as info:
        _plan(path, tiny)
    assert str(info.value) == f"{path}: kv_transfer.first_node: the fabric has 4 servers, got 9"


def test_kv_transfer_running_past_the_fabric(tiny: Fabric, tmp_path: Path) -> None:
    """Prefill servers that start inside the fabric but run past it are a kv_transfer.nodes
    problem."""
    path = _write(tmp_path, DECODE + "kv_transfer: {first_node: 2, nodes: 3}\n")
    with pytest.raises(SpecError) as info:
        _plan(path, tiny)
    assert str(info.value) == (f"{path}: kv_transfer.nodes: the fabric has 4 servers: 3 from "
                               "server 2 on run past the last, got 3")


def test_layout_first_node_beyond_the_fabric(tiny: Fabric, tmp_path: Path) -> None:
    """A job whose first server does not exist is a layout.first_node problem."""
    path = _write(tmp_path, DECODE.replace("layout: {dp: 4, ep: 4}",
                                           "layout: {dp: 4, ep: 4, first_node: 7}"))
    with pytest.raises(SpecError) as info:
        _plan(path, tiny)
    assert str(info.value) == f"{path}: layout.first_node: the fabric has 4 servers, got 7"


def test_nccl_first_node_beyond_the_fabric(tiny: Fabric, tmp_path: Path) -> None:
    """An all-to-all starting past the last server is a first_node problem, not a gpus one."""
    path = _write(tmp_path, "name: n\nkind: nccl-alltoall\ngpus: 2\nmessage: 1MiB\n"
                            "first_node: 5\n")
    with pytest.raises(SpecError) as info:
        _plan(path, tiny)
    assert str(info.value) == f"{path}: first_node: the fabric has 4 servers, got 5"


def test_too_many_gpus_names_the_file(tiny: Fabric, tmp_path: Path) -> None:
    """A job larger than the fabric names the workload file and its layout."""
    path = _write(tmp_path, DECODE.replace("dp: 4, ep: 4", "dp: 16, ep: 16"))
    with pytest.raises(SpecError) as info:
        _plan(path, tiny)
    assert str(info.value) == (f"{path}: layout: the job needs 16 GPUs from server 0 on, but "
                               "the fabric has 8 GPUs (4 servers), got 'pp=1 dp=16'")


def test_jobs_sharing_a_gpu_name_the_file(tiny: Fabric, tmp_path: Path) -> None:
    """Two jobs on one GPU: the message names the jobs file."""
    path = _write(tmp_path, "name: j\nkind: jobs\njobs:\n"
                            "  - {name: a, kind: nccl-alltoall, gpus: 4, message: 1MiB}\n"
                            "  - {name: b, kind: nccl-alltoall, gpus: 4, message: 1MiB, "
                            "first_node: 1}\n")
    with pytest.raises(SpecError) as info:
        _plan(path, tiny)
    assert str(info.value) == f"{path}: jobs: jobs 'a' and 'b' both use GPU n1/gpu0"


def test_a_job_of_a_list_names_its_place_and_the_file(tiny: Fabric, tmp_path: Path) -> None:
    """Within a jobs workload, a job's planning error is under jobs[i]."""
    path = _write(tmp_path, "name: j\nkind: jobs\njobs:\n"
                            "  - {name: a, kind: nccl-alltoall, gpus: 2, message: 1MiB}\n"
                            "  - {name: b, kind: nccl-alltoall, gpus: 2, message: 1MiB, "
                            "first_node: 8}\n")
    workload = load_workload(path)
    assert isinstance(workload, JobsWorkloadSpec)
    assert [job.source for job in workload.jobs] == [str(path)] * 2
    with pytest.raises(SpecError) as info:
        _plan(path, tiny)
    assert str(info.value) == f"{path}: jobs[1].first_node: the fabric has 4 servers, got 8"


def test_in_source_keeps_a_file_the_error_already_names(tiny: Fabric, tmp_path: Path) -> None:
    """An error about another file (a rank map) keeps that file and its own key."""
    ranks = tmp_path / "ranks.csv"
    ranks.write_text("rank,gpu\n0,n0/gpu0\n1,n0/gpu0\n2,n1/gpu0\n3,n1/gpu1\n", encoding="utf-8")
    path = _write(tmp_path, DECODE.replace("layout: {dp: 4, ep: 4}",
                                           "layout: {dp: 4, ep: 4, rank_map: ranks.csv}"))
    with pytest.raises(SpecError) as info:
        _plan(path, tiny)
    assert str(info.value) == f"{ranks}: two ranks share a GPU"


def test_in_source_with_a_spec_built_in_code(tiny: Fabric) -> None:
    """A spec built in code has no file: the error keeps its key and gains the prefix."""
    spec = NcclAllToAllSpec(name="n", kind="nccl-alltoall", gpus=2, message_bytes=1.0,
                            first_node=6)
    with pytest.raises(SpecError) as info, in_source(spec, prefix=("jobs", 3)):
        build_program(spec, tiny)
    assert str(info.value) == "jobs[3].first_node: the fabric has 4 servers, got 6"


def test_replace_keeps_the_file_for_later_errors(tiny: Fabric) -> None:
    """A workload edited in code (as sweeps and examples do) still names its file."""
    path = ROOT / "workloads" / "deepseek-v3-decode.yaml"
    decode = load_workload(path)
    assert isinstance(decode, InferenceWorkloadSpec) and decode.kv_transfer is not None
    moved = dataclasses.replace(decode, kv_transfer=KvTransferSpec(first_node=40))
    assert moved.source == str(path)
    with pytest.raises(SpecError) as info, in_source(moved):
        build_program(moved, tiny)
    assert str(info.value).startswith(f"{path}: layout: the job needs 144 GPUs")
