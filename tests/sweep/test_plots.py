"""Sweep figures: the Pareto front of (cost, time) points, the time figure the plots show,
and both figures drawn at their size from hand-made rows, failures and all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mpft_sim.report.html import png_size
from mpft_sim.report.style import size_px
from mpft_sim.sweep.plots import pareto_front, plot_frontier, plot_scaling, time_metric


@pytest.mark.parametrize(("points", "front"), [
    pytest.param([], [], id="none"),
    pytest.param([(1.0, 5.0)], [0], id="one"),
    pytest.param([(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (0.5, 6.0)], [3, 0, 1],
                 id="a staircase and a dominated point"),
    pytest.param([(1.0, 2.0), (1.0, 2.0), (2.0, 2.0)], [0, 1], id="equal points both on it"),
    pytest.param([(1.0, 3.0), (1.0, 2.0)], [1], id="same cost, lower time wins"),
    pytest.param([(2.0, 1.0), (1.0, 1.0)], [1], id="same time, lower cost wins"),
    pytest.param([(3.0, 1.0), (2.0, 2.0), (1.0, 3.0)], [2, 1, 0], id="all on it"),
])
def test_pareto_front(points: list[tuple[float, float]], front: list[int]) -> None:
    """The points no other point beats on both coordinates, by increasing cost; equal points
    are all on the front."""
    assert pareto_front(points) == front


@pytest.mark.parametrize(("rows", "metric"), [
    ([{"metric": "tpot_s"}, {"metric": "tpot_s"}], ("tpot_s", "TPOT")),
    ([{"metric": "step_time_s"}], ("step_time_s", "step time")),
    ([{"metric": "makespan_s"}], ("makespan_s", "makespan")),
    ([{"metric": "tpot_s"}, {"metric": "step_time_s"}], ("makespan_s", "makespan")),
    ([{"metric": "tpot_s"}, {"metric": "step_time_s", "error": "boom"}], ("tpot_s", "TPOT")),
    ([{"metric": None, "error": "boom"}], ("makespan_s", "makespan")),
    ([], ("makespan_s", "makespan")),
    ([{"metric": "other_s"}], ("other_s", "other_s")),
])
def test_time_metric(rows: list[dict[str, Any]], metric: tuple[str, str]) -> None:
    """The metric every point that ran chose, with its name; the makespan when they disagree
    or none ran."""
    assert time_metric(rows) == metric


def rows_of(designs: list[str], sizes: list[int], *, failed: int = 0) -> list[dict[str, Any]]:
    """Sweep rows: each design at each size, the time and cost growing with it; the last
    ``failed`` rows failed."""
    rows: list[dict[str, Any]] = []
    for d, design in enumerate(designs):
        for nodes in sizes:
            rows.append({"point": len(rows), "nodes": nodes, "design": design,
                         "gpus": 8 * nodes, "job_gpus": 16, "metric": "step_time_s",
                         "step_time_s": 0.1 * (1 + d) + 1e-3 * nodes,
                         "cost_usd": 1e6 * nodes * (1 + d),
                         "cost_per_gpu_usd": 1e6 * (1 + d) / 8, "error": ""})
    for r in rows[len(rows) - failed:]:
        r.update({"error": "tiny.yaml: fabric.nodes: too many", "step_time_s": None})
    return rows


@pytest.mark.parametrize("failed", [0, 2, 6])
def test_frontier_size(tmp_path: Path, failed: int) -> None:
    """The frontier figure is 8.5 x 5.5 inches, whether every point ran, some failed or
    all did."""
    path = tmp_path / "frontier.png"
    plot_frontier(rows_of(["a", "b"], [2, 4, 8], failed=failed), path, "sweep")
    assert png_size(path.read_bytes()) == size_px(8.5, 5.5)


@pytest.mark.parametrize("failed", [0, 2, 6])
def test_scaling_size(tmp_path: Path, failed: int) -> None:
    """The scaling figure is 8.5 x 7.5 inches, whether every point ran, some failed or all
    did."""
    path = tmp_path / "scaling.png"
    plot_scaling(rows_of(["a", "b"], [2, 4, 8], failed=failed), path, "sweep")
    assert png_size(path.read_bytes()) == size_px(8.5, 7.5)
