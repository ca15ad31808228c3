"""One instant of the fluid network and the compiled event loop: completing the flows due
(and tolerance batches), the region's sharing problem, checks of cut and loose links,
settling the new rates, and :func:`run_events`.
"""

from __future__ import annotations

import numba
import numpy as np

from mpft_sim._fluid.batch import take_batch
from mpft_sim._fluid.bundles import (
    delete_bundle,
)
from mpft_sim._fluid.heaps import (
    advance,
    leave,
    refresh,
)
from mpft_sim._fluid.layout import (
    B_HEAP,
    B_HPOS,
    B_INPEND,
    B_MEM,
    B_NEW,
    B_PEND,
    B_RATE,
    B_REG,
    B_ROOT,
    B_TWIN,
    B_V,
    B_W,
    B_X0,
    B_XDIRTY,
    B_XN,
    B_Y0,
    B_YN,
    BUNDLES_SOLVED,
    C_FIN,
    DONE_N,
    E_FLOW,
    E_LINK,
    EPOCH2,
    EVENTS,
    EXPAND,
    HEAP_N,
    L_ACC,
    L_CAP,
    L_FORCED,
    L_KIND,
    L_LOAD,
    L_LOCAL,
    L_LOOSE,
    L_NFL,
    L_REG,
    L_RESID,
    L_TIGHT,
    LEVEL,
    LOOSE,
    LOOSE_VISITS,
    N_ENT,
    N_FORCED,
    N_LOOSE,
    N_REG,
    N_RL,
    N_SEED,
    PEND_N,
    S_CAND,
    S_CBUND,
    S_F,
    S_MNEXT,
    S_NZ,
    S_START,
    S_Z0,
    SAME_LEVEL,
    SAT,
    SOLVED,
    SOLVES,
    Y_LINK,
    Z_LINK,
    FluidState,
    without_refcount,
)
from mpft_sim._fluid.links import (
    add_load,
    end_instant,
    integrate,
    loose_list,
    loosen,
    move_all,
    tighten,
)
from mpft_sim._fluid.region import (
    depart,
    expand_link,
    grow_region,
    seed,
    start_region,
)
from mpft_sim._kernels import fill_levels


@numba.njit(cache=True, nogil=True)
def begin_instant(st: FluidState, t: float, limit: float, q: float, qt: float,  # pragma: no cover
                  g_rem: np.ndarray, g_end: np.ndarray, end_rec: np.ndarray, end_base: int,
                  done: np.ndarray) -> float:
    """Start the events of instant ``t``: complete the due flows (finish time within ``q`` of
    their own duration; in tolerance mode, ``qt > 0``, also those
    :func:`~mpft_sim._fluid.batch.take_batch` takes), take the released ones, grow the
    region. Returns the new limit (the earliest time a completed transfer's event fires, or
    ``limit``)."""
    HK = st.HK
    LLI, BL, SL, SLF = st.LLI, st.BL, st.SL, st.SLF
    SI, SF, BI, BF, CI, ZI, LI, LF = st.SI, st.SF, st.BI, st.BF, st.CI, st.ZI, st.LI, st.LF
    integrate(st.BINS, st.GL, st.CF, t)
    CI[EVENTS] += 1
    CI[N_SEED] = 0
    CI[N_FORCED] = 0
    level = np.inf
    while CI[HEAP_N] > 0:
        b = BL[B_HEAP, 0]
        fin = HK[0]
        if fin - t > q * max(fin - SF[BI[b, B_ROOT], S_START], 0.0):
            break
        rate = BF[b, B_RATE]
        if rate < level:
            level = rate
        advance(SI, SF, BI, BF, b, t)
        while BI[b, B_ROOT] >= 0:
            s = BI[b, B_ROOT]
            fin = t + (SF[s, S_F] - BF[b, B_V]) / rate
            if fin - t > q * max(fin - SF[s, S_START], 0.0):
                break
            leave(SI, SF, BI, BF, b, s, t)
            limit = min(limit, depart(SI, SF, SL, ZI, st.ZF, LI, LLI, LF, st.GL, CI, s,
                                       rate, t, max(fin, t), g_rem, g_end, end_rec,
                                       end_base, done))
        if BI[b, B_W] == 0:
            delete_bundle(BI, st.BL, st.HK, st.HT, st.YI, st.LI, st.CI, b)
        else:
            refresh(BI, BL, HK, BF, SF, CI, b)
    if qt > 0.0 and CI[PEND_N] == 0:
        n = take_batch(st, t, limit, qt, level, g_rem, g_end)
        for k in range(n):
            s = SL[S_CAND, k]
            b = SL[S_CBUND, k]
            rate = BF[b, B_RATE]
            if rate < level:
                level = rate
            limit = min(limit, depart(SI, SF, SL, ZI, st.ZF, LI, LLI, LF, st.GL, CI, s,
                                       rate, t, SLF[C_FIN, k], g_rem, g_end, end_rec,
                                       end_base, done))
            if BI[b, B_W] == 0 and BI[b, B_HPOS] >= 0:  # emptied, not yet deleted
                delete_bundle(BI, st.BL, st.HK, st.HT, st.YI, st.LI, st.CI, b)
    for k in range(CI[PEND_N]):
        b = BL[B_PEND, k]
        if BI[b, B_NEW] == 0 or BI[b, B_W] == 0:
            continue
        s = BI[b, B_MEM]
        while s >= 0:
            for e in range(SI[s, S_Z0], SI[s, S_Z0] + SI[s, S_NZ]):
                i = ZI[e, Z_LINK]
                if LI[i, L_TIGHT]:
                    seed(LI, LLI, LF, CI, i)
                share = LF[i, L_CAP] / LF[i, L_NFL]
                if share < level:
                    level = share
            s = SI[s, S_MNEXT]
    st.CF[LEVEL] = level
    start_region(BI, BF, BL, st.YI, LI, LLI, LF, CI, st.CF)
    return limit


@numba.njit(cache=True, nogil=True)
def region_problem(st: FluidState) -> int:  # pragma: no cover
    """The region's sharing problem, one weighted flow per bundle: local entries (rows
    E_LINK, E_FLOW, E_FRAC) and each local link's capacity left by everything outside the
    region (row L_RESID). Returns the number of entries."""
    EI, EF = st.EI, st.EF
    LLF, LLI, BL = st.LLF, st.LLI, st.BL
    BI, BF, YI, YF, LI, LF, CI = st.BI, st.BF, st.YI, st.YF, st.LI, st.LF, st.CI
    n_rl = CI[N_RL]
    for k in range(n_rl):
        i = LLI[L_REG, k]
        LLF[L_RESID, k] = LF[i, L_CAP] - LF[i, L_LOAD]
    n = 0
    for k in range(CI[N_REG]):
        b = BL[B_REG, k]
        w = float(BI[b, B_W])
        rate = BF[b, B_RATE]
        for y in range(BI[b, B_Y0], BI[b, B_Y0] + BI[b, B_YN]):
            loc = LI[YI[y, Y_LINK], L_LOCAL]
            EI[E_LINK, n] = loc
            EI[E_FLOW, n] = k
            EF[n] = w * YF[y]
            LLF[L_RESID, loc] += rate * w * YF[y]
            n += 1
    for k in range(n_rl):
        if LLF[L_RESID, k] < 0.0:
            LLF[L_RESID, k] = 0.0
    CI[N_ENT] = n
    return n


@numba.njit(cache=True, nogil=True)
def check(st: FluidState, rates: np.ndarray, t: float) -> int:  # pragma: no cover
    """Check the region's new ``rates``: 0 if they stand; 1 if a cut link would fill (it is
    expanded, the region grown); 2 if a loose link would saturate (it is made tight, the
    region rebuilt). Re-solve on 1 and 2."""
    EI, EF, LX = st.EI, st.EF, st.LX
    LLF, LLI, BL = st.LLF, st.LLI, st.BL
    BI, BF, LI, LF, CI = st.BI, st.BF, st.LI, st.LF, st.CI
    n_rl = CI[N_RL]
    for k in range(n_rl):
        LLF[L_ACC, k] = 0.0
    for n in range(CI[N_ENT]):
        LLF[L_ACC, EI[E_LINK, n]] += rates[EI[E_FLOW, n]] * EF[n]
    grew = False
    for k in range(n_rl):
        i = LLI[L_REG, k]
        cap = LF[i, L_CAP]
        if LI[i, L_KIND] == 2 and cap - LLF[L_RESID, k] + LLF[L_ACC, k] >= cap * (1.0 - SAT):
            expand_link(LI, LLI, CI, i)
            grew = True
    if grew:
        CI[EXPAND] += 1
        grow_region(BI, BF, BL, st.YI, LI, LLI, LF, CI, st.CF)
        return 1
    # loose links: their new loads, member by member
    CI[EPOCH2] += 1
    epoch2 = CI[EPOCH2]
    CI[N_LOOSE] = 0
    XI, XF = st.XI, st.XF
    for k in range(CI[N_REG]):
        b = BL[B_REG, k]
        delta = rates[k] - BF[b, B_RATE]
        if delta == 0.0:
            continue
        if BI[b, B_XDIRTY]:
            loose_list(st.SI, BI, st.ZI, st.ZF, LI, XI, XF, CI, b)
        x0 = BI[b, B_X0]
        CI[LOOSE_VISITS] += BI[b, B_XN]
        for x in range(x0, x0 + BI[b, B_XN]):
            i = XI[x]
            if LX[i, 1] != epoch2:
                LX[i, 1] = epoch2
                LX[i, 0] = 0.0
                LLI[L_LOOSE, CI[N_LOOSE]] = i
                CI[N_LOOSE] += 1
            LX[i, 0] += delta * XF[x]
    tightened = False
    for k in range(CI[N_LOOSE]):
        i = LLI[L_LOOSE, k]
        if LF[i, L_LOAD] + LX[i, 0] >= LF[i, L_CAP] * (1.0 - SAT):
            tighten(st, i, t)
            LLI[L_FORCED, CI[N_FORCED]] = i
            CI[N_FORCED] += 1
            tightened = True
    if tightened:
        start_region(BI, BF, BL, st.YI, LI, LLI, LF, CI, st.CF)
        return 2
    return 0


@numba.njit(cache=True, nogil=True)
def settle(st: FluidState, t: float, rates: np.ndarray) -> None:  # pragma: no cover
    """Give the region's bundles their new rates as of ``t`` (after :func:`check` returned
    0): clocks, heap, link loads; merge new bundles into their twins; loosen tight links left
    well below capacity."""
    HK, LX = st.HK, st.LX
    LLF, LLI, BL = st.LLF, st.LLI, st.BL
    BI, BF, YI, YF, LI, LF, CI = st.BI, st.BF, st.YI, st.YF, st.LI, st.LF, st.CI
    SI, SF, GL = st.SI, st.SF, st.GL
    n_rl = CI[N_RL]
    for k in range(n_rl):
        LLF[L_ACC, k] = 0.0
    members = 0
    for k in range(CI[N_REG]):
        b = BL[B_REG, k]
        old = BF[b, B_RATE]
        new = rates[k]
        members += BI[b, B_W]
        if new != old:
            wd = (new - old) * BI[b, B_W]
            for y in range(BI[b, B_Y0], BI[b, B_Y0] + BI[b, B_YN]):
                LLF[L_ACC, LI[YI[y, Y_LINK], L_LOCAL]] += wd * YF[y]
            advance(SI, SF, BI, BF, b, t)
            BF[b, B_RATE] = new
            refresh(BI, BL, HK, BF, SF, CI, b)
    for k in range(n_rl):
        if LLF[L_ACC, k] != 0.0:
            add_load(LF, LI, GL, LLI[L_REG, k], LLF[L_ACC, k], t)
    for k in range(CI[N_LOOSE]):
        i = LLI[L_LOOSE, k]
        add_load(LF, LI, GL, i, LX[i, 0], t)
    CI[N_LOOSE] = 0
    CI[SOLVES] += 1
    CI[SOLVED] += members
    CI[BUNDLES_SOLVED] += CI[N_REG]
    for k in range(CI[N_REG]):
        b = BL[B_REG, k]
        if BI[b, B_NEW]:
            BI[b, B_NEW] = 0
            if BI[b, B_TWIN] >= 0:
                move_all(SI, SF, BI, BF, BL, HK, st.HT, CI, st.ZI, st.ZF, LF, LI, GL, YI,
                          b, BI[b, B_TWIN], t)
    for k in range(CI[PEND_N]):
        BI[BL[B_PEND, k], B_INPEND] = 0
    CI[PEND_N] = 0
    for k in range(n_rl):
        i = LLI[L_REG, k]
        if LI[i, L_TIGHT] and LF[i, L_LOAD] < LF[i, L_CAP] * (1.0 - LOOSE):
            loosen(st, i, t)


@numba.njit(cache=True, nogil=True)
def next_time(st: FluidState) -> float:  # pragma: no cover
    """When the next flow's last byte is due (inf if none)."""
    if st.CI[HEAP_N] == 0:
        return np.inf
    return st.HK[0]


# Compiled without reference counting (layout.without_refcount): nothing in this call tree
# may allocate an array; each works in the state's arrays.
@without_refcount
def run_events(st: FluidState, now: float, limit: float, q: float,  # pragma: no cover
               qt: float, g_rem: np.ndarray, g_end: np.ndarray, end_rec: np.ndarray, end_base: int,
               done: np.ndarray, budget: int) -> float:
    """Handle instant ``now`` (with the flows released since the last call), then every
    later instant before ``limit`` (the next event outside the network), stopping early when
    a transfer completes (its event fires no later than the new limit) or after ``budget``
    instants. Completed transfers are in ``done[:CI[DONE_N]]``. Returns the next instant
    (inf if no flow is active)."""
    EI, EF = st.EI, st.EF
    LLF = st.LLF
    CI = st.CI
    nb = st.BI.shape[0]
    rates = st.WF[:nb]
    wf = st.WF[nb:]
    CI[DONE_N] = 0
    t = now
    for _ in range(budget):
        limit = begin_instant(st, t, limit, q, qt, g_rem, g_end, end_rec, end_base, done)
        if CI[N_REG] > 0:
            while True:
                n = region_problem(st)
                fill_levels(EI[E_LINK, :n], EI[E_FLOW, :n], EF[:n], LLF[L_RESID, :CI[N_RL]],
                            CI[N_REG], SAME_LEVEL, rates, st.WI, wf)
                if check(st, rates, t) == 0:
                    break
            settle(st, t, rates)
        end_instant(st, t)
        t = next_time(st)
        if t >= limit:
            break
    return next_time(st)
