"""What a run produced, as records: the tables (per flow, per link, per time bin, per task),
the typed summary, one row of metrics per design, and the run directory on disk.

Data flows one way: the engine builds a :class:`Result` once, frozen; the reports draw a
:class:`Run` (a Result is one, and :func:`load_run` reads one back from disk).
"""

from mpft_sim.results.flows import FlowTable
from mpft_sim.results.metrics import METRICS, Metrics, metrics_row
from mpft_sim.results.result import Result, Run
from mpft_sim.results.rundir import FLOWS_CSV_LIMIT, RUN_FORMAT, load_run, save_tables
from mpft_sim.results.summary import (
    AllToAllStats,
    Breakdown,
    JobSummary,
    LinkUse,
    Quantiles,
    RunInfo,
    RunSummary,
)
from mpft_sim.results.tables import LinkTable, OpTable, TimelineTable

__all__ = [
    "FLOWS_CSV_LIMIT",
    "METRICS",
    "RUN_FORMAT",
    "AllToAllStats",
    "Breakdown",
    "FlowTable",
    "JobSummary",
    "LinkTable",
    "LinkUse",
    "Metrics",
    "OpTable",
    "Quantiles",
    "Result",
    "Run",
    "RunInfo",
    "RunSummary",
    "TimelineTable",
    "load_run",
    "metrics_row",
    "save_tables",
]
