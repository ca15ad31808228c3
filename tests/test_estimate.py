"""The cost estimate: fabric counts equal the built fabric's, tasks and flows bound the planned
program's closely, the memory model adds up, the check refuses with a useful message, and the
command line prints the estimate or refuses before any work."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mpft_sim.errors import JobTooLargeError, SpecError
from mpft_sim.estimate import (
    MEMORY_MODEL,
    TIMELINE_ROWS,
    available_memory_bytes,
    check_estimate,
    estimate,
    fabric_counts,
    memory_ceiling,
)
from mpft_sim.spec.model import ModelSpec
from mpft_sim.spec.run import RunOptions
from mpft_sim.spec.topology import (
    FabricSpec,
    NicSpec,
    NodeSpec,
    PcieSpec,
    SwitchSpec,
    TopologySpec,
    load_topology,
)
from mpft_sim.spec.workload import (
    BatchSpec,
    FlowsWorkloadSpec,
    JobsWorkloadSpec,
    LayoutSpec,
    NcclAllToAllSpec,
    TrainingWorkloadSpec,
    load_workload,
)
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.counts import count_flow_rows
from mpft_sim.workload.jobs import build_program
from tests.conftest import DATA, ROOT, TOPOLOGIES
from tests.workload.test_shipped_workloads import PROGRAMS, scaled

Run = Callable[..., tuple[int, str, str]]


def tree(kind: str, nodes: int, radix: int, **node: Any) -> TopologySpec:
    """A design built in code; ``tiers``, ``planes`` and ``ratio`` go to the fabric."""
    fabric = {k: node.pop(k) for k in ("tiers", "planes") if k in node}
    ratio = node.pop("ratio", (1, 1))
    return TopologySpec(name=f"{kind}-{nodes}", node=NodeSpec(**node),
                        fabric=FabricSpec(kind=kind, nodes=nodes, oversubscription=ratio,  # type: ignore[arg-type]
                                          switch=SwitchSpec(radix=radix), **fabric))


ODD_DESIGNS = {
    "pcie switches": tree("fat-tree", 5, 8, gpus=4, nics=2, pcie=PcieSpec(switches=2)),
    "multi-port nics": tree("multi-plane-fat-tree", 6, 4, gpus=2, nics=1,
                            nic=NicSpec(ports=2), planes=2),
    "three tiers, partial pods": tree("fat-tree", 11, 4, gpus=1, nics=1, tiers=3),
    "oversubscribed": tree("fat-tree", 10, 8, gpus=2, nics=2, ratio=(3, 1)),
    "one leaf": tree("fat-tree", 2, 8, gpus=2, nics=2),
    "multi-rail": tree("multi-rail-fat-tree", 7, 8, gpus=2, nics=2),
}
SHIPPED = sorted(p.name for p in TOPOLOGIES.glob("*.yaml")
                 if load_topology(p).fabric.is_tree)


def _design(name: str) -> TopologySpec:
    return ODD_DESIGNS[name] if name in ODD_DESIGNS else load_topology(TOPOLOGIES / name)


@pytest.mark.parametrize("name", SHIPPED + sorted(ODD_DESIGNS))
def test_fabric_counts_equal_the_built_fabric(name: str) -> None:
    """Nodes and directed links in closed form equal the built fabric's, for every shipped
    tree design and odd ones (PCIe switches, multi-port NICs, three tiers, oversubscription)."""
    spec = _design(name)
    fabric = build_fabric(spec)
    nodes, links, groups = fabric_counts(spec)
    assert (nodes, links) == (fabric.n_nodes, fabric.n_links)
    planes_tiers = {(int(p), int(t)) for p, t in zip(fabric.link_plane, fabric.link_tier,
                                                       strict=True)}
    assert groups == len(planes_tiers)


def test_cost_only_design_is_refused() -> None:
    """A cost-only design has no fabric to estimate: the same message as building it."""
    spec = load_topology(TOPOLOGIES / "dragonfly-261k.yaml")
    work = NcclAllToAllSpec(name="a2a", kind="nccl-alltoall", gpus=2, message_bytes=1e6)
    with pytest.raises(SpecError, match="a dragonfly is cost-only"):
        estimate(spec, work)


# -- tasks and flows against planned programs --------------------------------------------


@pytest.fixture(scope="module")
def mpft() -> Fabric:
    """16 servers of 8 GPUs, 8 planes of radix-8 switches (the shipped workloads' test
    fabric)."""
    return build_fabric(TopologySpec(name="mpft16", fabric=FabricSpec(
        kind="multi-plane-fat-tree", planes=8, nodes=16, switch=SwitchSpec(radix=8))))


def planned(workload: Any, fabric: Fabric) -> tuple[int, int]:
    """Tasks and flows of the planned program: a pair of zero bytes under a route key is no
    flow (the engine skips it)."""
    program, _ = build_program(workload, fabric)
    flows = 0
    for comm in program.comm:
        if comm is not None:
            size = comm.flows[2]
            flows += int((size > 0).sum()) if comm.route_key is not None else len(size)
    return len(program), flows


def assert_close(workload: Any, fabric: Fabric) -> None:
    """Tasks exact; flows exact where the estimate says so, else within 1.5x above."""
    est = estimate(fabric.spec, workload)
    tasks, flows = planned(workload, fabric)
    assert est.tasks == tasks
    assert est.tasks_exact
    if est.flows_exact:
        assert est.flows == flows
    else:
        assert flows <= est.flows <= 1.5 * flows
    assert est.in_flight <= est.flows


@pytest.mark.parametrize("name", PROGRAMS)
def test_shipped_workloads_scaled_down(name: str, mpft: Fabric) -> None:
    """Every shipped program workload, cut down to the 16-server fabric."""
    assert_close(scaled(name), mpft)


def _training(schedule: str, pp: int, dp: int, ep: int, micro_batches: int,
              sync: str = "item", **changes: Any) -> TrainingWorkloadSpec:
    spec = scaled("deepseek-v3-train")
    return dataclasses.replace(
        spec, schedule=schedule, pipeline_sync=sync,
        layout=dataclasses.replace(spec.layout, pp=pp, dp=dp, ep=ep),
        batch=dataclasses.replace(spec.batch, micro_batches=micro_batches), **changes)


@pytest.mark.parametrize(("schedule", "pp", "dp", "ep", "mbs", "sync"), [
    ("1f1b", 4, 16, 16, 5, "item"),
    ("zb1p", 4, 32, 8, 6, "layer"),
    ("dualpipev", 2, 24, 8, 5, "item"),   # DP not whole servers: rings counted by server
    ("dualpipe", 4, 4, 4, 8, "layer"),    # EP and DP inside one server
    ("dualpipe", 2, 8, 2, 6, "item"),     # EP 2: expert rings of 4 GPUs a server
    ("1f1b", 2, 16, 1, 3, "item"),        # no expert parallelism: no all-to-all
])
def test_training_layouts_and_schedules(schedule: str, pp: int, dp: int, ep: int, mbs: int,
                                        sync: str, mpft: Fabric) -> None:
    """Training steps across schedules, layouts and pipeline synchronisation."""
    assert_close(_training(schedule, pp, dp, ep, mbs, sync), mpft)


def test_training_with_a_rank_map(mpft: Fabric, tmp_path: Path) -> None:
    """Ranks placed by a rank map (servers in reverse order): the ring counts are a bound."""
    rows = ["rank,gpu"] + [f"{r},{(15 - r // 8) * 8 + r % 8}" for r in range(32)]
    (tmp_path / "ranks.csv").write_text("\n".join(rows) + "\n")
    spec = _training("1f1b", 2, 16, 16, 2)
    spec = dataclasses.replace(spec, layout=dataclasses.replace(
        spec.layout, rank_map=str(tmp_path / "ranks.csv")))
    assert_close(spec, mpft)


def test_inference_with_few_tokens(mpft: Fabric) -> None:
    """With a few tokens per GPU, a normal all-to-all's pairs are bounded by the GPUs the
    tokens can reach (node-limited routing), not only by the kernel's pairs."""
    spec = scaled("deepseek-v3-prefill")
    for tokens in (16, 64):
        assert_close(dataclasses.replace(
            spec, tokens_per_gpu=tokens,
            expert_load=dataclasses.replace(spec.expert_load, redundant_experts=0)), mpft)


def test_jobs_side_by_side(mpft: Fabric) -> None:
    """Several jobs on one fabric: the sum of theirs."""
    train = _training("1f1b", 2, 8, 8, 2)
    nccl = NcclAllToAllSpec(name="a2a", kind="nccl-alltoall", gpus=16, message_bytes=1e6,
                            first_node=4, repeat=3)
    assert_close(JobsWorkloadSpec(name="both", kind="jobs", jobs=(train, nccl)), mpft)


def test_flow_list_counts_its_lines() -> None:
    """A flow list has as many flows as data lines, and at most two tasks each."""
    spec = load_topology(TOPOLOGIES / "tiny-mpft.yaml")
    work = load_workload(DATA / "flows" / "cross_leaf.yaml")
    assert isinstance(work, FlowsWorkloadSpec)
    est = estimate(spec, work)
    tasks, flows = planned_flows(work, spec)
    assert est.flows == flows == 2
    assert tasks <= est.tasks == 4
    assert est.paths_kept and not est.tasks_exact


def planned_flows(work: FlowsWorkloadSpec, spec: TopologySpec) -> tuple[int, int]:
    from mpft_sim.workload.flows import flow_program, read_flow_csv

    flows = read_flow_csv(work.flows, build_fabric(spec))
    return len(flow_program(flows)[0]), len(flows)


@pytest.mark.parametrize(("text", "rows"), [
    ("src,dst,size,start\n", 0),
    ("src,dst,size,start\n0,1,1MiB,0\n1,0,1MiB,0\n", 2),
    ("src,dst,size,start\n0,1,1MiB,0\n1,0,1MiB,0", 2),  # no newline at the end
    ("", 0),
])
def test_count_flow_rows(tmp_path: Path, text: str, rows: int) -> None:
    """Data lines, without the header, whether or not the last line ends."""
    path = tmp_path / "flows.csv"
    path.write_text(text)
    assert count_flow_rows(path) == rows


def test_count_flow_rows_names_a_missing_file(tmp_path: Path) -> None:
    """A missing flow list is a SpecError naming it."""
    with pytest.raises(SpecError, match="file not found"):
        count_flow_rows(tmp_path / "none.csv")


# -- memory -----------------------------------------------------------------------------


def test_memory_is_the_sum_of_its_terms() -> None:
    """Memory adds each count times its measured constant; the fluid model adds its kernels,
    flows in flight and timeline, which the analytic model has not."""
    spec = load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml")
    work = load_workload(ROOT / "workloads" / "nccl-alltoall.yaml")
    fluid = estimate(spec, work, RunOptions(model="fluid"))
    analytic = estimate(spec, work, RunOptions(model="analytic"))
    m = MEMORY_MODEL
    groups = 1 + 8 * 2  # the node tier, and endpoint and leaf-spine links of 8 planes
    assert fluid.link_groups == groups
    assert analytic.memory_bytes == pytest.approx(
        m.base_bytes + m.link_bytes * 16_384 + m.task_bytes * 2 + m.flow_bytes * 8_064)
    assert fluid.memory_bytes - analytic.memory_bytes == pytest.approx(
        m.fluid_base_bytes + m.in_flight_bytes * 4_032
        + 8_064 * (m.timeline_row_bytes + groups * m.timeline_group_bytes))
    assert fluid.memory_bytes == sum(t.bytes for t in fluid.terms)


def test_timeline_rows_shrink_with_the_tolerance() -> None:
    """At most a row per flow when exact; fewer as the tolerance batches completions; never
    more than the engine keeps before it bins load in time."""
    rows = [MEMORY_MODEL.timeline_rows(60_000, t) for t in (0.0, 1e-4, 1e-3, 1e-2, 0.5)]
    assert rows[0] == 60_000
    assert rows == sorted(rows, reverse=True)
    assert 0 < rows[-1] < rows[3] < 30_000
    assert MEMORY_MODEL.timeline_rows(10**9, 0.0) == TIMELINE_ROWS
    assert MEMORY_MODEL.timeline_rows(10**9, 1e-3) == TIMELINE_ROWS


def test_available_memory() -> None:
    """Linux says how much memory is available; --max-memory overrides it."""
    available = available_memory_bytes()
    assert available is not None and available > 0
    assert memory_ceiling(None) == pytest.approx(available, rel=0.5)
    assert memory_ceiling("16GiB") == 16 * 2**30
    with pytest.raises(SpecError, match="--max-memory: a size needs a unit"):
        memory_ceiling("16")
    with pytest.raises(SpecError, match="--max-memory: must be positive"):
        memory_ceiling("0B")


# -- the largest jobs, estimated without building or planning ------------------------------

HUGE = TopologySpec(name="huge", node=NodeSpec(gpus=8, nics=8),
                    fabric=FabricSpec(kind="fat-tree", tiers=3, nodes=2**21,
                                      switch=SwitchSpec(radix=1024)))
HUGE_STEP = TrainingWorkloadSpec(
    name="step", kind="training", model=ModelSpec(layers=1024),
    layout=LayoutSpec(pp=1024, dp=16384, ep=256), batch=BatchSpec(micro_batches=4096))


@pytest.fixture
def nothing_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a fabric or planning a program fails the test."""
    def refuse(*_args: object, **_kw: object) -> None:
        raise AssertionError("the estimate built or planned")

    monkeypatch.setattr("mpft_sim.topology.build.build_fabric", refuse)
    monkeypatch.setattr("mpft_sim.workload.jobs.build_program", refuse)


@pytest.mark.usefixtures("nothing_built")
def test_huge_job_is_estimated_and_refused() -> None:
    """A 16.8M-GPU design running a step of 4,096 micro-batches over 1,024 pipeline ranks is
    estimated without building or planning (in milliseconds; a generous bound here) and
    refused, saying what it needs and how to shrink it."""
    started = time.perf_counter()
    est = estimate(HUGE, HUGE_STEP)
    assert time.perf_counter() - started < 5.0
    assert est.nodes > 3.5e7 and est.links == 167_772_160
    assert est.tasks > 3e9 and est.flows > 1e13
    with pytest.raises(JobTooLargeError) as info:
        check_estimate(est, HUGE_STEP, max_memory_bytes=64 * 2**30)
    message = str(info.value)
    assert message.startswith("step on huge: the run would need about ")
    assert "more than the 68.7 GB allowed (--max-memory" in message
    assert "--model analytic" in message and "fewer micro-batches" in message
    assert "a smaller layout" in message


def test_max_flows_refusal_message() -> None:
    """--max-flows: what the run would release, and the ceiling."""
    spec = load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml")
    work = load_workload(ROOT / "workloads" / "nccl-alltoall.yaml")
    est = estimate(spec, work)
    check_estimate(est, work, max_flows=8_064)
    with pytest.raises(JobTooLargeError) as info:
        check_estimate(est, work, max_flows=8_063)
    assert str(info.value).startswith(
        "nccl-alltoall on deepseek-v3-2048: the run would release 8,064 flows, more than "
        "--max-flows 8,063; to shrink it, try --model analytic, a larger --tolerance")


# -- the command line --------------------------------------------------------------------

V3 = TOPOLOGIES / "deepseek-v3-2048.yaml"
NCCL = ROOT / "workloads" / "nccl-alltoall.yaml"


def test_dry_run_prints_the_estimate(run_cli: Run, tmp_path: Path) -> None:
    """--dry-run prints nodes, links, tasks, flows and memory, and exits 0 without running
    or writing anything."""
    out = tmp_path / "run"
    code, text, err = run_cli("simulate", V3, NCCL, "--dry-run", "-o", out)
    assert (code, err) == (0, "")
    fabric = build_fabric(load_topology(V3))
    lines = text.splitlines()
    assert lines[0] == "nccl-alltoall on deepseek-v3-2048 (fluid): estimate"
    assert lines[1] == f"  nodes   {fabric.n_nodes:,}"
    assert lines[2] == f"  links   {fabric.n_links:,} directed"
    assert lines[3] == "  tasks   2"
    assert lines[4] == "  flows   8,064 (4,032 at most in flight)"
    assert lines[5].startswith("  memory  ")
    assert lines[6].startswith("  limit   ") and lines[6].endswith(": fits")
    assert not out.exists()


def test_dry_run_loads_no_engine() -> None:
    """A dry run neither builds nor plans: numba, scipy and the engine stay unloaded."""
    code = ("import sys; from mpft_sim.cli import main; "
            f"code = main(['simulate', {str(V3)!r}, {str(NCCL)!r}, '--dry-run']); "
            "heavy = [m for m in ('numba', 'scipy', 'matplotlib', 'mpft_sim.engine', "
            "'mpft_sim.topology.build') if m in sys.modules]; print(code, heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert done.stdout.splitlines()[-1] == "0 []"


def test_max_flows_refuses_before_any_work(run_cli: Run, tmp_path: Path) -> None:
    """A run over --max-flows exits 1 with one Error line, and creates no output folder."""
    out = tmp_path / "run"
    code, text, err = run_cli("simulate", V3, NCCL, "--max-flows", "1000", "-o", out)
    assert (code, text) == (1, "")
    assert err.startswith("Error: nccl-alltoall on deepseek-v3-2048: the run would release "
                          "8,064 flows, more than --max-flows 1,000; to shrink it, try ")
    assert "fewer gpus or a smaller repeat" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_max_memory_refuses_before_any_work(run_cli: Run, tmp_path: Path) -> None:
    """A run over --max-memory exits 1, naming what it would need; a bad size is an Error."""
    out = tmp_path / "run"
    code, _, err = run_cli("simulate", V3, NCCL, "--max-memory", "100MB", "-o", out)
    assert code == 1
    assert err.startswith("Error: nccl-alltoall on deepseek-v3-2048: the run would need about ")
    assert "more than the 100 MB allowed (--max-memory" in err
    assert not out.exists()
    code, _, err = run_cli("simulate", V3, NCCL, "--max-memory", "lots", "-o", out)
    assert code == 1 and err.startswith("Error: --max-memory: ")
    assert not out.exists()


def test_compare_dry_run_estimates_each_design(run_cli: Run) -> None:
    """compare --dry-run prints one estimate per design."""
    code, text, _ = run_cli("compare", V3, TOPOLOGIES / "ft2-2048.yaml", "--workload", NCCL,
                            "--dry-run")
    assert code == 0
    heads = [line for line in text.splitlines() if line.endswith("estimate")]
    assert heads == ["nccl-alltoall on deepseek-v3-2048 (fluid): estimate",
                     "nccl-alltoall on ft2-2048 (fluid): estimate"]


def test_sweep_dry_run_and_refusal(run_cli: Run, tmp_path: Path) -> None:
    """sweep --dry-run counts the points and shows the largest; a ceiling below it refuses
    the sweep before any point runs."""
    sweep = DATA / "sweep" / "basic.yaml"
    code, text, _ = run_cli("sweep", sweep, "--dry-run")
    assert code == 0
    assert text.splitlines()[0].startswith("6 points (2 invalid), ")
    assert "ep-small on tiny (analytic): estimate" in text
    out = tmp_path / "sweep"
    code, _, err = run_cli("sweep", sweep, "--max-flows", "10", "-o", out)
    assert code == 1 and "more than --max-flows 10" in err
    assert not out.exists()


@pytest.mark.usefixtures("nothing_built")
def test_huge_job_from_files_is_refused(run_cli: Run, tmp_path: Path) -> None:
    """The issue's case from files: 16.8M GPUs and 4,096 micro-batches give one Error line
    and exit 1 (not a MemoryError or a run that never ends), and no output folder."""
    import yaml

    (tmp_path / "huge.yaml").write_text(yaml.safe_dump({
        "name": "huge", "node": {"gpus": 8, "nics": 8},
        "fabric": {"kind": "fat-tree", "tiers": 3, "nodes": 2**21, "switch": {"radix": 1024}}}))
    (tmp_path / "step.yaml").write_text(yaml.safe_dump({
        "name": "step", "kind": "training", "model": {"layers": 1024},
        "layout": {"pp": 1024, "dp": 16384, "ep": 256}, "batch": {"micro_batches": 4096}}))
    out = tmp_path / "run"
    code, text, err = run_cli("simulate", tmp_path / "huge.yaml", tmp_path / "step.yaml",
                              "-o", out)
    assert (code, text) == (1, "")
    assert err.startswith("Error: step on huge: the run would need about ")
    assert err.count("\n") == 1
    assert not out.exists()
