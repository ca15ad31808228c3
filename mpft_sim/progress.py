"""How far a long call has got: the events ``simulate`` and ``compare`` report.

The library never prints. It reports its phases through :mod:`logging` (logger ``mpft_sim``)
and, to a caller that asks, through a callback taking a :class:`Progress` event; the command
line turns the events into a live bar (or, when stderr is not a terminal, a plain line now and
then).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["BUILD", "COMPILE", "PLAN", "REPORT", "SIMULATE", "Progress", "ProgressCallback",
           "Reporter"]

log = logging.getLogger("mpft_sim")

BUILD = "building fabric"
PLAN = "planning the job"
COMPILE = "loading compiled kernels"
SIMULATE = "simulating"
REPORT = "writing report"


@dataclass(frozen=True)
class Progress:
    """One progress event.

    Attributes
    ----------
    phase : str
        What is happening: building fabric, planning the job, loading compiled kernels
        (compiling them, on a first run), simulating, writing report.
    done : float, optional
        The fraction of the phase done (simulating: of the program's tasks), when known.
    sim_time_s : float, optional
        While simulating: how far simulated time has got.
    counters : mapping of str to float
        While simulating: the engine's counters (flows released, re-solves, flows
        re-solved).
    design : str, optional
        Inside a comparison: the design running, its place and how many there are.
    index, total : int, optional
    """

    phase: str
    done: float | None = None
    sim_time_s: float | None = None
    counters: Mapping[str, float] = field(default_factory=dict)
    design: str | None = None
    index: int | None = None
    total: int | None = None


ProgressCallback = Callable[[Progress], None]


class Reporter:
    """What a library call uses to report: logs each phase once, and passes events on to the
    caller's callback (if any), the simulating ones at most every ``interval_s`` of wall
    time so that a program of millions of tasks does not pay for its display.

    Parameters
    ----------
    callback : callable, optional
        The caller's; None only logs phases.
    interval_s : float
        Least wall time between two "simulating" events passed on.
    **context
        Fields every event carries (a comparison's design, index and total).
    """

    def __init__(self, callback: ProgressCallback | None, interval_s: float = 0.1,
                 **context: Any) -> None:
        self.callback = callback
        self.interval_s = interval_s
        self.context = context
        self._phase = ""
        self._last = 0.0

    def phase(self, name: str) -> None:
        """Enter a phase."""
        if name != self._phase:
            self._phase = name
            design = self.context.get("design")
            log.info("%s%s", f"{design}: " if design else "", name)
        self._send(Progress(name), force=True)

    def simulating(self, done: float, sim_time_s: float,
                   counters: Mapping[str, float] | None = None) -> None:
        """Report how far the simulation has got (throttled)."""
        self._send(Progress(SIMULATE, done=done, sim_time_s=sim_time_s,
                            counters=dict(counters or {})), force=done >= 1.0)

    def _send(self, event: Progress, force: bool) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        self.callback(replace(event, **self.context) if self.context else event)
