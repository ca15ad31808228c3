"""What the command line shows while it works: :class:`Display` turns the library's
:class:`~mpft_sim.progress.Progress` events into a live bar per run (rich) when stderr is a
terminal, a plain line every ten seconds when it is not (a log file, CI, a notebook), and
nothing with ``--quiet``. Part of the command line: the library itself never prints."""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import IO, Any

from mpft_sim.progress import SIMULATE, Progress
from mpft_sim.units import format_time

__all__ = ["Display"]

PLAIN_INTERVAL_S = 10.0
"""Seconds between two plain progress lines when stderr is not a terminal."""


class Display:
    """Progress on stderr, as a context manager and a progress callback.

    Parameters
    ----------
    quiet : bool
        Show nothing.
    verbose : bool
        Also show the engine's counters and the library's log (phases per design).
    stream : file, optional
        Where to write (default: stderr); a live bar only if it is a terminal.
    interval_s : float
        Plain mode: seconds between two progress lines.
    """

    def __init__(self, *, quiet: bool = False, verbose: bool = False,
                 stream: IO[str] | None = None, interval_s: float = PLAIN_INTERVAL_S) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.verbose = verbose
        self.live = not quiet and self.stream.isatty()
        self.interval_s = interval_s
        self.started = time.monotonic()
        # when each (design, phase) last printed: designs that run at once interleave
        self._last_line: dict[tuple[str | None, str], float] = {}
        self._phase_start: dict[tuple[str | None, str], float] = {}
        self._bars: Any = None
        self._tasks: dict[str | None, Any] = {}
        self._handler: logging.Handler | None = None

    def __enter__(self) -> Display:
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bars = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                TaskProgressColumn(), TimeElapsedColumn(), TextColumn("eta"),
                TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                console=Console(file=self.stream), transient=False)
            self._bars.start()
        if self.verbose and self._bars is not None:
            # the library's log above the bars (in plain mode the lines say it already)
            from rich.logging import RichHandler

            self._handler = RichHandler(console=self._bars.console, show_path=False)
            logging.getLogger("mpft_sim").addHandler(self._handler)
            logging.getLogger("mpft_sim").setLevel(logging.INFO)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bars is not None:
            if kind is None:  # every bar full: the command is done
                for task in self._tasks.values():
                    self._bars.update(task, total=100.0, completed=100.0)
            self._bars.stop()
            self._bars = None
        if self._handler is not None:
            logging.getLogger("mpft_sim").removeHandler(self._handler)
            self._handler = None

    # -- events ----------------------------------------------------------------------------

    def __call__(self, event: Progress) -> None:
        """Show one event (the library's progress callback)."""
        if self.quiet:
            return
        if self.live:
            self._update_bar(event)
        else:
            self._plain(event)

    def phase(self, name: str, design: str | None = None) -> None:
        """Show a phase of the command's own (writing the report, say)."""
        self(Progress(name, design=design))

    def points(self, done: int, total: int) -> None:
        """A sweep's progress: points done out of all."""
        self(Progress("points", done=done / max(total, 1), design="sweep",
                      counters={"done": done, "total": total}))

    # -- rendering -------------------------------------------------------------------------

    def _label(self, event: Progress) -> str:
        where = ""
        if event.design is not None:
            place = (f"[{event.index + 1}/{event.total}] " if event.index is not None
                     and event.total is not None else "")
            where = f"{place}{event.design}: "
        if event.phase == "points":
            return f"{where}{int(event.counters['done'])}/{int(event.counters['total'])} points"
        return f"{where}{event.phase}"

    def _info(self, event: Progress) -> str:
        parts = []
        if event.sim_time_s is not None:
            wall = time.monotonic() - self.started
            parts.append(f"simulated {format_time(event.sim_time_s)}")
            if wall > 0 and event.sim_time_s > 0:
                parts.append(f"{format_time(event.sim_time_s / wall)}/s")
        if self.verbose and event.phase == SIMULATE:
            parts += [f"{k} {v:,.0f}" for k, v in event.counters.items()]
        return ", ".join(parts)

    def _update_bar(self, event: Progress) -> None:
        bars = self._bars
        if bars is None:
            return
        task = self._tasks.get(event.design)
        if task is None:
            task = bars.add_task(self._label(event), total=100.0, info="")
            self._tasks[event.design] = task
        done = event.done
        label = self._label(event)
        if event.phase == SIMULATE and done is not None and done >= 1.0:
            label = label.replace(SIMULATE, "simulated")
        # a phase without a measure of progress shows a moving bar, not 0%
        bars.update(task, description=label, info=self._info(event),
                    total=100.0 if done is not None else None,
                    completed=100.0 * done if done is not None else 0.0)

    def _plain(self, event: Progress) -> None:
        now = time.monotonic()
        key = (event.design, event.phase)
        # a new phase is always shown; progress inside one, every interval
        if now - self._last_line.get(key, -float("inf")) < self.interval_s \
                and (event.done or 0.0) < 1.0:
            return
        began = self._phase_start.setdefault(key, now)
        self._last_line[key] = now
        text = f"[{now - self.started:5.0f}s] {self._label(event)}"
        if event.done is not None and event.phase != "points":
            text += f": {event.done:.0%}"
            if 0 < event.done < 1 and now > began:
                left = (now - began) * (1 - event.done) / event.done
                text += f", about {format_time(left, 2)} left"
        info = self._info(event)
        if info:
            text += f" ({info})"
        self.stream.write(text + "\n")
        self.stream.flush()
