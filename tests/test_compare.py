"""Comparing designs: the figures, the files, the page as a user opens it, the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mpft_sim.comparison import Comparison, compare
from mpft_sim.errors import MpftError, SpecError
from mpft_sim.progress import SIMULATE, Progress
from tests.browser import Browser
from tests.conftest import ROOT, TOPOLOGIES

Run = Callable[..., tuple[int, str, str]]
DESIGNS = [TOPOLOGIES / f"{n}.yaml" for n in
           ("deepseek-v3-2048", "mrft-2048", "ft2-2048", "deepseek-v3-2048-failed-plane")]
EP = ROOT / "workloads" / "ep-alltoall.yaml"


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    return compare(DESIGNS, EP)


def test_figures(comparison: Comparison) -> None:
    """One EP64 all-to-all: the MPFT and the multi-rail tree keep it under one leaf per rail
    and tie; a single-plane tree crosses spines and a failed plane shares NICs: both slower.
    The three healthy designs cost the same: $9.00M, $4,394 per GPU."""
    rows = {r.design: r.to_dict() for r in comparison.rows}
    mpft, mrft = rows["deepseek-v3-2048"], rows["mrft-2048"]
    assert mpft["time_s"] == pytest.approx(mrft["time_s"], rel=1e-9)
    assert rows["ft2-2048"]["time_s"] > mpft["time_s"] * 1.05
    failed = rows["deepseek-v3-2048-failed-plane"]
    assert failed["time_s"] > mpft["time_s"] * 1.2 and failed["failures"] == ["plane=0"]
    for name in ("deepseek-v3-2048", "mrft-2048", "ft2-2048"):
        assert rows[name]["cost_usd"] == pytest.approx(8_999_168)
        assert rows[name]["cost_per_gpu_usd"] == pytest.approx(8_999_168 / 2048)
    assert mpft["time_vs_first"] == 1.0
    assert mpft["perf_per_musd"] == pytest.approx(
        64 * 4096 / mpft["time_s"] / (mpft["cost_usd"] / 1e6))
    assert mpft["peak_util_endpoint"] == pytest.approx(1.0)
    assert mpft["peak_util_leaf_spine"] == 0.0


def test_cli_files_and_page(run_cli: Run, tmp_path: Path, browser: Browser) -> None:
    """compare writes its table, JSON, Markdown, a self-contained page whose every plot loads
    without a console error, and the PNGs."""
    out = tmp_path / "cmp"
    code, stdout, err = run_cli("compare", *DESIGNS, "--workload", EP, "-o", out, "-q")
    assert code == 0, err
    assert stdout.splitlines()[0].split()[:3] == ["design", "step", "time"]
    assert len(stdout.splitlines()) == 5
    data = json.loads((out / "compare.json").read_text())
    assert [d["design"] for d in data["designs"]] == [p.stem for p in DESIGNS]
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["compare_alltoall.png", "compare_time.png", "compare_utilisation.png",
                    "compare_value.png"]
    for png in pngs:
        assert (out / png).stat().st_size > 10_000
    page = browser.open_page(out / "compare.html")
    assert len(page.images) == 4
    assert all(ok and width > 0 for _, ok, width, _ in page.images)
    assert page.console_errors == []
    assert page.overflowing_tables == [] and page.column_px >= 1000  # fits at 1,280 px
    html = (out / "compare.html").read_text()
    assert "http://" not in html and "https://" not in html
    md = (out / "compare.md").read_text()
    # designs as columns, figures as rows
    assert "|  | deepseek-v3-2048 | mrft-2048 | ft2-2048 | deepseek-v3-2048-failed-plane " in md
    assert "| step time | " in md


def test_cli_json(run_cli: Run, tmp_path: Path) -> None:
    """--json prints compare.json."""
    code, stdout, _ = run_cli("compare", DESIGNS[0], DESIGNS[1], "--workload", EP, "-o",
                              tmp_path / "c", "--json", "-q", "--model", "analytic")
    assert code == 0
    assert json.loads(stdout)["model"] == "analytic"


def test_workload_that_does_not_fit(run_cli: Run, tmp_path: Path) -> None:
    """A design too small for the workload is an error naming it, and nothing is written."""
    with pytest.raises(SpecError, match="ep-alltoall on tiny-mpft: layout: the job needs 64"):
        compare([TOPOLOGIES / "tiny-mpft.yaml"], EP)
    code, _, err = run_cli("compare", TOPOLOGIES / "tiny-mpft.yaml", "--workload", EP, "-o",
                           tmp_path / "c", "-q")
    # the workload's file, then which run of the comparison, then the key
    assert code == 1 and f"Error: {EP}: ep-alltoall on tiny-mpft: layout:" in err
    assert not (tmp_path / "c").exists()


def test_report_redraws_a_run(run_cli: Run, tmp_path: Path) -> None:
    """mpft-sim report DIR redraws the same report.html from a run's files."""
    out = tmp_path / "run"
    assert run_cli("simulate", DESIGNS[0], EP, "-o", out, "-q")[0] == 0
    first = (out / "report.html").read_bytes()
    (out / "report.html").unlink()
    code, _, err = run_cli("report", out)
    assert code == 0, err
    assert (out / "report.html").read_bytes() == first
    code, _, err = run_cli("report", tmp_path / "nowhere")
    assert code == 1 and err.startswith("Error: ")


def test_sweep_cli(run_cli: Run, tmp_path: Path) -> None:
    """mpft-sim sweep runs a grid in-process and writes sweep.csv and its plots."""
    out = tmp_path / "sweep"
    code, stdout, err = run_cli("sweep", ROOT / "tests" / "data" / "sweep" / "basic.yaml",
                                "-o", out, "--jobs", "1", "-q")
    assert code == 0, err
    assert {"sweep.csv", "sweep.json", "frontier.png", "scaling.png"} <= {
        p.name for p in out.iterdir()}
    assert "points (" in stdout
    code, _, err = run_cli("sweep", ROOT / "tests" / "data" / "sweep" / "basic.yaml", "-o",
                           out, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1",
                           "-q")
    assert code == 1 and "Error: " in err


def test_rows_as_a_dataframe(comparison: Comparison) -> None:
    """Comparison.to_dataframe: one row per design, the design's columns, then every metric,
    then the breakdown rows when a design has them; the same values as the rows."""
    from mpft_sim.results import METRICS

    frame = comparison.to_dataframe()
    assert frame["design"].tolist() == [p.stem for p in DESIGNS]
    assert list(frame.columns[:3]) == ["design", "kind", "failures"]
    assert list(frame.columns[3:3 + len(METRICS)]) == list(METRICS)
    assert frame["time_s"].tolist() == [r.metrics.time_s for r in comparison.rows]
    assert frame.loc[3, "failures"] == ["plane=0"]


def test_hand_made_comparison_without_summaries(comparison: Comparison) -> None:
    """A comparison assembled from rows alone serialises with empty details."""
    bare = Comparison(comparison.workload, comparison.model, comparison.rows)
    data = bare.to_dict()
    assert data["details"] == [] and len(data["designs"]) == len(comparison.rows)


def test_a_bad_model_is_refused_before_any_design_runs() -> None:
    """compare checks its run options first: the error names the option, not a design."""
    with pytest.raises(SpecError) as info:
        compare(DESIGNS, EP, "analytc")  # type: ignore[arg-type]
    assert " on " not in str(info.value) and "model" in str(info.value)


def test_designs_in_worker_processes(comparison: Comparison) -> None:
    """jobs=2 runs the designs in two worker processes: the same comparison as one after
    another, each design's progress passed back (a bar each), and a workload that does not fit
    a design is the same error, naming it."""
    events: list[Progress] = []
    parallel = compare(DESIGNS, EP, jobs=2, progress=events.append)
    def figures(c: Comparison) -> dict[str, Any]:  # all but each run's wall time and memory
        out = c.to_dict()
        for d in out["details"]:
            d.pop("provenance")
        return out
    assert figures(parallel) == figures(comparison)
    done = {e.design for e in events if e.phase == SIMULATE and e.done == 1.0}
    assert done == {r.design for r in comparison.rows}
    assert {(e.index, e.total) for e in events if e.design == "ft2-2048"} == {(2, 4)}
    with pytest.raises(SpecError, match="ep-alltoall on tiny-mpft: layout: the job needs 64"):
        compare([TOPOLOGIES / "tiny-mpft.yaml", TOPOLOGIES / "tiny-mpft.yaml"], EP, jobs=2)
    with pytest.raises(MpftError, match="jobs: must be a whole number of at least 1, got 0"):
        compare(DESIGNS, EP, jobs=0)


def test_a_failing_design_stops_the_others() -> None:
    """A design that fails ends the comparison at once, with the error a serial run gives:
    the design running beside it is stopped, not run to its end (here the shortened training
    step on the full MPFT, minutes of simulation, whose progress never reaches its end)."""
    events: list[Progress] = []
    train = ROOT / "workloads" / "deepseek-v3-train-short.yaml"
    with pytest.raises(SpecError, match="deepseek-v3-train-short on tiny-mpft"):
        compare([TOPOLOGIES / "tiny-mpft.yaml", DESIGNS[0]], train, jobs=2,
                progress=events.append)
    assert not [e for e in events if e.phase == SIMULATE and e.done == 1.0]


def test_cli_jobs(run_cli: Run, tmp_path: Path) -> None:
    """--jobs 1 and --jobs 2 print the same table; the memory ceiling is per design alone,
    so a ceiling below two designs together runs them one at a time instead of refusing."""
    tables = []
    for jobs, ceiling in (("1", "64GiB"), ("2", "64GiB"), ("2", "400MiB")):
        code, stdout, err = run_cli("compare", DESIGNS[0], DESIGNS[2], "--workload", EP, "-o",
                                    tmp_path / f"c{jobs}{ceiling}", "-q", "--jobs", jobs,
                                    "--max-memory", ceiling)
        assert code == 0, err
        tables.append(stdout)
    assert tables[0] == tables[1] == tables[2] and "ft2-2048" in tables[0]
