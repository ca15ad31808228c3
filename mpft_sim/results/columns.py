"""Columns defined once: what each column of a record table is called, holds and how it is
written, and the generic CSV writer, DataFrame builder and checked CSV reader every table of
:mod:`mpft_sim.results` uses.

In files and frames: GPUs and switches by name (``n12/gpu3``, ``p0/spine/1``), tiers and link
kinds by name, booleans as ``true``/``false``, a missing value (a link inside a server has no
plane) as an empty cell, floats in the shortest text that reads back to the same float
(``1048576``, ``0.1``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import SpecError

__all__ = ["CHUNK_ROWS", "Column", "Table", "float_text", "read_csv", "to_frame", "write_csv"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
TextArray = NDArray[np.object_]
BoolArray = NDArray[np.bool_]

ColumnKind = Literal["int", "float", "text", "bool", "optional_int"]
CHUNK_ROWS = 1 << 16  # rows formatted at a time when writing: memory stays flat


@dataclass(frozen=True)
class Column:
    """One column of a table's file and frame.

    Attributes
    ----------
    name : str
        The header.
    kind : {"int", "float", "text", "bool", "optional_int"}
        How it is written and read back (``optional_int``: a whole number or an empty cell).
    doc : str
        What it holds, with its unit.
    finite : bool
        Float columns: whether the loader requires a finite number (a flow that crosses no
        link has an infinite rate alone, say).
    category : bool
        Whether the frame holds it as a pandas category (repeated text).
    """

    name: str
    kind: ColumnKind
    doc: str
    finite: bool = True
    category: bool = False


class Table(Protocol):
    """What the generic writers and loader need of a table."""

    COLUMNS: ClassVar[tuple[Column, ...]]

    def __len__(self) -> int: ...

    def columns(self) -> tuple[Column, ...]:
        """The columns this table writes (a subset of COLUMNS, in order)."""
        ...

    def rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Rows ``start:stop`` as one array per column, in the form files show."""
        ...



def float_text(values: np.ndarray) -> list[str]:
    """Each float as the shortest text that reads back to it (``1048576``, ``0.1``)."""
    # repr is the shortest text that reads back to the same float; whole numbers lose ".0"
    out = [repr(x) for x in np.asarray(values, dtype=np.float64).tolist()]
    return [t[:-2] if t.endswith(".0") else t for t in out]


def _cell_text(column: Column, values: np.ndarray) -> list[str]:
    if column.kind == "float":
        return float_text(values)
    if column.kind == "int":
        return [str(v) for v in np.asarray(values, dtype=np.int64).tolist()]
    if column.kind == "optional_int":
        return ["" if v < 0 else str(v) for v in np.asarray(values, dtype=np.int64).tolist()]
    if column.kind == "bool":
        return ["true" if v else "false" for v in np.asarray(values, dtype=bool).tolist()]
    return [str(v) for v in values.tolist()]


def write_csv(table: Table, path: str | Path) -> None:
    """Write ``table`` as CSV (header row, then one row per record), a chunk at a time.

    Parameters
    ----------
    table : FlowTable, LinkTable or OpTable
    path : str or Path
    """
    cols = table.columns()
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow([c.name for c in cols])
        for start in range(0, len(table), CHUNK_ROWS):
            rows = table.rows(start, min(start + CHUNK_ROWS, len(table)))
            cells = [_cell_text(c, rows[c.name]) for c in cols]
            out.writerows(zip(*cells, strict=True))


def to_frame(table: Table) -> Any:
    """The table as a pandas DataFrame, or as numpy records without pandas.

    In the frame, an ``optional_int`` column is a nullable ``Int64`` (missing as ``<NA>``);
    in numpy records, an object column holding ``None`` where the value is missing.
    """
    cols = table.columns()
    rows = table.rows(0, len(table))
    try:
        import pandas as pd
    except ImportError:
        arrays = []
        for c in cols:
            v = rows[c.name]
            if c.kind == "optional_int":
                v = np.array([None if x < 0 else x for x in v.tolist()], dtype=object)
            arrays.append(v)
        return np.rec.fromarrays(arrays, names=",".join(c.name for c in cols))  # type: ignore[call-overload]
    data: dict[str, Any] = {}
    for c in cols:
        v = rows[c.name]
        if c.kind == "optional_int":
            data[c.name] = pd.array(np.where(v < 0, 0, v), dtype="Int64")
            data[c.name][v < 0] = pd.NA
        elif c.category:
            data[c.name] = pd.Categorical(v)
        else:
            data[c.name] = v
    return pd.DataFrame(data)


def read_csv(path: str | Path, columns: Sequence[Column],
             optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Read a table's CSV file back into arrays, checked cell by cell.

    Parameters
    ----------
    path : str or Path
    columns : sequence of Column
        What the file must hold, in order.
    optional : sequence of str
        Column names the file may leave out.

    Returns
    -------
    dict of str to ndarray
        One array per column present: int64, float64, bool, object (text) or int64 with -1
        for an empty ``optional_int`` cell.

    Raises
    ------
    SpecError
        Naming the file, the line and the column of the first problem.
    """
    file = str(path)
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SpecError(f"cannot read: {exc}", file=file) from None
    if not rows:
        raise SpecError("empty file: expected a header row", file=file)
    header = rows[0]
    expected = [c for c in columns if c.name in header or c.name not in optional]
    if header != [c.name for c in expected]:
        raise SpecError(f"expected the columns {', '.join(c.name for c in expected)}",
                        value=", ".join(header)[:200], file=file)
    body = rows[1:]
    bad = next((i for i, r in enumerate(body) if len(r) != len(header)), None)
    if bad is not None:
        raise SpecError(f"line {bad + 2}: expected {len(header)} cells, found "
                        f"{len(body[bad])}", file=file)
    cells = list(zip(*body, strict=True)) if body else [() for _ in header]
    out: dict[str, np.ndarray] = {}
    for column, values in zip(expected, cells, strict=True):
        out[column.name] = _parse_column(column, values, file)
    return out


def _parse_column(column: Column, cells: Sequence[str], file: str) -> np.ndarray:
    def fail(at: int, what: str) -> SpecError:
        return SpecError(f"line {at + 2}, column {column.name!r}: expected {what}",
                         value=cells[at][:60], file=file)

    if column.kind == "text":
        return np.array(cells, dtype=object)
    if column.kind == "bool":
        ok = [c in ("true", "false") for c in cells]
        if not all(ok):
            raise fail(ok.index(False), "true or false")
        return np.array([c == "true" for c in cells], dtype=bool)
    if column.kind in ("int", "optional_int"):
        out = np.empty(len(cells), dtype=np.int64)
        for i, c in enumerate(cells):
            if column.kind == "optional_int" and c == "":
                out[i] = -1
            elif re.fullmatch(r"-?\d{1,18}", c):
                out[i] = int(c)
            else:
                raise fail(i, "a whole number" + (" or nothing" if column.kind != "int" else ""))
        return out
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        values = np.full(len(cells), np.nan)
        for i, c in enumerate(cells):
            try:
                values[i] = float(c)
            except ValueError:
                raise fail(i, "a number") from None
    bad = np.isnan(values) | (np.isinf(values) if column.finite else False)
    if np.any(bad):
        raise fail(int(np.flatnonzero(bad)[0]), "a finite number" if column.finite
                   else "a number")
    return values
