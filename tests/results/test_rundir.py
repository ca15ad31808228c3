"""A run on disk is the run in memory: write_run then load_run gives back the same records,
the library writes what the CLI writes, and a directory of another format is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mpft_sim
from mpft_sim.errors import SpecError
from mpft_sim.results import RUN_FORMAT, Result, Run, load_run
from mpft_sim.results.summary import to_plain
from tests.conftest import ROOT, TOPOLOGIES, run_file_bytes

TRAIN = """\
name: train-s
kind: training
model: {layers: 4, dense_layers: 1}
layout: {pp: 2, dp: 16, ep: 8}
batch: {tokens: 512, micro_batches: 4}
expert_load: {samples: 1}
"""
TOPOLOGY = """\
name: mpft4
fabric:
  kind: multi-plane-fat-tree
  planes: 8
  nodes: 4
  switch: {radix: 8, port_bandwidth: 400Gb/s}
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("inputs")
    (base / "t.yaml").write_text(TOPOLOGY, encoding="utf-8")
    (base / "w.yaml").write_text(TRAIN, encoding="utf-8")
    return base / "t.yaml", base / "w.yaml"


@pytest.fixture(scope="module")
def training(files: tuple[Path, Path]) -> Result:
    return mpft_sim.simulate(*files)


@pytest.fixture(scope="module")
def replay() -> Result:
    return mpft_sim.simulate(TOPOLOGIES / "deepseek-v3-2048.yaml",
                             ROOT / "workloads" / "example-flows.yaml", routing="spray")


def assert_same_tables(a: Run, b: Run) -> None:
    """Every column of every table equal, floats to the bit."""
    for name in ("link_table", "timeline", "flow_table", "op_table"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is None:
            continue
        for field in x.__dataclass_fields__:
            if field.isupper():
                continue
            u, v = getattr(x, field), getattr(y, field)
            if field in ("tag", "tags"):  # codes may differ: compare each flow's tag
                assert [x.tags[t] for t in x.tag] == [y.tags[t] for t in y.tag]
            elif field == "paths" and u is not None:
                for part in ("flow_ptr", "share", "link_ptr", "links"):
                    assert np.array_equal(getattr(u, part), getattr(v, part)), part
            elif isinstance(u, np.ndarray):
                assert u.dtype.kind == v.dtype.kind and np.array_equal(u, v), (name, field)
            else:
                assert u == v, (name, field)


@pytest.mark.parametrize("which", ["training", "replay"])
def test_round_trip(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """load_run(write_run(result)) holds the same summary and tables as the result."""
    result: Result = request.getfixturevalue(which)
    mpft_sim.write_run(result, tmp_path / "run")
    back = load_run(tmp_path / "run")
    assert type(back) is Run
    assert back.summary == result.summary
    assert_same_tables(back, result)


def test_library_writes_what_the_cli_writes(files: tuple[Path, Path], training: Result,
                                            tmp_path: Path) -> None:
    """mpft_sim.write_run(mpft_sim.simulate(...), dir) reproduces `mpft-sim simulate`'s
    directory, file for file and byte for byte."""
    from mpft_sim.cli import main

    assert main(["simulate", *map(str, files), "-o", str(tmp_path / "cli"), "-q"]) == 0
    written = mpft_sim.write_run(training, tmp_path / "lib")
    assert sorted(written) == sorted(p.name for p in (tmp_path / "cli").iterdir())
    for name in written:
        assert run_file_bytes(tmp_path / "lib", name) == run_file_bytes(tmp_path / "cli",
                                                                        name), name


def test_summary_records_provenance(training: Result, files: tuple[Path, Path]) -> None:
    """Every summary names the package version, the input files with their hashes, the wall
    time and the peak memory of the run."""
    import hashlib

    s = training.summary
    assert s.provenance.mpft_sim == mpft_sim.__version__
    assert s.provenance.wall_s > 0 and s.provenance.peak_rss_bytes > 10 * 2**20
    assert s.info.topology_file == str(files[0])
    assert s.info.workload_sha256 == hashlib.sha256(files[1].read_bytes()).hexdigest()
    assert s.info.gpus_per_node == 8


def test_format_version(training: Result, tmp_path: Path) -> None:
    """summary.json carries the run-directory format; another format is refused with a message
    saying what to do, not misread."""
    folder = tmp_path / "run"
    mpft_sim.write_run(training, folder, report=False)
    data = json.loads((folder / "summary.json").read_text())
    assert data["format"] == RUN_FORMAT == 2
    del data["format"]  # what mpft-sim 0.1 wrote: no format key
    (folder / "summary.json").write_text(json.dumps(data))
    with pytest.raises(SpecError) as info:
        load_run(folder)
    assert str(info.value) == (
        f"{folder / 'summary.json'}: written in run-directory format 1, and this mpft-sim "
        "reads format 2: run mpft-sim simulate again to rewrite it")


def test_a_bad_summary_names_its_key(training: Result, tmp_path: Path) -> None:
    """A summary whose value does not fit its record names the key path."""
    folder = tmp_path / "run"
    mpft_sim.write_run(training, folder, report=False)
    data = json.loads((folder / "summary.json").read_text())
    data["jobs"][0]["alltoall"]["dispatch"]["count"] = "many"
    (folder / "summary.json").write_text(json.dumps(data))
    with pytest.raises(SpecError, match=r"jobs\[0\]\.alltoall\.dispatch\.count: expected a "
                                        r"whole number, got 'many'"):
        load_run(folder)


@pytest.mark.parametrize("which", ["training", "replay"])
def test_parquet_round_trip(which: str, request: pytest.FixtureRequest,
                            tmp_path: Path) -> None:
    """As Parquet, the tables read back the same too."""
    result: Result = request.getfixturevalue(which)
    names = mpft_sim.write_run(result, tmp_path / "run", table_format="parquet", report=False)
    assert {"flows.parquet", "links.parquet", "timeline_long.parquet"} <= set(names)
    assert "flows.csv" not in names and "timeline.csv" in names
    back = load_run(tmp_path / "run")
    assert back.summary == result.summary
    assert_same_tables(back, result)


def test_parquet_above_the_csv_limit(training: Result, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Above FLOWS_CSV_LIMIT the tables are Parquet, never dropped; without pyarrow such a
    run is refused with a message naming the extra, and nothing is written."""
    monkeypatch.setattr("mpft_sim.output.FLOWS_CSV_LIMIT", 10)
    names = mpft_sim.write_run(training, tmp_path / "a", report=False)
    assert "flows.parquet" in names and load_run(tmp_path / "a").flow_table is not None
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(mpft_sim.MpftError) as info:
        mpft_sim.write_run(training, tmp_path / "b", report=False)
    assert f"a run of {len(training.flow_table):,} flows is written as Parquet" in str(info.value)
    assert "pip install 'mpft-sim[parquet]'" in str(info.value)
    assert not (tmp_path / "b").exists()
    names = mpft_sim.write_run(training, tmp_path / "c", flows=False, report=False)
    assert not any(n.startswith("flows") for n in names)
    assert load_run(tmp_path / "c").flow_table is None


def test_to_plain_is_json(training: Result) -> None:
    """The summary's plain form is JSON as is (no numpy scalars, no tuples, no NaN)."""
    text = json.dumps(to_plain(training.summary), allow_nan=False)
    assert json.loads(text) == to_plain(training.summary)


def test_short_repr_of_a_result(replay: Result) -> None:
    """A Result's repr is one line: what ran, on what, and its headline figures."""
    assert repr(replay) == ("Result('example-flows' on 'deepseek-v3-2048', fluid: 6 flows, "
                            "makespan 1.679 ms)")
