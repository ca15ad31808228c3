"""The tables of a design comparison, from hand-made rows: every cell of the side-by-side
table, its turned form for pages, fixed-width text, and the money, rate and ratio formats;
the files a comparison writes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from mpft_sim.comparison import Comparison, DesignRow, compare
from mpft_sim.report.compare import compare_table, text_table, turned_table, write_comparison
from mpft_sim.results import Metrics
from mpft_sim.spec.topology import RoutingSpec, load_topology
from mpft_sim.units import format_time
from tests.conftest import DATA, TOPOLOGIES

HEAD = ["design", "step time", "vs first", "dispatch", "combine", "p99 FCT", "exposed comm",
        "time >= 90% (endpoint / leaf-spine)", "p99 link util (endpoint / leaf-spine)", "cost",
        "cost/GPU", "perf per $M"]


def row(design: str, failures: tuple[str, ...] = (), vs_first: float | None = 1.0,
        **metrics: Any) -> DesignRow:
    """A design's row with the given metrics (a training step's by default)."""
    metrics.setdefault("metric", "step_time_s")
    return DesignRow(design, "multi-plane-fat-tree", failures,
                     Metrics(**metrics), vs_first, None)


@pytest.fixture
def comparison() -> Comparison:
    """Two designs: one with every figure, one with a failed plane and most figures missing."""
    full = row("mpft", time_s=0.4753, dispatch_s=292.8e-6, combine_s=1.5e-3,
               fct_p99_s=2.5e-5, exposed_comm_s=0.0125, hot_endpoint=0.12,
               hot_leaf_spine=0.034, p99_util_endpoint=0.5, p99_util_leaf_spine=0.25,
               cost_usd=9e6, cost_per_gpu_usd=4394.53, perf_per_musd=378_800.0,
               perf_unit="tokens/s per $M")
    sparse = row("ft2", ("plane=1",), 1.114, time_s=0.5295, cost_usd=3.5)
    return Comparison("train", "fluid", (full, sparse))


def test_compare_table_cells(comparison: Comparison) -> None:
    """A header row, then a row per design: times to four digits, the ratio to the first,
    utilisations as whole percentages, money and rates with their units, - for no value."""
    assert compare_table(comparison) == [
        HEAD,
        ["mpft", "475.3 ms", "1.000x", "292.8 µs", "1.5 ms", "25 µs", "12.5 ms", "12% / 3%",
         "50% / 25%", "$9.00M", "$4,395", "378.8k tokens/s per $M"],
        ["ft2 (plane=1 failed)", "529.5 ms", "1.114x", "-", "-", "-", "-", "0% / 0%",
         "0% / 0%", "$3.50", "-", "-"],
    ]


@pytest.mark.parametrize(("metric", "title"), [("step_time_s", "step time"),
                                                ("tpot_s", "time per output token"),
                                                ("makespan_s", "makespan")])
def test_the_time_column_is_named_by_the_metric(metric: str, title: str) -> None:
    """The second column is what time means for the workload."""
    comparison = Comparison("w", "fluid", (row("a", metric=metric, time_s=1.0),))
    assert compare_table(comparison)[0][1] == title
    assert comparison.metric == metric


@pytest.mark.parametrize(("field", "value", "column", "cell"), [
    ("cost_usd", 1_550.7e6, "cost", "$1,550.70M"),
    ("cost_usd", 4_394.0, "cost", "$4,394"),
    ("cost_usd", 0.0, "cost", "$0"),
    ("cost_per_gpu_usd", 9.99, "cost/GPU", "$9.99"),
    ("perf_per_musd", 2.5, "perf per $M", "2.5 1/step_time per $M"),
    ("perf_per_musd", 1.234e9, "perf per $M", "1.234G 1/step_time per $M"),
    ("time_s", 1.23456, "step time", "1.235 s"),
    ("fct_p99_s", 4.2e-9, "p99 FCT", "4.2 ns"),
])
def test_money_rate_and_time_formats(field: str, value: float, column: str, cell: str) -> None:
    """Money in millions with two decimals, else whole dollars (cents under ten); rates with a
    metric prefix and their unit; times in a readable unit to four digits."""
    metrics: dict[str, Any] = {"time_s": 1.0, field: value}
    if field == "perf_per_musd":
        metrics["perf_unit"] = "1/step_time per $M"
    rows = compare_table(Comparison("w", "fluid", (row("a", **metrics),)))
    assert rows[1][HEAD.index(column)] == cell


@pytest.mark.parametrize(("ratio", "cell"), [(1.0, "1.000x"), (6.9, "6.900x"),
                                             (0.5, "0.500x"), (None, "-"), (0.0, "-")])
def test_ratio_format(ratio: float | None, cell: str) -> None:
    """The ratio to the first design has three decimals; none (or zero) is -."""
    rows = compare_table(Comparison("w", "fluid", (row("a", vs_first=ratio, time_s=1.0),)))
    assert rows[1][2] == cell


def test_turned_table(comparison: Comparison) -> None:
    """Turned for a page: a column per design, a row per figure, the same cells."""
    table = turned_table(comparison)
    rows = compare_table(comparison)
    assert list(table.headers) == ["", "mpft", "ft2 (plane=1 failed)"]
    assert [r[0] for r in table.rows] == HEAD[1:]
    assert [list(r) for r in table.rows] == [[HEAD[k], rows[1][k], rows[2][k]]
                                             for k in range(1, len(HEAD))]


def test_text_table_alignment() -> None:
    """The first column is left-aligned and the others right-aligned, two spaces apart,
    without trailing spaces."""
    assert text_table([["design", "t"], ["a", "10 ms"], ["long name", "1 s"]]) == (
        "design         t\n"
        "a          10 ms\n"
        "long name    1 s")
    assert text_table([["x", ""], ["y", ""]]) == "x\ny"


@pytest.fixture(scope="module")
def replayed() -> Comparison:
    """A flow list replayed on the tiny design with ECMP and with spray."""
    spec = load_topology(TOPOLOGIES / "tiny-mpft.yaml")
    sprayed = dataclasses.replace(spec, name="tiny-spray",
                                  routing=RoutingSpec(policy="spray"))
    return compare([spec, sprayed], DATA / "flows" / "cross_leaf.yaml")


def test_write_comparison(replayed: Comparison, tmp_path: Path) -> None:
    """compare.json holds the comparison's data and compare.txt its text table; the Markdown
    names the fastest design and the best value; a flow list has no all-to-all figure."""
    names = write_comparison(replayed, tmp_path)
    assert names == ["compare.json", "compare.txt", "compare.md", "compare.html",
                     "compare_time.png", "compare_value.png", "compare_utilisation.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    assert json.loads((tmp_path / "compare.json").read_text()) == replayed.to_dict()
    assert (tmp_path / "compare.txt").read_text() == text_table(
        compare_table(replayed)) + "\n"
    fastest = min(replayed.rows, key=lambda r: r.metrics.time_s or 0.0)
    md = (tmp_path / "compare.md").read_text()
    assert (f"Fastest: {fastest.design} ({format_time(fastest.metrics.time_s or 0.0)}); "
            f"best performance per dollar: {fastest.design}.") in md
