"""Parameter sweeps: the sweep file, the parameters, the executors, resume and the plots."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from mpft_sim.errors import MpftError, SpecError
from mpft_sim.sweep import SweepSpec, load_sweep, point_specs, sweep
from mpft_sim.sweep.point import METRICS, make_tasks
from tests.conftest import DATA, ROOT, SWEEPS, write_sweep

BASIC = SWEEPS / "basic.yaml"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The basic sweep run in this process (jobs=1): the output others must match."""
    out = tmp_path_factory.mktemp("reference")
    sweep(BASIC, out, jobs=1)
    return out


# -- the grid ---------------------------------------------------------------------------------


def test_grid_expands_in_written_order_last_axis_fastest() -> None:
    """The points are the cartesian product in the order written, the last axis fastest."""
    points = load_sweep(BASIC).points()
    assert [p.index for p in points] == list(range(6))
    assert [(p.params["nodes"], p.params["routing"]) for p in points] == [
        (4, "spray"), (4, "adaptive"), (8, "spray"), (8, "adaptive"),
        (16, "spray"), (16, "adaptive")]
    assert points[3].label == "nodes=8, routing=adaptive"


def test_zip_is_one_axis_and_topology_lists_come_first(tmp_path: Path) -> None:
    """Zipped parameters vary together as the fastest axis; a list of topologies is the
    slowest."""
    for copy in ("a.yaml", "b.yaml"):
        shutil.copy(SWEEPS / "tiny-mpft.yaml", tmp_path / copy)
    path = write_sweep(tmp_path, {"routing": ["spray", "ecmp"]}, topology=["a.yaml", "b.yaml"],
                       zip={"nodes": [4, 8], "tokens": [32, 64]})
    points = load_sweep(path).points()
    assert len(points) == 2 * 2 * 2
    assert list(points[0].params) == ["topology", "routing", "nodes", "tokens"]
    assert [(p.params["routing"], p.params["nodes"], p.params["tokens"])
            for p in points[:4]] == [("spray", 4, 32), ("spray", 8, 64), ("ecmp", 4, 32),
                                     ("ecmp", 8, 64)]
    assert (points[0].params["topology"], points[4].params["topology"]) == ("a.yaml", "b.yaml")
    # both files are named tiny: the designs tell them apart by file
    assert make_tasks(load_sweep(path), points[:5:4])[1].design == \
        "tiny (b), routing=spray, tokens=32"


def test_no_grid_is_one_point(tmp_path: Path) -> None:
    """A sweep without a grid runs its base inputs once."""
    assert len(load_sweep(write_sweep(tmp_path, {})).points()) == 1


# -- file parameters (the other parameters: tests/sweep/test_params.py) ----------------------


def test_file_parameters_choose_the_inputs(tmp_path: Path) -> None:
    """The topology and workload parameters pick a file per point, relative to the sweep."""
    shutil.copy(SWEEPS / "tiny-mpft.yaml", tmp_path / "a.yaml")
    shutil.copy(SWEEPS / "train-small.yaml", tmp_path / "w.yaml")
    path = write_sweep(tmp_path, {"topology": ["a.yaml"], "workload": ["w.yaml"]})
    spec = load_sweep(path)
    topology, workload, _ = point_specs(spec, 0)
    assert (topology.name, workload.name) == ("tiny", "train-small")
    assert spec.design(spec.points()[0], topology.name) == "tiny, workload=w.yaml"


# -- errors in the sweep file -----------------------------------------------------------------

BAD = [
    ("unknown_parameter", "grid.plane: unknown parameter (did you mean 'planes'?)"),
    ("unknown_key", "gird: unknown key (did you mean 'grid'?)"),
    ("bad_value", "grid.nodes[1]: expected a positive whole number, got 'many'"),
    ("bad_routing", "grid.routing[1]: must be one of 'ecmp', 'adaptive', 'spray' "
                    "(did you mean 'spray'?), got 'sprya'"),
    ("bad_failure", "grid.failures[2]: the kind must be one of plane, switch, nic, link"),
    ("bad_path", "grid.topology.fabric.swich.radix: unknown parameter: 'swich' is not a key "
                 "of fabric (did you mean 'switch'?)"),
    ("bad_model", "model: must be one of 'fluid', 'analytic'"),
    ("missing_file", "topology: file not found"),
    ("missing_grid_file", "grid.topology[1]: file not found"),
    ("zip_lengths", "zip.tokens: has 1 value but zip.nodes has 2"),
]


@pytest.mark.parametrize(("name", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_sweep_files_name_file_key_and_value(name: str, message: str) -> None:
    """Each bad sweep file fails to load with its file, the key path and what is wrong."""
    path = SWEEPS / "bad" / f"{name}.yaml"
    with pytest.raises(SpecError) as err:
        load_sweep(path)
    assert str(err.value).startswith(f"{path}: {message}")


def test_a_workload_alias_must_fit_the_workload_kind(tmp_path: Path) -> None:
    """An alias for training and inference keys is refused for a flow list, with a hint."""
    flows = DATA / "flows" / "cross_leaf.yaml"
    with pytest.raises(SpecError, match=r"grid\.ep: applies to training and inference "
                                        r"workloads, not flows"):
        load_sweep(write_sweep(tmp_path, {"ep": [4]}, workload=str(flows)))


def test_a_sweep_built_in_code_is_checked() -> None:
    """SweepSpec validates on construction, as the loader does."""
    with pytest.raises(SpecError, match=r"grid\.nodes: needs at least one value"):
        SweepSpec(name="x", topology=("tiny-mpft.yaml",), workload="ep-small.yaml",
                  grid={"nodes": []}, base_dir=str(SWEEPS))


def test_bad_executor_options_fail_before_running(tmp_path: Path) -> None:
    """An unknown executor or a job count below 1 is an error before anything runs."""
    with pytest.raises(MpftError, match="executor: must be one of local, dask"):
        sweep(BASIC, tmp_path, executor="slurm")
    with pytest.raises(MpftError, match="jobs: must be a whole number of at least 1"):
        sweep(BASIC, tmp_path, jobs=0)
    assert not (tmp_path / "points.jsonl").exists()


# -- running ----------------------------------------------------------------------------------


def test_an_invalid_point_is_a_row_with_its_error(reference: Path) -> None:
    """Points that are not valid designs get an error row; the others still run."""
    rows = (reference / "sweep.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert header[:4] == ["point", "nodes", "routing", "design"]
    assert header[4:] == list(METRICS)
    errors = [r for r in rows[1:] if "more nodes than" in r]
    assert len(errors) == 2 and all(r.startswith(("4,16,", "5,16,")) for r in errors)
    assert "point 4 (nodes=16, routing=spray): " in errors[0]
    assert "tiny-mpft.yaml: fabric.nodes: more nodes than a two-tier fat-tree of radix 4 " \
           "holds per plane (at most 8" in errors[0]
    ok = [r.split(",") for r in rows[1:5]]
    step = header.index("step_time_s")
    assert all(float(r[step]) > 0 for r in ok)
    assert all(r[-1] == "" for r in ok)


def test_rows_carry_the_figures(reference: Path) -> None:
    """A row has the GPUs, times, utilisation, cost and performance per dollar of its point."""
    log = [json.loads(line) for line in (reference / "points.jsonl").read_text().splitlines()]
    first = next(line for line in log if line["point"] == 0)
    m = first["metrics"]
    assert (m["gpus"], m["job_gpus"]) == (16, 16)
    assert m["dispatch_s"] > 0 and m["combine_s"] > 0 and m["fct_p99_s"] > 0
    assert 0 < m["mean_util_leaf_spine"] <= m["peak_util_leaf_spine"] <= 1
    assert m["cost_per_gpu_usd"] == pytest.approx(m["cost_usd"] / 16)
    assert m["perf_per_musd"] == pytest.approx(m["tokens_per_s"] / (m["cost_usd"] / 1e6))
    assert first["wall_s"] > 0  # kept in points.jsonl, not in the CSV
    summary = json.loads((reference / "sweep.json").read_text())
    assert summary["points"] == 6 and summary["errors"] == 2
    assert summary["sweep"]["grid"] == {"nodes": [4, 8, 16], "routing": ["spray", "adaptive"]}


def test_process_pool_gives_the_same_bytes(reference: Path, tmp_path: Path) -> None:
    """jobs=2 (a process pool) writes the same sweep.csv bytes as jobs=1 (in process)."""
    result = sweep(BASIC, tmp_path, jobs=2)
    assert result.ran == 6
    assert (tmp_path / "sweep.csv").read_bytes() == (reference / "sweep.csv").read_bytes()


def test_dask_gives_the_same_bytes(reference: Path, tmp_path: Path) -> None:
    """The dask executor on a two-worker local cluster writes the same sweep.csv bytes."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = sweep(BASIC, tmp_path, executor="dask", scheduler=cluster.scheduler_address)
    assert result.ran == 6
    assert (tmp_path / "sweep.csv").read_bytes() == (reference / "sweep.csv").read_bytes()


def test_dask_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without dask installed, or with no scheduler at the address, the error says so."""
    import mpft_sim.sweep.executors as executors

    monkeypatch.setattr(executors, "DASK_CONNECT_TIMEOUT_S", 1)
    with pytest.raises(MpftError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:1"):
        sweep(BASIC, tmp_path, executor="dask", scheduler="tcp://127.0.0.1:1")
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    with pytest.raises(MpftError, match=r"needs dask.distributed: pip install 'mpft-sim\[dask\]'"):
        sweep(BASIC, tmp_path, executor="dask", scheduler="tcp://127.0.0.1:1")


def test_ecmp_gives_the_same_bytes_in_every_process(tmp_path: Path) -> None:
    """ECMP points give the same CSV whether run in this process or in workers."""
    spec = SweepSpec(name="ecmp", topology=("tiny-mpft.yaml",), workload="ep-small.yaml",
                     model="analytic", grid={"nodes": [4, 8]}, base_dir=str(SWEEPS))
    sweep(spec, tmp_path / "one", jobs=1)
    sweep(spec, tmp_path / "two", jobs=2)
    assert (tmp_path / "one" / "sweep.csv").read_bytes() == \
        (tmp_path / "two" / "sweep.csv").read_bytes()


# -- resume -----------------------------------------------------------------------------------


def test_resume_runs_only_the_missing_points(reference: Path, tmp_path: Path) -> None:
    """After an interrupt (points.jsonl cut to 2 lines and half a line), resume runs the 4
    missing points and writes the same sweep.csv."""
    sweep(BASIC, tmp_path, jobs=1)
    log = tmp_path / "points.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:2]) + lines[2][:40])  # killed while writing the third
    (tmp_path / "sweep.csv").unlink()
    calls: list[tuple[int, int]] = []
    result = sweep(BASIC, tmp_path, jobs=1, resume=True,
                   progress=lambda done, total: calls.append((done, total)))
    # first the resumed points (the bar shows from the start), then one call per point run
    assert calls == [(2, 6), (3, 6), (4, 6), (5, 6), (6, 6)]
    assert (result.resumed, result.ran) == (2, 4)
    assert (tmp_path / "sweep.csv").read_bytes() == (reference / "sweep.csv").read_bytes()
    assert sorted(json.loads(line)["point"] for line in log.read_text().splitlines()) == \
        list(range(6))


def test_resume_refuses_points_run_with_other_parameters(tmp_path: Path) -> None:
    """Resuming over a points.jsonl from a different sweep is an error, not a mix."""
    sweep(BASIC, tmp_path, jobs=1)
    log = tmp_path / "points.jsonl"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    lines[0]["params"]["nodes"] = 99
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(MpftError, match=r"point 0 ran with \(nodes=99, routing=spray; "):
        sweep(BASIC, tmp_path, jobs=1, resume=True)


def test_without_resume_points_start_afresh(reference: Path, tmp_path: Path) -> None:
    """A run without resume replaces an earlier points.jsonl."""
    shutil.copy(reference / "points.jsonl", tmp_path / "points.jsonl")
    result = sweep(BASIC, tmp_path, jobs=1)
    assert (result.resumed, result.ran) == (0, 6)
    assert len((tmp_path / "points.jsonl").read_text().splitlines()) == 6


# -- plots and the shipped example -------------------------------------------------------------


def _png_pixels(path: Path) -> Any:
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path)


@pytest.mark.parametrize("name", ["frontier.png", "scaling.png"])
def test_plots_are_real_pictures(reference: Path, name: str) -> None:
    """The plots exist, are large PNGs and show more than a blank canvas."""
    path = reference / name
    assert path.stat().st_size > 20_000
    pixels = _png_pixels(path)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 900
    colours = {tuple(p) for p in pixels[::7, ::7, :3].reshape(-1, 3).round(2).tolist()}
    assert len(colours) > 20  # markers, lines, text: not a blank or one-colour image


def test_plots_survive_a_sweep_where_every_point_failed(tmp_path: Path) -> None:
    """A sweep with no valid point still writes both plots (saying there is nothing to plot)."""
    result = sweep(write_sweep(tmp_path, {"nodes": [64, 128]}), tmp_path / "out", jobs=1)
    assert len(result.errors) == 2
    for name in ("frontier.png", "scaling.png"):
        assert _png_pixels(tmp_path / "out" / name).shape[0] > 300


def test_the_shipped_example_loads() -> None:
    """sweeps/planes-16k.yaml asks planes x nodes of mpft-16k on ep-alltoall, analytically."""
    spec = load_sweep(ROOT / "sweeps" / "planes-16k.yaml")
    assert spec.model == "analytic" and list(spec.grid) == ["planes", "nodes"]
    assert len(spec.points()) == 15
    topology, workload, _ = point_specs(spec, 5)  # planes=4, nodes=256
    assert (topology.fabric.planes, topology.node.nics, topology.fabric.nodes) == (4, 4, 256)
    assert workload.name == "ep-alltoall"
