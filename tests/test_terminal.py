"""What the command line shows while it works: plain lines off a terminal, a live bar on one,
nothing when quiet; and the library's events that feed it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import mpft_sim
from mpft_sim.progress import BUILD, COMPILE, PLAN, SIMULATE, Progress, Reporter
from mpft_sim.terminal import Display
from tests.conftest import ROOT, TOPOLOGIES


class Tty(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_simulate_reports_its_phases_in_order() -> None:
    """simulate reports building, planning, loading kernels, then simulating up to 100%, with
    simulated time and the engine's counters."""
    events: list[Progress] = []
    mpft_sim.simulate(TOPOLOGIES / "deepseek-v3-2048.yaml",
                      ROOT / "workloads" / "nccl-alltoall.yaml", progress=events.append)
    phases = [e.phase for e in events]
    assert phases[:4] == [BUILD, PLAN, COMPILE, SIMULATE]
    assert set(phases[4:]) == {SIMULATE}
    last = events[-1]
    assert last.done == 1.0 and last.sim_time_s is not None and last.sim_time_s > 0
    assert last.counters["flows"] == 2 * 64 * 63


def test_compare_events_name_their_design() -> None:
    """Inside a comparison every event says which design, its place and how many."""
    events: list[Progress] = []
    mpft_sim.compare([TOPOLOGIES / "deepseek-v3-2048.yaml", TOPOLOGIES / "ft2-2048.yaml"],
                     ROOT / "workloads" / "nccl-alltoall.yaml", "analytic",
                     progress=events.append)
    assert {(e.design, e.index, e.total) for e in events} == {
        ("deepseek-v3-2048", 0, 2), ("ft2-2048", 1, 2)}
    assert COMPILE not in {e.phase for e in events}  # the analytic model needs no kernels


def test_reporter_throttles_but_keeps_phases_and_the_end() -> None:
    """Between phases, 'simulating' events pass at most once per interval; a phase and the
    100% event always pass."""
    seen: list[Progress] = []
    r = Reporter(seen.append, interval_s=3600)
    r.phase(SIMULATE)
    for k in range(1, 101):
        r.simulating(k / 100, k * 1e-3)
    assert [(e.phase, e.done) for e in seen] == [(SIMULATE, None), (SIMULATE, 1.0)]


def test_plain_lines_off_a_terminal() -> None:
    """Off a terminal: one line per phase, progress at most every interval, with the share
    done and an estimate of the time left."""
    out = io.StringIO()
    with Display(stream=out, interval_s=3600) as display:
        display(Progress(BUILD))
        display(Progress(SIMULATE, done=0.0, sim_time_s=0.0))
        display(Progress(SIMULATE, done=0.5, sim_time_s=1e-3))  # within the interval: not shown
        display(Progress(SIMULATE, done=1.0, sim_time_s=2e-3))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("] building fabric")
    assert "] simulating: 0%" in lines[1]
    assert "] simulating: 100% (simulated 2 ms" in lines[2]


def test_plain_lines_of_designs_that_run_at_once() -> None:
    """Two designs running at once (compare --jobs) interleave their events: each design's
    progress still prints at most once per interval."""
    out = io.StringIO()
    with Display(stream=out, interval_s=3600) as display:
        for done in (0.1, 0.2, 0.3):
            for name in ("a", "b"):
                display(Progress(SIMULATE, done=done, design=name, index=0, total=2))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "a: simulating: 10%" in lines[0] and "b: simulating: 10%" in lines[1]


def test_quiet_shows_nothing() -> None:
    out = Tty()
    with Display(stream=out, quiet=True) as display:
        display(Progress(SIMULATE, done=0.5, sim_time_s=1.0))
    assert out.getvalue() == ""


def test_a_bar_per_design_on_a_terminal() -> None:
    """On a terminal each design gets its own bar, labelled with its place."""
    out = Tty()
    with Display(stream=out) as display:
        for i, name in enumerate(("a", "b")):
            display(Progress(SIMULATE, done=1.0, sim_time_s=1e-3, design=name, index=i,
                             total=2))
        assert len(display._tasks) == 2
    text = out.getvalue()
    assert "[1/2] a: simulated" in text and "[2/2] b: simulated" in text


def test_cli_progress_off_a_terminal(run_cli: object, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`mpft-sim simulate` with stderr not a terminal prints its phases as plain lines; -q
    prints none of them."""
    from mpft_sim.cli import main

    args = ["simulate", str(TOPOLOGIES / "deepseek-v3-2048.yaml"),
            str(ROOT / "workloads" / "nccl-alltoall.yaml"), "-o", str(tmp_path / "a")]
    assert main(args) == 0
    err = capsys.readouterr().err
    for phase in (BUILD, PLAN, SIMULATE, "writing report"):
        assert f"] {phase}" in err
    assert main([*args, "-q"]) == 0
    err = capsys.readouterr().err
    assert "] " not in err and err.startswith("wrote ")
