"""Workload YAML is validated once, with file, key path and bad value in every message."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from mpft_sim.errors import SpecError
from mpft_sim.spec.workload import (
    FlowsWorkloadSpec,
    InferenceWorkloadSpec,
    JobsWorkloadSpec,
    LayoutSpec,
    NcclAllToAllSpec,
    TrainingWorkloadSpec,
    load_workload,
)
from tests.conftest import DATA, ROOT, TOPOLOGIES

Run = Callable[..., tuple[int, str, str]]
BAD = DATA / "bad_workload"
WORKLOADS = ROOT / "workloads"
SHIPPED = sorted(WORKLOADS.glob("*.yaml"))

# One fixture per failure mode, with the whole message the CLI prints after "Error: <file>: ".
CASES = {
    "unknown_key": "layout.ppp: unknown key (did you mean 'pp'?)",
    "unknown_kind": "kind: must be one of 'training', 'inference', 'nccl-alltoall', 'flows', "
    "'jobs', got 'trainig'",
    "missing_kind": "kind: missing required key",
    "not_a_mapping": "expected a mapping of keys",
    "ep_not_dividing_dp": "layout.ep: must divide dp (12), got 8",
    "dualpipe_odd_pp": "layout.pp: dualpipe needs an even number of pipeline ranks, got 3",
    "training_defaults": "layout.pp: dualpipe needs an even number of pipeline ranks, got 1",
    "dualpipe_few_micro_batches": "batch.micro_batches: dualpipe with pp=4 needs at least 8 "
    "and even micro-batches, got 6",
    "dualpipe_odd_micro_batches": "batch.micro_batches: dualpipe with pp=4 needs at least 8 "
    "and even micro-batches, got 9",
    "experts_not_divisible_by_ep": "layout.ep: must divide the 256 routed experts, got 24",
    "top_k_not_multiple_of_groups": "model.top_k: must be a multiple of groups_per_token (4): "
    "a group's score is the sum of its top top_k/groups_per_token, got 6",
    "dense_layers_above_layers": "model.dense_layers: must be at most the 4 layers, got 5",
    "bad_peak_unit": "compute.peak: unknown flops unit 'TFLOP' (try '989TFLOP/s'), "
    "got '989TFLOP'",
    "unknown_duration_component": "compute.durations.attn_backward: unknown component (known: "
    "attention0_forward, attention1_forward, attention_backward_input, "
    "attention_backward_weight, attention_forward, mlp_backward_input, mlp_backward_weight, "
    "mlp_forward, optimizer, shared_forward; or an operator and pass, such as "
    "q_up_backward_input)",
    "inference_with_pp": "layout.pp: inference runs without pipeline parallelism, got 2",
    "bad_phase": "phase: must be one of 'prefill', 'decode' (did you mean 'decode'?), "
    "got 'decoding'",
    "micro_batches_above_two": "micro_batches: must be at most 2, got 3",
    "file_load_without_file": "expert_load.file: give file (or weights) exactly when "
    "distribution is "
    "'file', got None",
    "flows_without_file": "flows: missing required key",
    "empty_jobs": "jobs: expected a non-empty list of jobs, got []",
    "job_bad_key": "jobs[1].layout.dpp: unknown key (did you mean 'pp'?)",
    "job_kind_flows": "jobs[0].kind: must be one of 'training', 'inference', 'nccl-alltoall', "
    "got 'flows'",
    "training_low_latency": "expert_parallel.kernel: training uses the normal kernels, "
    "got 'low-latency'",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_workload_message(case: str) -> None:
    """Each failure mode raises SpecError naming the file, the key path and the bad value."""
    path = BAD / f"{case}.yaml"
    with pytest.raises(SpecError) as info:
        load_workload(path)
    assert str(info.value) == f"{path}: {CASES[case]}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_workload_cli(case: str, run_cli: Run, tmp_path: Path) -> None:
    """``mpft-sim simulate`` with a bad workload prints one Error line and exits 1."""
    path = BAD / f"{case}.yaml"
    code, out, err = run_cli("simulate", TOPOLOGIES / "tiny-mpft.yaml", path, "-q",
                             "-o", tmp_path / "out")
    assert (code, out) == (1, "")
    assert err == f"Error: {path}: {CASES[case]}\n"
    assert not (tmp_path / "out").exists()


def test_every_fixture_is_covered() -> None:
    """No YAML fixture under tests/data/bad_workload is left without an asserted message."""
    assert {p.stem for p in BAD.glob("*.yaml")} == set(CASES)


def test_missing_file() -> None:
    """A workload path that does not exist is a SpecError, not an OSError."""
    path = BAD / "no-such-file.yaml"
    with pytest.raises(SpecError) as info:
        load_workload(path)
    assert str(info.value) == f"{path}: file not found"


def test_the_expected_workloads_are_shipped() -> None:
    """The workloads the docs promise are all there."""
    assert {p.stem for p in SHIPPED} == {
        "deepseek-v3-train", "deepseek-v3-train-16k", "deepseek-v3-train-short",
        "deepseek-v3-prefill", "deepseek-v3-decode", "deepseek-v3-decode-ep320", "ep-alltoall",
        "nccl-alltoall", "example-flows"}


KIND_OF = {
    "deepseek-v3-train": TrainingWorkloadSpec,
    "deepseek-v3-train-16k": TrainingWorkloadSpec,
    "deepseek-v3-train-short": TrainingWorkloadSpec,
    "deepseek-v3-prefill": InferenceWorkloadSpec,
    "deepseek-v3-decode": InferenceWorkloadSpec,
    "deepseek-v3-decode-ep320": InferenceWorkloadSpec,
    "ep-alltoall": InferenceWorkloadSpec,
    "nccl-alltoall": NcclAllToAllSpec,
    "example-flows": FlowsWorkloadSpec,
}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_workload_loads(path: Path) -> None:
    """Every shipped workload validates, is of the expected kind and is named after its file."""
    spec = load_workload(path)
    assert spec.name == path.stem
    assert type(spec) is KIND_OF[path.stem]


def test_shipped_values() -> None:
    """The shipped V3 workloads carry the published layouts and sizes."""
    train = load_workload(WORKLOADS / "deepseek-v3-train.yaml")
    assert isinstance(train, TrainingWorkloadSpec)
    assert (train.layout.pp, train.layout.dp, train.layout.ep) == (16, 128, 64)
    assert train.layout.ranks == 2048
    full = load_workload(WORKLOADS / "deepseek-v3-train-16k.yaml")
    assert isinstance(full, TrainingWorkloadSpec)
    assert (full.layout.pp, full.layout.dp, full.layout.ep) == (16, 1024, 64)
    assert full.layout.ranks == 16384
    assert full.model == train.model and full.compute == train.compute
    assert train.compute.peak_flops == 989e12
    decode = load_workload(WORKLOADS / "deepseek-v3-decode.yaml")
    assert isinstance(decode, InferenceWorkloadSpec)
    assert decode.phase == "decode" and decode.mtp_accepted == 0.85
    assert decode.kv_transfer is not None and decode.kv_transfer.first_node == 18
    nccl = load_workload(WORKLOADS / "nccl-alltoall.yaml")
    assert isinstance(nccl, NcclAllToAllSpec)
    assert (nccl.gpus, nccl.message_bytes, nccl.repeat, nccl.pxn) == (64, 1024 ** 2, 2, True)


def test_flows_path_resolves_against_the_yaml_folder(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """The flows CSV of example-flows.yaml is found next to the YAML, whatever the cwd."""
    monkeypatch.chdir(tmp_path)
    spec = load_workload(WORKLOADS / "example-flows.yaml")
    assert isinstance(spec, FlowsWorkloadSpec)
    assert Path(spec.flows) == WORKLOADS / "example-flows.csv"
    assert Path(spec.flows).is_file()


def test_relative_paths_resolve_against_the_yaml_folder(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """rank_map and expert_load.file (also inside jobs) start at the YAML file's folder; the
    loads file is read when the workload loads."""
    folder = tmp_path / "cfg"
    folder.mkdir()
    loads = "expert,load\n" + "".join(f"{e},{1 + e % 2}\n" for e in range(256))
    (folder / "loads").mkdir()
    (folder / "loads" / "experts.csv").write_text(loads, encoding="utf-8")
    (tmp_path / "l.csv").write_text(loads, encoding="utf-8")
    (folder / "w.yaml").write_text(
        "name: w\nkind: inference\nphase: prefill\n"
        "layout: {dp: 8, ep: 8, rank_map: maps/ranks.csv}\n"
        "expert_load: {distribution: file, file: loads/experts.csv}\n", encoding="utf-8")
    (folder / "j.yaml").write_text(
        "name: j\nkind: jobs\njobs:\n"
        "  - {name: a, kind: nccl-alltoall, gpus: 8, message: 1MiB}\n"
        "  - {name: b, kind: inference, phase: decode, layout: {dp: 8, ep: 8, "
        "rank_map: ../maps/r.csv},\n"
        f"     expert_load: {{distribution: file, file: {tmp_path}/l.csv}}}}\n",
        encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)
    spec = load_workload(folder / "w.yaml")
    assert isinstance(spec, InferenceWorkloadSpec)
    assert Path(str(spec.layout.rank_map)) == folder / "maps" / "ranks.csv"
    assert Path(str(spec.expert_load.file)) == folder / "loads" / "experts.csv"
    assert spec.expert_load.weights[:3] == (1.0, 2.0, 1.0)
    jobs = load_workload(folder / "j.yaml")
    assert isinstance(jobs, JobsWorkloadSpec)
    job = jobs.jobs[1]
    assert isinstance(job, InferenceWorkloadSpec)
    assert Path(str(job.layout.rank_map)) == folder / ".." / "maps" / "r.csv"
    assert Path(str(job.expert_load.file)) == tmp_path / "l.csv"  # absolute: kept as is


def test_yaml_path_relative_to_the_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    """A YAML path given relative to the cwd still finds its flows CSV."""
    monkeypatch.chdir(ROOT)
    spec = load_workload("workloads/example-flows.yaml")
    assert isinstance(spec, FlowsWorkloadSpec)
    assert Path(spec.flows) == Path("workloads") / "example-flows.csv"
    assert Path(spec.flows).is_file()


def test_jobs_keep_their_order_and_kinds(tmp_path: Path) -> None:
    """A jobs workload holds one validated spec per job, in file order."""
    text = (BAD / "job_bad_key.yaml").read_text(encoding="utf-8").replace("dpp", "dp")
    (tmp_path / "jobs.yaml").write_text(text + "    schedule: 1f1b\n"
                                        "    batch: {micro_batches: 1}\n", encoding="utf-8")
    spec = load_workload(tmp_path / "jobs.yaml")
    assert isinstance(spec, JobsWorkloadSpec)
    assert [(j.name, j.kind) for j in spec.jobs] == [("a2a", "nccl-alltoall"),
                                                     ("train", "training")]
    nccl, train = spec.jobs
    assert isinstance(nccl, NcclAllToAllSpec) and nccl.message_bytes == 2 ** 20
    assert isinstance(train, TrainingWorkloadSpec)
    assert (train.layout.dp, train.layout.ep, train.layout.first_node) == (8, 8, 2)


def test_spec_built_in_code_is_validated() -> None:
    """Bounds and cross-field rules hold for workload specs built in code, too."""
    with pytest.raises(SpecError) as info:
        LayoutSpec(pp=1, dp=12, ep=8)
    assert str(info.value) == "ep: must divide dp (12), got 8"
    good = InferenceWorkloadSpec(name="i", kind="inference", phase="decode",
                                 layout=LayoutSpec(dp=16, ep=16))
    with pytest.raises(SpecError) as info:
        dataclasses.replace(good, layout=LayoutSpec(pp=2, dp=16, ep=16))
    assert str(info.value) == "layout.pp: inference runs without pipeline parallelism, got 2"
    with pytest.raises(SpecError, match="must be positive"):
        NcclAllToAllSpec(name="n", kind="nccl-alltoall", gpus=16, message_bytes=0.0)
    with pytest.raises(SpecError, match="must be at least 2"):
        NcclAllToAllSpec(name="n", kind="nccl-alltoall", gpus=1, message_bytes=1.0)


def test_default_training_spec_is_valid_or_a_spec_error() -> None:
    """A training spec built in code with its defaults is a SpecError if invalid, never a
    ValueError."""
    try:
        TrainingWorkloadSpec(name="t", kind="training")
    except SpecError as exc:
        assert exc.key == ("layout", "pp")


def test_validate_accepts_workloads(run_cli: Run) -> None:
    """``mpft-sim validate`` recognises workload files and prints an ok line for each."""
    code, out, err = run_cli("validate", *SHIPPED)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == len(SHIPPED)
    for path, line in zip(SHIPPED, lines, strict=True):
        assert line.startswith(f"ok: {path} (")
        assert repr(path.stem) in line


def test_validate_reports_a_bad_workload(run_cli: Run) -> None:
    """``mpft-sim validate`` on a bad workload prints the workload's own message."""
    path = BAD / "ep_not_dividing_dp.yaml"
    code, out, err = run_cli("validate", path)
    assert (code, out) == (1, "")
    assert err == f"Error: {path}: {CASES['ep_not_dividing_dp']}\n"


def test_expert_loads_file_errors(tmp_path: Path) -> None:
    """A loads file with a missing expert, a bad row or a bad header is an error naming it."""
    yaml_text = ("name: w\nkind: inference\nphase: prefill\nlayout: {dp: 8, ep: 8}\n"
                 "expert_load: {distribution: file, file: loads.csv}\n")
    (tmp_path / "w.yaml").write_text(yaml_text, encoding="utf-8")
    csv_path = tmp_path / "loads.csv"
    cases = {
        "expert,load\n" + "".join(f"{e},1\n" for e in range(255)):
            "expert 255 has no row (1 missing)",
        "expert,load\n0,-1\n": "row 2: load must be non-negative, got '-1'",
        "expert,load\n300,1\n": "row 2: expert: the model has 256 experts, got 300",
        "e,l\n": "row 1: the header must be expert,load, got 'e,l'",
    }
    for text, message in cases.items():
        csv_path.write_text(text, encoding="utf-8")
        with pytest.raises(SpecError) as info:
            load_workload(tmp_path / "w.yaml")
        assert str(info.value) == f"{csv_path}: {message}"
