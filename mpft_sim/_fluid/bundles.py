"""Bundles and their signatures: hashing a flow's entries on tight links, the
open-addressing signature table, a bundle's entries on per-link lists, and creating,
deleting and finding the bundle a flow belongs to.
"""

from __future__ import annotations

import numba
import numpy as np

from mpft_sim._fluid.heaps import (
    b_remove,
)
from mpft_sim._fluid.layout import (
    B_CANON,
    B_FREE,
    B_FREE_N,
    B_HASH,
    B_HPOS,
    B_HWM,
    B_INPEND,
    B_LATEST,
    B_MARK,
    B_MEM,
    B_NEW,
    B_PEND,
    B_RATE,
    B_ROOT,
    B_T0,
    B_TGTSTAMP,
    B_TNEXT,
    B_TWIN,
    B_V,
    B_W,
    B_XDIRTY,
    B_XN,
    B_Y0,
    B_YN,
    DEAD,
    EMPTY,
    H_DEAD,
    H_USED,
    L_SIGF,
    L_SIGL,
    L_TIGHT,
    L_YHEAD,
    MASK62,
    N_BUNDLES,
    PEND_N,
    S_NZ,
    S_Z0,
    X_LIVE,
    Y_BUND,
    Y_LINK,
    Y_LIVE,
    Y_N,
    Y_NEXT,
    Y_PREV,
    Z_LINK,
    rehash,
)

# -- signatures: hashing, the table, bundle entries --------------------------------------------

@numba.njit(cache=True, nogil=True, inline="always")
def _entry_hash(link: int, frac: float) -> int:  # pragma: no cover
    # every step stays below 2**62, so numba and plain Python agree (no wrap-around)
    x = (link & 0xFFFFFFF) * 0x9E3779B1 + (int(frac * 16777216.0) & 0xFFFFFF) * 0x85EBCA77
    x = (x ^ (x >> 29)) & 0xFFFFFFFF
    return (x * 0x27D4EB2F) & MASK62


@numba.njit(cache=True, nogil=True, inline="always")
def sig_of(SI: np.ndarray, ZI: np.ndarray, ZF: np.ndarray, LI: np.ndarray,  # pragma: no cover
            LLI: np.ndarray, LLF: np.ndarray, s: int, drop: int) -> tuple[int, int]:
    """Slot ``s``'s tight entries (less link ``drop``; -1 for none) into the lists L_SIGL/L_SIGF,
    sorted by link; return (count, hash)."""
    n = 0
    h = 0
    for z in range(SI[s, S_Z0], SI[s, S_Z0] + SI[s, S_NZ]):
        i = ZI[z, Z_LINK]
        if i == drop or LI[i, L_TIGHT] == 0:
            continue
        f = ZF[z]
        k = n
        while k > 0 and LLI[L_SIGL, k - 1] > i:
            LLI[L_SIGL, k] = LLI[L_SIGL, k - 1]
            LLF[L_SIGF, k] = LLF[L_SIGF, k - 1]
            k -= 1
        LLI[L_SIGL, k] = i
        LLF[L_SIGF, k] = f
        n += 1
        h = (h + _entry_hash(i, f)) & MASK62
    return n, h


@numba.njit(cache=True, nogil=True, inline="always")
def find(HT: np.ndarray, BI: np.ndarray, YI: np.ndarray, YF: np.ndarray,  # pragma: no cover
          LLI: np.ndarray, LLF: np.ndarray, n: int, h: int) -> int:
    """The canonical bundle of the signature in lists L_SIGL/L_SIGF[:n] (hash ``h``), or -1."""
    mask = HT.shape[0] - 1
    i = h & mask
    while True:
        b = HT[i]
        if b == EMPTY:
            return -1
        if b >= 0 and BI[b, B_HASH] == h and BI[b, B_YN] == n:
            y = BI[b, B_Y0]
            same = True
            for k in range(n):
                if YI[y + k, Y_LINK] != LLI[L_SIGL, k] or YF[y + k] != LLF[L_SIGF, k]:
                    same = False
                    break
            if same:
                return b
        i = (i + 1) & mask




@numba.njit(cache=True, nogil=True)
def table_put(HT: np.ndarray, BI: np.ndarray, CI: np.ndarray, b: int) -> None:  # pragma: no cover
    mask = HT.shape[0] - 1
    i = BI[b, B_HASH] & mask
    while HT[i] >= 0:
        i = (i + 1) & mask
    if HT[i] == DEAD:
        CI[H_DEAD] -= 1
    HT[i] = b
    BI[b, B_CANON] = 1
    CI[H_USED] += 1
    if 2 * (CI[H_USED] + CI[H_DEAD]) > HT.shape[0]:
        rehash(HT, BI, CI)


@numba.njit(cache=True, nogil=True)
def table_drop(HT: np.ndarray, BI: np.ndarray, CI: np.ndarray, b: int) -> None:  # pragma: no cover
    mask = HT.shape[0] - 1
    i = BI[b, B_HASH] & mask
    while HT[i] != b:
        i = (i + 1) & mask
    HT[i] = DEAD
    BI[b, B_CANON] = 0
    CI[H_USED] -= 1
    CI[H_DEAD] += 1


@numba.njit(cache=True, nogil=True)
def compact_y(BI: np.ndarray, YI: np.ndarray, YF: np.ndarray, LI: np.ndarray,  # pragma: no cover
              CI: np.ndarray) -> None:
    """Move the live bundle entries to the front of their arena, in place; rebuild the link
    lists. A live bundle's entries are one block, the first naming it, at its B_Y0; a
    garbage entry is never the start of a live block (blocks are only ever appended), so one
    walk from the front finds every live block in order, and moving it left is safe."""
    y = 0
    src = 0
    end = CI[Y_N]
    while src < end:
        b = YI[src, Y_BUND]
        n = BI[b, B_YN]
        if n > 0 and BI[b, B_Y0] == src:
            for e in range(n):
                YI[y + e, Y_LINK] = YI[src + e, Y_LINK]
                YF[y + e] = YF[src + e]
                YI[y + e, Y_BUND] = b
            BI[b, B_Y0] = y
            y += n
            src += n
        else:
            src += 1
    CI[Y_N] = y
    CI[Y_LIVE] = y
    LI[:, L_YHEAD] = -1
    for e in range(y - 1, -1, -1):
        i = YI[e, Y_LINK]
        h = LI[i, L_YHEAD]
        YI[e, Y_NEXT] = h
        YI[e, Y_PREV] = -1
        if h >= 0:
            YI[h, Y_PREV] = e
        LI[i, L_YHEAD] = e


@numba.njit(cache=True, nogil=True)
def set_entries(BI: np.ndarray, YI: np.ndarray, YF: np.ndarray, LI: np.ndarray,  # pragma: no cover
                 LLI: np.ndarray, LLF: np.ndarray, CI: np.ndarray, b: int, n: int) -> None:
    """Give bundle ``b`` the entries in lists L_SIGL/L_SIGF[:n] (threaded on the links)."""
    if CI[Y_N] + n > YI.shape[0]:
        compact_y(BI, YI, YF, LI, CI)
    y = CI[Y_N]
    BI[b, B_Y0] = y
    BI[b, B_YN] = n
    for k in range(n):
        i = LLI[L_SIGL, k]
        YI[y, Y_LINK] = i
        YF[y] = LLF[L_SIGF, k]
        YI[y, Y_BUND] = b
        h = LI[i, L_YHEAD]
        YI[y, Y_NEXT] = h
        YI[y, Y_PREV] = -1
        if h >= 0:
            YI[h, Y_PREV] = y
        LI[i, L_YHEAD] = y
        y += 1
    CI[Y_N] = y
    CI[Y_LIVE] += n


@numba.njit(cache=True, nogil=True)
def drop_entries(BI: np.ndarray, YI: np.ndarray, LI: np.ndarray,  # pragma: no cover
                  CI: np.ndarray, b: int) -> None:
    for y in range(BI[b, B_Y0], BI[b, B_Y0] + BI[b, B_YN]):
        i = YI[y, Y_LINK]
        p = YI[y, Y_PREV]
        q = YI[y, Y_NEXT]
        if p >= 0:
            YI[p, Y_NEXT] = q
        else:
            LI[i, L_YHEAD] = q
        if q >= 0:
            YI[q, Y_PREV] = p
    CI[Y_LIVE] -= BI[b, B_YN]
    BI[b, B_YN] = 0
    BI[b, B_Y0] = -1


# -- bundles: creation, deletion, homes ---------------------------------------------------------

@numba.njit(cache=True, nogil=True, inline="always")
def _new_bundle(BI: np.ndarray, BF: np.ndarray, BL: np.ndarray, CI: np.ndarray,  # pragma: no cover
                YI: np.ndarray, YF: np.ndarray, LI: np.ndarray, LLI: np.ndarray,
                LLF: np.ndarray, HT: np.ndarray, n: int, h: int, rate: float, t: float,
                pending: bool) -> int:
    """A bundle with the signature in lists L_SIGL/L_SIGF[:n], hash ``h``, no members yet. A
    pending bundle (new members, rate 0) and a settled bundle of one signature are twins: the
    pending one merges into the other after the re-solve."""
    if CI[B_FREE_N] > 0:
        CI[B_FREE_N] -= 1
        b = BL[B_FREE, CI[B_FREE_N]]
    else:
        b = CI[B_HWM]
        CI[B_HWM] += 1
    CI[N_BUNDLES] += 1
    BI[b, B_W] = 0
    BF[b, B_RATE] = rate
    BF[b, B_V] = 0.0
    BF[b, B_T0] = t
    BF[b, B_TNEXT] = np.inf
    BF[b, B_LATEST] = -np.inf
    BI[b, B_ROOT] = -1
    BI[b, B_MEM] = -1
    BI[b, B_HPOS] = -1
    BI[b, B_MARK] = 0
    BI[b, B_NEW] = 1 if pending else 0
    BI[b, B_HASH] = h
    BI[b, B_TWIN] = -1
    BI[b, B_CANON] = 0
    BI[b, B_XN] = 0
    BI[b, B_XDIRTY] = 1
    BI[b, B_TGTSTAMP] = -1
    set_entries(BI, YI, YF, LI, LLI, LLF, CI, b, n)
    canon = find(HT, BI, YI, YF, LLI, LLF, n, h)
    if canon < 0:
        table_put(HT, BI, CI, b)
    else:
        BI[b, B_TWIN] = canon
        BI[canon, B_TWIN] = b
    if pending and not BI[b, B_INPEND]:
        # listed once: an id reused since its first listing is listed already
        BI[b, B_INPEND] = 1
        BL[B_PEND, CI[PEND_N]] = b
        CI[PEND_N] += 1
    return b


@numba.njit(cache=True, nogil=True)
def delete_bundle(BI: np.ndarray, BL: np.ndarray, HK: np.ndarray,  # pragma: no cover
                   HT: np.ndarray, YI: np.ndarray, LI: np.ndarray, CI: np.ndarray,
                   b: int) -> None:
    """Forget an empty bundle."""
    twin = BI[b, B_TWIN]
    if twin >= 0:
        BI[twin, B_TWIN] = -1
    if BI[b, B_CANON]:
        table_drop(HT, BI, CI, b)
        if twin >= 0:  # its twin takes over the signature
            table_put(HT, BI, CI, twin)
    BI[b, B_TWIN] = -1
    drop_entries(BI, YI, LI, CI, b)
    CI[X_LIVE] -= BI[b, B_XN]
    BI[b, B_XN] = 0
    b_remove(BI, BL, HK, CI, b)
    BI[b, B_W] = 0
    BI[b, B_NEW] = 0
    BL[B_FREE, CI[B_FREE_N]] = b
    CI[B_FREE_N] += 1
    CI[N_BUNDLES] -= 1


@numba.njit(cache=True, nogil=True, inline="always")
def home(BI: np.ndarray, BF: np.ndarray, BL: np.ndarray, CI: np.ndarray,  # pragma: no cover
          YI: np.ndarray, YF: np.ndarray, LI: np.ndarray, LLI: np.ndarray, LLF: np.ndarray,
          HT: np.ndarray, n: int, h: int, rate: float, t: float, pending: bool) -> int:
    """The bundle a flow of the signature in lists L_SIGL/L_SIGF[:n] goes to: the canonical
    one if it is of the same kind (pending, or settled), else its twin, made if needed."""
    c = find(HT, BI, YI, YF, LLI, LLF, n, h)
    if c >= 0 and (BI[c, B_NEW] != 0) == pending:
        return c
    if c >= 0 and BI[c, B_TWIN] >= 0:
        return BI[c, B_TWIN]
    return _new_bundle(BI, BF, BL, CI, YI, YF, LI, LLI, LLF, HT, n, h, rate, t, pending)
