"""The fluid network's compiled state and event loop (numba).

:class:`~mpft_sim.network.FluidNetwork` keeps every active flow in a *slot* of the arrays of
one :class:`FluidState`, and hands the whole event loop to :func:`run_events`: completions
(due flows, the region they can change, its re-solve, settling, link accounting, the timeline,
the next completion) follow one another in compiled code until the next event SimPy knows
of, or until a transfer completes and its SimPy event must fire. Python only releases flows
(:func:`add_flows`) and fires transfer events.

Why a *region*, and why it is exact (docs/engine.md has the argument in full):

- Levels: progressive filling is unchanged below the lowest level ``L`` an event can reach
  (the smallest rate of a departing flow; for an arriving flow the smallest
  ``capacity / flows`` over its links), so flows slower than ``L`` keep their rates.
- Region: from the links the event touches, grow over link -> flow adjacency, admitting flows
  at or above ``L`` (and arriving ones), but expand only through links that are *saturated*
  (a flow's bottleneck is always saturated). Links reached and not expanded are *cut* links.
  The region is re-solved over the capacity the other flows leave. Every cut link must stay
  strictly below capacity with the new rates; one that does not is expanded and the region
  re-solved. Then every region flow has its bottleneck on an expanded link, every other flow
  keeps its bottleneck untouched, so the result is the max-min allocation of the new flow set.

Links keep their flows in doubly linked lists over the entry arena ``z*`` (one entry per link
of a flow), so adding and removing a flow costs its own links; the arena is compacted when
more than half of it is garbage. Finish times sit in an indexed binary heap keyed by
``(finish time, slot)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from mpft_sim._kernels import progressive_filling

# -- scalar counters (FluidState.ci) ----------------------------------------------------------
HWM = 0  # slots ever used (high-water mark)
FREE_N = 1  # free slots on the stack
HEAP_N = 2  # slots in the finish-time heap
Z_N = 3  # entries used in the arena (live and garbage)
Z_LIVE = 4  # live entries
EPOCH = 5  # region stamp
SOLVES = 6  # re-solves
SOLVED = 7  # flows re-solved, summed over re-solves
TL_N = 8  # timeline rows logged
PEND_N = 9  # slots released since the last event, not yet solved
N_REG = 10  # flows in the region
N_RL = 11  # links in the region (expanded and cut)
Q_HEAD = 12  # BFS queue of links to expand
Q_TAIL = 13
N_ACTIVE = 14  # active flows
EXPAND = 15  # cut links expanded after a re-solve
EVENTS = 16  # distinct instants handled
TL_OVER = 17  # 1 once the rows overflowed: the timeline is binned
N_ENT = 18  # entries of the region's incidence
DONE_N = 19  # transfers completed in this call
N_CI = 20

# -- float scalars (FluidState.cf) ------------------------------------------------------------
BIN_W = 0  # width of a timeline bin
BIN_T = 1  # the timeline is integrated up to this time
LEVEL = 2  # the current event's level
N_CF = 3

SAT = 1e-7  # a link at or above (1 - SAT) of capacity is saturated: expanded, never cut
LEVEL_SLACK = 1e-9  # flows within this of the level are re-solved with it
SAME_LEVEL = 1e-9  # progressive filling merges fill levels this close (sharing.SAME_LEVEL)
HOT = 0.9  # link "hot" at or above this fraction of capacity
TL_ROWS = 1 << 16  # exact timeline rows kept before switching to bins
TL_BINS = 1 << 15  # timeline bins (each holds the exact integral of load over it)
TL_BIN0 = 1e-9  # first bin width; doubles (bins merge pairwise) as time goes on


class FluidState(NamedTuple):
    """Every array of the compiled fluid network (see the module docstring).

    Links (``n_links``): capacity, load, accounting, flows per link (``nfl``), the head of
    each link's entry list, its (plane, tier) group, region marks. Slots: one per active
    flow (free ones on a stack). Arena: one entry per (flow, link). Timeline: exact rows, then
    bins.
    """

    cap: np.ndarray
    load: np.ndarray
    since: np.ndarray
    busy: np.ndarray
    sat: np.ndarray
    hot: np.ndarray
    peak: np.ndarray
    nfl: np.ndarray
    head: np.ndarray
    gol: np.ndarray
    lmark: np.ndarray
    llocal: np.ndarray
    lkind: np.ndarray
    lacc: np.ndarray
    resid: np.ndarray
    reglink: np.ndarray
    queue: np.ndarray
    group_load: np.ndarray
    # slots
    sflow: np.ndarray
    sgroup: np.ndarray
    sz0: np.ndarray
    snz: np.ndarray
    shpos: np.ndarray
    smark: np.ndarray
    slocal: np.ndarray
    srem: np.ndarray
    st0: np.ndarray
    srate: np.ndarray
    sfin: np.ndarray
    sstart: np.ndarray
    slat: np.ndarray
    snew: np.ndarray
    free: np.ndarray
    heap: np.ndarray
    regslot: np.ndarray
    pend: np.ndarray
    # arena
    zlink: np.ndarray
    zslot: np.ndarray
    znext: np.ndarray
    zprev: np.ndarray
    zfrac: np.ndarray
    elink: np.ndarray
    eflow: np.ndarray
    efrac: np.ndarray
    # timeline
    tl_time: np.ndarray
    tl_load: np.ndarray
    bins: np.ndarray
    # scalars
    ci: np.ndarray
    cf: np.ndarray


LINK_FIELDS = ("cap", "load", "since", "busy", "sat", "hot", "peak", "nfl", "head", "gol",
               "lmark", "llocal", "lkind", "lacc", "resid", "reglink", "queue")
SLOT_FIELDS = {"sflow": np.int64, "sgroup": np.int64, "sz0": np.int64, "snz": np.int64,
               "shpos": np.int64, "smark": np.int64, "slocal": np.int64, "srem": np.float64,
               "st0": np.float64, "srate": np.float64, "sfin": np.float64,
               "sstart": np.float64, "slat": np.float64, "snew": np.bool_, "free": np.int64,
               "heap": np.int64, "regslot": np.int64, "pend": np.int64}
ARENA_FIELDS = {"zlink": np.int64, "zslot": np.int64, "znext": np.int64, "zprev": np.int64,
                "zfrac": np.float64, "elink": np.int64, "eflow": np.int64,
                "efrac": np.float64}


def new_state(capacity: np.ndarray, group_of_link: np.ndarray, n_groups: int,
              slots: int = 1024, entries: int = 4096) -> FluidState:
    """An empty network over links of the given capacities."""
    n = len(capacity)
    f64 = np.float64
    cols: dict[str, np.ndarray] = {
        "cap": np.asarray(capacity, dtype=f64).copy(), "load": np.zeros(n),
        "since": np.zeros(n), "busy": np.zeros(n), "sat": np.zeros(n), "hot": np.zeros(n),
        "peak": np.zeros(n), "nfl": np.zeros(n), "head": np.full(n, -1, np.int64),
        "gol": np.asarray(group_of_link, dtype=np.int64).copy(),
        "lmark": np.zeros(n, np.int64), "llocal": np.full(n, -1, np.int64),
        "lkind": np.zeros(n, np.int8), "lacc": np.zeros(n), "resid": np.zeros(n),
        "reglink": np.zeros(n, np.int64), "queue": np.zeros(n, np.int64),
        "group_load": np.zeros(n_groups),
        "tl_time": np.zeros(TL_ROWS), "tl_load": np.zeros((TL_ROWS, n_groups), np.float32),
        "bins": np.zeros((TL_BINS, n_groups)),
        "ci": np.zeros(N_CI, np.int64), "cf": np.zeros(N_CF),
    }
    for name, dtype in SLOT_FIELDS.items():
        cols[name] = np.zeros(slots, dtype=dtype)
    cols["shpos"][:] = -1
    for name, dtype in ARENA_FIELDS.items():
        cols[name] = np.zeros(entries, dtype=dtype)
    cols["cf"][BIN_W] = TL_BIN0
    return FluidState(**cols)


def grow(state: FluidState, slots: int, entries: int) -> FluidState:
    """A copy of ``state`` with room for at least ``slots`` slots and ``entries`` entries."""
    out = state
    size = len(state.sflow)
    if slots > size:
        new = max(slots, 2 * size)
        cols = {}
        for name in SLOT_FIELDS:
            old = getattr(state, name)
            col = np.zeros(new, dtype=old.dtype)
            col[:size] = old
            cols[name] = col
        cols["shpos"][size:] = -1
        out = out._replace(**cols)
    size = len(state.zlink)
    if entries > size:
        new = max(entries, 2 * size)
        cols = {}
        for name in ARENA_FIELDS:
            old = getattr(state, name)
            col = np.zeros(new, dtype=old.dtype)
            col[:size] = old
            cols[name] = col
        out = out._replace(**cols)
    return out


# -- the finish-time heap (indexed, keyed by (fin, slot)) -------------------------------------

@numba.njit(cache=True, nogil=True, inline="always")
def _less(st: FluidState, a: int, b: int) -> bool:  # pragma: no cover
    fa = st.sfin[a]
    fb = st.sfin[b]
    return fa < fb or (fa == fb and a < b)


@numba.njit(cache=True, nogil=True)
def _sift_up(st: FluidState, i: int) -> None:  # pragma: no cover
    heap = st.heap
    s = heap[i]
    while i > 0:
        p = (i - 1) >> 1
        q = heap[p]
        if not _less(st, s, q):
            break
        heap[i] = q
        st.shpos[q] = i
        i = p
    heap[i] = s
    st.shpos[s] = i


@numba.njit(cache=True, nogil=True)
def _sift_down(st: FluidState, i: int) -> None:  # pragma: no cover
    heap = st.heap
    n = st.ci[HEAP_N]
    s = heap[i]
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and _less(st, heap[c + 1], heap[c]):
            c += 1
        q = heap[c]
        if not _less(st, q, s):
            break
        heap[i] = q
        st.shpos[q] = i
        i = c
    heap[i] = s
    st.shpos[s] = i


@numba.njit(cache=True, nogil=True)
def _heap_set(st: FluidState, s: int) -> None:  # pragma: no cover
    """Put slot ``s`` in the heap, or move it after its finish time changed."""
    i = st.shpos[s]
    if i < 0:
        i = st.ci[HEAP_N]
        st.ci[HEAP_N] += 1
        st.heap[i] = s
        st.shpos[s] = i
        _sift_up(st, i)
    else:
        _sift_up(st, i)
        _sift_down(st, st.shpos[s])


@numba.njit(cache=True, nogil=True)
def _heap_pop(st: FluidState) -> int:  # pragma: no cover
    s = st.heap[0]
    st.shpos[s] = -1
    n = st.ci[HEAP_N] - 1
    st.ci[HEAP_N] = n
    if n > 0:
        st.heap[0] = st.heap[n]
        st.shpos[st.heap[0]] = 0
        _sift_down(st, 0)
    return s


# -- link accounting --------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _add_load(st: FluidState, i: int, delta: float, t: float) -> None:  # pragma: no cover
    """Change link ``i``'s load at time ``t``, first closing its accounting interval (time
    busy, hot, saturated) at the old load."""
    dt = t - st.since[i]
    if dt > 0.0:
        load = st.load[i]
        cap = st.cap[i]
        if load > 1e-9 * cap:
            st.busy[i] += dt
        if load >= cap * (HOT - 1e-9):
            st.hot[i] += dt
        if load >= cap * (1.0 - 1e-9):
            st.sat[i] += dt
        st.since[i] = t
    st.load[i] += delta
    util = st.load[i] / st.cap[i]
    if util > st.peak[i]:
        st.peak[i] = util
    st.group_load[st.gol[i]] += delta


@numba.njit(cache=True, nogil=True)
def _integrate(st: FluidState, t: float) -> None:  # pragma: no cover
    """Add the group loads' integral over [BIN_T, t) to the timeline bins."""
    a = st.cf[BIN_T]
    if t <= a:
        return
    bins = st.bins
    nb = bins.shape[0]
    g = st.group_load
    while t >= nb * st.cf[BIN_W]:
        # merge bins pairwise: twice the width, the same integrals
        for k in range(nb // 2):
            for j in range(g.shape[0]):
                bins[k, j] = bins[2 * k, j] + bins[2 * k + 1, j]
        for k in range(nb // 2, nb):
            for j in range(g.shape[0]):
                bins[k, j] = 0.0
        st.cf[BIN_W] *= 2.0
    w = st.cf[BIN_W]
    k = int(a / w)
    while a < t:
        b = min(t, (k + 1) * w)
        if b > a:
            for j in range(g.shape[0]):
                bins[k, j] += g[j] * (b - a)
        a = b
        k += 1
    st.cf[BIN_T] = t


@numba.njit(cache=True, nogil=True)
def _log_row(st: FluidState, t: float) -> None:  # pragma: no cover
    """Record the group loads after the events of instant ``t`` (exact rows, while they
    last)."""
    if st.ci[TL_OVER]:
        return
    n = st.ci[TL_N]
    if n > 0 and st.tl_time[n - 1] == t:
        n -= 1
    elif n >= st.tl_time.shape[0]:
        st.ci[TL_OVER] = 1
        return
    st.tl_time[n] = t
    for j in range(st.group_load.shape[0]):
        st.tl_load[n, j] = st.group_load[j]
    st.ci[TL_N] = n + 1


# -- releasing flows --------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def add_flows(st: FluidState, flow: np.ndarray, group: np.ndarray,  # pragma: no cover
              size: np.ndarray, latency: np.ndarray, ptr: np.ndarray, link: np.ndarray,
              frac: np.ndarray, now: float) -> None:
    """Release flows now: flow ``k`` (id ``flow[k]``, transfer ``group[k]``) crosses
    ``link[ptr[k]:ptr[k + 1]]`` with fractions ``frac``. The caller made room (:func:`grow`)
    and left out entries of zero fraction and flows without bytes or links."""
    ci = st.ci
    z = ci[Z_N]
    for k in range(flow.shape[0]):
        if ci[FREE_N] > 0:
            ci[FREE_N] -= 1
            s = st.free[ci[FREE_N]]
        else:
            s = ci[HWM]
            ci[HWM] += 1
        st.sflow[s] = flow[k]
        st.sgroup[s] = group[k]
        st.srem[s] = size[k]
        st.st0[s] = now
        st.srate[s] = 0.0
        st.sfin[s] = np.inf
        st.sstart[s] = now
        st.slat[s] = latency[k]
        st.snew[s] = True
        st.shpos[s] = -1
        st.sz0[s] = z
        st.snz[s] = ptr[k + 1] - ptr[k]
        for e in range(ptr[k], ptr[k + 1]):
            i = link[e]
            st.zlink[z] = i
            st.zfrac[z] = frac[e]
            st.zslot[z] = s
            # push on the link's list
            h = st.head[i]
            st.znext[z] = h
            st.zprev[z] = -1
            if h >= 0:
                st.zprev[h] = z
            st.head[i] = z
            st.nfl[i] += frac[e]
            z += 1
        st.pend[ci[PEND_N]] = s
        ci[PEND_N] += 1
    ci[Z_LIVE] += z - ci[Z_N]
    ci[Z_N] = z
    ci[N_ACTIVE] += flow.shape[0]


@numba.njit(cache=True, nogil=True)
def compact(st: FluidState) -> None:  # pragma: no cover
    """Move the live entries to the front of the arena (in slot order of their first entry)
    and rebuild every link's list."""
    n = st.ci[HWM]
    live = np.empty(n, np.int64)
    m = 0
    for s in range(n):
        if st.sflow[s] >= 0 and st.snz[s] > 0:
            live[m] = s
            m += 1
    live = live[:m]
    order = np.argsort(st.sz0[live], kind="mergesort")
    z = 0
    for k in range(m):
        s = live[order[k]]
        src = st.sz0[s]
        for e in range(st.snz[s]):
            st.zlink[z + e] = st.zlink[src + e]
            st.zfrac[z + e] = st.zfrac[src + e]
            st.zslot[z + e] = s
        st.sz0[s] = z
        z += st.snz[s]
    st.ci[Z_N] = z
    st.ci[Z_LIVE] = z
    st.head[:] = -1
    for e in range(z - 1, -1, -1):
        i = st.zlink[e]
        h = st.head[i]
        st.znext[e] = h
        st.zprev[e] = -1
        if h >= 0:
            st.zprev[h] = e
        st.head[i] = e


# -- one instant: departures, region, re-solve, settle ----------------------------------------

@numba.njit(cache=True, nogil=True)
def _mark_link(st: FluidState, i: int, expand: bool) -> None:  # pragma: no cover
    """Put link ``i`` in this event's region: to expand (its flows at or above the level are
    admitted), or cut (reached, not expanded)."""
    ci = st.ci
    st.lmark[i] = ci[EPOCH]
    st.llocal[i] = ci[N_RL]
    st.reglink[ci[N_RL]] = i
    ci[N_RL] += 1
    if expand:
        st.lkind[i] = 1
        st.queue[ci[Q_TAIL]] = i
        ci[Q_TAIL] += 1
    else:
        st.lkind[i] = 2


@numba.njit(cache=True, nogil=True)
def _seed(st: FluidState, i: int) -> None:  # pragma: no cover
    if st.lmark[i] != st.ci[EPOCH]:
        _mark_link(st, i, True)
    elif st.lkind[i] == 2:
        st.lkind[i] = 1
        st.queue[st.ci[Q_TAIL]] = i
        st.ci[Q_TAIL] += 1


@numba.njit(cache=True, nogil=True)
def _depart(st: FluidState, s: int, t: float, served: float, g_rem: np.ndarray,  # pragma: no cover
            g_end: np.ndarray, end_rec: np.ndarray, end_base: int,
            done: np.ndarray) -> float:
    """Slot ``s``'s last byte left at ``served``; the event is at ``t``. Frees its bandwidth
    and slot, records its end; returns the time its transfer's event fires (inf if the
    transfer is not complete)."""
    ci = st.ci
    rate = st.srate[s]
    for e in range(st.sz0[s], st.sz0[s] + st.snz[s]):
        i = st.zlink[e]
        _seed(st, i)
        _add_load(st, i, -rate * st.zfrac[e], t)
        st.nfl[i] -= st.zfrac[e]
        # unlink the entry from the link's list
        p = st.zprev[e]
        q = st.znext[e]
        if p >= 0:
            st.znext[p] = q
        else:
            st.head[i] = q
        if q >= 0:
            st.zprev[q] = p
    ci[Z_LIVE] -= st.snz[s]
    end = served + st.slat[s]
    end_rec[st.sflow[s] - end_base] = end
    g = st.sgroup[s]
    g_rem[g] -= 1
    if end > g_end[g]:
        g_end[g] = end
    st.sflow[s] = -1
    st.free[ci[FREE_N]] = s
    ci[FREE_N] += 1
    ci[N_ACTIVE] -= 1
    if g_rem[g] == 0:
        done[ci[DONE_N]] = g
        ci[DONE_N] += 1
        return g_end[g]
    return np.inf


@numba.njit(cache=True, nogil=True)
def _grow_region(st: FluidState) -> None:  # pragma: no cover
    """Expand the queued links: admit their flows at or above the level (and new ones), mark
    the admitted flows' other links (expand the saturated ones, cut the others)."""
    ci = st.ci
    epoch = ci[EPOCH]
    floor = st.cf[LEVEL] * (1.0 - LEVEL_SLACK)
    while ci[Q_HEAD] < ci[Q_TAIL]:
        i = st.queue[ci[Q_HEAD]]
        ci[Q_HEAD] += 1
        e = st.head[i]
        while e >= 0:
            s = st.zslot[e]
            e = st.znext[e]
            if st.smark[s] == epoch:
                continue
            if not (st.snew[s] or st.srate[s] >= floor):
                continue
            st.smark[s] = epoch
            st.slocal[s] = ci[N_REG]
            st.regslot[ci[N_REG]] = s
            ci[N_REG] += 1
            for z in range(st.sz0[s], st.sz0[s] + st.snz[s]):
                m = st.zlink[z]
                if st.lmark[m] != epoch:
                    _mark_link(st, m, st.load[m] >= st.cap[m] * (1.0 - SAT))


@numba.njit(cache=True, nogil=True)
def begin_instant(st: FluidState, t: float, limit: float, q: float,  # pragma: no cover
                  g_rem: np.ndarray, g_end: np.ndarray, end_rec: np.ndarray, end_base: int,
                  done: np.ndarray) -> float:
    """Start the events of instant ``t``: complete the due flows (finish time within ``q`` of
    their elapsed time), take the released ones, grow the region. Returns the new limit (the
    earliest time a completed transfer's event fires, or ``limit``)."""
    ci = st.ci
    _integrate(st, t)
    ci[EPOCH] += 1
    ci[N_REG] = 0
    ci[N_RL] = 0
    ci[Q_HEAD] = 0
    ci[Q_TAIL] = 0
    ci[EVENTS] += 1
    level = np.inf
    while ci[HEAP_N] > 0:
        s = st.heap[0]
        fin = st.sfin[s]
        if fin - t > q * max(fin - st.sstart[s], 0.0):
            break
        _heap_pop(st)
        if st.srate[s] < level:
            level = st.srate[s]
        limit = min(limit, _depart(st, s, t, max(fin, t), g_rem, g_end, end_rec, end_base,
                                   done))
    for k in range(ci[PEND_N]):
        s = st.pend[k]
        for e in range(st.sz0[s], st.sz0[s] + st.snz[s]):
            i = st.zlink[e]
            _seed(st, i)
            share = st.cap[i] / st.nfl[i]
            if share < level:
                level = share
    ci[PEND_N] = 0
    st.cf[LEVEL] = level
    _grow_region(st)
    return limit


@numba.njit(cache=True, nogil=True)
def region_problem(st: FluidState) -> int:  # pragma: no cover
    """The region's sharing problem: local entries (``elink``, ``eflow``, ``efrac``) and each
    local link's capacity left by the flows outside the region (``resid``). Returns the
    number of entries."""
    ci = st.ci
    n_rl = ci[N_RL]
    for k in range(n_rl):
        i = st.reglink[k]
        st.resid[k] = st.cap[i] - st.load[i]
    n = 0
    for k in range(ci[N_REG]):
        s = st.regslot[k]
        rate = st.srate[s]
        for z in range(st.sz0[s], st.sz0[s] + st.snz[s]):
            loc = st.llocal[st.zlink[z]]
            st.elink[n] = loc
            st.eflow[n] = k
            st.efrac[n] = st.zfrac[z]
            st.resid[loc] += rate * st.zfrac[z]
            n += 1
    for k in range(n_rl):
        if st.resid[k] < 0.0:
            st.resid[k] = 0.0
    ci[N_ENT] = n
    return n


@numba.njit(cache=True, nogil=True)
def check_cuts(st: FluidState, rates: np.ndarray) -> bool:  # pragma: no cover
    """With the region's new ``rates``: expand every cut link that would be saturated, and
    grow the region from them. True if the region grew (re-solve it)."""
    ci = st.ci
    n_rl = ci[N_RL]
    acc = st.lacc
    for k in range(n_rl):
        acc[k] = 0.0
    for n in range(ci[N_ENT]):
        acc[st.elink[n]] += rates[st.eflow[n]] * st.efrac[n]
    grew = False
    for k in range(n_rl):
        i = st.reglink[k]
        if st.lkind[i] == 2 and st.cap[i] - st.resid[k] + acc[k] >= st.cap[i] * (1.0 - SAT):
            st.lkind[i] = 1
            st.queue[ci[Q_TAIL]] = i
            ci[Q_TAIL] += 1
            grew = True
    if grew:
        ci[EXPAND] += 1
        _grow_region(st)
    return grew


@numba.njit(cache=True, nogil=True)
def settle(st: FluidState, t: float, rates: np.ndarray) -> None:  # pragma: no cover
    """Give the region's flows their new rates as of ``t``: bytes left, finish time, heap;
    change the links' loads."""
    ci = st.ci
    n_rl = ci[N_RL]
    acc = st.lacc
    for k in range(n_rl):
        acc[k] = 0.0
    for k in range(ci[N_REG]):
        s = st.regslot[k]
        old = st.srate[s]
        new = rates[k]
        for z in range(st.sz0[s], st.sz0[s] + st.snz[s]):
            acc[st.llocal[st.zlink[z]]] += (new - old) * st.zfrac[z]
        left = st.srem[s] - old * (t - st.st0[s])
        if left < 0.0:
            left = 0.0
        st.srem[s] = left
        st.st0[s] = t
        st.srate[s] = new
        st.snew[s] = False
        st.sfin[s] = t + left / new if new > 0.0 else np.inf
        _heap_set(st, s)
    for k in range(n_rl):
        if acc[k] != 0.0:
            _add_load(st, st.reglink[k], acc[k], t)
    ci[SOLVES] += 1
    ci[SOLVED] += ci[N_REG]


@numba.njit(cache=True, nogil=True)
def end_instant(st: FluidState, t: float) -> None:  # pragma: no cover
    """Close instant ``t``: log the timeline row."""
    _log_row(st, t)


@numba.njit(cache=True, nogil=True)
def next_time(st: FluidState) -> float:  # pragma: no cover
    """When the next flow's last byte is due (inf if none)."""
    if st.ci[HEAP_N] == 0:
        return np.inf
    return st.sfin[st.heap[0]]


@numba.njit(cache=True, nogil=True)
def run_events(st: FluidState, now: float, limit: float, q: float,  # pragma: no cover
               g_rem: np.ndarray, g_end: np.ndarray, end_rec: np.ndarray, end_base: int,
               done: np.ndarray, budget: int) -> float:
    """Handle instant ``now`` (with the flows released since the last call), then every
    later instant before ``limit`` (the next event outside the network), stopping early when
    a transfer completes (its event fires no later than the new limit) or after ``budget``
    instants. Completed transfers are in ``done[:ci[DONE_N]]``. Returns the next instant
    (inf if no flow is active)."""
    st.ci[DONE_N] = 0
    t = now
    for _ in range(budget):
        limit = begin_instant(st, t, limit, q, g_rem, g_end, end_rec, end_base, done)
        if st.ci[N_REG] > 0:
            while True:
                n = region_problem(st)
                rates = progressive_filling(st.elink[:n], st.eflow[:n], st.efrac[:n],
                                            st.resid[:st.ci[N_RL]], st.ci[N_REG], SAME_LEVEL)
                if not check_cuts(st, rates):
                    break
            settle(st, t, rates)
        end_instant(st, t)
        t = next_time(st)
        if t >= limit:
            break
    return next_time(st)
