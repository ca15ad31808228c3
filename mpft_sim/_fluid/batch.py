"""Tolerance mode's batches: the flows that complete early with an instant's due flows,
chosen so that every flow's time from release to completion stays within the tolerance
(docs/engine.md, "Tolerance: a bound")."""

from __future__ import annotations

import numba
import numpy as np

from mpft_sim._fluid.heaps import (
    b_remove,
    join,
    leave,
    refresh,
)
from mpft_sim._fluid.layout import (
    B_HEAP,
    B_LATEST,
    B_MARK,
    B_REG,
    B_ROOT,
    B_STASH,
    C_FIN,
    C_GEND,
    C_LEFT,
    EPOCH,
    HEAP_N,
    L_TIGHT,
    LEVEL,
    N_REG,
    S_CAND,
    S_CBUND,
    S_GROUP,
    S_LAT,
    S_NZ,
    S_START,
    S_Z0,
    Z_LINK,
    FluidState,
)
from mpft_sim._fluid.region import (
    seed,
    start_region,
)


@numba.njit(cache=True, nogil=True)
def take_batch(st: FluidState, t: float, limit: float, qt: float, level: float,  # pragma: no cover
               g_rem: np.ndarray, g_end: np.ndarray) -> int:
    """Tolerance mode: take out of their bundles the flows whose last byte is due soon
    enough to complete now, with the flows due now (rate ``level`` or more); return how many
    (their slots, bundles and finish times in the candidate lists, in finish order).

    A candidate must be in the region of the flows due now (so batching shares their
    re-solve instead of widening it). Its remaining time may be at most ``qt`` times its own
    duration, and at most ``qt`` times the elapsed time of every flow its early release can
    change (the bundles of the region: a flow released moments ago must not see bandwidth
    freed long before it should). No candidate may finish after ``limit`` (the next event
    outside the network, so no new flow sees its bandwidth early) nor after a transfer that
    the candidates complete fires its event. Rejected candidates rejoin their bundles with
    their bytes left unchanged."""
    # One function because it is a compiled hot loop: numba increfs every array a call
    # passes, so splitting it into helpers would cost time at every step.
    SI, SF, BI, BF, CI, LI, LF = st.SI, st.SF, st.BI, st.BF, st.CI, st.LI, st.LF
    SL, SLF, BL, HK, LLI, ZI = st.SL, st.SLF, st.BL, st.HK, st.LLI, st.ZI
    if level == np.inf:
        return 0
    st.CF[LEVEL] = level
    start_region(BI, BF, BL, st.YI, LI, LLI, LF, CI, st.CF)  # the region of the flows due now
    epoch = CI[EPOCH]
    n = 0
    stashed = 0  # bundles due soon but outside the region, out of the heap for now
    window = limit
    while CI[HEAP_N] > 0:
        b = BL[B_HEAP, 0]
        fin = HK[0]
        s = BI[b, B_ROOT]
        # an emptied or stalled bundle sits at key inf: no finish to batch (window may be
        # inf too, when nothing outside the network is scheduled)
        if s < 0 or fin == np.inf or fin > window \
                or fin - t > qt * max(fin - SF[s, S_START], 0.0):
            break
        if BI[b, B_MARK] != epoch:
            b_remove(BI, BL, HK, CI, b)
            BL[B_STASH, stashed] = b  # apart from the candidates: both can near fill a row
            stashed += 1
            continue
        SLF[C_LEFT, n] = leave(SI, SF, BI, BF, b, s, t)
        refresh(BI, BL, HK, BF, SF, CI, b)
        SL[S_CAND, n] = s
        SL[S_CBUND, n] = b
        SLF[C_FIN, n] = fin
        g = SI[s, S_GROUP]
        SLF[C_GEND, n] = g_end[g]
        end = fin + SF[s, S_LAT]
        if end > g_end[g]:
            g_end[g] = end
        g_rem[g] -= 1
        if g_rem[g] == 0 and g_end[g] < window:
            window = g_end[g]  # its transfer's event fires then
        n += 1
    for k in range(stashed):
        refresh(BI, BL, HK, BF, SF, CI, BL[B_STASH, k])
    # undo the tentative group counts, newest first
    for k in range(n - 1, -1, -1):
        g = SI[SL[S_CAND, k], S_GROUP]
        g_rem[g] += 1
        g_end[g] = SLF[C_GEND, k]
    if n == 0:
        return 0
    for k in range(n):  # seeds of the instant's region, which begin_instant builds
        s = SL[S_CAND, k]
        for e in range(SI[s, S_Z0], SI[s, S_Z0] + SI[s, S_NZ]):
            i = ZI[e, Z_LINK]
            if LI[i, L_TIGHT]:
                seed(LI, LLI, LF, CI, i)
    # The youngest flow of the region these departures reach. That region is the one built
    # above for the flows due now: every candidate's bundle is in it, its saturated tight
    # links were expanded when it was admitted, and no load has changed since. So it needs
    # no second build (which cost a third of the region growing in tolerance mode).
    latest = -np.inf
    for k in range(CI[N_REG]):
        b = BL[B_REG, k]
        if BF[b, B_LATEST] > latest:
            latest = BF[b, B_LATEST]
    for k in range(n):  # the candidates themselves
        s = SL[S_CAND, k]
        if SF[s, S_START] > latest:
            latest = SF[s, S_START]
    allowed = qt * (t - latest)
    keep = 0
    while keep < n and SLF[C_FIN, keep] - t <= allowed:
        keep += 1
    for k in range(n - 1, keep - 1, -1):
        s = SL[S_CAND, k]
        b = SL[S_CBUND, k]
        join(SI, SF, BI, BF, b, s, SLF[C_LEFT, k], t)
        refresh(BI, BL, HK, BF, SF, CI, b)
    return keep
