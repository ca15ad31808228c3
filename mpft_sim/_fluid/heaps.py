"""Orders inside the fluid state: the indexed binary heap of bundles by next finish time,
and each bundle's members as a list and a pairing heap by virtual finish (joining, leaving,
advancing a bundle's virtual clock).
"""

from __future__ import annotations

import numba
import numpy as np

from mpft_sim._fluid.layout import (
    B_HEAP,
    B_HPOS,
    B_LATEST,
    B_MEM,
    B_RATE,
    B_ROOT,
    B_T0,
    B_TNEXT,
    B_V,
    B_W,
    B_XDIRTY,
    HEAP_N,
    REBASE,
    S_BUND,
    S_F,
    S_HCHILD,
    S_HPREV,
    S_HSIB,
    S_MNEXT,
    S_MPREV,
    S_START,
)

# -- the bundles' finish-time heap (indexed, keyed by (next finish, bundle)) -------------------

@numba.njit(cache=True, nogil=True, inline="always")
def _b_up(BI: np.ndarray, BL: np.ndarray, HK: np.ndarray, i: int) -> None:  # pragma: no cover
    heap = BL[B_HEAP]
    b = heap[i]
    key = HK[i]
    while i > 0:
        p = (i - 1) >> 1
        q = heap[p]
        kq = HK[p]
        if not (key < kq or (key == kq and b < q)):
            break
        heap[i] = q
        HK[i] = kq
        BI[q, B_HPOS] = i
        i = p
    heap[i] = b
    HK[i] = key
    BI[b, B_HPOS] = i


@numba.njit(cache=True, nogil=True, inline="always")
def _b_down(BI: np.ndarray, BL: np.ndarray, HK: np.ndarray, i: int,  # pragma: no cover
            n: int) -> None:
    heap = BL[B_HEAP]
    b = heap[i]
    key = HK[i]
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        kc = HK[c]
        if c + 1 < n:
            k2 = HK[c + 1]
            if k2 < kc or (k2 == kc and heap[c + 1] < heap[c]):
                c += 1
                kc = k2
        q = heap[c]
        if not (kc < key or (kc == key and q < b)):
            break
        heap[i] = q
        HK[i] = kc
        BI[q, B_HPOS] = i
        i = c
    heap[i] = b
    HK[i] = key
    BI[b, B_HPOS] = i


@numba.njit(cache=True, nogil=True, inline="always")
def b_remove(BI: np.ndarray, BL: np.ndarray, HK: np.ndarray, CI: np.ndarray,  # pragma: no cover
              b: int) -> None:
    i = BI[b, B_HPOS]
    if i < 0:
        return
    BI[b, B_HPOS] = -1
    n = CI[HEAP_N] - 1
    CI[HEAP_N] = n
    if i < n:
        moved = BL[B_HEAP, n]
        BL[B_HEAP, i] = moved
        HK[i] = HK[n]
        BI[moved, B_HPOS] = i
        _b_up(BI, BL, HK, i)
        _b_down(BI, BL, HK, BI[moved, B_HPOS], n)


@numba.njit(cache=True, nogil=True, inline="always")
def refresh(BI: np.ndarray, BL: np.ndarray, HK: np.ndarray, BF: np.ndarray,  # pragma: no cover
             SF: np.ndarray, CI: np.ndarray, b: int) -> None:
    """Recompute bundle ``b``'s next finish time and its place in the heap (whose keys sit
    beside it in ``HK``, so that sifting stays in cache)."""
    root = BI[b, B_ROOT]
    rate = BF[b, B_RATE]
    key = np.inf
    if root >= 0 and rate > 0.0:
        key = BF[b, B_T0] + (SF[root, S_F] - BF[b, B_V]) / rate
    BF[b, B_TNEXT] = key
    i = BI[b, B_HPOS]
    if i < 0:
        i = CI[HEAP_N]
        CI[HEAP_N] += 1
        BL[B_HEAP, i] = b
        HK[i] = key
        BI[b, B_HPOS] = i
        _b_up(BI, BL, HK, i)
    else:
        HK[i] = key
        _b_up(BI, BL, HK, i)
        _b_down(BI, BL, HK, BI[b, B_HPOS], CI[HEAP_N])


# -- each bundle's members: a list, and a pairing heap by virtual finish ----------------------

@numba.njit(cache=True, nogil=True, inline="always")
def _f_less(SF: np.ndarray, a: int, b: int) -> bool:  # pragma: no cover
    fa = SF[a, S_F]
    fb = SF[b, S_F]
    return fa < fb or (fa == fb and a < b)


@numba.njit(cache=True, nogil=True, inline="always")
def meld(SI: np.ndarray, SF: np.ndarray, a: int, b: int) -> int:  # pragma: no cover
    """Meld two pairing-heap roots (either may be -1); return the new root."""
    if a < 0:
        return b
    if b < 0:
        return a
    if _f_less(SF, b, a):
        a, b = b, a
    c = SI[a, S_HCHILD]  # b becomes a's first child
    SI[b, S_HSIB] = c
    if c >= 0:
        SI[c, S_HPREV] = b
    SI[b, S_HPREV] = a
    SI[a, S_HCHILD] = b
    SI[a, S_HSIB] = -1
    SI[a, S_HPREV] = -1
    return a


@numba.njit(cache=True, nogil=True, inline="always")
def _merge_pairs(SI: np.ndarray, SF: np.ndarray, first: int) -> int:  # pragma: no cover
    """Two-pass pairing of a sibling list; return the root of the result."""
    acc = -1  # pair roots, stacked through S_HSIB
    x = first
    while x >= 0:
        y = SI[x, S_HSIB]
        SI[x, S_HSIB] = -1
        SI[x, S_HPREV] = -1
        if y < 0:
            nxt = -1
            m = x
        else:
            nxt = SI[y, S_HSIB]
            SI[y, S_HSIB] = -1
            SI[y, S_HPREV] = -1
            m = meld(SI, SF, x, y)
        SI[m, S_HSIB] = acc
        acc = m
        x = nxt
    root = -1
    while acc >= 0:
        nxt = SI[acc, S_HSIB]
        SI[acc, S_HSIB] = -1
        root = meld(SI, SF, root, acc)
        acc = nxt
    return root


@numba.njit(cache=True, nogil=True, inline="always")
def _heap_remove(SI: np.ndarray, SF: np.ndarray, BI: np.ndarray, b: int,  # pragma: no cover
                 s: int) -> None:
    """Take slot ``s`` out of bundle ``b``'s pairing heap."""
    if BI[b, B_ROOT] == s:
        BI[b, B_ROOT] = _merge_pairs(SI, SF, SI[s, S_HCHILD])
    else:
        p = SI[s, S_HPREV]
        nxt = SI[s, S_HSIB]
        if SI[p, S_HCHILD] == s:
            SI[p, S_HCHILD] = nxt
        else:
            SI[p, S_HSIB] = nxt
        if nxt >= 0:
            SI[nxt, S_HPREV] = p
        sub = _merge_pairs(SI, SF, SI[s, S_HCHILD])
        BI[b, B_ROOT] = meld(SI, SF, BI[b, B_ROOT], sub)
    SI[s, S_HCHILD] = -1
    SI[s, S_HSIB] = -1
    SI[s, S_HPREV] = -1


@numba.njit(cache=True, nogil=True, inline="always")
def advance(SI: np.ndarray, SF: np.ndarray, BI: np.ndarray, BF: np.ndarray,  # pragma: no cover
             b: int, t: float) -> None:
    """Bring bundle ``b``'s virtual clock (bytes served to each member) to time ``t``;
    restart it from 0 when it grows large, so that bytes left stay precise."""
    v = BF[b, B_V] + BF[b, B_RATE] * (t - BF[b, B_T0])
    BF[b, B_T0] = t
    if v > REBASE:
        s = BI[b, B_MEM]
        while s >= 0:
            SF[s, S_F] -= v
            s = SI[s, S_MNEXT]
        v = 0.0
    BF[b, B_V] = v


@numba.njit(cache=True, nogil=True, inline="always")
def join(SI: np.ndarray, SF: np.ndarray, BI: np.ndarray, BF: np.ndarray,  # pragma: no cover
          b: int, s: int, left: float, t: float) -> None:
    """Slot ``s``, with ``left`` bytes to go, joins bundle ``b`` at time ``t``."""
    advance(SI, SF, BI, BF, b, t)
    SI[s, S_BUND] = b
    SF[s, S_F] = BF[b, B_V] + left
    if SF[s, S_START] > BF[b, B_LATEST]:
        BF[b, B_LATEST] = SF[s, S_START]
    SI[s, S_HCHILD] = -1
    SI[s, S_HSIB] = -1
    SI[s, S_HPREV] = -1
    BI[b, B_ROOT] = meld(SI, SF, BI[b, B_ROOT], s)
    h = BI[b, B_MEM]
    SI[s, S_MNEXT] = h
    SI[s, S_MPREV] = -1
    if h >= 0:
        SI[h, S_MPREV] = s
    BI[b, B_MEM] = s
    BI[b, B_W] += 1
    BI[b, B_XDIRTY] = 1


@numba.njit(cache=True, nogil=True, inline="always")
def leave(SI: np.ndarray, SF: np.ndarray, BI: np.ndarray, BF: np.ndarray,  # pragma: no cover
           b: int, s: int, t: float) -> float:
    """Slot ``s`` leaves bundle ``b`` at time ``t``; return its bytes left (the bundle
    itself is deleted by the caller when empty)."""
    advance(SI, SF, BI, BF, b, t)
    left = SF[s, S_F] - BF[b, B_V]
    _heap_remove(SI, SF, BI, b, s)
    p = SI[s, S_MPREV]
    q = SI[s, S_MNEXT]
    if p >= 0:
        SI[p, S_MNEXT] = q
    else:
        BI[b, B_MEM] = q
    if q >= 0:
        SI[q, S_MPREV] = p
    SI[s, S_MNEXT] = -1
    SI[s, S_MPREV] = -1
    BI[b, B_W] -= 1
    BI[b, B_XDIRTY] = 1
    SI[s, S_BUND] = -1
    return left
