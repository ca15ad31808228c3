"""What a network carried: per-flow and per-link records, and load over time.

:class:`FlowStore` collects the per-flow records while a network runs. A run of more than
:data:`SPILL_FLOWS` flows streams them to raw binary files in a temporary directory: every
column known at release (src, dst, size, release, latency, tag, rate alone, paths) is
appended as flows are released, and end times are kept in memory only for a window of flow
ids, whose completed prefix is written out as it grows. Memory then grows with the flows
active at once, not with every flow ever seen. :meth:`FlowStore.table` returns a
:class:`FlowTable` of numpy memmaps over those files; they are deleted when the last table
(and the store) that uses them is gone.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["SPILL_FLOWS", "FlowStore", "FlowTable", "LinkTable", "Timeline"]

SPILL_FLOWS = 4_000_000
"""Runs with more flows than this stream their per-flow records to disk."""

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass
class FlowTable:
    """Every flow a network carried, by flow id.

    ``release_s`` is when it was released (``start_s`` in flows.csv), ``served_s`` when its
    last byte left, ``end_s = served_s + latency_s`` when it completed. ``tag`` indexes ``tags``.
    The paths: flow ``f`` has paths ``path_ptr[f]:path_ptr[f + 1]``, each with a share and the
    link ids ``path_links[path_link_ptr[p]:path_link_ptr[p + 1]]``.
    """

    src: IntArray
    dst: IntArray
    size_bytes: FloatArray
    release_s: FloatArray
    served_s: FloatArray
    end_s: FloatArray
    latency_s: FloatArray
    tag: IntArray
    tags: list[str]
    alone_Bps: NDArray[np.float32]
    """Each flow's rate on an otherwise idle network."""
    path_ptr: IntArray
    path_share: FloatArray
    path_link_ptr: IntArray
    path_links: IntArray
    _files: Any = field(default=None, repr=False, compare=False)
    """Keeps the spill directory of memmapped columns alive (see :class:`FlowStore`)."""

    def __len__(self) -> int:
        return len(self.src)

    def paths_text(self, f: int) -> str:
        """Flow ``f``'s links as flows.csv writes them: ``id id ...`` or ``share:ids|...``."""
        first, last = self.path_ptr[f], self.path_ptr[f + 1]
        parts = []
        for p in range(first, last):
            ids = " ".join(map(str, self.path_links[self.path_link_ptr[p]:
                                                    self.path_link_ptr[p + 1]]))
            parts.append(ids if last - first == 1 else f"{self.path_share[p]:.6g}:{ids}")
        return "|".join(parts)

    def take(self, rows: IntArray) -> FlowTable:
        """A table of the given rows, in that order (paths follow their flows)."""
        counts = np.diff(self.path_ptr)[rows]
        first = self.path_ptr[rows]
        path_idx = np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(
            counts.sum())
        link_counts = np.diff(self.path_link_ptr)[path_idx]
        link_first = self.path_link_ptr[path_idx]
        link_idx = np.repeat(link_first - np.cumsum(link_counts) + link_counts,
                             link_counts) + np.arange(link_counts.sum())
        path_ptr = np.concatenate([[0], np.cumsum(counts)])
        link_ptr = np.concatenate([[0], np.cumsum(link_counts)])
        return FlowTable(
            src=self.src[rows], dst=self.dst[rows], size_bytes=self.size_bytes[rows],
            release_s=self.release_s[rows], served_s=self.served_s[rows],
            end_s=self.end_s[rows], latency_s=self.latency_s[rows], tag=self.tag[rows],
            tags=self.tags, alone_Bps=self.alone_Bps[rows], path_ptr=path_ptr.astype(np.int64),
            path_share=self.path_share[path_idx], path_link_ptr=link_ptr.astype(np.int64),
            path_links=self.path_links[link_idx])

    def link_bytes(self, n_links: int) -> FloatArray:
        """Bytes each link carried: every flow's size times its share on the link."""
        per_path = np.diff(self.path_link_ptr)
        path_flow = np.repeat(np.arange(len(self)), np.diff(self.path_ptr))
        weight = np.repeat(self.size_bytes[path_flow] * self.path_share, per_path)
        return np.bincount(self.path_links, weight, minlength=n_links).astype(np.float64)


class _SpillDir:
    """A temporary directory of column files, removed when no table or store uses it."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="mpft-flows-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)

    def append(self, name: str, values: np.ndarray) -> None:
        with open(self.path / name, "ab") as fh:
            np.ascontiguousarray(values).tofile(fh)

    def map(self, name: str, dtype: Any, count: int) -> np.ndarray:
        """A read-only memmap of the first ``count`` values of a column."""
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

    def table(self, tags: list[str]) -> FlowTable:
        """Every flow so far (see :class:`FlowTable`): in-memory arrays, or memmaps over the
        column files of a spilled run (whose paths and served times are derived on disk)."""
        n = self.n
        if self._spill is None:
            c = self._cols
            end, latency = self.end[:n].copy(), c["latency"][:n].copy()
            path_ptr, share, link_ptr, links = self._path_arrays(n)
            return FlowTable(
                src=c["src"][:n].astype(np.int64), dst=c["dst"][:n].astype(np.int64),
                size_bytes=c["size"][:n].copy(), release_s=c["release"][:n].copy(),
                served_s=end - latency, end_s=end, latency_s=latency,
                tag=c["tag"][:n].astype(np.int64), tags=list(tags),
                alone_Bps=c["alone"][:n].copy(), path_ptr=path_ptr, path_share=share,
                path_link_ptr=link_ptr, path_links=links)
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
        if self.keep_paths:
            if self._paths_written < n:
                sp.append("npaths", np.zeros(n - self._paths_written, np.int32))
                self._paths_written = n
            npaths = sp.map("npaths", np.int32, n)
            nlinks = sp.map("nlinks", np.int32, self.n_paths)
            path_ptr = self._cumsum(sp, "path_ptr", npaths)
            link_ptr = self._cumsum(sp, "path_link_ptr", nlinks)
            share = sp.map("share", np.float64, self.n_paths)
            links = sp.map("links", np.int32, self.n_path_links)
        else:
            path_ptr = np.broadcast_to(np.int64(0), (n + 1,))
            link_ptr = np.zeros(1, np.int64)
            share, links = np.zeros(0), np.zeros(0, np.int64)
        return FlowTable(
            src=cols["src"], dst=cols["dst"], size_bytes=cols["size"],
            release_s=cols["release"], served_s=served, end_s=end, latency_s=cols["latency"],
            tag=cols["tag"], tags=list(tags), alone_Bps=cols["alone"], path_ptr=path_ptr,
            path_share=share, path_link_ptr=link_ptr, path_links=links, _files=sp)

    @staticmethod
    def _derived(sp: _SpillDir, name: str, n: int, chunk: Any) -> FloatArray:
        """A float column computed chunk by chunk into its own file."""
        if not (sp.path / name).exists() or (sp.path / name).stat().st_size != 8 * n:
            (sp.path / name).unlink(missing_ok=True)
            for lo in range(0, n, _CHUNK):
                sp.append(name, np.asarray(chunk(lo, min(n, lo + _CHUNK)), np.float64))
        return sp.map(name, np.float64, n)

    @staticmethod
    def _cumsum(sp: _SpillDir, name: str, counts: np.ndarray) -> IntArray:
        """``[0, cumsum(counts)]`` as an int64 column file."""
        (sp.path / name).unlink(missing_ok=True)
        total = 0
        sp.append(name, np.zeros(1, np.int64))
        for lo in range(0, len(counts), _CHUNK):
            part = np.cumsum(counts[lo:lo + _CHUNK], dtype=np.int64) + total
            if len(part):
                total = int(part[-1])
            sp.append(name, part)
        return sp.map(name, np.int64, len(counts) + 1)

    def _path_arrays(self, n: int) -> tuple[IntArray, FloatArray, IntArray, IntArray]:
        if not self.keep_paths:
            return (np.zeros(n + 1, np.int64), np.zeros(0), np.zeros(1, np.int64),
                    np.zeros(0, np.int64))
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
        return path_ptr, share, link_ptr, links.astype(np.int64)


@dataclass
class LinkTable:
    """Per directed link: time with traffic, time full, peak utilisation, time at or above
    90 % of capacity."""

    busy_s: FloatArray
    saturated_s: FloatArray
    peak_util: FloatArray
    hot_s: FloatArray


@dataclass
class Timeline:
    """Load over time of each group of links (a plane and tier), piecewise constant.

    ``load_Bps[i]`` holds from ``time_s[i]`` to ``time_s[i + 1]``; ``capacity_Bps`` is each
    group's total capacity; ``groups[g]`` names group ``g`` as ``(plane, tier)``.
    """

    time_s: FloatArray
    load_Bps: NDArray[np.float32]
    capacity_Bps: FloatArray
    groups: list[tuple[int, int]]

    def binned(self, until: float, bins: int = 400) -> tuple[FloatArray, FloatArray]:
        """Mean utilisation of each group in ``bins`` equal time bins over [0, until].

        Returns
        -------
        (edges, util)
            Bin edges (bins + 1) and utilisation, shape (bins, groups): the load integrated
            exactly over each bin, over the bin's length and the group's capacity.
        """
        edges = np.linspace(0.0, max(until, 1e-300), bins + 1)
        if len(self.time_s) == 0:
            return edges, np.zeros((bins, len(self.groups)))
        t = np.append(self.time_s, max(until, self.time_s[-1]))
        load = self.load_Bps.astype(np.float64)
        # the integral of load up to each event, then at each bin edge by interpolation
        area = np.vstack([np.zeros(load.shape[1]),
                          np.cumsum(load * np.diff(t)[:, None], axis=0)])
        at = np.empty((len(edges), load.shape[1]))
        idx = np.clip(np.searchsorted(t, edges, side="right") - 1, 0, len(t) - 2)
        at[:] = area[idx] + load[idx] * (edges - t[idx])[:, None]
        at[edges < t[0]] = 0.0
        util = np.diff(at, axis=0) / (np.diff(edges)[:, None] * self.capacity_Bps[None, :])
        return edges, np.clip(util, 0.0, None)
