"""Links in the fluid state: load accounting (busy, hot and saturated time, peaks, the
timeline), and tight and loose links (tightening re-bundles flows, loosening merges
bundles), with each bundle's list of loose links.
"""

from __future__ import annotations

import numba
import numpy as np

from mpft_sim._fluid.bundles import (
    delete_bundle,
    drop_entries,
    find,
    home,
    set_entries,
    sig_of,
    table_drop,
    table_put,
)
from mpft_sim._fluid.heaps import (
    advance,
    join,
    leave,
    meld,
    refresh,
)
from mpft_sim._fluid.layout import (
    B_HASH,
    B_HWM,
    B_LATEST,
    B_MEM,
    B_NEW,
    B_RATE,
    B_ROOT,
    B_TGT,
    B_TGTFRAC,
    B_TGTSTAMP,
    B_V,
    B_W,
    B_X0,
    B_XDIRTY,
    B_XN,
    BIN_T,
    BIN_W,
    HOT,
    L_BUSY,
    L_CAP,
    L_GOL,
    L_HOT,
    L_LOAD,
    L_PEAK,
    L_SAT,
    L_SINCE,
    L_TIGHT,
    L_XLOC,
    L_YHEAD,
    L_ZHEAD,
    LOOSEN,
    MOVES,
    S_BUND,
    S_F,
    S_MNEXT,
    S_MPREV,
    S_NZ,
    S_Z0,
    TIGHTEN,
    TL_N,
    TL_OVER,
    X_LIVE,
    X_N,
    Y_BUND,
    Z_LINK,
    Z_NEXT,
    Z_SLOT,
    FluidState,
)

# -- link accounting --------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True, inline="always")
def add_load(LF: np.ndarray, LI: np.ndarray, GL: np.ndarray, i: int,  # pragma: no cover
              delta: float, t: float) -> None:
    """Change link ``i``'s load at time ``t``, first closing its accounting interval (time
    busy, hot, saturated) at the old load."""
    dt = t - LF[i, L_SINCE]
    cap = LF[i, L_CAP]
    if dt > 0.0:
        load = LF[i, L_LOAD]
        if load > 1e-9 * cap:
            LF[i, L_BUSY] += dt
        if load >= cap * (HOT - 1e-9):
            LF[i, L_HOT] += dt
        if load >= cap * (1.0 - 1e-9):
            LF[i, L_SAT] += dt
        LF[i, L_SINCE] = t
    load = LF[i, L_LOAD] + delta
    LF[i, L_LOAD] = load
    if load > LF[i, L_PEAK] * cap:
        LF[i, L_PEAK] = load / cap
    GL[LI[i, L_GOL]] += delta


@numba.njit(cache=True, nogil=True)
def integrate(BINS: np.ndarray, GL: np.ndarray, CF: np.ndarray,  # pragma: no cover
               t: float) -> None:
    """Add the group loads' integral over [BIN_T, t) to the timeline bins."""
    a = CF[BIN_T]
    if t <= a:
        return
    nb = BINS.shape[0]
    ng = GL.shape[0]
    while t >= nb * CF[BIN_W]:
        # merge bins pairwise: twice the width, the same integrals
        for k in range(nb // 2):
            for j in range(ng):
                BINS[k, j] = BINS[2 * k, j] + BINS[2 * k + 1, j]
        for k in range(nb // 2, nb):
            for j in range(ng):
                BINS[k, j] = 0.0
        CF[BIN_W] *= 2.0
    w = CF[BIN_W]
    k = int(a / w)
    while a < t:
        b = min(t, (k + 1) * w)
        if b > a:
            for j in range(ng):
                BINS[k, j] += GL[j] * (b - a)
        a = b
        k += 1
    CF[BIN_T] = t


@numba.njit(cache=True, nogil=True)
def end_instant(st: FluidState, t: float) -> None:  # pragma: no cover
    """Close instant ``t``: record the group loads (exact rows, while they last)."""
    CI = st.CI
    if CI[TL_OVER]:
        return
    n = CI[TL_N]
    if n > 0 and st.TLT[n - 1] == t:
        n -= 1
    elif n >= st.TLT.shape[0]:
        CI[TL_OVER] = 1
        return
    st.TLT[n] = t
    for j in range(st.GL.shape[0]):
        st.TLL[n, j] = st.GL[j]
    CI[TL_N] = n + 1


# -- tight and loose links ----------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def tighten(st: FluidState, i: int, t: float) -> None:  # pragma: no cover
    """Make loose link ``i`` tight: each flow on it moves to the bundle of its signature
    with ``i`` added, at its bundle's rate and clock (flows of one bundle with one fraction
    on ``i`` find their new bundle once)."""
    SI, SF, BI, BF, BL, HK, CI = st.SI, st.SF, st.BI, st.BF, st.BL, st.HK, st.CI
    ZI, ZF, LI, LLI, LLF, YI, YF, HT = st.ZI, st.ZF, st.LI, st.LLI, st.LLF, st.YI, st.YF, st.HT
    LI[i, L_TIGHT] = 1
    CI[TIGHTEN] += 1
    stamp = CI[TIGHTEN]
    e = LI[i, L_ZHEAD]
    while e >= 0:
        s = ZI[e, Z_SLOT]
        f = ZF[e]
        e = ZI[e, Z_NEXT]
        b = SI[s, S_BUND]
        if b < 0:
            continue  # a flow being released, not yet in a bundle
        rate = BF[b, B_RATE]
        pending = BI[b, B_NEW] != 0
        if BI[b, B_TGTSTAMP] == stamp and BF[b, B_TGTFRAC] == f:
            c = BI[b, B_TGT]
        else:
            n, h = sig_of(SI, ZI, ZF, LI, LLI, LLF, s, -1)
            c = home(BI, BF, BL, CI, YI, YF, LI, LLI, LLF, HT, n, h, rate, t, pending)
            BI[b, B_TGTSTAMP] = stamp
            BI[b, B_TGT] = c
            BF[b, B_TGTFRAC] = f
        left = leave(SI, SF, BI, BF, b, s, t)
        CI[MOVES] += 1
        join(SI, SF, BI, BF, c, s, left, t)
        if not pending:
            refresh(BI, BL, HK, BF, SF, CI, c)
        if BI[b, B_W] == 0:
            delete_bundle(BI, BL, HK, HT, YI, LI, CI, b)
        elif not pending:
            refresh(BI, BL, HK, BF, SF, CI, b)


@numba.njit(cache=True, nogil=True, inline="always")
def move_all(SI: np.ndarray, SF: np.ndarray, BI: np.ndarray, BF: np.ndarray,  # pragma: no cover
              BL: np.ndarray, HK: np.ndarray, HT: np.ndarray, CI: np.ndarray, ZI: np.ndarray,
              ZF: np.ndarray, LF: np.ndarray, LI: np.ndarray, GL: np.ndarray, YI: np.ndarray,
              b: int, c: int, t: float) -> None:
    """Move every member of bundle ``b`` into ``c`` (settled, same signature); the loads
    follow ``c``'s rate. The members' virtual finishes shift by one constant, so ``b``'s
    heap melds into ``c``'s whole."""
    advance(SI, SF, BI, BF, b, t)
    advance(SI, SF, BI, BF, c, t)
    delta = BF[c, B_RATE] - BF[b, B_RATE]
    shift = BF[c, B_V] - BF[b, B_V]
    s = BI[b, B_MEM]
    tail = -1
    while s >= 0:
        SF[s, S_F] += shift
        SI[s, S_BUND] = c
        CI[MOVES] += 1
        if delta != 0.0:
            for z in range(SI[s, S_Z0], SI[s, S_Z0] + SI[s, S_NZ]):
                add_load(LF, LI, GL, ZI[z, Z_LINK], delta * ZF[z], t)
        tail = s
        s = SI[s, S_MNEXT]
    if tail >= 0:
        head = BI[c, B_MEM]
        SI[tail, S_MNEXT] = head
        if head >= 0:
            SI[head, S_MPREV] = tail
        BI[c, B_MEM] = BI[b, B_MEM]
        BI[c, B_ROOT] = meld(SI, SF, BI[c, B_ROOT], BI[b, B_ROOT])
        BI[c, B_W] += BI[b, B_W]
        BF[c, B_LATEST] = max(BF[c, B_LATEST], BF[b, B_LATEST])
        BI[c, B_XDIRTY] = 1
    BI[b, B_MEM] = -1
    BI[b, B_ROOT] = -1
    BI[b, B_W] = 0
    delete_bundle(BI, BL, HK, HT, YI, LI, CI, b)
    refresh(BI, BL, HK, BF, SF, CI, c)


@numba.njit(cache=True, nogil=True)
def loosen(st: FluidState, i: int, t: float) -> None:  # pragma: no cover
    """Make tight link ``i`` (below capacity) loose: each bundle on it drops ``i`` from its
    signature, merging into the bundle of the shorter signature if there is one."""
    SI, SF, BI, BF, BL, HK, CI = st.SI, st.SF, st.BI, st.BF, st.BL, st.HK, st.CI
    ZI, ZF, LI, LLI, LLF, YI, YF, HT = st.ZI, st.ZF, st.LI, st.LLI, st.LLF, st.YI, st.YF, st.HT
    LF, GL = st.LF, st.GL
    LI[i, L_TIGHT] = 0
    CI[LOOSEN] += 1
    while LI[i, L_YHEAD] >= 0:
        b = YI[LI[i, L_YHEAD], Y_BUND]
        n, h = sig_of(SI, ZI, ZF, LI, LLI, LLF, BI[b, B_MEM], i)
        c = find(HT, BI, YI, YF, LLI, LLF, n, h)
        if c >= 0:
            move_all(SI, SF, BI, BF, BL, HK, HT, CI, ZI, ZF, LF, LI, GL, YI, b, c, t)
        else:
            table_drop(HT, BI, CI, b)
            drop_entries(BI, YI, LI, CI, b)
            BI[b, B_HASH] = h
            BI[b, B_XDIRTY] = 1
            set_entries(BI, YI, YF, LI, LLI, LLF, CI, b, n)
            table_put(HT, BI, CI, b)


@numba.njit(cache=True, nogil=True)
def reset_x(BI: np.ndarray, CI: np.ndarray) -> None:  # pragma: no cover
    """Empty the loose-list arena: every bundle's list is rebuilt when next needed. (The
    live lists hold at most one entry per flow entry, half the arena, so a reset frees at
    least half of it.)"""
    for b in range(CI[B_HWM]):
        BI[b, B_XN] = 0
        BI[b, B_XDIRTY] = 1
    CI[X_N] = 0
    CI[X_LIVE] = 0


@numba.njit(cache=True, nogil=True, inline="always")
def loose_list(SI: np.ndarray, BI: np.ndarray, ZI: np.ndarray, ZF: np.ndarray,  # pragma: no cover
                LI: np.ndarray, XI: np.ndarray, XF: np.ndarray, CI: np.ndarray,
                b: int) -> None:
    """Rebuild bundle ``b``'s loose links: each loose link of its members once, with the
    members' fractions on it summed (a contiguous list, so that a rate change costs one pass
    over it)."""
    need = 0
    s = BI[b, B_MEM]
    while s >= 0:
        need += SI[s, S_NZ]
        s = SI[s, S_MNEXT]
    CI[X_LIVE] -= BI[b, B_XN]
    BI[b, B_XN] = 0
    if CI[X_N] + need > XI.shape[0]:
        reset_x(BI, CI)
    x0 = CI[X_N]
    n = 0
    s = BI[b, B_MEM]
    while s >= 0:
        for z in range(SI[s, S_Z0], SI[s, S_Z0] + SI[s, S_NZ]):
            i = ZI[z, Z_LINK]
            if LI[i, L_TIGHT]:
                continue
            loc = LI[i, L_XLOC]
            if loc < 0:
                loc = n
                LI[i, L_XLOC] = n
                XI[x0 + n] = i
                XF[x0 + n] = 0.0
                n += 1
            XF[x0 + loc] += ZF[z]
        s = SI[s, S_MNEXT]
    for x in range(x0, x0 + n):
        LI[XI[x], L_XLOC] = -1
    BI[b, B_X0] = x0
    BI[b, B_XN] = n
    BI[b, B_XDIRTY] = 0
    CI[X_N] = x0 + n
    CI[X_LIVE] += n
