"""`mpft-sim simulate` on flow lists: output files and columns, bad inputs, models, spray."""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA, ROOT, TOPOLOGIES, no_overhead_file

Run = Callable[..., tuple[int, str, str]]

FLOWS = DATA / "flows"
EXAMPLE = ROOT / "workloads" / "example-flows.yaml"
DEEPSEEK = TOPOLOGIES / "deepseek-v3-2048.yaml"
TINY = TOPOLOGIES / "tiny-mpft.yaml"
MiB = 2**20

FLOW_COLUMNS = ["id", "src", "dst", "size_bytes", "start_s", "served_s", "end_s", "latency_s",
                "fct_s", "alone_Bps", "tag", "links"]
LINK_COLUMNS = ["id", "src", "dst", "kind", "plane", "tier", "capacity_Bps", "latency_s",
                "bytes", "busy_s", "mean_util", "peak_util"]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV file."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def assert_nothing_written(out: Path) -> None:
    """A failed run leaves no files in ``out`` and no staging folder beside it."""
    assert not out.exists() or not any(out.iterdir())
    assert not list(out.parent.glob(f".{out.name}.staging.*"))


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example flows simulated on the DeepSeek-V3 cluster: the output folder."""
    from mpft_sim.cli import main

    out = tmp_path_factory.mktemp("example") / "out"
    assert main(["simulate", str(DEEPSEEK), str(EXAMPLE), "-o", str(out), "-q"]) == 0
    return out


def test_simulate_writes_three_files(run_cli: Run, tmp_path: Path) -> None:
    """simulate writes flows.csv, links.csv, timeline.csv and summary.json (no ops.csv for a
    flow list) and prints a one-line summary."""
    out = tmp_path / "out"
    code, stdout, err = run_cli("simulate", DEEPSEEK, EXAMPLE, "-o", out, "-q")
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert {"flows.csv", "links.csv", "timeline.csv", "summary.json"} <= names
    assert "ops.csv" not in names
    assert re.fullmatch(r"deepseek-v3-2048 / example-flows \(fluid\): 6 flows, makespan "
                        r"[\d.]+ \S+, FCT p50 [\d.]+ \S+ p99 [\d.]+ \S+\n", stdout), stdout
    assert f"wrote {out}/ (flows.csv, links.csv, timeline.csv, summary.json" in err
    assert not list(tmp_path.glob(".out.staging.*"))


def test_flows_csv_columns(example_run: Path) -> None:
    """flows.csv has the documented columns, GPU names, and lone flows' exact end times."""
    header, rows = read_csv(example_run / "flows.csv")
    assert header == FLOW_COLUMNS
    assert [r["id"] for r in rows] == [str(i) for i in range(6)]
    # ids number the flows 0..5; the rows are the input's six flows, with GPU names for ranks
    assert sorted((r["src"], r["dst"], r["tag"]) for r in rows) == sorted([
        ("n0/gpu0", "n1/gpu0", "same-plane"), ("n0/gpu1", "n2/gpu3", "cross-plane"),
        ("n0/gpu2", "n3/gpu2", "same-plane"), ("n1/gpu4", "n0/gpu4", "late"),
        ("n0/gpu3", "n1/gpu3", "by-rank"), ("n2/gpu5", "n2/gpu6", "nvlink")])
    by_tag = {r["tag"]: r for r in rows}
    assert float(by_tag["late"]["start_s"]) == 1e-3
    assert float(by_tag["by-rank"]["size_bytes"]) == 16 * MiB
    for r in rows:
        assert float(r["end_s"]) > float(r["start_s"]) + float(r["latency_s"])
        assert re.fullmatch(r"\d+( \d+)*", r["links"]), r["links"]
    # alone on their links: latency + size / rate (NIC 50 GB/s, NVLink 160 GB/s)
    assert float(by_tag["nvlink"]["end_s"]) == pytest.approx(3.33e-6 + 64 * MiB / 160e9,
                                                             rel=1e-12)
    assert len(by_tag["nvlink"]["links"].split()) == 2


def test_links_csv_columns(example_run: Path) -> None:
    """links.csv has one row per directed link with the documented columns and byte counts."""
    from mpft_sim.spec import load_topology
    from mpft_sim.topology.build import build_fabric

    fab = build_fabric(load_topology(DEEPSEEK))
    header, rows = read_csv(example_run / "links.csv")
    assert header[:len(LINK_COLUMNS)] == LINK_COLUMNS
    assert {"saturated_s", "alive"} <= set(header)
    assert len(rows) == fab.n_links
    assert [int(r["id"]) for r in rows] == list(range(fab.n_links))
    assert rows[0]["src"] == "n0/gpu0" and rows[0]["dst"] == "n0/nvswitch"
    assert {r["kind"] for r in rows} == {"nvlink", "pcie", "endpoint", "fabric"}
    assert {r["tier"] for r in rows} == {"node", "endpoint", "leaf-spine"}
    assert {r["plane"] for r in rows} == {"", *(str(p) for p in range(8))}
    assert all(r["alive"] == "true" for r in rows)
    # five inter-server flows (3 x 64 MiB, 16 MiB, 32 MiB) each cross two endpoint links
    endpoint_bytes = sum(float(r["bytes"]) for r in rows if r["kind"] == "endpoint")
    assert endpoint_bytes == 2 * (3 * 64 + 16 + 32) * MiB
    for r in rows:
        assert 0.0 <= float(r["mean_util"]) <= float(r["peak_util"]) <= 1.0 + 1e-9


def test_summary_json(example_run: Path) -> None:
    """summary.json has the makespan, FCT percentiles, utilisation by plane and tier, inputs."""
    summary = json.loads((example_run / "summary.json").read_text())
    _, rows = read_csv(example_run / "flows.csv")
    end = np.array([float(r["end_s"]) for r in rows])
    fct = end - np.array([float(r["start_s"]) for r in rows])
    assert summary["makespan_s"] == end.max()
    assert summary["flows"] == 6
    assert summary["fct_s"]["p50"] == pytest.approx(np.percentile(fct, 50), rel=1e-12)
    assert summary["fct_s"]["p99"] == pytest.approx(np.percentile(fct, 99), rel=1e-12)
    assert summary["fct_s"]["max"] == pytest.approx(fct.max(), rel=1e-12)
    assert set(summary["by_plane"]) == {str(p) for p in range(8)}
    assert set(summary["by_tier"]) == {"node", "endpoint", "leaf-spine"}
    for group in (*summary["by_plane"].values(), *summary["by_tier"].values()):
        assert set(group) == {"mean", "peak", "bytes", "hot", "p99_mean"}
    inputs = summary["info"]
    assert (inputs["seed"], inputs["model"]) == (0, "fluid")
    assert (inputs["routing"], inputs["cross_plane"], inputs["failures"]) == (
        "ecmp", "destination", [])
    assert inputs["topology"] == "deepseek-v3-2048" and inputs["workload"] == "example-flows"


BAD_INPUTS = [
    ("unknown_endpoint", "row 3: src: no server 99: the fabric has 4, got 'n99/gpu0'"),
    ("negative_size", "row 3: size: must be a non-negative number, got '-64'"),
    ("malformed_row",
     "row 3: expected 5 columns (src,dst,size,start,tag), got 'n0/gpu1,n1/gpu0,64,0'"),
    ("bad_header", "row 1: the header must be src,dst,size,start or src,dst,size,start,tag, "
                   "got 'source,dst,size,start'"),
    ("bad_unit", "row 3: size: unknown size unit 'parsecs' (try '64MiB'), got '5 parsecs'"),
    ("same_gpu", "row 2: src and dst are the same GPU, got 'n0/gpu0'"),
]


@pytest.mark.parametrize(("stem", "message"), BAD_INPUTS, ids=[s for s, _ in BAD_INPUTS])
def test_bad_flow_csv(run_cli: Run, tmp_path: Path, stem: str, message: str) -> None:
    """A bad flow list exits 1 with `Error: <csv>: row N: ...` and writes nothing."""
    out = tmp_path / "out"
    code, stdout, err = run_cli("simulate", TINY, FLOWS / f"{stem}.yaml", "-o", out, "-q")
    assert code == 1 and stdout == ""
    assert err == f"Error: {FLOWS / f'{stem}.csv'}: {message}\n"
    assert_nothing_written(out)


def test_failed_run_keeps_old_output(run_cli: Run, tmp_path: Path) -> None:
    """A failed run into a folder holding an earlier run's files leaves them untouched."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "flows.csv").write_text("earlier\n")
    code, _, _ = run_cli("simulate", TINY, FLOWS / "bad_unit.yaml", "-o", out, "-q")
    assert code == 1
    assert [p.name for p in out.iterdir()] == ["flows.csv"]
    assert (out / "flows.csv").read_text() == "earlier\n"


def test_no_path_error(run_cli: Run, tmp_path: Path) -> None:
    """A flow with no live path exits 1 with an Error line naming its endpoints, writing
    nothing; an untagged flow gets no empty `: ` location in the message."""
    out = tmp_path / "out"
    code, stdout, err = run_cli("simulate", TINY, FLOWS / "no_tag.yaml", "--fail", "plane=0",
                                "--fail", "plane=1", "-o", out, "-q")
    assert code == 1 and stdout == ""
    assert "no path from n0/gpu0 to n2/gpu0: " in err
    assert_nothing_written(out)
    assert err.startswith("Error: ") and not err.startswith("Error: :"), err


@pytest.mark.parametrize("model", ["fluid", "analytic"])
def test_models_agree_on_lone_flows(run_cli: Run, tmp_path: Path, model: str) -> None:
    """Both models finish a flow alone on its links at latency + size / rate (at line rate:
    the transport overhead pinned off)."""
    out = tmp_path / model
    code, stdout, err = run_cli("simulate", no_overhead_file(DEEPSEEK, tmp_path), EXAMPLE,
                                "--model", model, "-o", out, "-q")
    assert code == 0, err
    assert f"({model}): 6 flows" in stdout
    _, rows = read_csv(out / "flows.csv")
    by_tag = {r["tag"]: r for r in rows}
    assert float(by_tag["nvlink"]["end_s"]) == pytest.approx(3.33e-6 + 64 * MiB / 160e9,
                                                             rel=1e-12)
    first = next(r for r in rows if r["src"] == "n0/gpu0")
    assert float(first["end_s"]) == pytest.approx(2.8e-6 + 64 * MiB / 50e9, rel=1e-12)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["info"]["model"] == model
    assert summary["makespan_s"] == max(float(r["end_s"]) for r in rows)


def test_spray_links_column(run_cli: Run, tmp_path: Path) -> None:
    """A sprayed flow's links read `share:id id ...|share:id ...`, each part a whole path;
    an unsplit flow's read `id id ...`."""
    out = tmp_path / "out"
    code, _, err = run_cli("simulate", no_overhead_file(TINY, tmp_path),
                           FLOWS / "cross_leaf.yaml", "--routing", "spray", "-o", out, "-q")
    assert code == 0, err
    _, rows = read_csv(out / "flows.csv")
    _, links = read_csv(out / "links.csv")
    ends = {int(r["id"]): (r["src"], r["dst"]) for r in links}
    split, single = rows
    assert re.fullmatch(r"0\.5:\d+( \d+)*\|0\.5:\d+( \d+)*", split["links"]), split["links"]
    assert re.fullmatch(r"\d+( \d+)*", single["links"]), single["links"]
    parts = [[int(x) for x in p.split(":")[1].split()] for p in split["links"].split("|")]
    assert parts[0] != parts[1]
    for path in parts:
        hops = [ends[i] for i in path]
        assert hops[0][0] == "n0/gpu0" and hops[-1][1] == "n2/gpu0"
        assert all(a[1] == b[0] for a, b in itertools.pairwise(hops))
    # the NIC (50 GB/s) bounds the split flow: latency + size / 50 GB/s
    assert float(split["end_s"]) == pytest.approx(3.7e-6 + MiB / 50e9, rel=1e-12)


def test_flow_ids_follow_input_rows(run_cli: Run, tmp_path: Path) -> None:
    """flows.csv lists flows in the input's row order, whatever their release times."""
    out = tmp_path / "out"
    code, _, _ = run_cli("simulate", ROOT / "topologies" / "deepseek-v3-2048.yaml",
                         ROOT / "workloads" / "example-flows.yaml", "-o", out, "-q")
    assert code == 0
    with (out / "flows.csv").open() as handle:
        tags = [row["tag"] for row in csv.DictReader(handle)]
    assert tags == ["same-plane", "cross-plane", "same-plane", "late", "by-rank", "nvlink"]


def test_parquet_tables(run_cli: Run, tmp_path: Path) -> None:
    """--table-format parquet writes the tables as Parquet; `report` redraws from them;
    --no-flows leaves the per-flow table out."""
    out = tmp_path / "out"
    code, _, err = run_cli("simulate", DEEPSEEK, EXAMPLE, "--table-format", "parquet", "-o",
                           out, "-q")
    assert code == 0, err
    names = {p.name for p in out.iterdir()}
    assert {"flows.parquet", "links.parquet", "timeline_long.parquet", "summary.json"} <= names
    assert "flows.csv" not in names
    (out / "report.html").unlink()
    assert run_cli("report", out)[0] == 0 and (out / "report.html").is_file()
    code, _, _ = run_cli("simulate", DEEPSEEK, EXAMPLE, "--no-flows", "-o", tmp_path / "b", "-q")
    assert code == 0 and not (tmp_path / "b" / "flows.csv").exists()
