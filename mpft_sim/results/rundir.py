"""A run on disk: the files of a run directory, written from a :class:`Run` and read back
into one.

=================  ===========================================================================
file               holds
=================  ===========================================================================
summary.json       :class:`~mpft_sim.results.summary.RunSummary` (with the format version)
links.csv          :class:`~mpft_sim.results.tables.LinkTable`
timeline.csv       :class:`~mpft_sim.results.tables.TimelineTable` (a column per plane and tier)
timeline_long.csv  the same, one row per bin and group
flows.csv          :class:`~mpft_sim.results.flows.FlowTable`
ops.csv            :class:`~mpft_sim.results.tables.OpTable` (programs)
=================  ===========================================================================

The tables may be Parquet instead (``flows.parquet`` ...): when asked for, and for runs of
more than :data:`FLOWS_CSV_LIMIT` flows.

Every problem with a file (missing, not JSON, a missing key or column, a cell that is not a
number) is a :class:`~mpft_sim.errors.SpecError` naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, get_args

from mpft_sim.errors import SpecError
from mpft_sim.results.columns import write_csv, write_parquet
from mpft_sim.results.flows import FlowTable
from mpft_sim.results.result import Run
from mpft_sim.results.summary import RunSummary
from mpft_sim.results.tables import LinkTable, OpTable, TimelineTable

__all__ = ["FLOWS_CSV_LIMIT", "REQUIRED", "RUN_FORMAT", "load_run", "save_tables"]

RUN_FORMAT = 2
"""The run-directory format this version writes and reads (1: mpft-sim 0.1)."""

REQUIRED = ("summary.json", "timeline.csv")
"""The files a run directory cannot do without, besides its links table (flows and ops are
optional)."""

FLOWS_CSV_LIMIT = 2_000_000
"""Above this many flows a run's tables are written as Parquet, not CSV: gigabytes of text
that no spreadsheet opens."""


TableFormat = Literal["csv", "parquet"]
TABLE_FORMATS: tuple[str, ...] = get_args(TableFormat)


def save_tables(run: Run, folder: Path, *, flows: bool = True,
                table_format: TableFormat = "csv") -> list[str]:
    """Write a run's summary and tables into ``folder``; return the names written.

    Parameters
    ----------
    run : Run
    folder : Path
        An existing folder (write_run stages one, so that all files appear together).
    flows : bool
        Write the flows table (when the run has flows).
    table_format : {"csv", "parquet"}
        The format of the per-flow, per-link, per-task and long timeline tables;
        summary.json and timeline.csv are always written as they are.
    """
    def table(stem: str, records: Any) -> str:
        name = f"{stem}.{table_format}"
        (write_csv if table_format == "csv" else write_parquet)(records, folder / name)
        return name

    names = []
    if flows and run.flow_table is not None:
        names.append(table("flows", run.flow_table))
    names.append(table("links", run.link_table))
    run.timeline.write_wide(folder / "timeline.csv")
    data = {"format": RUN_FORMAT, **run.summary.to_dict()}
    (folder / "summary.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n",
                                         encoding="utf-8")
    names += ["timeline.csv", "summary.json"]
    if table_format == "csv":
        run.timeline.write_long(folder / "timeline_long.csv")
    else:
        write_parquet(run.timeline.long_form(), folder / "timeline_long.parquet")
    names.append(f"timeline_long.{table_format}")
    if run.op_table is not None:
        names.append(table("ops", run.op_table))
    return names


def _table_file(folder: Path, stem: str) -> Path | None:
    """The run directory's file of a table, CSV or Parquet (None if it has neither)."""
    for suffix in TABLE_FORMATS:
        path = folder / f"{stem}.{suffix}"
        if path.is_file():
            return path
    return None


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory back.

    Parameters
    ----------
    run_dir : str or Path
        A folder written by ``mpft-sim simulate`` or :func:`mpft_sim.write_run`.

    Returns
    -------
    Run
        The same records the run held in memory (``flow_table`` is None when flows.csv was
        left out, ``op_table`` when the run had no program).

    Raises
    ------
    SpecError
        If the folder or a required file is missing, a file is malformed, or the folder was
        written in another format (naming the file).
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise SpecError("not a run directory (write one with mpft-sim simulate -o DIR)",
                        file=str(folder))
    links_file = _table_file(folder, "links")
    for name in REQUIRED:
        if not (folder / name).is_file():
            raise SpecError("missing: this run directory is incomplete (rerun mpft-sim "
                            "simulate)", file=str(folder / name))
    if links_file is None:
        raise SpecError("missing: this run directory is incomplete (rerun mpft-sim "
                        "simulate)", file=str(folder / "links.csv"))
    summary = _read_summary(folder / "summary.json")
    flows_file, ops_file = _table_file(folder, "flows"), _table_file(folder, "ops")
    return Run(summary=summary, link_table=LinkTable.read(links_file),
               timeline=TimelineTable.read(folder / "timeline.csv"),
               flow_table=FlowTable.read(flows_file, summary.info.gpus_per_node)
               if flows_file is not None else None,
               op_table=OpTable.read(ops_file) if ops_file is not None else None)


def _read_summary(path: Path) -> RunSummary:
    file = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read: {exc}", file=file) from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"not valid JSON (line {exc.lineno}: {exc.msg})", file=file) from None
    if not isinstance(data, dict):
        raise SpecError("expected a JSON object", file=file)
    version = data.pop("format", 1)
    if version != RUN_FORMAT:
        raise SpecError(f"written in run-directory format {version!r}, and this mpft-sim reads "
                        f"format {RUN_FORMAT}: run mpft-sim simulate again to rewrite it",
                        file=file)
    return RunSummary.from_dict(data, file)
