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

from mpft_sim.errors import MpftError, SpecError

__all__ = ["CHUNK_ROWS", "PARQUET_EXTRA", "Column", "Table", "float_text", "read_csv",
           "read_parquet", "read_table", "to_frame", "write_csv", "write_parquet"]

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


def text_codes(values: np.ndarray) -> tuple[list[str], NDArray[np.int64]]:
    """The distinct texts of ``values``, sorted, and each value's index among them: what
    ``np.unique(values.astype(str), return_inverse=True)`` gives, found by hashing instead of
    sorting every row (seconds instead of a minute on a hundred million rows).

    Parameters
    ----------
    values : ndarray
        Text, or anything whose ``str`` is the text.

    Returns
    -------
    labels : list of str
    codes : ndarray of int64
        ``labels[codes[i]] == str(values[i])``.
    """
    items = values.tolist()
    distinct = set(items)
    labels = sorted({str(v) for v in distinct})
    index = {label: k for k, label in enumerate(labels)}
    code_of = {v: index[str(v)] for v in distinct}
    return labels, np.fromiter(map(code_of.__getitem__, items), dtype=np.int64,
                               count=len(items))


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


PARQUET_EXTRA = "pip install 'mpft-sim[parquet]'"
"""What installs the Parquet support (pyarrow)."""


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MpftError(f"Parquet tables need pyarrow: {PARQUET_EXTRA}") from None
    return pa, pq


def write_parquet(table: Table, path: str | Path) -> None:
    """Write ``table`` as Parquet, a row group per chunk (memory stays flat), with the same
    columns as its CSV: text as strings (repeated text dictionary-encoded), a missing
    ``optional_int`` as null.

    Raises
    ------
    MpftError
        If pyarrow is not installed (the message names the extra that installs it).
    """
    pa, pq = _pyarrow()
    cols = table.columns()
    types = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
             "optional_int": pa.int64(), "text": pa.string()}
    schema = pa.schema([pa.field(c.name, pa.dictionary(pa.int32(), pa.string())
                                 if c.category else types[c.kind]) for c in cols])
    # dictionary pages for the repeated text only: tried on unique floats they cost a third
    # of the writing time and are thrown away
    with pq.ParquetWriter(str(path), schema,
                          use_dictionary=[c.name for c in cols if c.category]) as writer:
        for start in range(0, max(len(table), 1), CHUNK_ROWS):
            rows = table.rows(start, min(start + CHUNK_ROWS, len(table)))
            arrays = []
            for c in cols:
                v = rows[c.name]
                if c.kind == "optional_int":
                    arrays.append(pa.array(v, type=pa.int64(), mask=v < 0))
                elif c.kind == "text":  # an object array of str: no Python string per cell
                    text = pa.array(v, type=pa.string(), from_pandas=False)
                    arrays.append(text.dictionary_encode() if c.category else text)
                else:
                    arrays.append(pa.array(v, type=types[c.kind]))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def read_parquet(path: str | Path, columns: Sequence[Column],
                 optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Read a table's Parquet file back into the arrays :func:`read_csv` gives.

    Raises
    ------
    SpecError
        Naming the file and what does not fit (a missing column, a wrong type, a null).
    MpftError
        If pyarrow is not installed.
    """
    pa, pq = _pyarrow()
    file = str(path)
    try:
        data = pq.read_table(file)
    except (OSError, pa.ArrowException) as exc:
        raise SpecError(f"cannot read as Parquet: {exc}", file=file) from None
    names = data.column_names
    expected = [c for c in columns if c.name in names or c.name not in optional]
    if names != [c.name for c in expected]:
        raise SpecError(f"expected the columns {', '.join(c.name for c in expected)}",
                        value=", ".join(names)[:200], file=file)
    out: dict[str, np.ndarray] = {}
    for c in expected:
        column = data.column(c.name)
        if pa.types.is_dictionary(column.type):
            if c.kind == "text" and column.null_count == 0 and len(column):
                # repeated text: one Python string per distinct value, not one per row
                coded = column.unify_dictionaries().combine_chunks()
                labels = np.asarray(coded.dictionary.to_numpy(zero_copy_only=False),
                                    dtype=object)
                out[c.name] = labels[coded.indices.to_numpy(zero_copy_only=False)]
                continue
            column = column.cast(column.type.value_type)
        nulls = column.null_count
        if c.kind == "optional_int":
            out[c.name] = np.asarray(column.fill_null(-1).to_numpy(), dtype=np.int64)
            continue
        if nulls:
            raise SpecError(f"column {c.name!r}: {nulls} missing values", file=file)
        values = column.to_numpy(zero_copy_only=False)
        want = {"int": np.int64, "float": np.float64, "bool": np.bool_, "text": object}[c.kind]
        if c.kind == "text":
            out[c.name] = np.asarray(values, dtype=object)
        else:
            try:
                out[c.name] = values.astype(want, casting="same_kind")
            except TypeError:
                raise SpecError(f"column {c.name!r}: expected {c.kind} values, found "
                                f"{column.type}", file=file) from None
            if c.kind == "float" and c.finite and not np.isfinite(out[c.name]).all():
                raise SpecError(f"column {c.name!r}: expected finite numbers", file=file)
    return out


def read_table(path: str | Path, columns: Sequence[Column],
               optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Read a table's file, CSV or Parquet by its suffix (see :func:`read_csv`)."""
    if Path(path).suffix == ".parquet":
        return read_parquet(path, columns, optional)
    return read_csv(path, columns, optional)


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
