"""Degraded components: links, NICs, switches and planes at a fraction of their bandwidth, from
YAML, --degrade, compare and sweeps; closed-form completion times; what the report shows."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mpft_sim.engine import simulate
from mpft_sim.errors import SpecError
from mpft_sim.results import Result, load_run
from mpft_sim.results.tables import LinkTable
from mpft_sim.spec.loading import load_spec
from mpft_sim.spec.run import RunOptions, run_failures
from mpft_sim.spec.topology import (
    FabricSpec,
    FailureSpec,
    NodeSpec,
    SwitchSpec,
    TopologySpec,
    parse_failure,
)
from mpft_sim.sweep import load_sweep, point_specs
from mpft_sim.topology.build import build_fabric
from mpft_sim.workload.flows import FlowList
from tests.conftest import DATA, TOPOLOGIES

Run = Callable[..., tuple[int, str, str]]
LINE = 50e9
S = 1e6


def tree(nodes: int, *failures: FailureSpec) -> TopologySpec:
    """A fat-tree of radix-4 switches, one GPU and one NIC per server."""
    return TopologySpec(name="t", node=NodeSpec(gpus=1, nics=1),
                        fabric=FabricSpec(kind="fat-tree", nodes=nodes,
                                          switch=SwitchSpec(radix=4, port_bandwidth_Bps=LINE)),
                        failures=failures)


def mpft(*failures: FailureSpec) -> TopologySpec:
    """Two servers of 4 GPUs, 4 planes, a leaf per plane."""
    return TopologySpec(name="mp", node=NodeSpec(gpus=4, nics=4),
                        fabric=FabricSpec(kind="multi-plane-fat-tree", planes=4, nodes=2,
                                          switch=SwitchSpec(radix=4, port_bandwidth_Bps=LINE)),
                        failures=failures)


def flows(src: list[int], dst: list[int], size: float = S) -> FlowList:
    return FlowList(np.array(src), np.array(dst), np.full(len(src), size), np.zeros(len(src)),
                    tuple("" for _ in src))


def goodput_Bps(spec: TopologySpec) -> float:
    """What a healthy NIC carries: its line rate times the transport's goodput."""
    return LINE * spec.fabric.transport.goodput


def transfer_s(result: Result) -> np.ndarray:
    """Each flow's time from release to its last byte served (its path latency left out)."""
    return result.flow_table.served_s - result.flow_table.release_s


# -- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("plane=3:0.5", FailureSpec(plane=3, factor=0.5)),
    ("nic=n4/nic2:0.25", FailureSpec(nic="n4/nic2", factor=0.25)),
    ("switch = p0/spine/1 : 1", FailureSpec(switch="p0/spine/1", factor=1.0)),
    ("link=p0/leaf/0 - p0/spine/1:0.5", FailureSpec(link="p0/leaf/0 - p0/spine/1", factor=0.5)),
    ("plane=3:0", FailureSpec(plane=3, factor=0.0)),
    ("plane=3", FailureSpec(plane=3)),
])
def test_parse_failure_reads_a_factor(text: str, expected: FailureSpec) -> None:
    """kind=name:factor is a degraded component; what reads back to the same spec."""
    failure = parse_failure(text)
    assert failure == expected
    assert parse_failure(failure.what) == failure


@pytest.mark.parametrize(("text", "message"), [
    ("plane=3:1.5", "a number in \\[0, 1\\]"),
    ("plane=3:half", "a number in \\[0, 1\\]"),
    ("plane=3:nan", "a number in \\[0, 1\\]"),
    ("plane=x:0.5", "a plane is a number"),
])
def test_parse_failure_refuses_bad_factors(text: str, message: str) -> None:
    """A factor outside [0, 1] or not a number is an error naming the text."""
    with pytest.raises(SpecError, match=message):
        parse_failure(text)


def test_fail_and_degrade_options_keep_to_their_kind() -> None:
    """--fail takes no factor and --degrade needs one; each error names the option."""
    assert RunOptions.parse_degrades(["plane=1:0.5"]) == (FailureSpec(plane=1, factor=0.5),)
    with pytest.raises(SpecError, match=r"^--fail plane=1:0.5: .*--degrade plane=1:0.5"):
        RunOptions.parse_failures(["plane=1:0.5"])
    with pytest.raises(SpecError, match=r"^--degrade plane=1: give the fraction"):
        RunOptions.parse_degrades(["plane=1"])
    assert run_failures(["plane=0"], ["plane=1:0.5"]) == (
        FailureSpec(plane=0), FailureSpec(plane=1, factor=0.5))


def test_yaml_failures_take_a_factor() -> None:
    """failures: [{plane: 1, factor: 0.5}] in a topology file; a factor above 1 names its
    key."""
    raw = {"name": "t", "node": {"gpus": 4, "nics": 2},
           "fabric": {"kind": "multi-plane-fat-tree", "planes": 2, "nodes": 4,
                      "switch": {"radix": 4}},
           "failures": [{"plane": 1, "factor": 0.5}]}
    assert load_spec(TopologySpec, raw).failures == (FailureSpec(plane=1, factor=0.5),)
    raw["failures"] = [{"plane": 1, "factor": 2}]
    with pytest.raises(SpecError, match=r"failures\[0\]\.factor: must be at most 1, got 2"):
        load_spec(TopologySpec, raw)


# -- the built fabric -------------------------------------------------------------------------


def test_each_kind_degrades_its_links() -> None:
    """A plane: all its links; a switch: all its cables; a NIC: its port cables (not its
    PCIe side); a link: the cables between two nodes. All stay alive; factors multiply."""
    spec = TopologySpec(
        name="d", node=NodeSpec(gpus=2, nics=2),
        fabric=FabricSpec(kind="multi-plane-fat-tree", planes=2, nodes=4,
                          switch=SwitchSpec(radix=4)),
        failures=(FailureSpec(plane=1, factor=0.5), FailureSpec(switch="p0/spine/0", factor=0.5),
                  FailureSpec(nic="n0/nic0", factor=0.25),
                  FailureSpec(link="n0/nic0 - p0/leaf/0", factor=0.5)))
    fab = build_fabric(spec)
    assert fab.link_alive.all() and fab.node_alive.all()
    names = fab.node_names
    ends = [(names[s], names[d]) for s, d in zip(fab.link_src, fab.link_dst, strict=True)]

    def factor(a: str, b: str) -> float:
        return float(fab.degrade[ends.index((a, b))])

    assert np.all(fab.degrade[fab.link_plane == 1] == 0.5)
    assert factor("p0/leaf/0", "p0/spine/0") == factor("p0/spine/0", "p0/leaf/1") == 0.5
    assert factor("n0/nic0", "p0/leaf/0") == factor("p0/leaf/0", "n0/nic0") == 0.25 * 0.5
    assert factor("n0/gpu0", "n0/nic0") == factor("n1/nic0", "p0/leaf/0") == 1.0
    assert np.array_equal(fab.capacity_Bps, fab.line_rate_Bps * fab.degrade * np.where(
        fab.switched, spec.fabric.transport.goodput, 1.0))


def test_factor_zero_or_absent_fails() -> None:
    """A factor of 0 is a failure, as a failure without one is."""
    for failure in (FailureSpec(nic="n0/nic0", factor=0.0), FailureSpec(nic="n0/nic0")):
        fab = build_fabric(tree(2, failure))
        nic = fab.node_index("n0/nic0")
        touching = (fab.link_src == nic) | (fab.link_dst == nic)
        assert not fab.link_alive[touching].any() and not fab.node_alive[nic]
        assert np.all(fab.degrade == 1.0)


def test_a_degraded_name_that_does_not_exist_is_an_error() -> None:
    """A degraded component is resolved by name like a failed one."""
    with pytest.raises(SpecError, match=r"failures\[0\]\.switch: no spine 9"):
        tree(4, FailureSpec(switch="p0/spine/9", factor=0.5))


# -- closed forms -----------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [FailureSpec(nic="n1/nic0", factor=0.5),
                                     FailureSpec(link="p0/leaf/0 - n1/nic0", factor=0.5),
                                     FailureSpec(switch="p0/leaf/0", factor=0.5)])
def test_a_flow_alone_on_a_half_speed_link_takes_twice_as_long(failure: FailureSpec) -> None:
    """size / (goodput x 0.5): exactly twice the healthy transfer time."""
    spec = tree(2, failure)
    healthy = transfer_s(simulate(tree(2), flows([0], [1])))[0]
    slow = transfer_s(simulate(spec, flows([0], [1])))[0]
    assert healthy == pytest.approx(S / goodput_Bps(spec), rel=1e-12)
    assert slow == pytest.approx(2 * S / goodput_Bps(spec), rel=1e-12)


def test_max_min_shares_with_a_degraded_link() -> None:
    """Flows a: n0 -> n1 and b: n2 -> n1 share n1's NIC; a's own NIC is at a quarter. Max-min
    gives a c/4 and b the remaining 3c/4: b is served at 4S/3c, a (still held by its NIC at
    c/4) at 4S/c."""
    spec = tree(4, FailureSpec(nic="n0/nic0", factor=0.25))
    c = goodput_Bps(spec)
    a, b = transfer_s(simulate(spec, flows([0, 2], [1, 1])))
    assert a == pytest.approx(4 * S / c, rel=1e-12)
    assert b == pytest.approx(4 * S / (3 * c), rel=1e-12)


@pytest.mark.parametrize("factor", [1.0, 0.5, 0.25])
def test_a_degraded_plane_in_an_mpft_all_to_all(factor: float) -> None:
    """All-to-all between two servers of 4 GPUs, forwarded at the destination: GPU i's 4
    flows share NIC i (plane i) at c/4 each, so plane i's flows take 4S/(f_i c); with plane 3
    at factor f its flows take 4S/(f c) and the other planes' are unchanged."""
    spec = mpft(FailureSpec(plane=3, factor=factor))
    c = goodput_Bps(spec)
    s, d = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    cross = s // 4 != d // 4
    src, dst = s[cross].tolist(), d[cross].tolist()
    result = simulate(spec, flows(src, dst))
    plane = np.array(src) % 4
    expected = np.where(plane == 3, 4 * S / (factor * c), 4 * S / c)
    assert transfer_s(result) == pytest.approx(expected, rel=1e-12)
    assert result.summary.info.failures == (f"plane=3:{factor:g}",)


# -- the command line, compare, sweeps and the report -----------------------------------------


def test_simulate_degrade_marks_the_links_and_the_report(run_cli: Run, tmp_path: Path) -> None:
    """--degrade plane=1:0.5: links.csv carries each link's factor and line rate, the summary
    records the component, the report and the plots name it."""
    out = tmp_path / "run"
    code, _, err = run_cli("simulate", TOPOLOGIES / "tiny-mpft.yaml",
                           DATA / "flows" / "cross_leaf.yaml", "-o", out, "-q",
                           "--degrade", "plane=1:0.5")
    assert code == 0, err
    run = load_run(out)
    lk = run.link_table
    assert np.all(lk.degrade[lk.plane == 1] == 0.5) and np.all(lk.degrade[lk.plane != 1] == 1)
    assert np.array_equal(lk.degraded, lk.plane == 1)
    assert run.summary.info.failures == ("plane=1:0.5",)
    report = (out / "report.md").read_text()
    assert "| failed and degraded (:factor) components | plane=1:0.5 |" in report
    assert "links degraded" in report


def test_bad_degrade_option_is_one_error_line(run_cli: Run, tmp_path: Path) -> None:
    """--degrade without a factor, or --fail with one: exit 1, the option named."""
    for option, text in (("--degrade", "plane=1"), ("--fail", "plane=1:0.5")):
        code, _, err = run_cli("simulate", TOPOLOGIES / "tiny-mpft.yaml",
                               DATA / "flows" / "cross_leaf.yaml", "-o", tmp_path / "x", "-q",
                               option, text)
        assert code == 1 and err.startswith(f"Error: {option} {text}: "), err
    assert not (tmp_path / "x").exists()


def test_compare_degrade_names_the_degraded_design(run_cli: Run, tmp_path: Path) -> None:
    """compare --degrade: every design runs with the component degraded, and says so."""
    code, out, err = run_cli("compare", TOPOLOGIES / "tiny-mpft.yaml", "--workload",
                             DATA / "flows" / "cross_leaf.yaml", "-o", tmp_path / "c", "-q",
                             "--degrade", "plane=0:0.5", "--fail", "switch=p1/spine/0")
    assert code == 0, err
    assert "tiny-mpft (switch=p1/spine/0 failed; plane=0:0.5 degraded)" in out
    data = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert data["designs"][0]["failures"] == ["switch=p1/spine/0", "plane=0:0.5"]


def write_sweep(folder: Path, grid: dict[str, object]) -> Path:
    sweeps = DATA / "sweep"
    data = {"name": "d", "topology": str(sweeps / "tiny-mpft.yaml"),
            "workload": str(sweeps / "ep-small.yaml"), "model": "analytic", "grid": grid}
    path = folder / "sweep.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_sweep_degrade_factor_sets_every_degraded_component(tmp_path: Path) -> None:
    """degrade_factor moves the factor of the point's degraded components (from a failures
    parameter here), whatever the order of the grid; dead ones stay dead."""
    path = write_sweep(tmp_path, {"degrade_factor": [1, 0.5, 0],
                                  "failures": [["plane=1:0.9", "switch=p0/spine/0"]]})
    spec = load_sweep(path)
    got = [point_specs(spec, i)[0].failures for i in range(3)]
    assert got == [(FailureSpec(plane=1, factor=f), FailureSpec(switch="p0/spine/0"))
                   for f in (1.0, 0.5, 0.0)]


def test_sweep_degrade_factor_needs_a_degraded_component(tmp_path: Path) -> None:
    """With nothing degraded a degrade_factor point says why it cannot run."""
    spec = load_sweep(write_sweep(tmp_path, {"degrade_factor": [0.5]}))
    with pytest.raises(SpecError, match="no degraded component"):
        point_specs(spec, 0)


def test_sweep_degrade_factor_is_checked_when_the_sweep_loads(tmp_path: Path) -> None:
    """A factor outside [0, 1] is refused before any point runs."""
    with pytest.raises(SpecError, match=r"degrade_factor.*a number in \[0, 1\]"):
        load_sweep(write_sweep(tmp_path, {"degrade_factor": [1.5]}))


def test_sweep_over_factors_runs(tmp_path: Path) -> None:
    """A sweep of plane 1 at 100%, 50% and 25% (the --degrade of the run) gives three rows,
    slower as the factor falls."""
    from mpft_sim.sweep import sweep

    path = write_sweep(tmp_path, {"degrade_factor": [1, 0.5, 0.25]})
    result = sweep(path, tmp_path / "out", jobs=1, degrade=["plane=1:1"])
    times = [row["makespan_s"] for row in result.rows]
    assert not any(row["error"] for row in result.rows)
    assert times[0] < times[1] < times[2]


def test_links_tables_written_before_degradation_still_load(tmp_path: Path) -> None:
    """A links.csv without the line_rate_Bps and degrade columns reads as healthy links at
    their capacity."""
    result = simulate(tree(2), flows([0], [1]))
    from mpft_sim.results.columns import write_csv

    write_csv(result.link_table, tmp_path / "links.csv")
    lines = (tmp_path / "links.csv").read_text().splitlines()
    old = "\n".join(",".join(line.split(",")[:-2]) for line in lines) + "\n"
    (tmp_path / "links.csv").write_text(old)
    table = LinkTable.read(tmp_path / "links.csv")
    assert np.array_equal(table.line_rate_Bps, table.capacity_Bps)
    assert np.all(table.degrade == 1.0) and not table.degraded.any()


def test_transfer_ignores_a_healthy_factor() -> None:
    """Factor 1 changes nothing: the run equals the healthy one, byte for byte."""
    a = simulate(tree(2, FailureSpec(nic="n1/nic0", factor=1.0)), flows([0], [1]))
    b = simulate(tree(2), flows([0], [1]))
    assert np.array_equal(a.flow_table.end_s, b.flow_table.end_s)
