"""Reading a run directory (what ``mpft-sim simulate`` wrote) back, checked.

Every problem with a file (missing, not JSON, a missing key or column, a cell that is not a
number) is a :class:`~mpft_sim.errors.SpecError` naming the file, never a traceback from deep
inside the report code.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import SpecError

__all__ = ["LinkStats", "OpRows", "RunData", "UtilTimeline", "load_run"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
StrArray = NDArray[np.object_]

REQUIRED = ("summary.json", "links.csv", "timeline.csv")
"""The files a report cannot do without (flows.csv is never needed, ops.csv is optional)."""


@dataclass(frozen=True)
class LinkStats:
    """links.csv as columns, one entry per directed link."""

    kind: StrArray
    plane: IntArray
    tier: StrArray
    capacity_Bps: FloatArray
    bytes: FloatArray
    mean_util: FloatArray
    peak_util: FloatArray
    saturated_s: FloatArray
    alive: NDArray[np.bool_]


@dataclass(frozen=True)
class UtilTimeline:
    """timeline.csv: mean utilisation of each link group (``p<plane>/<tier>``) per time bin."""

    start_s: FloatArray
    end_s: FloatArray
    groups: tuple[str, ...]
    util: FloatArray
    """Shape ``(bins, groups)``."""


@dataclass(frozen=True)
class OpRows:
    """ops.csv as columns, one entry per task of the program."""

    job: StrArray
    lane: StrArray
    ranks: StrArray
    stream: StrArray
    kind: StrArray
    category: StrArray
    start_s: FloatArray
    end_s: FloatArray

    def __len__(self) -> int:
        return len(self.start_s)


@dataclass(frozen=True)
class RunData:
    """Everything a run report reads from a run directory."""

    folder: Path
    summary: dict[str, Any]
    links: LinkStats
    timeline: UtilTimeline
    ops: OpRows | None
    """None for a flow replay, or when ops.csv was left out of a program's run directory."""


def load_run(run_dir: str | Path) -> RunData:
    """Read and check the files of a run directory.

    Parameters
    ----------
    run_dir : str or Path
        A folder written by ``mpft-sim simulate``.

    Returns
    -------
    RunData

    Raises
    ------
    SpecError
        If the folder or a required file (summary.json, links.csv, timeline.csv) is missing,
        or any file read is malformed; the error names the file.
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
    ops_path = folder / "ops.csv"
    return RunData(
        folder=folder,
        summary=summary,
        links=_read_links(folder / "links.csv"),
        timeline=_read_timeline(folder / "timeline.csv"),
        ops=_read_ops(ops_path) if ops_path.is_file() else None,
    )


# ---------------------------------------------------------------------------- summary.json

_NUM = "number"
_PCT = {"p50": _NUM, "p99": _NUM, "max": _NUM, "mean": _NUM}
_USAGE = {"mean": _NUM, "peak": _NUM, "bytes": _NUM}
_LINK = {"link": str, "tier": str, "plane": int, "saturated_s": _NUM, "mean_util": _NUM,
         "bytes": _NUM}
_A2A = {"count": int, "mean_s": _NUM, "p99_s": _NUM, "network_Bps_per_gpu": _NUM,
        "logical_Bps_per_gpu": _NUM, "network_bytes_per_gpu": _NUM}
_STEP: dict[str, Any] = {"step_time_s": _NUM, "exposed_comm_s": _NUM}
_OPTIONAL_STEP: dict[str, Any] = {
    "breakdown": {k: _NUM for k in ("forward_s", "bubble_s", "backward_input_s",
                                    "backward_weight_s", "overlapped_s", "optimizer_s")},
    "alltoall": ({"dispatch", "combine"}, _A2A), "tokens_per_s": _NUM, "tpot_s": _NUM,
    "alltoall_s": {"mean": _NUM, "max": _NUM}, "algbw_Bps_per_gpu": _NUM, "info": dict,
}
_SCHEMA: dict[str, Any] = {
    "inputs": dict, "makespan_s": _NUM, "flows": int, "bytes": _NUM, "fct_s": _PCT,
    "slowdown": _PCT,
    "utilisation": {"by_plane": (None, _USAGE), "by_tier": (None, _USAGE)},
    "hottest_links": [_LINK],
    "fct_cdf": {"q": [_NUM], "fct_s": [_NUM], "slowdown": [_NUM]},
    "cost": {"name": str, "kind": str, "endpoints": int, "switches": int, "links": int,
             "endpoint_links": int, "nics": int, "cost_usd": _NUM,
             "cost_per_endpoint_usd": _NUM,
             "items": [{"item": str, "count": int, "unit_usd": _NUM, "total_usd": _NUM}]},
}


def _describe(schema: Any) -> str:
    if schema == _NUM:
        return "a number"
    if schema is int:
        return "an integer"
    if schema is str:
        return "a string"
    if isinstance(schema, list):
        return "a list"
    return "a mapping"


def _check(value: Any, schema: Any, key: tuple[str | int, ...], file: str) -> None:
    """Raise a SpecError at the first place ``value`` does not have the shape ``schema`` says.

    A schema is ``"number"``, ``int``, ``str``, ``dict`` (any mapping), ``[item]`` (a list of
    items), ``{key: schema}`` (a mapping with at least those keys) or ``(names, schema)`` (a
    mapping whose values, under any key or only under ``names``, have that schema).
    """
    def bad() -> SpecError:
        return SpecError(f"expected {_describe(schema)}", key, value, file=file)

    if schema == _NUM:
        ok = (isinstance(value, int | float) and not isinstance(value, bool)
              and math.isfinite(value))
        if not ok:
            raise bad()
    elif schema is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad()
    elif schema is str:
        if not isinstance(value, str):
            raise bad()
    elif schema is dict:
        if not isinstance(value, dict):
            raise bad()
    elif isinstance(schema, list):
        if not isinstance(value, list):
            raise bad()
        for i, item in enumerate(value):
            _check(item, schema[0], (*key, i), file)
    elif isinstance(schema, tuple):
        names, inner = schema
        if not isinstance(value, dict):
            raise bad()
        for name, item in value.items():
            if names is None or name in names:
                _check(item, inner, (*key, str(name)), file)
    else:
        if not isinstance(value, dict):
            raise bad()
        for name, inner in schema.items():
            if name not in value:
                raise SpecError("missing required key", (*key, name), file=file)
            _check(value[name], inner, (*key, name), file)


def _check_step(entry: Mapping[str, Any], key: tuple[str | int, ...], file: str) -> None:
    for name, inner in _OPTIONAL_STEP.items():
        if name in entry:
            _check(entry[name], inner, (*key, name), file)


def _read_summary(path: Path) -> dict[str, Any]:
    file = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read: {exc}", file=file) from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"not valid JSON (line {exc.lineno}: {exc.msg})", file=file) from None
    if not isinstance(data, dict):
        raise SpecError("expected a JSON object", file=file)
    _check(data, _SCHEMA, (), file)
    cdf = data["fct_cdf"]
    if not len(cdf["q"]) == len(cdf["fct_s"]) == len(cdf["slowdown"]) or len(cdf["q"]) < 2:
        raise SpecError("expected q, fct_s and slowdown of one length (at least 2)",
                        ("fct_cdf",), file=file)
    if "step_time_s" in data:
        _check(data, _STEP, (), file)
        _check_step(data, (), file)
    if "jobs" in data:
        _check(data["jobs"], [{"name": str, "kind": str, "gpus": int, **_STEP}], ("jobs",),
               file)
        for i, job in enumerate(data["jobs"]):
            _check_step(job, ("jobs", i), file)
    return data


# ------------------------------------------------------------------------------------ CSVs


def _read_csv(path: Path, text_cols: Sequence[str], number_cols: Sequence[str],
              extra_numbers: bool = False) -> tuple[list[str], dict[str, Any]]:
    """Columns of a CSV file: the named text columns as object arrays, the named number
    columns (and, with ``extra_numbers``, every other column) as float arrays."""
    file = str(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SpecError(f"cannot read: {exc}", file=file) from None
    if not rows:
        raise SpecError("empty file: expected a header row", file=file)
    header = rows[0]
    missing = [c for c in (*text_cols, *number_cols) if c not in header]
    if missing:
        raise SpecError(f"missing column {missing[0]!r} (columns: {', '.join(header)})",
                        file=file)
    body = rows[1:]
    lengths = np.fromiter(map(len, body), dtype=np.int64, count=len(body))
    if np.any(lengths != len(header)):
        line = int(np.flatnonzero(lengths != len(header))[0])
        raise SpecError(f"line {line + 2}: expected {len(header)} cells, found "
                        f"{lengths[line]}", file=file)
    columns = list(zip(*body, strict=True)) if body else [() for _ in header]
    numbers = [c for c in header if c not in text_cols] if extra_numbers else list(number_cols)
    out: dict[str, Any] = {}
    for name in text_cols:
        out[name] = np.array(columns[header.index(name)], dtype=object)
    for name in numbers:
        cells = columns[header.index(name)]
        try:
            values = np.array(cells, dtype=np.float64)
        except ValueError:
            values = np.full(len(cells), np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            raise SpecError(f"line {at + 2}, column {name!r}: expected a finite number",
                            value=cells[at], file=file)
        out[name] = values
    return header, out


def _read_links(path: Path) -> LinkStats:
    _, c = _read_csv(path, ("kind", "tier"),
                     ("plane", "capacity_Bps", "bytes", "mean_util", "peak_util",
                      "saturated_s", "alive"))
    if len(c["bytes"]) == 0:
        raise SpecError("no links listed", file=str(path))
    return LinkStats(kind=c["kind"], plane=c["plane"].astype(np.int64), tier=c["tier"],
                     capacity_Bps=c["capacity_Bps"], bytes=c["bytes"],
                     mean_util=c["mean_util"], peak_util=c["peak_util"],
                     saturated_s=c["saturated_s"], alive=c["alive"] != 0)


def _read_timeline(path: Path) -> UtilTimeline:
    header, c = _read_csv(path, (), ("start_s", "end_s"), extra_numbers=True)
    groups = tuple(h for h in header if h not in ("start_s", "end_s"))
    if not groups:
        raise SpecError("expected a column per link group after start_s, end_s",
                        file=str(path))
    n = len(c["start_s"])
    util = (np.column_stack([c[g] for g in groups]) if n
            else np.zeros((0, len(groups))))
    return UtilTimeline(start_s=c["start_s"], end_s=c["end_s"], groups=groups, util=util)


def _read_ops(path: Path) -> OpRows:
    _, c = _read_csv(path, ("job", "lane", "ranks", "stream", "kind", "category"),
                     ("start_s", "end_s"))
    return OpRows(job=c["job"], lane=c["lane"], ranks=c["ranks"], stream=c["stream"],
                  kind=c["kind"], category=c["category"], start_s=c["start_s"],
                  end_s=c["end_s"])
