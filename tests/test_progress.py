"""Progress reporting: each phase logged once and passed on at once, simulating events
throttled to one per interval (the last always passed on), and a comparison's context on every
event."""

from __future__ import annotations

import logging
import types

import pytest

from mpft_sim import progress
from mpft_sim.progress import BUILD, SIMULATE, Progress, Reporter


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The reporter's wall clock, at 100 s."""
    c = Clock()
    monkeypatch.setattr(progress, "time", types.SimpleNamespace(monotonic=c.monotonic))
    return c


def test_phases_are_passed_on_and_logged_once(clock: Clock,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """Every phase call sends an event at once; a phase is logged when it is entered."""
    events: list[Progress] = []
    reporter = Reporter(events.append)
    with caplog.at_level(logging.INFO, logger="mpft_sim"):
        reporter.phase(BUILD)
        reporter.phase(BUILD)
        reporter.phase(SIMULATE)
    assert events == [Progress(BUILD), Progress(BUILD), Progress(SIMULATE)]
    assert [r.getMessage() for r in caplog.records] == ["building fabric", "simulating"]


def test_simulating_events_are_throttled(clock: Clock) -> None:
    """Simulating events closer than the interval to the last one passed on are dropped,
    except the one that ends the simulation; counters are copied."""
    events: list[Progress] = []
    reporter = Reporter(events.append, interval_s=0.1)
    counters = {"flows": 3.0}
    for now, done in ((100.0, 0.1), (100.05, 0.2), (100.2, 0.3), (100.21, 0.4), (100.22, 1.0)):
        clock.now = now
        reporter.simulating(done, sim_time_s=done * 1e-3, counters=counters)
    counters["flows"] = 99.0
    assert [e.done for e in events] == [0.1, 0.3, 1.0]
    assert [e.sim_time_s for e in events] == [1e-4, 3e-4, 1e-3]
    assert all(e.phase == SIMULATE and e.counters == {"flows": 3.0} for e in events)
    assert Reporter(events.append).interval_s == 0.1


def test_a_phase_resets_the_throttle(clock: Clock) -> None:
    """A phase event counts as the last one passed on: a simulating event right after it is
    dropped."""
    events: list[Progress] = []
    reporter = Reporter(events.append)
    reporter.phase(SIMULATE)
    clock.now += 0.01
    reporter.simulating(0.5, 1.0)
    assert [e.done for e in events] == [None]


def test_context_rides_on_every_event(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    """A comparison's design, index and total are on every event, and the design leads the
    log line."""
    events: list[Progress] = []
    reporter = Reporter(events.append, design="mpft", index=1, total=3)
    with caplog.at_level(logging.INFO, logger="mpft_sim"):
        reporter.phase(BUILD)
    reporter.simulating(1.0, 2.0)
    assert [(e.design, e.index, e.total) for e in events] == [("mpft", 1, 3)] * 2
    assert [r.getMessage() for r in caplog.records] == ["mpft: building fabric"]


def test_without_a_callback_phases_are_only_logged(clock: Clock,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """With no callback nothing is sent, and phases are still logged."""
    reporter = Reporter(None)
    with caplog.at_level(logging.INFO, logger="mpft_sim"):
        reporter.phase(BUILD)
        reporter.simulating(1.0, 1.0)
    assert [r.getMessage() for r in caplog.records] == ["building fabric"]
