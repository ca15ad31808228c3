"""Max-min fair bandwidth sharing by progressive filling (pure numpy).

The network model asks one question many times: given which flows cross which links (with a
fraction each, for flows split over several paths) and the links' capacities, what rate does
each flow get? The answer is the max-min fair allocation: raise every flow's rate together;
when a link fills up, freeze the flows crossing it; continue with the rest. A flow split over
paths puts ``fraction * rate`` on each link of a path.

:func:`max_min_rates` is the swappable solver the network calls: a pure function of an
:class:`Incidence` (or a scipy sparse links-by-flows matrix) and a capacity vector.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["Incidence", "Solver", "max_min_rates", "max_min_rates_numpy"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Links whose fair share is within this relative distance of the smallest one saturate in the
# same round: it absorbs rounding, and merges levels that are equal in exact arithmetic.
SAME_LEVEL = 1e-9


class Incidence(NamedTuple):
    """Which flows cross which links, as coordinate arrays.

    Entry ``i`` says flow ``flow[i]`` puts ``frac[i]`` of its rate on link ``link[i]``.
    Links are numbered ``0 .. n_links - 1`` and flows ``0 .. n_flows - 1``; a (link, flow)
    pair may appear more than once (the fractions add up).
    """

    link: IntArray
    flow: IntArray
    frac: FloatArray
    n_links: int
    n_flows: int

    @classmethod
    def from_sparse(cls, matrix: Any) -> Incidence:
        """From a scipy sparse matrix of shape (links, flows)."""
        coo = matrix.tocoo()
        return cls(coo.row.astype(np.int64), coo.col.astype(np.int64),
                   coo.data.astype(np.float64), coo.shape[0], coo.shape[1])


Solver = Callable[[Incidence, FloatArray], FloatArray]


def max_min_rates(incidence: Incidence | Any, capacity: FloatArray) -> FloatArray:
    """Max-min fair rates of flows sharing links, by progressive filling (compiled).

    Parameters
    ----------
    incidence : Incidence or scipy sparse matrix (links x flows)
        Which flows cross which links, with the fraction of each flow's rate on each.
    capacity : ndarray of float, shape (n_links,)
        Capacity of each link (bytes per second); must be non-negative.

    Returns
    -------
    ndarray of float, shape (n_flows,)
        Each flow's rate. A flow that crosses no link gets ``inf``.

    Notes
    -----
    The same algorithm as :func:`max_min_rates_numpy`, compiled with numba: each (link, flow)
    entry is visited once, when its flow freezes, and each bottleneck level costs one pass over
    the links still in play. Links whose fair shares agree to within a relative 1e-9 fill at
    the same level.
    """
    from mpft_sim._kernels import progressive_filling

    inc = incidence if isinstance(incidence, Incidence) else Incidence.from_sparse(incidence)
    if inc.n_flows == 0:
        return np.zeros(0)
    return progressive_filling(
        np.ascontiguousarray(inc.link, dtype=np.int64),
        np.ascontiguousarray(inc.flow, dtype=np.int64),
        np.ascontiguousarray(inc.frac, dtype=np.float64),
        np.ascontiguousarray(capacity, dtype=np.float64), int(inc.n_flows), SAME_LEVEL)


def max_min_rates_numpy(incidence: Incidence | Any, capacity: FloatArray) -> FloatArray:
    """:func:`max_min_rates` in pure numpy: the same rates, without the compiled kernel.

    Notes
    -----
    Each round costs one pass over the remaining (link, flow) entries and freezes every flow
    crossing a link that fills at the round's level, so the number of rounds is the number of
    distinct bottleneck levels, not the number of flows. Links whose fair shares agree to
    within a relative 1e-9 fill in the same round.
    """
    inc = incidence if isinstance(incidence, Incidence) else Incidence.from_sparse(incidence)
    link, flow, frac = inc.link, inc.flow, inc.frac
    if inc.n_flows == 0:
        return np.zeros(0)
    rates = np.full(inc.n_flows, np.inf)
    has_link = np.zeros(inc.n_flows, dtype=bool)
    has_link[flow[frac > 0]] = True
    keep = frac > 0
    link, flow, frac = link[keep], flow[keep], frac[keep]
    residual = np.asarray(capacity, dtype=np.float64).copy()
    frozen = ~has_link
    level = 0.0
    while link.size:
        demand = np.bincount(link, frac, minlength=inc.n_links)
        used = demand > 0
        share = np.full(inc.n_links, np.inf)
        np.divide(residual, demand, out=share, where=used)
        np.maximum(share, 0.0, out=share)
        step = float(share.min())
        level += step
        residual -= step * demand
        full = used & (share <= step * (1 + SAME_LEVEL) + 1e-300)
        residual[full] = 0.0
        hit = flow[full[link]]
        frozen[hit] = True
        rates[hit] = level
        keep = ~frozen[flow]
        link, flow, frac = link[keep], flow[keep], frac[keep]
    return rates
