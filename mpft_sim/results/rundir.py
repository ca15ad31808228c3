"""A run on disk: the files of a run directory, written from a :class:`Run` and read back
into one.

=================  ===========================================================================
file               holds
=================  ===========================================================================
summary.json       :class:`~mpft_sim.results.summary.RunSummary` (with the format version)
links.csv          :class:`~mpft_sim.results.tables.LinkTable`
timeline.csv       :class:`~mpft_sim.results.tables.TimelineTable` (a column per plane and tier)
timeline_long.csv  the same, one row per bin and group
flows.csv          :class:`~mpft_sim.results.tables.FlowTable` (left out above a limit)
ops.csv            :class:`~mpft_sim.results.tables.OpTable` (programs)
=================  ===========================================================================

Every problem with a file (missing, not JSON, a missing key or column, a cell that is not a
number) is a :class:`~mpft_sim.errors.SpecError` naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from mpft_sim.errors import SpecError
from mpft_sim.results.columns import write_csv
from mpft_sim.results.flows import FlowTable
from mpft_sim.results.result import Run
from mpft_sim.results.summary import RunSummary
from mpft_sim.results.tables import LinkTable, OpTable, TimelineTable

__all__ = ["FLOWS_CSV_LIMIT", "REQUIRED", "RUN_FORMAT", "load_run", "save_tables"]

RUN_FORMAT = 2
"""The run-directory format this version writes and reads (1: mpft-sim 0.1)."""

REQUIRED = ("summary.json", "links.csv", "timeline.csv")
"""The files a run directory cannot do without (flows.csv and ops.csv are optional)."""

FLOWS_CSV_LIMIT = 2_000_000
"""Above this many flows, flows.csv is left out unless asked for: more rows than anyone
reads, and gigabytes of text."""


def save_tables(run: Run, folder: Path, *, flows: bool = True) -> list[str]:
    """Write a run's summary and tables into ``folder``; return the names written.

    Parameters
    ----------
    run : Run
    folder : Path
        An existing folder (write_run stages one, so that all files appear together).
    flows : bool
        Write flows.csv (when the run has flows).
    """
    names = []
    if flows and run.flow_table is not None:
        write_csv(run.flow_table, folder / "flows.csv")
        names.append("flows.csv")
    write_csv(run.link_table, folder / "links.csv")
    run.timeline.write_wide(folder / "timeline.csv")
    data = {"format": RUN_FORMAT, **run.summary.to_dict()}
    (folder / "summary.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n",
                                         encoding="utf-8")
    run.timeline.write_long(folder / "timeline_long.csv")
    names += ["links.csv", "timeline.csv", "summary.json", "timeline_long.csv"]
    if run.op_table is not None:
        write_csv(run.op_table, folder / "ops.csv")
        names.append("ops.csv")
    return names


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
    for name in REQUIRED:
        if not (folder / name).is_file():
            raise SpecError("missing: this run directory is incomplete (rerun mpft-sim "
                            "simulate)", file=str(folder / name))
    summary = _read_summary(folder / "summary.json")
    flows_file, ops_file = folder / "flows.csv", folder / "ops.csv"
    return Run(summary=summary, link_table=LinkTable.read(folder / "links.csv"),
               timeline=TimelineTable.read(folder / "timeline.csv"),
               flow_table=FlowTable.read(flows_file, summary.info.gpus_per_node)
               if flows_file.is_file() else None,
               op_table=OpTable.read(ops_file) if ops_file.is_file() else None)


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
