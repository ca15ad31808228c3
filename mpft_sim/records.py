"""What a network accumulates as it runs: load figures per link and load over time (the
per-flow records are kept by :class:`~mpft_sim.flowstore.FlowStore` and returned as a
:class:`~mpft_sim.results.flows.FlowTable`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["LinkLoad", "Timeline"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass
class LinkLoad:
    """Per directed link: time with traffic, time at or above 90% of capacity, time full,
    peak utilisation."""

    busy_s: FloatArray
    saturated_s: FloatArray
    hot_s: FloatArray
    peak_util: FloatArray


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
