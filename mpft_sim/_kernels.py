"""Compiled inner loops (numba) of the solver and the fluid network's events.

Progressive filling is a sequence of bottleneck levels; in numpy every level costs a dozen
array calls whatever its size, which dominates when a re-solve has few flows and many levels.
Compiled, each (link, flow) entry is visited once when its flow freezes, and each level costs
one pass over the links still in play. The network's per-event bookkeeping (which flows are
due, which to re-solve, their links) is likewise one pass each instead of a chain of numpy
temporaries.
"""

from __future__ import annotations

import numba
import numpy as np

HOT = 0.9
"""A link is hot at or above this fraction of its capacity (time above 90%, per link)."""


@numba.njit(cache=True, nogil=True)
def progressive_filling(link: np.ndarray, flow: np.ndarray, frac: np.ndarray,  # pragma: no cover
                        capacity: np.ndarray, n_flows: int, same_level: float) -> np.ndarray:
    n_links = capacity.shape[0]
    nnz = link.shape[0]
    rates = np.full(n_flows, np.inf)
    # CSR by flow and by link (counting sort)
    f_ptr = np.zeros(n_flows + 1, np.int64)
    l_ptr = np.zeros(n_links + 1, np.int64)
    for e in range(nnz):
        if frac[e] > 0.0:
            f_ptr[flow[e] + 1] += 1
            l_ptr[link[e] + 1] += 1
    for i in range(n_flows):
        f_ptr[i + 1] += f_ptr[i]
    for i in range(n_links):
        l_ptr[i + 1] += l_ptr[i]
    f_ent = np.empty(f_ptr[n_flows], np.int64)
    l_ent = np.empty(l_ptr[n_links], np.int64)
    f_fill = f_ptr[:-1].copy()
    l_fill = l_ptr[:-1].copy()
    demand = np.zeros(n_links)
    for e in range(nnz):
        if frac[e] > 0.0:
            f_ent[f_fill[flow[e]]] = e
            f_fill[flow[e]] += 1
            l_ent[l_fill[link[e]]] = e
            l_fill[link[e]] += 1
            demand[link[e]] += frac[e]
    residual = capacity.astype(np.float64).copy()
    frozen = np.zeros(n_flows, np.bool_)
    live = np.empty(n_links, np.int64)
    n_live = 0
    for i in range(n_links):
        if demand[i] > 0.0:
            live[n_live] = i
            n_live += 1
    full = np.zeros(n_links, np.bool_)
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
            full[i] = max(residual[i], 0.0) / demand[i] <= limit
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
                frozen[f] = True
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
    return rates


@numba.njit(cache=True, nogil=True)
def gather_links(slots: np.ndarray, z0: np.ndarray, z1: np.ndarray,  # pragma: no cover
                 z_link: np.ndarray, z_frac: np.ndarray,
                 scratch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The links of some flows, numbered locally.

    Returns (pos, local, frac, links): entry i belongs to ``slots[pos[i]]`` and crosses link
    ``links[local[i]]`` with fraction ``frac[i]``. ``scratch`` (all -1, one per link) is left
    as it was found.
    """
    total = 0
    for k in range(slots.shape[0]):
        total += z1[slots[k]] - z0[slots[k]]
    pos = np.empty(total, np.int64)
    local = np.empty(total, np.int64)
    frac = np.empty(total)
    links = np.empty(total, np.int64)
    n_links = 0
    e = 0
    for k in range(slots.shape[0]):
        s = slots[k]
        for z in range(z0[s], z1[s]):
            link = z_link[z]
            if scratch[link] < 0:
                scratch[link] = n_links
                links[n_links] = link
                n_links += 1
            pos[e] = k
            local[e] = scratch[link]
            frac[e] = z_frac[z]
            e += 1
    for i in range(n_links):
        scratch[links[i]] = -1
    return pos, local, frac, links[:n_links].copy()


@numba.njit(cache=True, nogil=True)
def due_slots(n: int, active: np.ndarray, fin: np.ndarray, start: np.ndarray,  # pragma: no cover
              now: float, tolerance: float) -> np.ndarray:
    """Active flows whose last byte is due by ``now``, to within ``tolerance`` of their
    elapsed time."""
    out = np.empty(n, np.int64)
    count = 0
    for s in range(n):
        if active[s] and fin[s] < np.inf and fin[s] - now <= tolerance * max(fin[s] - start[s],
                                                                              0.0):
            out[count] = s
            count += 1
    return out[:count].copy()


@numba.njit(cache=True, nogil=True)
def select_slots(n: int, active: np.ndarray, label: np.ndarray,  # pragma: no cover
                 parent: np.ndarray, touched: np.ndarray, rate: np.ndarray,
                 level: float) -> np.ndarray:
    """Active flows to re-solve: in a touched component and at or above ``level``, or new
    (rate 0)."""
    out = np.empty(n, np.int64)
    count = 0
    floor = level * (1 - 1e-9)
    for s in range(n):
        if active[s] and (rate[s] == 0.0 or (touched[parent[label[s]]] and rate[s] >= floor)):
            out[count] = s
            count += 1
    return out[:count].copy()


@numba.njit(cache=True, nogil=True)
def residual_capacity(pos: np.ndarray, local: np.ndarray, frac: np.ndarray,  # pragma: no cover
                      old_rate: np.ndarray, cap: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Capacity the re-solved flows may share: each link's capacity less the load of the
    flows that keep their rates (the link's load, less the re-solved flows' own)."""
    out = cap - load
    for e in range(pos.shape[0]):
        out[local[e]] += old_rate[pos[e]] * frac[e]
    for i in range(out.shape[0]):
        if out[i] < 0.0:
            out[i] = 0.0
    return out


@numba.njit(cache=True, nogil=True)
def settle(slots: np.ndarray, pos: np.ndarray, local: np.ndarray,  # pragma: no cover
           frac: np.ndarray, new_rate: np.ndarray, n_local: int, now: float,
           rem: np.ndarray, t0: np.ndarray, rate: np.ndarray, fin: np.ndarray) -> np.ndarray:
    """Give re-solved flows their new rates: bytes left as of ``now``, projected end; return
    the change of load on each (local) link."""
    delta = np.zeros(n_local)
    for e in range(pos.shape[0]):
        s = slots[pos[e]]
        delta[local[e]] += (new_rate[pos[e]] - rate[s]) * frac[e]
    for k in range(slots.shape[0]):
        s = slots[k]
        left = max(rem[s] - rate[s] * (now - t0[s]), 0.0)
        rem[s] = left
        t0[s] = now
        rate[s] = new_rate[k]
        fin[s] = now + left / new_rate[k] if new_rate[k] > 0.0 else np.inf
    return delta


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


@numba.njit(cache=True, nogil=True)
def add_load(links: np.ndarray, delta: np.ndarray, now: float, cap: np.ndarray,  # pragma: no cover
             load: np.ndarray, since: np.ndarray, busy: np.ndarray, saturated: np.ndarray,
             hot: np.ndarray, peak: np.ndarray, group_of_link: np.ndarray,
             group_load: np.ndarray) -> None:
    """Change the loads of distinct links, first closing each one's accounting interval
    (time busy, time at or above 90% of capacity, time full) at its old load."""
    for k in range(links.shape[0]):
        i = links[k]
        dt = now - since[i]
        if load[i] > 1e-9 * cap[i]:
            busy[i] += dt
        if load[i] >= cap[i] * (HOT - 1e-9):
            hot[i] += dt
        if load[i] >= cap[i] * (1 - 1e-9):
            saturated[i] += dt
        since[i] = now
        load[i] += delta[k]
        if load[i] / cap[i] > peak[i]:
            peak[i] = load[i] / cap[i]
        group_load[group_of_link[i]] += delta[k]


@numba.njit(cache=True, nogil=True)
def _find(parent: np.ndarray, x: int) -> int:  # pragma: no cover
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        parent[x], x = root, parent[x]
    return root


@numba.njit(cache=True, nogil=True)
def merge_components(flow_ptr: np.ndarray, links: np.ndarray,  # pragma: no cover
                     link_label: np.ndarray, parent: np.ndarray,
                     n_labels: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Label new flows (flow f crosses ``links[flow_ptr[f]:flow_ptr[f + 1]]``) by connected
    component, merging the components (labels) of the links they touch.

    ``parent`` is a union-find forest over labels with room for new ones after ``n_labels``.
    Returns (each new flow's label, the parent forest fully compressed, labels in use). Every
    link the flows touch is relabelled to its component's root.
    """
    n = flow_ptr.shape[0] - 1
    out = np.empty(n, np.int64)
    for f in range(n):
        label = n_labels
        n_labels += 1
        parent[label] = label
        for e in range(flow_ptr[f], flow_ptr[f + 1]):
            old = link_label[links[e]]
            if old >= 0:
                a, b = _find(parent, old), _find(parent, label)
                if a != b:
                    parent[a] = b
            link_label[links[e]] = label
        out[f] = label
    for x in range(n_labels):
        parent[x] = _find(parent, x)
    for f in range(n):
        out[f] = parent[out[f]]
    for e in range(links.shape[0]):
        link_label[links[e]] = parent[link_label[links[e]]]
    return out, parent, n_labels
