"""The report of one run: files, figures, content, a real browser's view, reproducibility and
errors, for a flow replay, a training step and a decode step (plus a two-job run)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from matplotlib.image import imread

from mpft_sim.cli import main
from mpft_sim.errors import MpftError, SpecError
from mpft_sim.output import redraw_report as write_report
from mpft_sim.report import cost, html, planes, plots
from mpft_sim.report.style import DPI, REPORT_WIDTH_IN, size_px
from mpft_sim.report.timeline import timeline_height_in
from mpft_sim.units import format_rate, format_time
from tests.browser import Browser, browser  # noqa: F401  (browser: a session fixture)

ROOT = Path(__file__).resolve().parents[2]

# 4 servers of 8 GPUs, 8 planes of radix-8 switches: big enough for every run below, small
# enough that all of them simulate in a few seconds
TOPOLOGY = """\
name: mpft4
fabric:
  kind: multi-plane-fat-tree
  planes: 8
  nodes: 4
  switch: {radix: 8, port_bandwidth: 400Gb/s}
"""
TRAINING = """\
name: train-s
kind: training
model: {layers: 4, dense_layers: 1}
layout: {pp: 2, dp: 16, ep: 8}
batch: {tokens: 512, micro_batches: 4}
expert_load: {samples: 1}
"""
DECODE = """\
name: decode-s
kind: inference
phase: decode
layout: {pp: 1, dp: 16, ep: 16, first_node: 0}
tokens_per_gpu: 32
micro_batches: 2
context: 1024
mtp_accepted: 0.85
expert_parallel: {kernel: low-latency, cross_plane: destination}
expert_load: {samples: 1}
kv_transfer: {first_node: 2, nodes: 2, requests_per_step: 2, prompt_tokens: 1024}
"""
JOBS = """\
name: mix-s
kind: jobs
jobs:
  - name: pre
    kind: inference
    phase: prefill
    layout: {pp: 1, dp: 16, ep: 16, first_node: 0}
    tokens_per_gpu: 512
    micro_batches: 2
    expert_load: {samples: 1}
  - name: a2a
    kind: nccl-alltoall
    gpus: 16
    first_node: 2
    message: 256KiB
"""
WORKLOADS = {"flows": None, "training": TRAINING, "decode": DECODE, "jobs": JOBS}
# lanes the step timeline shows: PP2 x 2 EP groups (the DP sync lanes drawn on them); the
# decode EP group and the KV-cache senders; the prefill group and the NCCL group
LANES = {"flows": 0, "training": 4, "decode": 2, "jobs": 2}

NETWORK_PLOTS = ["utilisation_heatmap.png", "plane_balance.png", "utilisation_cdf.png",
                 "fct_cdf.png", "cost_breakdown.png"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run directories written by ``mpft-sim simulate``, reports written next to them."""
    base = tmp_path_factory.mktemp("runs")
    topology = base / "mpft4.yaml"
    topology.write_text(TOPOLOGY, encoding="utf-8")
    out = {}
    for name, text in WORKLOADS.items():
        if text is None:
            workload = ROOT / "workloads" / "example-flows.yaml"
        else:
            workload = base / f"{name}.yaml"
            workload.write_text(text, encoding="utf-8")
        folder = base / name
        assert main(["simulate", str(topology), str(workload), "-o", str(folder), "-q"]) == 0
        out[name] = folder
    return out


@pytest.fixture(scope="module")
def written(runs: dict[str, Path]) -> dict[str, list[str]]:
    """What write_report returned for each run."""
    return {name: write_report(folder) for name, folder in runs.items()}


def expected_plots(name: str) -> list[str]:
    return (["timeline.png"] if LANES[name] else []) + NETWORK_PLOTS


def expected_size(name: str, plot: str, folder: Path) -> tuple[int, int]:
    """(width, height) in pixels, from the figure sizes the plots module documents."""
    groups = len((folder / "timeline.csv").read_text().splitlines()[0].split(",")) - 2
    height = {"utilisation_heatmap.png": plots.heatmap_height_in(groups),
              "timeline.png": timeline_height_in(LANES[name]),
              "utilisation_cdf.png": plots.UTIL_CDF_HEIGHT_IN,
              "fct_cdf.png": plots.FCT_HEIGHT_IN,
              "plane_balance.png": planes.PLANE_BALANCE_HEIGHT_IN,
              "cost_breakdown.png": cost.COST_HEIGHT_IN}[plot]
    return size_px(REPORT_WIDTH_IN, height)


def digest(folder: Path, names: list[str]) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in names}


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_files_and_figures(name: str, runs: dict[str, Path],
                           written: dict[str, list[str]]) -> None:
    """Every figure the run has data for is a real PNG of the documented size."""
    folder = runs[name]
    assert written[name] == ["report.md", "report.html", *expected_plots(name)]
    assert size_px(REPORT_WIDTH_IN, 1.0) == (1020, DPI)
    for plot in expected_plots(name):
        data = (folder / plot).read_bytes()
        assert data.startswith(PNG_SIGNATURE), plot
        assert len(data) > 10_000, f"{plot}: {len(data)} bytes, suspiciously small"
        height, width = imread(folder / plot).shape[:2]
        assert (width, height) == expected_size(name, plot, folder), plot


def test_training_markdown(runs: dict[str, Path], written: dict[str, list[str]]) -> None:
    """The training report states the step time, its breakdown and the hottest link."""
    summary = json.loads((runs["training"] / "summary.json").read_text())
    job = summary["jobs"][0]
    md = (runs["training"] / "report.md").read_text()
    assert f"| step time | {format_time(job['step_time_s'])} |" in md
    for label in ("forward", "backward (input gradients)", "backward (weight gradients)",
                  "overlapped forward & backward chunks", "pipeline bubble (idle)",
                  "optimizer (gradient sync and update)"):
        assert f"| breakdown: {label} |" in md
    bubble = job["breakdown"]["bubble_s"]
    assert f"| breakdown: pipeline bubble (idle) | {format_time(bubble)} |" in md
    assert "| exposed communication |" in md
    assert "all-to-all dispatch: network bandwidth per GPU" in md
    assert summary["hottest_links"][0]["link"] in md
    assert "| network cost per GPU |" in md
    for plot in expected_plots("training"):
        assert f"]({plot})" in md


def test_inference_and_replay_markdown(runs: dict[str, Path],
                                       written: dict[str, list[str]]) -> None:
    """Decode shows TPOT and tokens/s; a replay shows FCT and its hottest link, no step."""
    decode = json.loads((runs["decode"] / "summary.json").read_text())["jobs"][0]
    md = (runs["decode"] / "report.md").read_text()
    assert f"| time per output token (TPOT) | {format_time(decode['tpot_s'])} |" in md
    assert format_rate(decode["tokens_per_s"], "tokens/s") in md
    assert "breakdown:" not in md  # inference has no training breakdown
    replay = json.loads((runs["flows"] / "summary.json").read_text())
    md = (runs["flows"] / "report.md").read_text()
    assert f"| flow completion time p99 | {format_time(replay['fct_s']['p99'])} |" in md
    assert replay["hottest_links"][0]["link"] in md
    assert "step time" not in md
    assert "timeline.png" not in md


def test_a_section_per_job(runs: dict[str, Path], written: dict[str, list[str]]) -> None:
    md = (runs["jobs"] / "report.md").read_text()
    assert "## Jobs" in md
    assert "### Job pre (inference, 16 GPUs)" in md
    assert "### Job a2a (nccl-alltoall, 16 GPUs)" in md
    assert "| NCCL all-to-all bandwidth per GPU |" in md


@pytest.mark.parametrize("name", ["flows", "training", "decode"])
def test_html_in_a_browser(name: str, runs: dict[str, Path], written: dict[str, list[str]],
                           browser: Browser) -> None:  # noqa: F811
    """Chromium shows every figure (decoded, at its size) and logs no error."""
    page = runs[name] / "report.html"
    check = browser.open_page(page)
    assert check.console_errors == []
    assert check.overflowing_tables == []  # every table fits the page at 1,280 px
    assert len(check.images) == len(expected_plots(name))
    for (alt, complete, width, height), plot in zip(check.images, expected_plots(name),
                                                    strict=True):
        assert alt
        assert complete
        assert width > 0
        assert (width, height) == expected_size(name, plot, runs[name])


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_html_is_self_contained(name: str, runs: dict[str, Path],
                                written: dict[str, list[str]]) -> None:
    text = (runs[name] / "report.html").read_text()
    assert "http://" not in text and "https://" not in text
    sources = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert sources and all(s.startswith("data:") for s in sources)
    assert text.count("<img ") == len(expected_plots(name))
    assert "max-width" in text and "overflow-x: auto" in text


@pytest.mark.parametrize("name", ["training", "decode"])
def test_rerun_is_byte_identical(name: str, runs: dict[str, Path],
                                 written: dict[str, list[str]]) -> None:
    """No timestamp or version anywhere: a rerun rewrites the very same bytes."""
    folder = runs[name]
    before = digest(folder, written[name])
    assert write_report(folder) == written[name]
    assert digest(folder, written[name]) == before


def test_missing_summary_is_a_spec_error(runs: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "run"
    shutil.copytree(runs["flows"], folder)
    (folder / "summary.json").unlink()
    (folder / "report.md").unlink()
    with pytest.raises(SpecError, match=r"summary\.json"):
        write_report(folder)
    assert not (folder / "report.md").exists()  # nothing half-written


@pytest.mark.parametrize(("file", "damage", "message"), [
    ("summary.json", lambda t: t[: len(t) // 2], "not valid JSON"),
    ("summary.json", lambda t: t.replace('"makespan_s"', '"makespan"'), "makespan_s"),
    ("summary.json", lambda t: t.replace('"flows": ', '"flows": "many", "x": '), "flows"),
    ("links.csv", lambda t: t.replace("mean_util", "util", 1), "mean_util"),
    ("links.csv", lambda t: t.replace(",nvlink,", ",nvlink,x", 1), "line 2"),
    ("timeline.csv", lambda t: "", "empty file"),
    ("ops.csv", lambda t: t.replace("start_s", "begin", 1), "start_s"),
])
def test_corrupt_files_are_spec_errors(runs: dict[str, Path], tmp_path: Path, file: str,
                                       damage: Callable[[str], str], message: str) -> None:
    folder = tmp_path / "run"
    shutil.copytree(runs["training"], folder)
    path = folder / file
    path.write_text(damage(path.read_text()))
    with pytest.raises(MpftError) as info:
        write_report(folder)
    assert isinstance(info.value, SpecError)
    assert file in str(info.value) and message in str(info.value)


def test_without_flows_or_ops(runs: dict[str, Path], tmp_path: Path) -> None:
    """flows.csv is never needed; without ops.csv a program's report has no timeline and
    says why."""
    folder = tmp_path / "run"
    shutil.copytree(runs["training"], folder)
    (folder / "flows.csv").unlink()
    assert "timeline.png" in write_report(folder)
    (folder / "ops.csv").unlink()
    (folder / "timeline.png").unlink()
    assert write_report(folder) == ["report.md", "report.html", *NETWORK_PLOTS]
    assert "ops.csv is not in the run directory" in (folder / "report.md").read_text()


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not a run directory"):
        write_report(tmp_path / "nothing-here")


def test_browser_sees_broken_pages(tmp_path: Path, browser: Browser) -> None:  # noqa: F811
    """The checks above can fail: a broken image has no natural size, a script error and a
    missing file are logged as SEVERE."""
    page = tmp_path / "broken.html"
    page.write_text(html.page("broken", '<img src="data:image/png;base64,AAAA" alt="bad">'
                                        '<img src="missing.png" alt="gone">'
                                        '<script>throw new Error("boom")</script>'))
    check = browser.open_page(page)
    assert [(alt, width) for alt, _, width, _ in check.images] == [("bad", 0), ("gone", 0)]
    assert check.overflowing_tables == []
    wide = tmp_path / "wide.html"
    wide.write_text(html.page("wide", html.table(["first", "second"], [["1", "9" * 400]])))
    assert browser.open_page(wide).overflowing_tables == ["first"]  # a number never wraps
    assert any("boom" in m for m in check.console_errors)
    assert any("missing.png" in m for m in check.console_errors)
