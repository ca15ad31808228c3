"""Releasing flows into the fluid state (:func:`add_flows`) and compacting the arena of
flow entries.
"""

from __future__ import annotations

import numba
import numpy as np

from mpft_sim._fluid.bundles import (
    home,
    sig_of,
)
from mpft_sim._fluid.heaps import (
    join,
)
from mpft_sim._fluid.layout import (
    FREE_N,
    HWM,
    L_CAP,
    L_NFL,
    L_ZHEAD,
    N_ACTIVE,
    S_BUND,
    S_CAND,
    S_FLOW,
    S_FREE,
    S_GROUP,
    S_LAT,
    S_NZ,
    S_START,
    S_Z0,
    Z_LINK,
    Z_LIVE,
    Z_N,
    Z_NEXT,
    Z_PREV,
    Z_SLOT,
    FluidState,
    without_refcount,
)
from mpft_sim._fluid.links import (
    tighten,
)

# -- releasing flows --------------------------------------------------------------------------

@without_refcount
def add_flows(st: FluidState, flow: np.ndarray, group: np.ndarray,  # pragma: no cover
              size: np.ndarray, latency: np.ndarray, ptr: np.ndarray, link: np.ndarray,
              frac: np.ndarray, now: float) -> None:
    """Release flows now: flow ``k`` (id ``flow[k]``, transfer ``group[k]``) crosses the
    distinct links ``link[ptr[k]:ptr[k + 1]]`` with fractions ``frac``. The caller made room
    (:func:`grow`) and left out flows without bytes or links."""
    LLF, LLI, SL = st.LLF, st.LLI, st.SL
    BL, YI, YF, HT = st.BL, st.YI, st.YF, st.HT
    SI, SF, BI, BF, CI = st.SI, st.SF, st.BI, st.BF, st.CI
    ZI, ZF, LI, LF = st.ZI, st.ZF, st.LI, st.LF
    z = CI[Z_N]
    n_new = flow.shape[0]
    slots = SL[S_CAND]  # scratch: the batch candidates' list is free between instants
    for k in range(n_new):
        if CI[FREE_N] > 0:
            CI[FREE_N] -= 1
            s = SL[S_FREE, CI[FREE_N]]
        else:
            s = CI[HWM]
            CI[HWM] += 1
        slots[k] = s
        SI[s, S_FLOW] = flow[k]
        SI[s, S_GROUP] = group[k]
        SF[s, S_START] = now
        SF[s, S_LAT] = latency[k]
        SI[s, S_BUND] = -1
        SI[s, S_Z0] = z
        SI[s, S_NZ] = ptr[k + 1] - ptr[k]
        for e in range(ptr[k], ptr[k + 1]):
            i = link[e]
            ZI[z, Z_LINK] = i
            ZF[z] = frac[e]
            ZI[z, Z_SLOT] = s
            h = LI[i, L_ZHEAD]
            ZI[z, Z_NEXT] = h
            ZI[z, Z_PREV] = -1
            if h >= 0:
                ZI[h, Z_PREV] = z
            LI[i, L_ZHEAD] = z
            LF[i, L_NFL] += frac[e]
            z += 1
    CI[Z_LIVE] += z - CI[Z_N]
    CI[Z_N] = z
    CI[N_ACTIVE] += n_new
    for k in range(n_new):
        s = slots[k]
        n, h = sig_of(SI, ZI, ZF, LI, LLI, LLF, s, -1)
        if n == 0:
            # no tight link: make its likely bottleneck tight (the re-solve tightens more
            # loose links if they would saturate)
            best = -1
            share = np.inf
            for e in range(SI[s, S_Z0], SI[s, S_Z0] + SI[s, S_NZ]):
                i = ZI[e, Z_LINK]
                if LF[i, L_CAP] / LF[i, L_NFL] < share:
                    share = LF[i, L_CAP] / LF[i, L_NFL]
                    best = i
            tighten(st, best, now)
            n, h = sig_of(SI, ZI, ZF, LI, LLI, LLF, s, -1)
        b = home(BI, BF, BL, CI, YI, YF, LI, LLI, LLF, HT, n, h, 0.0, now, True)
        join(SI, SF, BI, BF, b, s, size[k], now)


@numba.njit(cache=True, nogil=True)
def compact_z(st: FluidState) -> None:  # pragma: no cover
    """Move the live flow entries to the front of their arena (in the order of their flows'
    first entries) and rebuild every link's list."""
    SI, ZI, ZF, LI, CI = st.SI, st.ZI, st.ZF, st.LI, st.CI
    n = CI[HWM]
    live = np.empty(n, np.int64)
    m = 0
    for s in range(n):
        if SI[s, S_FLOW] >= 0 and SI[s, S_NZ] > 0:
            live[m] = s
            m += 1
    live = live[:m]
    order = np.argsort(SI[:, S_Z0][live], kind="mergesort")
    z = 0
    for k in range(m):
        s = live[order[k]]
        src = SI[s, S_Z0]
        for e in range(SI[s, S_NZ]):
            ZI[z + e, Z_LINK] = ZI[src + e, Z_LINK]
            ZF[z + e] = ZF[src + e]
            ZI[z + e, Z_SLOT] = s
        SI[s, S_Z0] = z
        z += SI[s, S_NZ]
    CI[Z_N] = z
    CI[Z_LIVE] = z
    LI[:, L_ZHEAD] = -1
    for e in range(z - 1, -1, -1):
        i = ZI[e, Z_LINK]
        h = LI[i, L_ZHEAD]
        ZI[e, Z_NEXT] = h
        ZI[e, Z_PREV] = -1
        if h >= 0:
            ZI[h, Z_PREV] = e
        LI[i, L_ZHEAD] = e
