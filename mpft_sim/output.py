"""A run's directory on disk, all at once: its tables and summary
(:mod:`mpft_sim.results.rundir`) and its report (:mod:`mpft_sim.report.run`).

Every file of a call appears together or none does: they are written into a scratch folder
beside the target and moved in only when all are written.
"""

from __future__ import annotations

from pathlib import Path

from mpft_sim.report.files import staged_dir
from mpft_sim.report.run import write_report
from mpft_sim.results import FLOWS_CSV_LIMIT, Run, load_run, save_tables

__all__ = ["redraw_report", "write_run"]


def write_run(run: Run, out_dir: str | Path, *, flows: bool | None = None,
              report: bool = True) -> list[str]:
    """Write what ``mpft-sim simulate`` writes: summary.json, links.csv, timeline.csv,
    timeline_long.csv, flows.csv, ops.csv, report.md, report.html and the figures.

    Parameters
    ----------
    run : Run
        A :class:`~mpft_sim.results.Result` from :func:`~mpft_sim.simulate` (or a run read
        back with :func:`~mpft_sim.results.load_run`).
    out_dir : str or Path
        The run directory (created if needed; files of the same names are replaced).
    flows : bool, optional
        Write flows.csv: by default when the run has at most
        :data:`~mpft_sim.results.FLOWS_CSV_LIMIT` flows.
    report : bool
        Also write the report and its figures.

    Returns
    -------
    list of str
        The names of the files written.
    """
    table = run.flow_table
    if flows is None:
        flows = table is not None and len(table) <= FLOWS_CSV_LIMIT
    with staged_dir(out_dir) as tmp:
        names = save_tables(run, tmp, flows=flows)
        if report:
            names += write_report(run, tmp)
    return names


def redraw_report(run_dir: str | Path) -> list[str]:
    """Read a run directory back and write its report again (report.md, report.html, the
    figures); return the names written.

    Raises
    ------
    SpecError
        If the run directory is incomplete or malformed (nothing is written then).
    """
    run = load_run(run_dir)
    with staged_dir(run_dir) as tmp:
        return write_report(run, tmp)
