"""The region an instant can change: departing flows, and the region seeded at the
saturated tight links an event touches and grown over bundles at or above its level.
"""

from __future__ import annotations

import numba
import numpy as np

from mpft_sim._fluid.layout import (
    B_LOCAL,
    B_MARK,
    B_NEW,
    B_PEND,
    B_RATE,
    B_REG,
    B_W,
    B_Y0,
    B_YN,
    BFS_VISITS,
    DONE_N,
    EPOCH,
    EVENTS,
    FREE_N,
    L_CAP,
    L_FORCED,
    L_KIND,
    L_LOAD,
    L_LOCAL,
    L_MARK,
    L_NFL,
    L_QUEUE,
    L_REG,
    L_SEED,
    L_SEEDSAT,
    L_SEEDSTAMP,
    L_TIGHT,
    L_YHEAD,
    L_ZHEAD,
    LEVEL,
    LEVEL_SLACK,
    N_ACTIVE,
    N_FORCED,
    N_REG,
    N_RL,
    N_SEED,
    PEND_N,
    Q_HEAD,
    Q_TAIL,
    S_FLOW,
    S_FREE,
    S_GROUP,
    S_LAT,
    S_NZ,
    S_Z0,
    SAT,
    Y_BUND,
    Y_LINK,
    Y_NEXT,
    Z_LINK,
    Z_LIVE,
    Z_NEXT,
    Z_PREV,
)
from mpft_sim._fluid.links import (
    add_load,
)

# -- one instant: departures, region, re-solve, checks, settling -----------------------------

@numba.njit(cache=True, nogil=True, inline="always")
def seed(LI: np.ndarray, LLI: np.ndarray, LF: np.ndarray, CI: np.ndarray,
          i: int) -> None:  # pragma: no cover
    """Tight link ``i`` is touched by this instant's events; expand it if it is saturated
    now (before any departure takes load off it)."""
    if LI[i, L_SEEDSTAMP] != CI[EVENTS]:
        LI[i, L_SEEDSTAMP] = CI[EVENTS]
        k = CI[N_SEED]
        LLI[L_SEED, k] = i
        LLI[L_SEEDSAT, k] = 1 if LF[i, L_LOAD] >= LF[i, L_CAP] * (1.0 - SAT) else 0
        CI[N_SEED] = k + 1


@numba.njit(cache=True, nogil=True, inline="always")
def depart(SI: np.ndarray, SF: np.ndarray, SL: np.ndarray, ZI: np.ndarray,  # pragma: no cover
            ZF: np.ndarray, LI: np.ndarray, LLI: np.ndarray, LF: np.ndarray, GL: np.ndarray,
            CI: np.ndarray, s: int, rate: float, t: float, served: float, g_rem: np.ndarray,
            g_end: np.ndarray, end_rec: np.ndarray, end_base: int, done: np.ndarray) -> float:
    """Slot ``s`` (out of its bundle, which ran at ``rate``) served its last byte at
    ``served``; the event is at ``t``. Free its bandwidth and slot, record its end; return
    the time its transfer's event fires (inf if the transfer is not complete)."""
    for e in range(SI[s, S_Z0], SI[s, S_Z0] + SI[s, S_NZ]):
        i = ZI[e, Z_LINK]
        if LI[i, L_TIGHT]:
            seed(LI, LLI, LF, CI, i)
        add_load(LF, LI, GL, i, -rate * ZF[e], t)
        LF[i, L_NFL] -= ZF[e]
        p = ZI[e, Z_PREV]
        q = ZI[e, Z_NEXT]
        if p >= 0:
            ZI[p, Z_NEXT] = q
        else:
            LI[i, L_ZHEAD] = q
        if q >= 0:
            ZI[q, Z_PREV] = p
    CI[Z_LIVE] -= SI[s, S_NZ]
    end = served + SF[s, S_LAT]
    end_rec[SI[s, S_FLOW] - end_base] = end
    g = SI[s, S_GROUP]
    g_rem[g] -= 1
    if end > g_end[g]:
        g_end[g] = end
    SI[s, S_FLOW] = -1
    SL[S_FREE, CI[FREE_N]] = s
    CI[FREE_N] += 1
    CI[N_ACTIVE] -= 1
    if g_rem[g] == 0:
        done[CI[DONE_N]] = g
        CI[DONE_N] += 1
        return g_end[g]
    return np.inf


@numba.njit(cache=True, nogil=True, inline="always")
def expand_link(LI: np.ndarray, LLI: np.ndarray, CI: np.ndarray,  # pragma: no cover
                i: int) -> None:
    if LI[i, L_KIND] != 1:
        LI[i, L_KIND] = 1
        LLI[L_QUEUE, CI[Q_TAIL]] = i
        CI[Q_TAIL] += 1


@numba.njit(cache=True, nogil=True, inline="always")
def _mark_link(LI: np.ndarray, LLI: np.ndarray, CI: np.ndarray, i: int,
               expand: bool) -> None:  # pragma: no cover
    """Put tight link ``i`` in the region: to expand (bundles at or above the level on it
    are admitted), or cut (a constraint, checked after the re-solve)."""
    LI[i, L_MARK] = CI[EPOCH]
    LI[i, L_LOCAL] = CI[N_RL]
    LLI[L_REG, CI[N_RL]] = i
    CI[N_RL] += 1
    LI[i, L_KIND] = 2
    if expand:
        expand_link(LI, LLI, CI, i)


@numba.njit(cache=True, nogil=True, inline="always")
def _admit(BI: np.ndarray, BL: np.ndarray, YI: np.ndarray, LI: np.ndarray,  # pragma: no cover
           LLI: np.ndarray, LF: np.ndarray, CI: np.ndarray, b: int) -> None:
    epoch = CI[EPOCH]
    BI[b, B_MARK] = epoch
    BI[b, B_LOCAL] = CI[N_REG]
    BL[B_REG, CI[N_REG]] = b
    CI[N_REG] += 1
    for y in range(BI[b, B_Y0], BI[b, B_Y0] + BI[b, B_YN]):
        m = YI[y, Y_LINK]
        if LI[m, L_MARK] != epoch:
            _mark_link(LI, LLI, CI, m, LF[m, L_LOAD] >= LF[m, L_CAP] * (1.0 - SAT))


@numba.njit(cache=True, nogil=True)
def grow_region(BI: np.ndarray, BF: np.ndarray, BL: np.ndarray, YI: np.ndarray,  # pragma: no cover
          LI: np.ndarray, LLI: np.ndarray, LF: np.ndarray, CI: np.ndarray,
          CF: np.ndarray) -> None:
    """Expand the queued links: admit their bundles at or above the level (and new ones)."""
    epoch = CI[EPOCH]
    floor = CF[LEVEL] * (1.0 - LEVEL_SLACK)
    while CI[Q_HEAD] < CI[Q_TAIL]:
        i = LLI[L_QUEUE, CI[Q_HEAD]]
        CI[Q_HEAD] += 1
        y = LI[i, L_YHEAD]
        while y >= 0:
            b = YI[y, Y_BUND]
            y = YI[y, Y_NEXT]
            CI[BFS_VISITS] += 1
            if BI[b, B_MARK] != epoch and (BI[b, B_NEW] or BF[b, B_RATE] >= floor):
                _admit(BI, BL, YI, LI, LLI, LF, CI, b)


@numba.njit(cache=True, nogil=True)
def start_region(BI: np.ndarray, BF: np.ndarray, BL: np.ndarray,  # pragma: no cover
                  YI: np.ndarray, LI: np.ndarray, LLI: np.ndarray, LF: np.ndarray,
                  CI: np.ndarray, CF: np.ndarray) -> None:
    """(Re)build this instant's region from its seeds, forced links and new bundles."""
    CI[EPOCH] += 1
    epoch = CI[EPOCH]
    CI[N_REG] = 0
    CI[N_RL] = 0
    CI[Q_HEAD] = 0
    CI[Q_TAIL] = 0
    for k in range(CI[N_SEED]):
        i = LLI[L_SEED, k]
        if LI[i, L_TIGHT] and LI[i, L_MARK] != epoch:
            _mark_link(LI, LLI, CI, i, LLI[L_SEEDSAT, k] != 0)
    for k in range(CI[N_FORCED]):
        i = LLI[L_FORCED, k]
        if LI[i, L_MARK] != epoch:
            _mark_link(LI, LLI, CI, i, True)
        else:
            expand_link(LI, LLI, CI, i)
    for k in range(CI[PEND_N]):
        b = BL[B_PEND, k]
        if BI[b, B_NEW] and BI[b, B_W] > 0 and BI[b, B_MARK] != epoch:
            _admit(BI, BL, YI, LI, LLI, LF, CI, b)
    grow_region(BI, BF, BL, YI, LI, LLI, LF, CI, CF)
