"""Every number has bounds: finite, positive where it must be, and a ceiling where more is
meaningless; every shipped input and a 16,384-GPU training step sit below the ceilings."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from mpft_sim.errors import SpecError
from mpft_sim.spec import load_input
from mpft_sim.spec.limits import MAX_GPUS, MAX_NODES, MAX_RADIX
from mpft_sim.spec.topology import TopologySpec, load_topology
from mpft_sim.spec.workload import LayoutSpec, TrainingWorkloadSpec, load_workload
from mpft_sim.sweep.spec import load_sweep
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.flows import read_flow_csv
from mpft_sim.workload.layout import place_ranks
from tests.conftest import DATA, ROOT

Run = Callable[..., tuple[int, str, str]]
BOUNDS = DATA / "bounds"
CSV = DATA / "csv"

# One fixture per bound class, with the whole message after "<file>: ".
CASES = {
    # topology
    "radix_2_64": "fabric.switch.radix: must be at most 1,024 (the highest switch radix sold), "
    "got 18446744073709551616",
    "nodes_above_ceiling": "fabric.nodes: must be at most 2,097,152 (two million servers), "
    "got 10000000",
    "gpus_above_ceiling": "fabric.nodes: 1,048,576 servers of 1,024 GPUs are more than "
    "16,777,216 GPUs (80 times the largest cluster built), got 1048576",
    "infinite_bandwidth": "fabric.switch.port_bandwidth: must be a finite number, "
    "got '1e400Gb/s'",
    "bandwidth_above_ceiling": "node.nic.bandwidth: must be at most 1e+15 B/s (500 times the "
    "fastest link), got '10PB/s'",
    "latency_above_ceiling": "fabric.latency.switch: must be at most 1 s (10**5 times any "
    "measured latency), got '5s'",
    "efficiency_nan": "node.nvlink.efficiency: must be a finite number, got nan",
    "name_with_path": "name: is used as a folder name: no '/', '\\', '.' or '..', got '../../x'",
    "name_empty": "name: must not be empty, got ''",
    # price book
    "price_above_ceiling": "switch: must be at most 1,000,000,000 (a billion dollars per "
    "part), got 1000000000000.0",
    # workloads
    "duration_negative": "compute.durations.mlp_forward: must be non-negative, got '-1ms'",
    "duration_infinite": "compute.durations.mlp_forward: must be a finite number, "
    "got '1e400s'",
    "duration_above_ceiling": "compute.durations.mlp_forward: must be at most 86,400 s (a day), "
    "got '172800s'",
    "tokens_above_ceiling": "tokens_per_gpu: must be at most 1,048,576 (256 times "
    "DeepSeek-V3's 4,096), got 1000000000000",
    "steps_above_ceiling": "steps: must be at most 1,024 (consecutive steps simulated), "
    "got 1000000000",
    "samples_above_ceiling": "expert_load.samples: must be at most 1,024 (8 give steady "
    "statistics), got 1000000000",
    "weights_infinite": "expert_load.weights[1]: must be a finite number, got inf",
    "weights_all_zero": "expert_load.weights: every load is zero: at least one expert must get "
    "tokens, got (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)",
    "seed_above_ceiling": "seed: must be at most 18,446,744,073,709,551,615 (seeds are 64-bit), "
    "got 18446744073709551616",
    "layers_above_ceiling": "model.layers: must be at most 1,024 (8 times the deepest "
    "published model), got 1000000000",
    "micro_batches_above_ceiling": "batch.micro_batches: must be at most 4,096 (34 times "
    "DeepSeek-V3's 120), got 1000000000",
    "repeat_above_ceiling": "repeat: must be at most 1,024 (back-to-back repetitions), "
    "got 1000000000",
    "message_above_ceiling": "message: must be at most 1,099,511,627,776 bytes (1 TiB, more "
    "than any GPU's memory), got '1024TiB'",
}
# The expert-load files are named by their own errors.
CSV_CASES = {
    "loads_csv_infinite": ("loads_infinite.csv", "row 3: load must be a finite number, "
                                                 "got 'inf'"),
    "loads_csv_all_zero": ("loads_all_zero.csv", "every load is zero: at least one expert must "
                                                 "get tokens"),
}
SWEEP_CASES = {
    "sweep_too_many_points": "grid: the grid has 110,000 points, more than 100,000 (days of "
    "simulation): sweep fewer values, or split the sweep",
    "sweep_tolerance_one": "tolerance: must be less than 1 (a relative time quantum), got 1",
    "sweep_tolerance_nan": "tolerance: must be a finite number, got nan",
    "sweep_grid_tolerance_inf": "grid.tolerance[1]: must be less than 1 (a relative time "
    "quantum), got inf",
    "sweep_grid_nodes_above_ceiling": "grid.nodes[1]: must be at most 2,097,152 (two million "
    "servers), got 10000000",
    "sweep_name_with_path": "name: is used as a folder name: no '/', '\\', '.' or '..', "
    "got 'a/../../b'",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bound_message(case: str) -> None:
    """Each bound is a SpecError naming the file, the key path, the bound and the value."""
    path = BOUNDS / f"{case}.yaml"
    with pytest.raises(SpecError) as info:
        load_input(path)
    assert str(info.value) == f"{path}: {CASES[case]}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_bound_cli(case: str, run_cli: Run) -> None:
    """``mpft-sim validate`` prints the same message on one Error line and exits 1."""
    path = BOUNDS / f"{case}.yaml"
    code, out, err = run_cli("validate", path)
    assert (code, out) == (1, "")
    assert err == f"Error: {path}: {CASES[case]}\n"


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_expert_load_file_bound(case: str) -> None:
    """Infinite or all-zero loads in a loads file are SpecErrors naming that file."""
    csv_name, message = CSV_CASES[case]
    with pytest.raises(SpecError) as info:
        load_workload(BOUNDS / f"{case}.yaml")
    assert str(info.value) == f"{BOUNDS / csv_name}: {message}"


@pytest.mark.parametrize("case", sorted(SWEEP_CASES))
def test_sweep_bound(case: str, run_cli: Run, tmp_path: Path) -> None:
    """A sweep out of bounds is refused when it loads, and by ``mpft-sim sweep`` up front."""
    path = BOUNDS / f"{case}.yaml"
    with pytest.raises(SpecError) as info:
        load_sweep(path)
    assert str(info.value) == f"{path}: {SWEEP_CASES[case]}"
    code, out, err = run_cli("sweep", path, "-o", tmp_path / "out")
    assert (code, out, err) == (1, "", f"Error: {path}: {SWEEP_CASES[case]}\n")
    assert not (tmp_path / "out").exists()


def test_every_fixture_is_covered() -> None:
    """No fixture under tests/data/bounds is left without an asserted message."""
    csv_files = {name for name, _ in CSV_CASES.values()}
    assert {p.name for p in BOUNDS.iterdir()} == (
        {f"{c}.yaml" for c in [*CASES, *CSV_CASES, *SWEEP_CASES]} | csv_files)


# -- the ceilings leave room for every real input ---------------------------------------------

SHIPPED = sorted([*(ROOT / "topologies").glob("*.yaml"), *(ROOT / "workloads").glob("*.yaml"),
                  ROOT / "mpft_sim" / "data" / "prices.yaml"])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_inputs_are_within_bounds(path: Path) -> None:
    """Every shipped design, workload and price book loads, and remembers its file."""
    _, spec = load_input(path)
    assert spec.source == str(path)


@pytest.mark.parametrize("path", sorted((ROOT / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_sweeps_are_within_bounds(path: Path) -> None:
    """Every shipped sweep loads."""
    assert load_sweep(path).source == str(path)


def test_a_16k_gpu_training_step_is_within_bounds() -> None:
    """pp16 dp1024 ep64 on the 16,384-GPU MPFT (the largest job the paper discusses) is valid,
    and its ranks fill the fabric exactly."""
    topology = load_topology(ROOT / "topologies" / "mpft-16k.yaml")
    train = load_workload(ROOT / "workloads" / "deepseek-v3-train.yaml")
    assert isinstance(train, TrainingWorkloadSpec)
    step = dataclasses.replace(train, layout=LayoutSpec(pp=16, dp=1024, ep=64))
    assert step.layout.ranks == 16_384 == topology.fabric.planes * 2048


def test_the_largest_designs_within_the_ceilings_are_valid() -> None:
    """A design at the ceilings (radix 1,024, 2**24 GPUs) is accepted: they are ceilings, not
    traps."""
    spec = load_topology(ROOT / "topologies" / "ft3-64k.yaml")
    fabric = dataclasses.replace(spec.fabric, nodes=MAX_GPUS.value // 8,
                                 switch=dataclasses.replace(spec.fabric.switch,
                                                            radix=MAX_RADIX.value))
    big = dataclasses.replace(spec, fabric=fabric)
    assert big.fabric.nodes == 2**21 == MAX_NODES.value
    with pytest.raises(SpecError, match=r"^nodes: must be at most 2,097,152"):
        dataclasses.replace(fabric, nodes=2**21 + 1)
    with pytest.raises(SpecError, match=r"^fabric\.nodes: 2,097,152 servers of 16 GPUs are "
                                        r"more than 16,777,216 GPUs"):
        dataclasses.replace(big, node=dataclasses.replace(big.node, gpus=16))


# -- CSV inputs --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny() -> Fabric:
    """The fabric the CSV fixtures are read on: 4 servers of 2 GPUs."""
    return build_fabric(load_topology(CSV / "tiny.yaml"))


FLOW_CASES = {
    "flows_not_utf8": "line 3, column 24: not UTF-8: byte 0xe9 cannot be decoded (save the file "
    "as UTF-8)",
    "flows_nul": "line 3, column 12: character U+0000 (NUL) is not allowed in a text file",
    "flows_size_above_ceiling": "row 2: size: must be at most 1,099,511,627,776 bytes (1 TiB, "
    "more than any GPU's memory), got '1e300'",
    "flows_start_above_ceiling": "row 2: start: must be at most 86,400 s (a day), got '1e308'",
    "flows_infinite_size": "row 2: size: must be a finite number, got '1e400'",
    "flows_huge_rank": "row 2: src: no GPU rank 99999999999999999999...: the fabric has 8, "
    "got '99999999999999999999999999999999999999999999999999999999...",
}


@pytest.mark.parametrize("case", sorted(FLOW_CASES))
def test_flow_csv_bound(case: str, tiny: Fabric) -> None:
    """A flow list's encoding, control bytes and numbers are checked, row by row."""
    path = CSV / f"{case}.csv"
    with pytest.raises(SpecError) as info:
        read_flow_csv(path, tiny)
    assert str(info.value) == f"{path}: {FLOW_CASES[case]}"


def test_rank_map_encoding(tiny: Fabric) -> None:
    """A rank map that is not UTF-8 names the line and column of the bad byte."""
    path = CSV / "rank_map_not_utf8.csv"
    with pytest.raises(SpecError) as info:
        place_ranks(LayoutSpec(dp=2, ep=2, rank_map=str(path)), tiny)
    assert str(info.value) == (f"{path}: line 3, column 9: not UTF-8: byte 0xff cannot be "
                               "decoded (save the file as UTF-8)")


def test_every_csv_fixture_is_covered() -> None:
    """No fixture under tests/data/csv is left untested."""
    assert {p.name for p in CSV.iterdir()} == (
        {f"{c}.csv" for c in FLOW_CASES} | {"rank_map_not_utf8.csv", "tiny.yaml"})


def test_topology_spec_in_code_needs_no_file() -> None:
    """A spec built in code has no source; bounds hold all the same."""
    spec = load_topology(CSV / "tiny.yaml")
    built = TopologySpec(name="code", fabric=spec.fabric, node=spec.node)
    assert built.source is None and built == dataclasses.replace(spec, name="code")
