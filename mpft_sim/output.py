"""A run's directory on disk, all at once: its tables and summary
(:mod:`mpft_sim.results.rundir`) and its report (:mod:`mpft_sim.report.run`).

Every file of a call appears together or none does: they are written into a scratch folder
beside the target and moved in only when all are written.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mpft_sim.errors import MpftError
from mpft_sim.report.files import staged_dir
from mpft_sim.report.run import write_report
from mpft_sim.results import FLOWS_CSV_LIMIT, Run, load_run, save_tables
from mpft_sim.results.columns import PARQUET_EXTRA
from mpft_sim.results.rundir import TableFormat

__all__ = ["redraw_report", "table_format_for", "write_run"]


def table_format_for(flows: int, asked: TableFormat | None = None) -> TableFormat:
    """The format a run's tables are written in: as asked, else CSV up to
    :data:`~mpft_sim.results.FLOWS_CSV_LIMIT` flows and Parquet above.

    Raises
    ------
    MpftError
        If the run needs Parquet (asked for, or too many flows for CSV) and pyarrow is not
        installed: the message names the extra that installs it, before any work is done.
    """
    wanted: TableFormat = asked or ("parquet" if flows > FLOWS_CSV_LIMIT else "csv")
    if wanted == "parquet" and importlib.util.find_spec("pyarrow") is None:
        why = ("you asked for Parquet tables" if asked == "parquet" else
               f"a run of {flows:,} flows is written as Parquet (more than "
               f"{FLOWS_CSV_LIMIT:,} rows of CSV is gigabytes of text)")
        raise MpftError(f"{why}, which needs pyarrow: {PARQUET_EXTRA}")
    return wanted


def write_run(run: Run, out_dir: str | Path, *, flows: bool = True,
              table_format: TableFormat | None = None, report: bool = True) -> list[str]:
    """Write what ``mpft-sim simulate`` writes: summary.json, the tables (flows, links, ops,
    the long timeline), timeline.csv, report.md, report.html and the figures.

    Parameters
    ----------
    run : Run
        A :class:`~mpft_sim.results.Result` from :func:`~mpft_sim.simulate` (or a run read
        back with :func:`~mpft_sim.results.load_run`).
    out_dir : str or Path
        The run directory (created if needed; files of the same names are replaced).
    flows : bool
        Write the flows table (one row per flow).
    table_format : {"csv", "parquet"}, optional
        The tables' format: by default CSV, and Parquet for a run of more than
        :data:`~mpft_sim.results.FLOWS_CSV_LIMIT` flows.
    report : bool
        Also write the report and its figures.

    Returns
    -------
    list of str
        The names of the files written.

    Raises
    ------
    MpftError
        If the tables must be Parquet and pyarrow is not installed (nothing is written).
    """
    count = len(run.flow_table) if run.flow_table is not None and flows else 0
    fmt = table_format_for(count, table_format)
    with staged_dir(out_dir) as tmp:
        names = save_tables(run, tmp, flows=flows, table_format=fmt)
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
