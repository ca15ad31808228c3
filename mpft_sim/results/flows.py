"""The per-flow records of a run: :class:`FlowTable`, and the links each flow crossed
(:class:`Paths`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import SpecError
from mpft_sim.results.columns import Column, float_text, read_table, text_codes

__all__ = ["FlowTable", "Paths"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
TextArray = NDArray[np.object_]


def _gpu_names(ranks: IntArray, gpus_per_node: int) -> TextArray:
    """GPU names (``n12/gpu3``) of global ranks, one Python string per distinct rank."""
    if not len(ranks):
        return np.zeros(0, dtype=object)
    # ranks are small integers: a lookup table instead of a sort (np.unique)
    low = int(ranks.min())
    seen = np.zeros(int(ranks.max()) - low + 1, dtype=bool)
    seen[ranks - low] = True
    names = np.empty(len(seen), dtype=object)
    for r in (np.flatnonzero(seen) + low).tolist():
        names[r - low] = f"n{r // gpus_per_node}/gpu{r % gpus_per_node}"
    return names[ranks - low]


def _gpu_ranks(names: TextArray, gpus_per_node: int, file: str, column: str) -> IntArray:
    labels, codes = text_codes(names)
    ranks = np.empty(len(labels), dtype=np.int64)
    for i, name in enumerate(labels):  # in sorted order: the first bad name is reported
        m = re.fullmatch(r"n(\d{1,9})/gpu(\d{1,4})", name)
        if not m or int(m.group(2)) >= gpus_per_node:
            raise SpecError(f"column {column!r}: expected a GPU such as 'n12/gpu3'",
                            value=name[:60], file=file)
        ranks[i] = int(m.group(1)) * gpus_per_node + int(m.group(2))
    return ranks[codes]


@dataclass(frozen=True, eq=False)
class Paths:
    """The links each flow crossed: flow ``f`` has paths ``flow_ptr[f]:flow_ptr[f + 1]``, path
    ``p`` carries ``share[p]`` of the flow over links ``links[link_ptr[p]:link_ptr[p + 1]]``."""

    flow_ptr: IntArray
    share: FloatArray
    link_ptr: IntArray
    links: IntArray

    def text(self, f: int) -> str:
        """Flow ``f``'s links as files write them: ``id id ...`` for one path,
        ``share:ids|share:ids`` for several."""
        first, last = int(self.flow_ptr[f]), int(self.flow_ptr[f + 1])
        parts = []
        for p in range(first, last):
            ids = " ".join(map(str, self.links[self.link_ptr[p]:self.link_ptr[p + 1]].tolist()))
            share = float_text(self.share[p:p + 1])[0]
            parts.append(ids if last - first == 1 else f"{share}:{ids}")
        return "|".join(parts)

    def take(self, rows: IntArray) -> Paths:
        """The paths of the given flows, in that order."""
        counts = np.diff(self.flow_ptr)[rows]
        path_idx = _ranges(self.flow_ptr[rows], counts)
        link_counts = np.diff(self.link_ptr)[path_idx]
        link_idx = _ranges(self.link_ptr[path_idx], link_counts)
        return Paths(_ptr(counts), self.share[path_idx], _ptr(link_counts),
                     self.links[link_idx])

    @classmethod
    def parse(cls, texts: Sequence[str], file: str = "") -> Paths:
        """Read the ``links`` column of a flows file back.

        Raises
        ------
        SpecError
            On a cell that is not ``ids`` or ``share:ids|...``.
        """
        per_flow, shares, per_path, links = [], [], [], []
        for row, text in enumerate(texts):
            parts = text.split("|") if text else []
            per_flow.append(len(parts))
            for part in parts:
                share, sep, ids = part.rpartition(":")
                try:
                    ints = [int(x) for x in ids.split()]
                    shares.append(float(share) if sep else 1.0)
                except ValueError:
                    raise SpecError(f"line {row + 2}, column 'links': expected link ids such "
                                    "as '12 40 7' or '0.5:12 40|0.5:13 41'", value=text[:60],
                                    file=file) from None
                per_path.append(len(ints))
                links += ints
        return cls(_ptr(np.array(per_flow, dtype=np.int64)), np.array(shares, dtype=float),
                   _ptr(np.array(per_path, dtype=np.int64)), np.array(links, dtype=np.int64))


def _ptr(counts: IntArray) -> IntArray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _ranges(first: IntArray, counts: IntArray) -> IntArray:
    """``concatenate([arange(f, f + c) for f, c in zip(first, counts)])``, vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    return np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(total)


@dataclass(frozen=True, eq=False)
class FlowTable:
    """Every flow a run carried, by flow id.

    ``release_s`` is when it was released (``start_s`` in files), ``served_s`` when its last
    byte left, ``end_s = served_s + latency_s`` when it completed; ``alone_Bps`` the rate it
    would get alone on an idle network. Endpoints are global GPU ranks (named with
    ``gpus_per_node`` in files). ``tag`` indexes ``tags``. ``paths`` are its links, when the
    run kept them.
    """

    src: IntArray
    dst: IntArray
    size_bytes: FloatArray
    release_s: FloatArray
    served_s: FloatArray
    end_s: FloatArray
    latency_s: FloatArray
    alone_Bps: FloatArray
    tag: IntArray
    tags: tuple[str, ...]
    gpus_per_node: int
    paths: Paths | None = None
    files: Any = field(default=None, repr=False, compare=False)
    """What keeps memmapped columns' files alive (a spilled run's directory, see
    :class:`~mpft_sim.flowstore.FlowStore`); None for in-memory columns."""

    COLUMNS: ClassVar[tuple[Column, ...]] = (
        Column("id", "int", "flow id: release order (input row order for a flow list)"),
        Column("src", "text", "sending GPU", category=True),
        Column("dst", "text", "receiving GPU", category=True),
        Column("size_bytes", "float", "bytes moved"),
        Column("start_s", "float", "release time [s]"),
        Column("served_s", "float", "when its last byte left the sender [s]"),
        Column("end_s", "float", "completion: served plus path latency [s]"),
        Column("latency_s", "float", "path latency [s]"),
        Column("fct_s", "float", "flow completion time: end_s - start_s [s]"),
        Column("alone_Bps", "float", "its rate alone on an idle network [B/s]", finite=False),
        Column("tag", "text", "what produced it (dispatch, pp_act, ...)", category=True),
        Column("links", "text", "directed link ids crossed: 'id id ...', or "
               "'share:ids|share:ids' when split over paths (only when paths were kept)"),
    )

    def __len__(self) -> int:
        return len(self.src)

    @property
    def fct_s(self) -> FloatArray:
        """Each flow's completion time: end minus release."""
        return self.end_s - self.release_s

    def ideal_fct_s(self) -> FloatArray:
        """Each flow's completion time on an otherwise idle network: its latency plus its
        size at the rate it would get alone."""
        alone = np.asarray(self.alone_Bps, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            serve = np.where(np.isfinite(alone) & (alone > 0), self.size_bytes / alone, 0.0)
        return serve + self.latency_s

    def columns(self) -> tuple[Column, ...]:
        """The file's columns (``links`` only when paths were kept)."""
        return self.COLUMNS if self.paths is not None else self.COLUMNS[:-1]

    def rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Rows ``start:stop`` in the form files show."""
        sl = slice(start, stop)
        tags = np.array(self.tags, dtype=object)
        out: dict[str, np.ndarray] = {
            "id": np.arange(start, stop, dtype=np.int64),
            "src": _gpu_names(self.src[sl], self.gpus_per_node),
            "dst": _gpu_names(self.dst[sl], self.gpus_per_node),
            "size_bytes": self.size_bytes[sl], "start_s": self.release_s[sl],
            "served_s": self.served_s[sl], "end_s": self.end_s[sl],
            "latency_s": self.latency_s[sl], "fct_s": self.end_s[sl] - self.release_s[sl],
            "alone_Bps": np.asarray(self.alone_Bps[sl], dtype=np.float64),
            "tag": tags[self.tag[sl]] if stop > start else np.zeros(0, dtype=object),
        }
        if self.paths is not None:
            out["links"] = np.array([self.paths.text(f) for f in range(start, stop)],
                                    dtype=object)
        return out

    def take(self, rows: IntArray) -> FlowTable:
        """A table of the given rows, in that order (paths follow their flows)."""
        return FlowTable(
            src=self.src[rows], dst=self.dst[rows], size_bytes=self.size_bytes[rows],
            release_s=self.release_s[rows], served_s=self.served_s[rows],
            end_s=self.end_s[rows], latency_s=self.latency_s[rows],
            alone_Bps=self.alone_Bps[rows], tag=self.tag[rows], tags=self.tags,
            gpus_per_node=self.gpus_per_node,
            paths=self.paths.take(rows) if self.paths is not None else None)

    def link_bytes(self, n_links: int) -> FloatArray:
        """Bytes each link carried: every flow's size times its share on the link (needs
        paths)."""
        if self.paths is None:
            raise ValueError("this flow table has no paths")
        p = self.paths
        path_flow = np.repeat(np.arange(len(self)), np.diff(p.flow_ptr))
        weight = np.repeat(self.size_bytes[path_flow] * p.share, np.diff(p.link_ptr))
        return np.bincount(p.links, weight, minlength=n_links).astype(np.float64)

    @classmethod
    def read(cls, path: str | Path, gpus_per_node: int) -> FlowTable:
        """Read a flows file (CSV or Parquet) written by ``write_run``.

        Raises
        ------
        SpecError
            Naming the file, line and column of the first bad cell.
        """
        file = str(path)
        c = read_table(path, cls.COLUMNS, optional=("links",))
        if not np.array_equal(c["id"], np.arange(len(c["id"]))):
            raise SpecError("column 'id': expected 0, 1, 2 ... in order", file=file)
        tags, tag = text_codes(c["tag"])
        return cls(
            src=_gpu_ranks(c["src"], gpus_per_node, file, "src"),
            dst=_gpu_ranks(c["dst"], gpus_per_node, file, "dst"),
            size_bytes=c["size_bytes"], release_s=c["start_s"], served_s=c["served_s"],
            end_s=c["end_s"], latency_s=c["latency_s"], alone_Bps=c["alone_Bps"],
            tag=tag.astype(np.int64), tags=tuple(str(t) for t in tags),
            gpus_per_node=gpus_per_node,
            paths=Paths.parse(c["links"].tolist(), file) if "links" in c else None)
