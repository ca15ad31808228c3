"""Compiled inner loops (numba) of the solver and the fluid network's events.

Progressive filling is a sequence of bottleneck levels; in numpy every level costs a dozen
array calls whatever its size, which dominates when a re-solve has few flows and many levels.
Compiled, each (link, flow) entry is visited once when its flow freezes, and each level costs
one pass over the links still in play. The fluid network's own event loop is compiled in
:mod:`mpft_sim._fluid`; what stays here is shared with routing (adaptive choice) and the
solver.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def fill_work(n_flows: int, n_links: int, nnz: int) -> tuple[int, int]:  # pragma: no cover
    """Sizes of the integer and float work arrays :func:`fill_levels` needs (compiled, so
    that :func:`progressive_filling` and the fluid state size them by one rule)."""
    return 3 * n_flows + 4 * n_links + 2 * nnz + 2, 2 * n_links


@numba.njit(cache=True, nogil=True)
def progressive_filling(link: np.ndarray, flow: np.ndarray, frac: np.ndarray,  # pragma: no cover
                        capacity: np.ndarray, n_flows: int, same_level: float) -> np.ndarray:
    """Max-min fair rates by progressive filling: entry ``e`` puts ``frac[e]`` of flow
    ``flow[e]``'s rate on link ``link[e]``; levels within ``same_level`` (relative) freeze
    together. Returns each flow's rate (inf for a flow with no entries)."""
    n_links = capacity.shape[0]
    rates = np.empty(n_flows)
    n_i, n_f = fill_work(n_flows, n_links, link.shape[0])
    fill_levels(link, flow, frac, capacity, n_flows, same_level, rates,
                np.empty(n_i, np.int64), np.empty(n_f))
    return rates


@numba.njit(cache=True, nogil=True)
def fill_levels(link: np.ndarray, flow: np.ndarray, frac: np.ndarray,  # pragma: no cover
                capacity: np.ndarray, n_flows: int, same_level: float, rates: np.ndarray,
                wi: np.ndarray, wf: np.ndarray) -> None:
    """:func:`progressive_filling` into ``rates[:n_flows]``, with work arrays ``wi`` and
    ``wf`` of the sizes :func:`fill_work` gives. It allocates nothing, so that the fluid
    network's event loop, compiled without reference counting, can call it."""
    # One function because it is a compiled hot loop: numba increfs every array a call
    # passes, so splitting it into helpers would cost time at every level.
    n_links = capacity.shape[0]
    nnz = link.shape[0]
    for i in range(n_flows):
        rates[i] = np.inf
    # CSR by flow and by link (counting sort); the work arrays carved into their parts
    o = 0
    f_ptr = wi[o:o + n_flows + 1]
    o += n_flows + 1
    l_ptr = wi[o:o + n_links + 1]
    o += n_links + 1
    f_fill = wi[o:o + n_flows]
    o += n_flows
    l_fill = wi[o:o + n_links]
    o += n_links
    live = wi[o:o + n_links]
    o += n_links
    frozen = wi[o:o + n_flows]
    o += n_flows
    full = wi[o:o + n_links]
    o += n_links
    demand = wf[:n_links]
    residual = wf[n_links:2 * n_links]
    f_ptr[:] = 0
    l_ptr[:] = 0
    frozen[:] = 0
    demand[:] = 0.0
    for e in range(nnz):
        if frac[e] > 0.0:
            f_ptr[flow[e] + 1] += 1
            l_ptr[link[e] + 1] += 1
    for i in range(n_flows):
        f_ptr[i + 1] += f_ptr[i]
    for i in range(n_links):
        l_ptr[i + 1] += l_ptr[i]
    f_ent = wi[o:o + f_ptr[n_flows]]
    o += f_ptr[n_flows]
    l_ent = wi[o:o + l_ptr[n_links]]
    for i in range(n_flows):
        f_fill[i] = f_ptr[i]
    for i in range(n_links):
        l_fill[i] = l_ptr[i]
    for e in range(nnz):
        if frac[e] > 0.0:
            f_ent[f_fill[flow[e]]] = e
            f_fill[flow[e]] += 1
            l_ent[l_fill[link[e]]] = e
            l_fill[link[e]] += 1
            demand[link[e]] += frac[e]
    for i in range(n_links):
        residual[i] = capacity[i]
    n_live = 0
    for i in range(n_links):
        full[i] = 0
        if demand[i] > 0.0:
            live[n_live] = i
            n_live += 1
    level = 0.0
    while n_live > 0:
        step = np.inf
        for k in range(n_live):
            i = live[k]
            share = max(residual[i], 0.0) / demand[i]
            if share < step:
                step = share
        level += step
        limit = step * (1.0 + same_level) + 1e-300
        # first decide which links fill at this level, with this level's demands ...
        for k in range(n_live):
            i = live[k]
            full[i] = 1 if max(residual[i], 0.0) / demand[i] <= limit else 0
            residual[i] -= step * demand[i]
        # ... then freeze their flows, taking them off their other links
        for k in range(n_live):
            i = live[k]
            if not full[i]:
                continue
            residual[i] = 0.0
            for a in range(l_ptr[i], l_ptr[i + 1]):
                f = flow[l_ent[a]]
                if frozen[f]:
                    continue
                frozen[f] = 1
                rates[f] = level
                for b in range(f_ptr[f], f_ptr[f + 1]):
                    e = f_ent[b]
                    demand[link[e]] -= frac[e]
        # keep links that are not full and still carry an unfrozen flow (beyond rounding)
        keep = 0
        for k in range(n_live):
            i = live[k]
            if not full[i] and demand[i] > 1e-12:
                live[keep] = i
                keep += 1
        n_live = keep


@numba.njit(cache=True, nogil=True)
def greedy_least_loaded(links: np.ndarray, mask: np.ndarray, cap: np.ndarray,  # pragma: no cover
                        load: np.ndarray, jitter: np.ndarray) -> np.ndarray:
    """Adaptive choice, one request after another: each takes the candidate link with the
    fewest flows per unit capacity (ties by ``jitter``) and adds itself to ``load``."""
    n, k = links.shape
    out = np.full(n, -1, np.int64)
    for r in range(n):
        best = np.inf
        for c in range(k):
            if mask[r, c]:
                link = links[r, c]
                cost = (load[link] + 1.0) / cap[link] + jitter[r, c] / cap[link]
                if cost < best:
                    best = cost
                    out[r] = c
        if out[r] >= 0:
            load[links[r, out[r]]] += 1.0
    return out
