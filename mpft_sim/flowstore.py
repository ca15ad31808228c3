"""The per-flow records of a network while it runs, and their spill to disk.

:class:`FlowStore` collects the per-flow records while a network runs. A run of more than
:data:`SPILL_FLOWS` flows streams them to raw binary files in a temporary directory: every
column known at release (src, dst, size, release, latency, tag, rate alone, paths) is
appended as flows are released, and end times are kept in memory only for a window of flow
ids, whose completed prefix is written out as it grows. Memory then grows with the flows
active at once, not with every flow ever seen. :meth:`FlowStore.table` returns a
:class:`~mpft_sim.results.flows.FlowTable` of numpy memmaps over those files; they are
deleted when the last table (and the store) that uses them is gone.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mpft_sim.results.flows import FlowTable, Paths

__all__ = ["SPILL_FLOWS", "FlowStore"]

SPILL_FLOWS = 4_000_000
"""Runs with more flows than this stream their per-flow records to disk."""

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


_BUFFER_BYTES = 1 << 22
"""Bytes a column collects in memory before they are written: a run of a hundred million
flows appends each column hundreds of thousands of times, and a file opened and written
for each append cost a fifth of an analytic run."""


class _SpillDir:
    """A temporary directory of column files, removed when no table or store uses it.
    Appends are buffered per column; reading a column (:meth:`map`, :meth:`size`) writes its
    buffer first."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="mpft-flows-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)
        self._pending: dict[str, list[bytes]] = {}
        self._pending_bytes: dict[str, int] = {}

    def append(self, name: str, values: np.ndarray) -> None:
        data = np.ascontiguousarray(values).tobytes()
        self._pending.setdefault(name, []).append(data)
        size = self._pending_bytes.get(name, 0) + len(data)
        self._pending_bytes[name] = size
        if size >= _BUFFER_BYTES:
            self._write(name)

    def _write(self, name: str) -> None:
        parts = self._pending.pop(name, None)
        self._pending_bytes.pop(name, None)
        if parts:
            with open(self.path / name, "ab") as fh:
                fh.writelines(parts)

    def size(self, name: str) -> int:
        """Bytes in a column so far (0 if it has none)."""
        self._write(name)
        file = self.path / name
        return file.stat().st_size if file.exists() else 0

    def remove(self, name: str) -> None:
        """Delete a column."""
        self._pending.pop(name, None)
        self._pending_bytes.pop(name, None)
        (self.path / name).unlink(missing_ok=True)

    def map(self, name: str, dtype: Any, count: int) -> np.ndarray:
        """A read-only memmap of the first ``count`` values of a column."""
        self._write(name)
        if count == 0:
            return np.zeros(0, dtype=dtype)
        return np.memmap(self.path / name, dtype=dtype, mode="r", shape=(count,))


_RELEASE_COLUMNS: dict[str, Any] = {"src": np.int32, "dst": np.int32, "size": np.float64,
                                    "release": np.float64, "latency": np.float64,
                                    "tag": np.int32, "alone": np.float32}
_PATH_COLUMNS: dict[str, Any] = {"npaths": np.int32, "share": np.float64,
                                 "nlinks": np.int32, "links": np.int32}
_CHUNK = 1 << 22  # rows per chunk when deriving columns on disk


class FlowStore:
    """The per-flow records of a network, by flow id (see the module docstring).

    Flows get consecutive ids as they are released (:meth:`add`). While a flow is active
    its end time is ``end[id - base]`` (NaN until set); ``group`` and ``latency`` are kept for
    the same window of ids.

    Parameters
    ----------
    keep_paths : bool
        Record each flow's paths.
    spill_flows : int, optional
        Stream records to disk once more flows than this have been released; default
        :data:`SPILL_FLOWS`.
    """

    def __init__(self, keep_paths: bool = True, spill_flows: int | None = None) -> None:
        self.keep_paths = keep_paths
        self.spill_flows = SPILL_FLOWS if spill_flows is None else spill_flows
        self.n = 0
        self.base = 0  # ids below it are on disk (spilled runs only)
        self._cap = 1024
        self._cols = {k: np.zeros(self._cap, dtype=v) for k, v in _RELEASE_COLUMNS.items()}
        self.end = np.full(self._cap, np.nan)
        self.group = np.zeros(self._cap, dtype=np.int64)
        # in memory: (first id, flows, flow of each path from first, share, links per path,
        # links) per batch
        self._paths: list[tuple[int, int, IntArray, FloatArray, IntArray, IntArray]] = []
        self._spill: _SpillDir | None = None
        self.n_paths = 0  # paths and path links written to disk
        self.n_path_links = 0
        self._paths_written = 0  # flows whose path counts are on disk

    @property
    def spilled(self) -> bool:
        """Whether the records stream to disk."""
        return self._spill is not None

    def add(self, src: IntArray, dst: IntArray, size: FloatArray, release: float,
            latency: FloatArray, tag: IntArray, alone: FloatArray, group: int,
            paths: tuple[IntArray, FloatArray, IntArray, IntArray] | None) -> int:
        """Record ``len(size)`` flows released now; return the first one's id. ``paths`` is
        (flow of each path, as offsets from the first id; share; links per path; links)."""
        k = len(size)
        first = self.n
        if self._spill is None and first + k > self.spill_flows:
            self._start_spill()
        self._room(first + k)
        lo, hi = first - self.base, first + k - self.base
        if self._spill is None:
            c = self._cols
            c["src"][lo:hi], c["dst"][lo:hi], c["size"][lo:hi] = src, dst, size
            c["release"][lo:hi] = release
            c["latency"][lo:hi], c["tag"][lo:hi], c["alone"][lo:hi] = latency, tag, alone
            if paths is not None:
                self._paths.append((first, k, *paths))
        else:
            sp = self._spill
            values = {"src": src, "dst": dst, "size": size,
                      "release": np.full(k, release), "latency": latency, "tag": tag,
                      "alone": alone}
            for name, dtype in _RELEASE_COLUMNS.items():
                sp.append(name, np.asarray(values[name], dtype=dtype))
            if paths is not None:
                self._append_paths(k, *paths)
        self._cols["latency"][lo:hi] = latency  # also kept while active
        self.end[lo:hi] = np.nan
        self.group[lo:hi] = group
        self.n = first + k
        return first

    def _room(self, need: int) -> None:
        need -= self.base
        if need <= self._cap:
            return
        cap = self._cap
        while cap < need:
            cap *= 2
        used = self.n - self.base
        for name, col in list(self._cols.items()):
            if self._spill is not None and name != "latency":
                continue
            grown = np.zeros(cap, dtype=col.dtype)
            grown[:used] = col[:used]
            self._cols[name] = grown
        end = np.full(cap, np.nan)
        end[:used] = self.end[:used]
        group = np.zeros(cap, dtype=np.int64)
        group[:used] = self.group[:used]
        self.end, self.group, self._cap = end, group, cap

    def _start_spill(self) -> None:
        """Write everything so far to disk; from now on stream."""
        sp = self._spill = _SpillDir()
        n = self.n
        for name in _RELEASE_COLUMNS:
            sp.append(name, self._cols[name][:n])
        for name in _RELEASE_COLUMNS:
            if name != "latency":
                self._cols[name] = np.zeros(0, dtype=self._cols[name].dtype)
        for first, k, flow_of_path, share, per_path, links in self._paths:
            self._append_paths(k, flow_of_path, share, per_path, links, first=first)
        self._paths = []
        self.flush()

    def _append_paths(self, k: int, flow_of_path: IntArray, share: FloatArray,
                      per_path: IntArray, links: IntArray, first: int | None = None) -> None:
        sp = self._spill
        assert sp is not None
        start = self.n if first is None else first
        if start > self._paths_written:  # flows released without paths between
            sp.append("npaths", np.zeros(start - self._paths_written, np.int32))
        sp.append("npaths", np.bincount(flow_of_path, minlength=k).astype(np.int32))
        sp.append("share", np.asarray(share, np.float64))
        sp.append("nlinks", np.asarray(per_path, np.int32))
        sp.append("links", np.asarray(links, np.int32))
        self._paths_written = start + k
        self.n_paths += len(share)
        self.n_path_links += len(links)

    def complete(self, ids: IntArray, served: FloatArray | float) -> FloatArray:
        """Record flows as served at ``served``; return their end times (served plus
        latency)."""
        rel = np.asarray(ids) - self.base
        end = served + self._cols["latency"][rel]
        self.end[rel] = end
        return np.asarray(end, dtype=np.float64)

    def groups_of(self, ids: IntArray) -> IntArray:
        """The transfer each flow belongs to (active flows only)."""
        return self.group[np.asarray(ids) - self.base]

    def latency_of(self, ids: IntArray) -> FloatArray:
        """Each flow's path latency (active flows only)."""
        return self._cols["latency"][np.asarray(ids) - self.base]

    def flush(self, min_rows: int = 1 << 20) -> None:
        """Spilled runs: write the end times of the completed prefix of the window to disk
        once it has ``min_rows`` rows or more."""
        if self._spill is None:
            return
        used = self.n - self.base
        if used < min_rows:
            return
        pending = np.isnan(self.end[:used])
        done = int(np.argmax(pending)) if pending.any() else used
        if done < min_rows:
            return
        self._spill.append("end", self.end[:done])
        keep = used - done
        self.end[:keep] = self.end[done:used]
        self.group[:keep] = self.group[done:used]
        self._cols["latency"][:keep] = self._cols["latency"][done:used]
        self.base += done

    def table(self, tags: tuple[str, ...], gpus_per_node: int) -> FlowTable:
        """Every flow so far (see :class:`FlowTable`): in-memory arrays, or memmaps over the
        column files of a spilled run (whose paths and served times are derived on disk)."""
        n = self.n
        if self._spill is None:
            c = self._cols
            end, latency = self.end[:n].copy(), c["latency"][:n].copy()
            return FlowTable(
                src=c["src"][:n].astype(np.int64), dst=c["dst"][:n].astype(np.int64),
                size_bytes=c["size"][:n].copy(), release_s=c["release"][:n].copy(),
                served_s=end - latency, end_s=end, latency_s=latency,
                alone_Bps=c["alone"][:n].astype(np.float64),
                tag=c["tag"][:n].astype(np.int64), tags=tags, gpus_per_node=gpus_per_node,
                paths=self._path_arrays(n) if self.keep_paths else None)
        sp = self._spill
        self.flush(min_rows=0)
        cols = {name: sp.map(name, dtype, n) for name, dtype in _RELEASE_COLUMNS.items()}
        if self.base == n:
            end = sp.map("end", np.float64, n)
        else:  # flows still active (end NaN so far): a copy with the window appended
            done = sp.map("end", np.float64, self.base)
            window = self.end[:n - self.base].copy()
            end = self._derived(sp, f"end.{n}", n, lambda lo, hi: np.concatenate(
                [done[lo:min(hi, self.base)], window[max(lo - self.base, 0):hi - self.base]]))
        served = self._derived(sp, "served", n,
                               lambda lo, hi: end[lo:hi] - cols["latency"][lo:hi])
        paths = None
        if self.keep_paths:
            if self._paths_written < n:
                sp.append("npaths", np.zeros(n - self._paths_written, np.int32))
                self._paths_written = n
            npaths = sp.map("npaths", np.int32, n)
            nlinks = sp.map("nlinks", np.int32, self.n_paths)
            paths = Paths(self._cumsum(sp, "path_ptr", npaths), sp.map(
                "share", np.float64, self.n_paths), self._cumsum(sp, "path_link_ptr", nlinks),
                sp.map("links", np.int32, self.n_path_links))
        return FlowTable(
            src=cols["src"], dst=cols["dst"], size_bytes=cols["size"],
            release_s=cols["release"], served_s=served, end_s=end, latency_s=cols["latency"],
            alone_Bps=cols["alone"], tag=cols["tag"], tags=tags, gpus_per_node=gpus_per_node,
            paths=paths, files=sp)

    @staticmethod
    def _derived(sp: _SpillDir, name: str, n: int, chunk: Any) -> FloatArray:
        """A float column computed chunk by chunk into its own file."""
        if sp.size(name) != 8 * n:
            sp.remove(name)
            for lo in range(0, n, _CHUNK):
                sp.append(name, np.asarray(chunk(lo, min(n, lo + _CHUNK)), np.float64))
        return sp.map(name, np.float64, n)

    @staticmethod
    def _cumsum(sp: _SpillDir, name: str, counts: np.ndarray) -> IntArray:
        """``[0, cumsum(counts)]`` as an int64 column file."""
        sp.remove(name)
        total = 0
        sp.append(name, np.zeros(1, np.int64))
        for lo in range(0, len(counts), _CHUNK):
            part = np.cumsum(counts[lo:lo + _CHUNK], dtype=np.int64) + total
            if len(part):
                total = int(part[-1])
            sp.append(name, part)
        return sp.map(name, np.int64, len(counts) + 1)

    def _path_arrays(self, n: int) -> Paths:
        if self._paths:
            pf = np.concatenate([p[2] + p[0] for p in self._paths])
            share = np.concatenate([p[3] for p in self._paths])
            per_path = np.concatenate([p[4] for p in self._paths])
            links = np.concatenate([p[5] for p in self._paths])
        else:
            pf, share = np.zeros(0, np.int64), np.zeros(0)
            per_path, links = np.zeros(0, np.int64), np.zeros(0, np.int64)
        # batches are stored in id order and paths sorted by flow within a batch
        path_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(pf, minlength=n), out=path_ptr[1:])
        link_ptr = np.zeros(len(per_path) + 1, dtype=np.int64)
        np.cumsum(per_path, out=link_ptr[1:])
        return Paths(path_ptr, share, link_ptr, links.astype(np.int64))
