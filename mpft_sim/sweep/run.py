"""sweep(): run every point, streaming each result to disk, then write the table and plots.

Output folder:

- ``points.jsonl``: one JSON line per finished point, appended (and flushed) as it finishes,
  in completion order; an interrupted sweep keeps what it finished, and ``resume`` skips it;
- ``sweep.csv``: one row per point, sorted by point index (byte-identical for the same inputs,
  whatever the executor and completion order: wall times stay in points.jsonl);
- ``sweep.json``: the sweep as run; ``frontier.png`` and ``scaling.png``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpft_sim.errors import MpftError
from mpft_sim.report.files import staged_dir, write_json
from mpft_sim.spec.run import RunOptions, run_failures
from mpft_sim.spec.topology import FailureSpec
from mpft_sim.sweep.executors import check_executor, run_points
from mpft_sim.sweep.point import PointOutcome, PointTask, columns, make_tasks
from mpft_sim.sweep.spec import Point, SweepSpec, load_sweep
from mpft_sim.units import format_parameter

__all__ = ["LOG_NAME", "Progress", "SweepResult", "sweep", "write_csv"]

LOG_NAME = "points.jsonl"

Progress = Callable[[int, int], None]
"""``progress(done, total)``: points done (resumed ones included) out of all points."""


@dataclass
class SweepResult:
    """What a sweep produced.

    Attributes
    ----------
    spec : SweepSpec
        The sweep as run.
    out_dir : Path
        Where its files are.
    columns : list of str
        The columns of ``sweep.csv``.
    rows : list of dict
        One row per point, sorted by point index, values as plain data (``None`` where a
        figure does not apply or the point failed).
    ran : int
        Points run by this call.
    resumed : int
        Points taken from an earlier run's ``points.jsonl``.
    wall_s : dict of int to float
        Wall-clock seconds each point took (when it ran).
    files : list of str
        The files written into ``out_dir``.
    """

    spec: SweepSpec
    out_dir: Path
    columns: list[str]
    rows: list[dict[str, Any]]
    ran: int
    resumed: int
    wall_s: dict[int, float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The rows of points that could not run, with their ``error`` message."""
        return [row for row in self.rows if row.get("error")]

    def to_dataframe(self) -> Any:
        """The rows as a pandas DataFrame (needs pandas).

        Raises
        ------
        MpftError
            If pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError:
            raise MpftError("to_dataframe needs pandas: pip install 'mpft-sim[pandas]'") \
                from None
        return pd.DataFrame(self.rows, columns=self.columns)


def sweep(spec_or_path: SweepSpec | str | Path, out_dir: str | Path, jobs: int | None = None,
          executor: str = "local", scheduler: str | None = None, resume: bool = False,
          progress: Progress | None = None, *, seed: int | None = None,
          routing: str | None = None, cross_plane: str | None = None,
          failures: Sequence[FailureSpec | str] = (),
          degrade: Sequence[FailureSpec | str] = ()) -> SweepResult:
    """Run every point of a sweep and write its table and plots.

    Parameters
    ----------
    spec_or_path : SweepSpec or path
        The sweep, or its YAML file.
    out_dir : str or Path
        Output folder (created if needed).
    jobs : int, optional
        Worker processes for the local executor (default: the CPU count; 1 runs the points
        in this process). With Dask and no scheduler: the workers of the cluster started.
    executor : {"local", "dask"}
        A local process pool, or a Dask cluster (``pip install 'mpft-sim[dask]'``; every
        worker needs mpft-sim and, for flow-list workloads, the CSV files at the same paths).
    scheduler : str, optional
        Dask scheduler address; None starts a local Dask cluster for the sweep.
    resume : bool
        Keep the points already in ``out_dir/points.jsonl`` (a sweep that was interrupted)
        and run only the others. Without it, points.jsonl starts afresh.
    progress : callable, optional
        ``progress(done, total)`` each time a point finishes.
    seed : int, optional
        Replaces the sweep file's seed (ECMP hashing and adaptive tie-breaks).
    routing, cross_plane : str, optional
        Override every point's routing policy and cross-plane forwarding, except where the
        grid itself varies them (the point's value wins).
    failures : sequence of FailureSpec or "kind=name"
        Components failed at every point, besides the point's own.
    degrade : sequence of FailureSpec or "kind=name:factor"
        Components degraded at every point (a ``degrade_factor`` axis sets their factor).

    Returns
    -------
    SweepResult

    Raises
    ------
    SpecError
        If the sweep file is invalid (a point that is not a valid design is not an error:
        its row says why).
    MpftError
        On a bad executor, an unreachable Dask scheduler, a dead worker, or a points.jsonl
        that does not match the sweep when resuming.
    """
    check_executor(executor, jobs, scheduler)
    spec = spec_or_path if isinstance(spec_or_path, SweepSpec) else load_sweep(spec_or_path)
    if seed is not None:
        spec = dataclasses.replace(spec, seed=seed)
    options = RunOptions(routing=routing, cross_plane=cross_plane,  # type: ignore[arg-type]
                         failures=run_failures(failures, degrade))
    points = spec.points()
    tasks = make_tasks(spec, points, options)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = out / LOG_NAME
    settings = {**spec.settings(), "routing": routing, "cross_plane": cross_plane,
                "failures": [f.what for f in options.failures]}
    lines = _read_log(log, points, settings) if resume and log.exists() else {}
    _rewrite_log(log, lines)  # drops a half-written last line, or starts afresh
    resumed = len(lines)
    todo = [t for t in tasks if t.index not in lines]
    wall = {i: float(line.get("wall_s", 0.0)) for i, line in lines.items()}
    total = len(points)
    if progress is not None:
        progress(resumed, total)  # the bar shows from the start, not from the first point
    if todo:
        by_index = {t.index: t for t in todo}
        with log.open("a", encoding="utf-8") as handle, \
                contextlib.closing(run_points(todo, executor, jobs, scheduler)) as outcomes:
            for outcome in outcomes:
                line = _line(by_index[outcome.index], outcome, settings)
                handle.write(json.dumps(line, allow_nan=False) + "\n")
                handle.flush()  # an interrupted sweep keeps every point it finished
                lines[outcome.index] = line
                wall[outcome.index] = outcome.wall_s
                if progress is not None:
                    progress(len(lines), total)
    cols = columns(spec)
    rows = [_row(lines[p.index]) for p in points]
    files = ["sweep.csv", "sweep.json", "frontier.png", "scaling.png"]
    with staged_dir(out) as tmp:
        write_csv(tmp / "sweep.csv", cols, rows)
        write_json(tmp / "sweep.json", {
            "sweep": spec.to_dict(), "columns": cols, "points": len(rows),
            "errors": sum(1 for r in rows if r.get("error")), "files": [LOG_NAME, *files]})
        _plots(spec, rows, tmp)
    return SweepResult(spec, out, cols, rows, ran=len(todo), resumed=resumed, wall_s=wall,
                       files=[LOG_NAME, *files])


def _plots(spec: SweepSpec, rows: list[dict[str, Any]], folder: Path) -> None:
    from mpft_sim.sweep.plots import plot_frontier, plot_scaling

    plot_frontier(rows, folder / "frontier.png", name=spec.name)
    plot_scaling(rows, folder / "scaling.png", name=spec.name)


def _line(task: PointTask, outcome: PointOutcome, settings: dict[str, Any]) -> dict[str, Any]:
    return {"point": task.index, "params": task.params, "settings": settings,
            "design": task.design, "metrics": outcome.metrics, "wall_s": outcome.wall_s}


def _row(line: dict[str, Any]) -> dict[str, Any]:
    return {"point": line["point"], **line["params"], "design": line["design"],
            **line["metrics"]}


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON (a resumed value went through JSON; 4 and 4.0 differ, as in the CSV)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _read_log(log: Path, points: list[Point], settings: dict[str, Any]) -> dict[int, Any]:
    """The finished points of an earlier run, checked against this sweep."""
    text = log.read_text(encoding="utf-8")
    raw_lines = text.split("\n")
    out: dict[int, Any] = {}
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            index = line["point"]
            params, metrics = line["params"], line["metrics"]
            ok = isinstance(index, int) and isinstance(params, dict) \
                and isinstance(metrics, dict) and isinstance(line["design"], str)
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            if number == len(raw_lines):  # cut short by the interruption: run it again
                continue
            raise MpftError(f"{log}: line {number} is not a finished point; start the sweep "
                            "afresh (without resume) or in another folder")
        if not 0 <= index < len(points):
            raise MpftError(f"{log}: line {number}: the sweep has no point {index} (it has "
                            f"{len(points)}); start afresh (without resume)")
        if not _same(params, points[index].params) or not _same(line.get("settings"),
                                                                  settings):
            now = _describe({"params": points[index].params, "settings": settings})
            raise MpftError(
                f"{log}: line {number}: point {index} ran with {_describe(line)} but this "
                f"sweep's point {index} is {now}; start afresh (without resume) or in "
                "another folder")
        out.setdefault(index, line)
    return out


def _describe(line: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={format_parameter(v)}" for k, v in line.get("params", {}).items())
    settings = line.get("settings") or {}
    run = ", ".join(f"{k}={format_parameter(v)}" for k, v in settings.items()
                    if k in ("model", "seed", "tolerance"))
    return f"({params or 'no parameters'}; {run})"


def _rewrite_log(log: Path, lines: dict[int, Any]) -> None:
    tmp = log.with_name(log.name + ".tmp")
    tmp.write_text("".join(json.dumps(lines[i], allow_nan=False) + "\n" for i in sorted(lines)),
                   encoding="utf-8")
    os.replace(tmp, log)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return format_parameter(value)


def write_csv(path: str | Path, cols: list[str], rows: list[dict[str, Any]]) -> None:
    """Write rows as CSV: empty cells for None, floats in full (``repr``), lists joined by
    ``;`` (``none`` if empty), ``\\n`` line ends."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in cols])
