"""What a network carried: per-flow and per-link records, and load over time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["FlowTable", "LinkTable", "Timeline"]

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
