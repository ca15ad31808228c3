"""Export to packet-level simulators: htsim connection matrices and fat-trees per plane, m4
flows and paths, line for line for a small run; and htsim's own arithmetic rebuilds the trees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mpft_sim.engine import simulate
from mpft_sim.errors import ExportError
from mpft_sim.export import export_run, htsim_files, m4_files
from mpft_sim.output import write_run
from mpft_sim.results import Run, load_run
from mpft_sim.spec.topology import FabricSpec, NodeSpec, SwitchSpec, TopologySpec
from mpft_sim.workload.flows import FlowList
from tests.conftest import DATA, TOPOLOGIES

RunCli = Callable[..., tuple[int, str, str]]
FLOWS = DATA / "flows" / "export.yaml"
HEAD = "# mpft-sim export: export on tiny-mpft (fluid model, seed 0): "


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export flows on tiny-mpft, written with their paths and read back."""
    out = tmp_path_factory.mktemp("run")
    write_run(simulate(TOPOLOGIES / "tiny-mpft.yaml", FLOWS, keep_paths=True), out,
              report=False)
    return out


def lines(files: dict[str, object], name: str) -> list[str]:
    return list(files[name])  # type: ignore[call-overload]


# -- htsim ------------------------------------------------------------------------------------


def test_htsim_connection_matrices(run_dir: Path) -> None:
    """One matrix per plane: hosts are the servers' NICs of the plane, ids run from 1 across
    planes, starts are picoseconds, the zero-byte flow is left out and said so."""
    files = htsim_files(load_run(run_dir))
    assert list(files) == ["plane0.cm", "plane0.topo", "plane1.cm", "plane1.topo", "map.csv",
                           "nvlink.csv"]
    assert lines(files, "plane0.cm") == [
        HEAD + "flows on plane 0 of 2; ids match map.csv",
        "# 1 zero-byte flow (latency only) left out",
        "Nodes 4",
        "Connections 2",
        "0->2 id 1 start 0 size 1000000",
        "0->3 id 2 start 1000000 size 2000000",
    ]
    assert lines(files, "plane1.cm") == [
        HEAD + "flows on plane 1 of 2; ids match map.csv",
        "Nodes 4",
        "Connections 1",
        "1->0 id 3 start 0 size 500000",
    ]


def test_htsim_fat_tree_per_plane(run_dir: Path) -> None:
    """tiny-mpft's plane: 2 leaves of 2 hosts with 2 uplinks, one spine reached by 2 parallel
    cables (Bundle 2, spine down radix 4), 400 Gb/s, 20 ns cables, 430 ns switches."""
    files = htsim_files(load_run(run_dir))
    assert lines(files, "plane1.topo") == [
        HEAD + "plane 1 of 2, a 2-tier tree of radix 4",
        "# 2 leaves of 2 down and 2 up ports, 1 spine; hosts are NIC ports, host h under "
        "leaf h // 2 (map.csv)",
        "Nodes 4", "Tiers 2", "Podsize 4",
        "",
        "Tier 0", "Downlink_speed_Gbps 400", "Radix_Down 2", "Radix_Up 2", "Oversubscribed 1",
        "Downlink_Latency_ns 20", "Switch_Latency_ns 430",
        "",
        "Tier 1", "Downlink_speed_Gbps 400", "Radix_Down 4", "Bundle 2",
        "Downlink_Latency_ns 20", "Switch_Latency_ns 430",
    ]


def test_htsim_map_and_nvlink_legs(run_dir: Path) -> None:
    """map.csv ties each connection to its flow, NICs and GPUs; nvlink.csv lists the NVLink
    forwards (after the network leg here: DeepEP-style) and the transfer inside a server."""
    files = htsim_files(load_run(run_dir))
    assert lines(files, "map.csv") == [
        "id,flow,plane,src_host,dst_host,bytes,start_ps,src_gpu,dst_gpu,src_nic,dst_nic,"
        "nvlink_before,nvlink_after",
        "1,0,0,0,2,1000000,0,n0/gpu0,n2/gpu0,n0/nic0,n2/nic0,false,false",
        "2,1,0,0,3,2000000,1000000,n0/gpu0,n3/gpu0,n0/nic0,n3/nic0,false,true",
        "3,2,1,1,0,500000,0,n1/gpu1,n0/gpu1,n1/nic1,n0/nic1,false,true",
    ]
    assert lines(files, "nvlink.csv") == [
        "flow,side,src_gpu,dst_gpu,bytes,start_s,id",
        "1,destination,n3/gpu0,n3/gpu1,2000000,1e-06,2",
        "2,destination,n0/gpu1,n0/gpu0,500000,0,3",
        "3,local,n0/gpu0,n0/gpu1,300000,0,",
    ]


def test_forwarding_at_the_source_is_listed_before(tmp_path: Path) -> None:
    """NCCL PXN-style forwarding: the NVLink leg comes first, the network leg leaves from
    the GPU on the destination's plane."""
    result = simulate(TOPOLOGIES / "tiny-mpft.yaml", FLOWS, keep_paths=True,
                      cross_plane="source")
    files = htsim_files(result)
    assert lines(files, "nvlink.csv")[1] == "1,source,n0/gpu0,n0/gpu1,2000000,1e-06,2"
    assert lines(files, "map.csv")[2] == \
        "2,1,1,0,3,2000000,1000000,n0/gpu1,n3/gpu1,n0/nic1,n3/nic1,true,false"


def test_spraying_is_one_connection_per_plane_for_htsim_and_a_flow_per_path_for_m4() -> None:
    """A flow sprayed over the two parallel uplinks: htsim gets one connection of all its
    bytes (htsim spreads packets itself); m4 one flow per path, whole bytes adding up."""
    work = FlowList(np.array([0]), np.array([4]), np.array([1_000_001.0]), np.zeros(1), ("",))
    result = simulate(TOPOLOGIES / "tiny-mpft.yaml", work, routing="spray")
    assert lines(htsim_files(result), "plane0.cm")[-1] == "0->2 id 1 start 0 size 1000001"
    flows = lines(m4_files(result), "flows.txt")
    assert flows == ["2", "0 0 4 3 100 500000 0", "1 0 4 3 100 500001 0"]


def htsim_counts(topo: list[str]) -> tuple[int, int, int]:
    """ToR, aggregation and core switches htsim's FatTreeTopology::set_custom_params derives
    from a -topo file (its arithmetic and checks, restated)."""
    head: dict[str, int] = {}
    tiers: list[dict[str, int]] = []
    for line in topo:
        if not line or line.startswith("#"):
            continue
        key, value = line.split()
        if key == "Tier":
            tiers.append({})
        elif tiers:
            tiers[-1][key] = int(value)
        else:
            head[key] = int(value)
    nodes, podsize = head["Nodes"], head["Podsize"]
    speed = [t["Downlink_speed_Gbps"] for t in tiers]
    oversub = [t.get("Oversubscribed", 1) for t in tiers]
    bundle = [t.get("Bundle", 1) for t in tiers]
    assert nodes % podsize == 0 and podsize % tiers[0]["Radix_Down"] == 0
    pods = nodes // podsize
    tors = podsize // tiers[0]["Radix_Down"] * pods
    assert tiers[0]["Radix_Down"] // tiers[0]["Radix_Up"] == oversub[0]
    tor_up = nodes * speed[0] // (speed[1] * oversub[0])
    assert tor_up % (pods * tiers[1]["Radix_Down"]) == 0
    aggs = tor_up // (pods * tiers[1]["Radix_Down"])
    assert aggs * bundle[1] == tiers[0]["Radix_Up"]
    cores = 0
    if len(tiers) == 3:
        agg_up = tor_up * speed[1] // (speed[2] * oversub[1])
        assert agg_up % tiers[2]["Radix_Down"] == 0
        cores = agg_up // tiers[2]["Radix_Down"]
        assert cores % aggs == 0 and cores * bundle[2] // aggs == tiers[1]["Radix_Up"]
    return tors, aggs * pods, cores


@pytest.mark.parametrize(("spec", "expected"), [
    (TOPOLOGIES / "deepseek-v3-2048.yaml", (8, 4, 0)),
    (TOPOLOGIES / "mrft-2048.yaml", (64, 32, 0)),
    (TopologySpec(name="ft3", node=NodeSpec(gpus=1, nics=1),
                  fabric=FabricSpec(kind="fat-tree", tiers=3, nodes=8,
                                    switch=SwitchSpec(radix=4))), (4, 4, 2)),
], ids=["mpft-2048", "mrft-2048", "ft3-8"])
def test_htsim_builds_the_same_tree(spec: TopologySpec | Path, expected: tuple[int, ...]) -> None:
    """htsim's arithmetic, run on the exported -topo file, finds mpft-sim's leaves, spines
    and cores per plane (the deployed MPFT: 8 leaves and 4 spines of 64 ports, 8 cables
    between each leaf and spine)."""
    work = FlowList(np.array([0]), np.array([7]), np.array([1e6]), np.zeros(1), ("",))
    result = simulate(spec, work, keep_paths=True)
    f = result.summary.info.fabric
    assert f is not None
    assert htsim_counts(lines(htsim_files(result), "plane0.topo")) == expected == (
        f.leaves, f.spines, f.cores)


# -- m4 ---------------------------------------------------------------------------------------


def test_m4_flows_and_paths(run_dir: Path) -> None:
    """flows.txt: the count, then id src dst 3 100 bytes start_s per flow (GPUs are hosts
    0..7, their ranks); path_1.txt: every hop as node pairs, NVLink and PCIe included."""
    files = m4_files(load_run(run_dir))
    assert lines(files, "flows.txt") == [
        "4",
        "0 0 4 3 100 1000000 0",
        "1 0 7 3 100 2000000 1e-06",
        "2 3 0 3 100 500000 0",
        "3 0 1 3 100 300000 0",
    ]
    paths = lines(files, "path_1.txt")
    assert paths[0] == "4,19"
    assert paths[1] == "0:0-4,0-12,12-20,20-24,24-22,22-16,16-4,"
    assert paths[2] == "1:0-7,0-12,12-20,20-24,24-22,22-18,18-6,6-11,11-7,"
    assert paths[3] == "2:3-0,3-15,15-21,21-13,13-1,1-8,8-0,"
    assert paths[4] == "3:0-1,0-8,8-1,"
    assert lines(files, "map.csv") == ["id,flow,bytes,start_s", "0,0,1000000,0",
                                       "1,1,2000000,1e-06", "2,2,500000,0", "3,3,300000,0"]


def test_m4_topology(run_dir: Path) -> None:
    """26 nodes (8 GPUs, then 18 NVSwitches, NICs, leaves and spines), 32 cables: NVLink at
    its achievable 1.28 Tb/s, NIC and switch cables at 400 Gb/s with half a round trip's
    latency (NIC-leaf (450 + 20) / 2 = 235 ns, leaf-spine 450 ns)."""
    topo = lines(m4_files(load_run(run_dir)), "topology.txt")
    assert topo[0] == "26 18 32"
    assert topo[1] == " ".join(str(i) for i in range(8, 26))
    assert topo[2] == "0 8 1280000000000bps 0ns 0"
    assert "0 12 512000000000bps 0ns 0" in topo  # PCIe, 64 GB/s
    assert "12 20 400000000000bps 235ns 0" in topo
    assert "20 24 400000000000bps 450ns 0" in topo
    assert len(topo) == 2 + 32


def test_m4_leaves_out_dead_cables_and_slows_degraded_ones() -> None:
    """A failed cable is not in topology.txt; a degraded one runs at its factor."""
    work = FlowList(np.array([0]), np.array([4]), np.array([1e6]), np.zeros(1), ("",))
    result = simulate(TOPOLOGIES / "tiny-mpft.yaml", work, keep_paths=True,
                      failures=["link=n3/nic1 - p1/leaf/1"], degrade=["nic=n0/nic0:0.5"])
    topo = lines(m4_files(result), "topology.txt")
    assert topo[0] == "26 18 31"
    assert "12 20 200000000000bps 235ns 0" in topo


# -- files, errors, the command line ----------------------------------------------------------


def test_export_writes_the_files(run_dir: Path, tmp_path: Path) -> None:
    """export_run writes each file with its lines, from a run directory or a run."""
    names = export_run(run_dir, tmp_path / "h", "htsim")
    assert (tmp_path / "h" / "plane0.cm").read_text().splitlines() == \
        lines(htsim_files(load_run(run_dir)), "plane0.cm")
    assert sorted(p.name for p in (tmp_path / "h").iterdir()) == sorted(names)
    export_run(load_run(run_dir), tmp_path / "m", "m4")
    assert (tmp_path / "m" / "flows.txt").read_text().startswith("4\n0 0 4 3 100 1000000 0\n")


def test_a_run_without_paths_cannot_be_exported(tmp_path: Path) -> None:
    """Export says what to rerun when the run kept no paths, or no flows."""
    result = simulate(TOPOLOGIES / "tiny-mpft.yaml", FLOWS, keep_paths=False)
    with pytest.raises(ExportError, match=r"kept no flow paths.*--flow-paths"):
        htsim_files(result)
    write_run(result, tmp_path / "run", flows=False, report=False)
    with pytest.raises(ExportError, match=r"no flows table.*--no-flows"):
        export_run(tmp_path / "run", tmp_path / "out", "m4")
    assert not (tmp_path / "out").exists()


def test_cli_export(run_cli: RunCli, tmp_path: Path) -> None:
    """mpft-sim simulate --flow-paths, then export: into RUN_DIR/<format> by default; a run
    without its flows is one error line and exit 1."""
    out = tmp_path / "run"
    code, _, err = run_cli("simulate", TOPOLOGIES / "tiny-mpft.yaml", FLOWS, "-o", out, "-q",
                           "--flow-paths")
    assert code == 0, err
    code, stdout, _ = run_cli("export", out, "--format", "htsim")
    assert code == 0 and (out / "htsim" / "plane1.topo").is_file()
    assert stdout.startswith(f"wrote {out / 'htsim'}/ (plane0.cm, plane0.topo")
    code, _, _ = run_cli("export", out, "--format", "m4", "-o", tmp_path / "m4")
    assert code == 0 and (tmp_path / "m4" / "path_1.txt").is_file()
    bare = tmp_path / "bare"
    run_cli("simulate", TOPOLOGIES / "tiny-mpft.yaml", FLOWS, "-o", bare, "-q", "--no-flows")
    code, _, err = run_cli("export", bare, "--format", "htsim")
    assert code == 1 and err == ("Error: the run has no flows table (it was written with "
                                 "--no-flows): rerun mpft-sim simulate with --flow-paths\n")


def test_export_is_deterministic(run_dir: Path, tmp_path: Path) -> None:
    """The same run exports the same bytes."""
    for fmt in ("htsim", "m4"):
        export_run(run_dir, tmp_path / "a" / fmt, fmt)  # type: ignore[arg-type]
        export_run(run_dir, tmp_path / "b" / fmt, fmt)  # type: ignore[arg-type]
        for f in (tmp_path / "a" / fmt).iterdir():
            assert f.read_bytes() == (tmp_path / "b" / fmt / f.name).read_bytes()


def test_run_in_memory_and_on_disk_export_alike(run_dir: Path) -> None:
    """A Result and the run directory it wrote give the same files."""
    result = simulate(TOPOLOGIES / "tiny-mpft.yaml", FLOWS, keep_paths=True)
    disk: Run = load_run(run_dir)
    for make in (htsim_files, m4_files):
        a, b = make(result), make(disk)
        assert {k: list(v) for k, v in a.items()} == {k: list(v) for k, v in b.items()}
