"""The fluid network's compiled state and event loop (numba).

:class:`~mpft_sim.network.FluidNetwork` keeps its state in the arrays of one
:class:`FluidState` and hands the event loop to :func:`run_events`: completions follow one
another in compiled code (due flows, the region an event can change, its re-solve, settling,
link accounting, the timeline, the next completion) until the next event SimPy knows of, or
until a transfer completes and its SimPy event must fire. Python releases flows
(:func:`add_flows`) and fires transfer events. docs/engine.md explains the algorithm and why
it is exact; in short:

Bundles. A link is *tight* when it may bind a flow (every saturated link is tight) and
*loose* otherwise. Flows with the same entries (link, fraction) on tight links form a
*bundle*: max-min fairness gives them one rate, so the re-solve sees one weighted flow per
bundle, and a bundle keeps one virtual clock (bytes each member has been served) instead of
every member's bytes left. A loose link about to saturate becomes tight (its flows move to the
bundles of their longer signature); a tight link well below capacity becomes loose (bundles
merge). Loads of loose links are kept exactly, member by member.

Region. Progressive filling is unchanged below the lowest level ``L`` an event can reach (the
smallest rate of a departing flow; for an arriving flow the smallest ``capacity / flows`` over
its links). From the saturated tight links the event touches, grow over link -> bundle
adjacency, admitting bundles at or above ``L`` (and new ones), expanding only through
saturated tight links; other tight links reached are *cut*. Re-solve the region over the
capacity the others leave (only tight links are constraints). Then check: a cut link that
would fill is expanded, a loose link that would saturate is tightened, and the region is
re-solved. Every flow of the region then has its bottleneck on an expanded link, every other
flow keeps its bottleneck untouched, and loose links are slack: the result is the max-min
allocation of the new flow set.

Layout: flows live in *slots*, their links in the arena ``Z`` (one entry per distinct link,
threaded on per-link lists); bundles' tight entries in the arena ``Y`` (threaded on per-link
lists of bundles); each bundle's members in a list and in a pairing heap by virtual finish;
bundles in an indexed binary heap by their next finish time; signatures in an open-addressing
hash table. Fields are columns of a few item-major 2-D arrays (one per entity and dtype),
because numba increfs every array of a tuple argument at each call: helpers in hot loops take
only the arrays they use.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from mpft_sim._kernels import progressive_filling

# -- columns of the per-item arrays (item-major: one item's fields share a cache line) -------
# LF (float64, one row per link)
L_CAP, L_LOAD, L_SINCE, L_BUSY, L_SAT, L_HOT, L_PEAK, L_NFL = range(8)
N_LF = 8
# LI (int64, one row per link)
L_GOL, L_TIGHT, L_ZHEAD, L_YHEAD, L_MARK, L_LOCAL, L_KIND, L_SEEDSTAMP, L_XLOC = range(9)
N_LI = 9
# LX (float64, one row per link): a loose link's change of load in this check, its stamp
# SI (int64, one row per slot)
S_FLOW, S_GROUP, S_Z0, S_NZ, S_BUND, S_HCHILD, S_HSIB, S_HPREV, S_MNEXT, S_MPREV = range(10)
N_SI = 10
# SF (float64, one row per slot): release time, latency, virtual finish (the bundle clock's
# value at the last byte)
S_START, S_LAT, S_F = range(3)
N_SF = 3
# BI (int64, one row per bundle)
(B_W, B_ROOT, B_MEM, B_HPOS, B_MARK, B_LOCAL, B_NEW, B_Y0, B_YN, B_HASH, B_TWIN, B_CANON,
 B_INPEND, B_X0, B_XN, B_XDIRTY, B_TGT, B_TGTSTAMP) = range(18)
N_BI = 18
# BF (float64, one row per bundle): rate, virtual clock, its time, next finish time
# ..., the latest release of a member, the fraction of the last re-bundling target
B_RATE, B_V, B_T0, B_TNEXT, B_LATEST, B_TGTFRAC = range(6)
N_BF = 6
# -- lists (one row per list) -----------------------------------------------------------------
L_RESID, L_ACC, L_SIGF = range(3)  # LLF, by region link / signature position
N_LLF = 3
L_REG, L_QUEUE, L_SEED, L_SEEDSAT, L_FORCED, L_LOOSE, L_SIGL = range(7)  # LLI
N_LLI = 7
S_FREE, S_CAND, S_CBUND = range(3)  # SL: free slots; batch candidates and their bundles
N_SL = 3
C_FIN, C_GEND, C_LEFT = range(3)  # SLF: candidates' finish, transfer's end before, bytes left
N_SLF = 3
# BL: free bundles, heap, region, new bundles, bundles a tolerance batch holds out of the heap
B_FREE, B_HEAP, B_REG, B_PEND, B_STASH = range(5)
N_BL = 5
# -- rows of the arenas -------------------------------------------------------------------------
Z_LINK, Z_SLOT, Z_NEXT, Z_PREV = range(4)  # ZI (a row per entry); ZF the fractions
N_ZI = 4
Y_LINK, Y_BUND, Y_NEXT, Y_PREV = range(4)  # YI (a row per entry); YF the fractions
N_YI = 4
E_LINK, E_FLOW = range(2)  # EI: the sharing problem's entries (a row per column); EF
# XI holds each bundle's loose links (summed over its members), XF their fractions

# -- integer counters (FluidState.CI) -----------------------------------------------------------
HWM = 0  # slots ever used (high-water mark)
FREE_N = 1  # free slots on the stack
B_HWM = 2  # bundles ever used
B_FREE_N = 3  # free bundles on the stack
HEAP_N = 4  # bundles in the finish-time heap
Z_N = 5  # flow entries used in the arena (live and garbage)
Z_LIVE = 6
Y_N = 7  # bundle entries used in the arena (live and garbage)
Y_LIVE = 8
EPOCH = 9  # region stamp
EPOCH2 = 10  # loose-link stamp
SOLVES = 11  # re-solves
SOLVED = 12  # flows re-solved (bundle members), summed over re-solves
BUNDLES_SOLVED = 13  # bundles re-solved, summed over re-solves
TL_N = 14  # timeline rows logged
TL_OVER = 15  # 1 once the rows overflowed: the timeline is binned
PEND_N = 16  # bundles of flows released since the last event
N_REG = 17  # bundles in the region
N_RL = 18  # links in the region (expanded and cut)
Q_HEAD = 19  # BFS queue of links to expand
Q_TAIL = 20
N_ACTIVE = 21  # active flows
N_BUNDLES = 22  # live bundles
EXPAND = 23  # cut links expanded after a re-solve
TIGHTEN = 24  # loose links tightened
LOOSEN = 25  # tight links loosened
EVENTS = 26  # distinct instants handled
N_ENT = 27  # entries of the region's sharing problem
DONE_N = 28  # transfers completed in this call
N_SEED = 29  # seed links of this instant
N_FORCED = 30  # links forced into the region (tightened this instant)
N_LOOSE = 31  # loose links whose load the region changes
H_USED = 32  # hash table: live keys
H_DEAD = 33  # hash table: deleted keys
MOVES = 34  # flows moved between bundles (tightening, loosening, merging)
LOOSE_VISITS = 35  # loose entries visited for loose-link loads
BFS_VISITS = 36  # bundle entries visited growing regions
X_N = 37  # loose-list entries used (live and garbage)
X_LIVE = 38
N_CI = 39

# -- float scalars (FluidState.CF) --------------------------------------------------------------
BIN_W = 0  # width of a timeline bin
BIN_T = 1  # the timeline is integrated up to this time
LEVEL = 2  # the current event's level
N_CF = 3

SAT = 1e-7  # a link at or above (1 - SAT) of capacity is saturated
LOOSE = 0.05  # a tight link this far below capacity after a re-solve becomes loose
LEVEL_SLACK = 1e-9  # bundles within this of the level are re-solved with it
SAME_LEVEL = 1e-9  # progressive filling merges fill levels this close (sharing.SAME_LEVEL)
HOT = 0.9  # a link is "hot" at or above this fraction of capacity
REBASE = float(1 << 20)  # a bundle's clock restarts from 0 past this many bytes
TL_ROWS = 1 << 16  # exact timeline rows kept before switching to bins
TL_BINS = 1 << 15  # timeline bins (each holds the exact integral of load over it)
TL_BIN0 = 1e-9  # first bin width; doubles (bins merge pairwise) as time goes on
EMPTY = -1  # hash table slot never used
DEAD = -2  # hash table slot of a deleted key
MASK62 = 0x3FFFFFFFFFFFFFFF


class FluidState(NamedTuple):
    """Every array of the compiled fluid network.

    Per item (a row each, columns named by the module's ``L_*``, ``S_*``, ``B_*``
    constants): links ``LF``/``LI`` (and the scratch ``LX``), slots ``SF``/``SI``, bundles
    ``BF``/``BI``. Lists (a
    row each): ``LLF``/``LLI`` (region links, queues, seeds, a signature being built),
    ``SL``/``SLF`` (free slots, batch candidates), ``BL`` (free bundles, the heap, the region,
    new bundles) and the
    heap's keys ``HK``. Arenas (a row per entry): flow entries ``ZI``/``ZF``, bundle entries
    ``YI``/``YF``; the sharing problem ``EI``/``EF``, each bundle's loose links ``XI``/``XF``.
    Also the load of each (plane, tier) group ``GL``, the
    signature table ``HT``, the timeline (rows ``TLT``/``TLL``, bins ``BINS``) and the
    counters ``CI``/``CF``.
    """

    LF: np.ndarray
    LI: np.ndarray
    LLF: np.ndarray
    LLI: np.ndarray
    LX: np.ndarray
    GL: np.ndarray
    SI: np.ndarray
    SF: np.ndarray
    SL: np.ndarray
    SLF: np.ndarray
    BI: np.ndarray
    BF: np.ndarray
    BL: np.ndarray
    HK: np.ndarray
    ZI: np.ndarray
    ZF: np.ndarray
    YI: np.ndarray
    YF: np.ndarray
    EI: np.ndarray
    EF: np.ndarray
    XI: np.ndarray
    XF: np.ndarray
    HT: np.ndarray
    TLT: np.ndarray
    TLL: np.ndarray
    BINS: np.ndarray
    CI: np.ndarray
    CF: np.ndarray


_SLOT_INIT = (S_BUND, S_HCHILD, S_HSIB, S_HPREV, S_MNEXT, S_MPREV)  # columns starting at -1
_BUNDLE_INIT = (B_ROOT, B_MEM, B_HPOS, B_TWIN, B_Y0)


def new_state(capacity: np.ndarray, group_of_link: np.ndarray, n_groups: int,
              slots: int = 1024, entries: int = 4096) -> FluidState:
    """An empty network over links of the given capacities (all loose)."""
    n = len(capacity)
    LF = np.zeros((n, N_LF))
    LF[:, L_CAP] = capacity
    LI = np.zeros((n, N_LI), np.int64)
    LI[:, L_GOL] = group_of_link
    LI[:, [L_ZHEAD, L_YHEAD, L_LOCAL, L_XLOC]] = -1
    SI = np.zeros((slots, N_SI), np.int64)
    SI[:, list(_SLOT_INIT)] = -1
    BI = np.zeros((slots + 1, N_BI), np.int64)
    BI[:, list(_BUNDLE_INIT)] = -1
    CF = np.zeros(N_CF)
    CF[BIN_W] = TL_BIN0
    return FluidState(
        LF=LF, LI=LI, LLF=np.zeros((N_LLF, n)), LLI=np.zeros((N_LLI, n), np.int64),
        LX=np.zeros((n, 2)), GL=np.zeros(n_groups), SI=SI, SF=np.zeros((slots, N_SF)),
        SL=np.zeros((N_SL, slots), np.int64), SLF=np.zeros((N_SLF, slots)), BI=BI,
        BF=np.zeros((slots + 1, N_BF)),
        BL=np.zeros((N_BL, slots + 1), np.int64), HK=np.zeros(slots + 1),
        ZI=np.zeros((entries, N_ZI), np.int64), ZF=np.zeros(entries),
        YI=np.zeros((2 * entries, N_YI), np.int64), YF=np.zeros(2 * entries),
        EI=np.zeros((2, 2 * entries), np.int64), EF=np.zeros(2 * entries),
        XI=np.zeros(2 * entries, np.int64),
        XF=np.zeros(2 * entries), HT=np.full(_table_size(slots + 1), EMPTY, np.int64),
        TLT=np.zeros(TL_ROWS), TLL=np.zeros((TL_ROWS, n_groups), np.float32),
        BINS=np.zeros((TL_BINS, n_groups)), CI=np.zeros(N_CI, np.int64), CF=CF)


def _table_size(bundles: int) -> int:
    return 1 << max(4, int(4 * bundles - 1).bit_length())


def _longer(old: np.ndarray, size: int, init: tuple[int, ...] = ()) -> np.ndarray:
    """Item-major ``old`` with ``size`` rows (new rows zero, or -1 in columns ``init``)."""
    new = np.zeros((size, *old.shape[1:]), dtype=old.dtype)
    new[:len(old)] = old
    for col in init:
        new[len(old):, col] = -1
    return new


def _wider(old: np.ndarray, size: int) -> np.ndarray:
    """Lists (or an arena) ``old`` with room for ``size`` items each."""
    new = np.zeros((*old.shape[:-1], size), dtype=old.dtype)
    new[..., :old.shape[-1]] = old
    return new


def grow(state: FluidState, slots: int, entries: int) -> FluidState:
    """``state`` with room for at least ``slots`` flows and ``entries`` flow entries (the
    bundle arena is kept at twice the flow arena, which bounds what re-bundling needs)."""
    out = state
    size = state.SI.shape[0]
    if slots > size:
        new = max(slots, 2 * size)
        out = out._replace(
            SI=_longer(state.SI, new, _SLOT_INIT), SF=_longer(state.SF, new),
            SL=_wider(state.SL, new), SLF=_wider(state.SLF, new),
            BI=_longer(state.BI, new + 1, _BUNDLE_INIT),
            BF=_longer(state.BF, new + 1), BL=_wider(state.BL, new + 1),
            HK=_wider(state.HK, new + 1),
            HT=np.full(_table_size(new + 1), EMPTY, np.int64))
        rehash(out.HT, out.BI, out.CI)
    size = state.ZI.shape[0]
    if entries > size:
        new = max(entries, 2 * size)
        out = out._replace(ZI=_longer(state.ZI, new), ZF=_wider(state.ZF, new),
                           YI=_longer(state.YI, 2 * new), YF=_wider(state.YF, 2 * new),
                           EI=_wider(state.EI, 2 * new), EF=_wider(state.EF, 2 * new),
                           XI=_wider(state.XI, 2 * new), XF=_wider(state.XF, 2 * new))
    return out


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
def _b_remove(BI: np.ndarray, BL: np.ndarray, HK: np.ndarray, CI: np.ndarray,  # pragma: no cover
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
def _refresh(BI: np.ndarray, BL: np.ndarray, HK: np.ndarray, BF: np.ndarray,  # pragma: no cover
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
def _meld(SI: np.ndarray, SF: np.ndarray, a: int, b: int) -> int:  # pragma: no cover
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
            m = _meld(SI, SF, x, y)
        SI[m, S_HSIB] = acc
        acc = m
        x = nxt
    root = -1
    while acc >= 0:
        nxt = SI[acc, S_HSIB]
        SI[acc, S_HSIB] = -1
        root = _meld(SI, SF, root, acc)
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
        BI[b, B_ROOT] = _meld(SI, SF, BI[b, B_ROOT], sub)
    SI[s, S_HCHILD] = -1
    SI[s, S_HSIB] = -1
    SI[s, S_HPREV] = -1


@numba.njit(cache=True, nogil=True, inline="always")
def _advance(SI: np.ndarray, SF: np.ndarray, BI: np.ndarray, BF: np.ndarray,  # pragma: no cover
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
def _join(SI: np.ndarray, SF: np.ndarray, BI: np.ndarray, BF: np.ndarray,  # pragma: no cover
          b: int, s: int, left: float, t: float) -> None:
    """Slot ``s``, with ``left`` bytes to go, joins bundle ``b`` at time ``t``."""
    _advance(SI, SF, BI, BF, b, t)
    SI[s, S_BUND] = b
    SF[s, S_F] = BF[b, B_V] + left
    if SF[s, S_START] > BF[b, B_LATEST]:
        BF[b, B_LATEST] = SF[s, S_START]
    SI[s, S_HCHILD] = -1
    SI[s, S_HSIB] = -1
    SI[s, S_HPREV] = -1
    BI[b, B_ROOT] = _meld(SI, SF, BI[b, B_ROOT], s)
    h = BI[b, B_MEM]
    SI[s, S_MNEXT] = h
    SI[s, S_MPREV] = -1
    if h >= 0:
        SI[h, S_MPREV] = s
    BI[b, B_MEM] = s
    BI[b, B_W] += 1
    BI[b, B_XDIRTY] = 1


@numba.njit(cache=True, nogil=True, inline="always")
def _leave(SI: np.ndarray, SF: np.ndarray, BI: np.ndarray, BF: np.ndarray,  # pragma: no cover
           b: int, s: int, t: float) -> float:
    """Slot ``s`` leaves bundle ``b`` at time ``t``; return its bytes left (the bundle
    itself is deleted by the caller when empty)."""
    _advance(SI, SF, BI, BF, b, t)
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


# -- signatures: hashing, the table, bundle entries --------------------------------------------

@numba.njit(cache=True, nogil=True, inline="always")
def _entry_hash(link: int, frac: float) -> int:  # pragma: no cover
    # every step stays below 2**62, so numba and plain Python agree (no wrap-around)
    x = (link & 0xFFFFFFF) * 0x9E3779B1 + (int(frac * 16777216.0) & 0xFFFFFF) * 0x85EBCA77
    x = (x ^ (x >> 29)) & 0xFFFFFFFF
    return (x * 0x27D4EB2F) & MASK62


@numba.njit(cache=True, nogil=True, inline="always")
def _sig_of(SI: np.ndarray, ZI: np.ndarray, ZF: np.ndarray, LI: np.ndarray,  # pragma: no cover
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
def _find(HT: np.ndarray, BI: np.ndarray, YI: np.ndarray, YF: np.ndarray,  # pragma: no cover
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
def rehash(HT: np.ndarray, BI: np.ndarray, CI: np.ndarray) -> None:  # pragma: no cover
    """Rebuild the signature table from the canonical bundles."""
    HT[:] = EMPTY
    CI[H_USED] = 0
    CI[H_DEAD] = 0
    mask = HT.shape[0] - 1
    for b in range(CI[B_HWM]):
        if BI[b, B_CANON]:
            i = BI[b, B_HASH] & mask
            while HT[i] >= 0:
                i = (i + 1) & mask
            HT[i] = b
            CI[H_USED] += 1


@numba.njit(cache=True, nogil=True)
def _table_put(HT: np.ndarray, BI: np.ndarray, CI: np.ndarray, b: int) -> None:  # pragma: no cover
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
def _table_drop(HT: np.ndarray, BI: np.ndarray, CI: np.ndarray, b: int) -> None:  # pragma: no cover
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
    """Move the live bundle entries to the front of their arena; rebuild the link lists."""
    n = CI[B_HWM]
    live = np.empty(n, np.int64)
    m = 0
    for b in range(n):
        if BI[b, B_YN] > 0:
            live[m] = b
            m += 1
    live = live[:m]
    order = np.argsort(BI[:, B_Y0][live], kind="mergesort")
    y = 0
    for k in range(m):
        b = live[order[k]]
        src = BI[b, B_Y0]
        for e in range(BI[b, B_YN]):
            YI[y + e, Y_LINK] = YI[src + e, Y_LINK]
            YF[y + e] = YF[src + e]
            YI[y + e, Y_BUND] = b
        BI[b, B_Y0] = y
        y += BI[b, B_YN]
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
def _set_entries(BI: np.ndarray, YI: np.ndarray, YF: np.ndarray, LI: np.ndarray,  # pragma: no cover
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
def _drop_entries(BI: np.ndarray, YI: np.ndarray, LI: np.ndarray,  # pragma: no cover
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
    _set_entries(BI, YI, YF, LI, LLI, LLF, CI, b, n)
    canon = _find(HT, BI, YI, YF, LLI, LLF, n, h)
    if canon < 0:
        _table_put(HT, BI, CI, b)
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
def _delete_bundle(BI: np.ndarray, BL: np.ndarray, HK: np.ndarray,  # pragma: no cover
                   HT: np.ndarray, YI: np.ndarray, LI: np.ndarray, CI: np.ndarray,
                   b: int) -> None:
    """Forget an empty bundle."""
    twin = BI[b, B_TWIN]
    if twin >= 0:
        BI[twin, B_TWIN] = -1
    if BI[b, B_CANON]:
        _table_drop(HT, BI, CI, b)
        if twin >= 0:  # its twin takes over the signature
            _table_put(HT, BI, CI, twin)
    BI[b, B_TWIN] = -1
    _drop_entries(BI, YI, LI, CI, b)
    CI[X_LIVE] -= BI[b, B_XN]
    BI[b, B_XN] = 0
    _b_remove(BI, BL, HK, CI, b)
    BI[b, B_W] = 0
    BI[b, B_NEW] = 0
    BL[B_FREE, CI[B_FREE_N]] = b
    CI[B_FREE_N] += 1
    CI[N_BUNDLES] -= 1


@numba.njit(cache=True, nogil=True, inline="always")
def _home(BI: np.ndarray, BF: np.ndarray, BL: np.ndarray, CI: np.ndarray,  # pragma: no cover
          YI: np.ndarray, YF: np.ndarray, LI: np.ndarray, LLI: np.ndarray, LLF: np.ndarray,
          HT: np.ndarray, n: int, h: int, rate: float, t: float, pending: bool) -> int:
    """The bundle a flow of the signature in lists L_SIGL/L_SIGF[:n] goes to: the canonical
    one if it is of the same kind (pending, or settled), else its twin, made if needed."""
    c = _find(HT, BI, YI, YF, LLI, LLF, n, h)
    if c >= 0 and (BI[c, B_NEW] != 0) == pending:
        return c
    if c >= 0 and BI[c, B_TWIN] >= 0:
        return BI[c, B_TWIN]
    return _new_bundle(BI, BF, BL, CI, YI, YF, LI, LLI, LLF, HT, n, h, rate, t, pending)


# -- link accounting --------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True, inline="always")
def _add_load(LF: np.ndarray, LI: np.ndarray, GL: np.ndarray, i: int,  # pragma: no cover
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
def _integrate(BINS: np.ndarray, GL: np.ndarray, CF: np.ndarray,  # pragma: no cover
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
def _tighten(st: FluidState, i: int, t: float) -> None:  # pragma: no cover
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
            n, h = _sig_of(SI, ZI, ZF, LI, LLI, LLF, s, -1)
            c = _home(BI, BF, BL, CI, YI, YF, LI, LLI, LLF, HT, n, h, rate, t, pending)
            BI[b, B_TGTSTAMP] = stamp
            BI[b, B_TGT] = c
            BF[b, B_TGTFRAC] = f
        left = _leave(SI, SF, BI, BF, b, s, t)
        CI[MOVES] += 1
        _join(SI, SF, BI, BF, c, s, left, t)
        if not pending:
            _refresh(BI, BL, HK, BF, SF, CI, c)
        if BI[b, B_W] == 0:
            _delete_bundle(BI, BL, HK, HT, YI, LI, CI, b)
        elif not pending:
            _refresh(BI, BL, HK, BF, SF, CI, b)


@numba.njit(cache=True, nogil=True, inline="always")
def _move_all(SI: np.ndarray, SF: np.ndarray, BI: np.ndarray, BF: np.ndarray,  # pragma: no cover
              BL: np.ndarray, HK: np.ndarray, HT: np.ndarray, CI: np.ndarray, ZI: np.ndarray,
              ZF: np.ndarray, LF: np.ndarray, LI: np.ndarray, GL: np.ndarray, YI: np.ndarray,
              b: int, c: int, t: float) -> None:
    """Move every member of bundle ``b`` into ``c`` (settled, same signature); the loads
    follow ``c``'s rate. The members' virtual finishes shift by one constant, so ``b``'s
    heap melds into ``c``'s whole."""
    _advance(SI, SF, BI, BF, b, t)
    _advance(SI, SF, BI, BF, c, t)
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
                _add_load(LF, LI, GL, ZI[z, Z_LINK], delta * ZF[z], t)
        tail = s
        s = SI[s, S_MNEXT]
    if tail >= 0:
        head = BI[c, B_MEM]
        SI[tail, S_MNEXT] = head
        if head >= 0:
            SI[head, S_MPREV] = tail
        BI[c, B_MEM] = BI[b, B_MEM]
        BI[c, B_ROOT] = _meld(SI, SF, BI[c, B_ROOT], BI[b, B_ROOT])
        BI[c, B_W] += BI[b, B_W]
        BF[c, B_LATEST] = max(BF[c, B_LATEST], BF[b, B_LATEST])
        BI[c, B_XDIRTY] = 1
    BI[b, B_MEM] = -1
    BI[b, B_ROOT] = -1
    BI[b, B_W] = 0
    _delete_bundle(BI, BL, HK, HT, YI, LI, CI, b)
    _refresh(BI, BL, HK, BF, SF, CI, c)


@numba.njit(cache=True, nogil=True)
def _loosen(st: FluidState, i: int, t: float) -> None:  # pragma: no cover
    """Make tight link ``i`` (below capacity) loose: each bundle on it drops ``i`` from its
    signature, merging into the bundle of the shorter signature if there is one."""
    SI, SF, BI, BF, BL, HK, CI = st.SI, st.SF, st.BI, st.BF, st.BL, st.HK, st.CI
    ZI, ZF, LI, LLI, LLF, YI, YF, HT = st.ZI, st.ZF, st.LI, st.LLI, st.LLF, st.YI, st.YF, st.HT
    LF, GL = st.LF, st.GL
    LI[i, L_TIGHT] = 0
    CI[LOOSEN] += 1
    while LI[i, L_YHEAD] >= 0:
        b = YI[LI[i, L_YHEAD], Y_BUND]
        n, h = _sig_of(SI, ZI, ZF, LI, LLI, LLF, BI[b, B_MEM], i)
        c = _find(HT, BI, YI, YF, LLI, LLF, n, h)
        if c >= 0:
            _move_all(SI, SF, BI, BF, BL, HK, HT, CI, ZI, ZF, LF, LI, GL, YI, b, c, t)
        else:
            _table_drop(HT, BI, CI, b)
            _drop_entries(BI, YI, LI, CI, b)
            BI[b, B_HASH] = h
            BI[b, B_XDIRTY] = 1
            _set_entries(BI, YI, YF, LI, LLI, LLF, CI, b, n)
            _table_put(HT, BI, CI, b)


@numba.njit(cache=True, nogil=True)
def compact_x(BI: np.ndarray, XI: np.ndarray, XF: np.ndarray,  # pragma: no cover
              CI: np.ndarray) -> None:
    """Move the live loose lists to the front of their arena."""
    n = CI[B_HWM]
    live = np.empty(n, np.int64)
    m = 0
    for b in range(n):
        if BI[b, B_XN] > 0:
            live[m] = b
            m += 1
    live = live[:m]
    order = np.argsort(BI[:, B_X0][live], kind="mergesort")
    x = 0
    for k in range(m):
        b = live[order[k]]
        src = BI[b, B_X0]
        for e in range(BI[b, B_XN]):
            XI[x + e] = XI[src + e]
            XF[x + e] = XF[src + e]
        BI[b, B_X0] = x
        x += BI[b, B_XN]
    CI[X_N] = x
    CI[X_LIVE] = x


@numba.njit(cache=True, nogil=True, inline="always")
def _loose_list(SI: np.ndarray, BI: np.ndarray, ZI: np.ndarray, ZF: np.ndarray,  # pragma: no cover
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
        compact_x(BI, XI, XF, CI)
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


# -- releasing flows --------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
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
    slots = np.empty(n_new, np.int64)
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
        n, h = _sig_of(SI, ZI, ZF, LI, LLI, LLF, s, -1)
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
            _tighten(st, best, now)
            n, h = _sig_of(SI, ZI, ZF, LI, LLI, LLF, s, -1)
        b = _home(BI, BF, BL, CI, YI, YF, LI, LLI, LLF, HT, n, h, 0.0, now, True)
        _join(SI, SF, BI, BF, b, s, size[k], now)


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


# -- one instant: departures, region, re-solve, checks, settling -----------------------------

@numba.njit(cache=True, nogil=True, inline="always")
def _seed(LI: np.ndarray, LLI: np.ndarray, LF: np.ndarray, CI: np.ndarray,
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
def _depart(SI: np.ndarray, SF: np.ndarray, SL: np.ndarray, ZI: np.ndarray,  # pragma: no cover
            ZF: np.ndarray, LI: np.ndarray, LLI: np.ndarray, LF: np.ndarray, GL: np.ndarray,
            CI: np.ndarray, s: int, rate: float, t: float, served: float, g_rem: np.ndarray,
            g_end: np.ndarray, end_rec: np.ndarray, end_base: int, done: np.ndarray) -> float:
    """Slot ``s`` (out of its bundle, which ran at ``rate``) served its last byte at
    ``served``; the event is at ``t``. Free its bandwidth and slot, record its end; return
    the time its transfer's event fires (inf if the transfer is not complete)."""
    for e in range(SI[s, S_Z0], SI[s, S_Z0] + SI[s, S_NZ]):
        i = ZI[e, Z_LINK]
        if LI[i, L_TIGHT]:
            _seed(LI, LLI, LF, CI, i)
        _add_load(LF, LI, GL, i, -rate * ZF[e], t)
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
def _expand(LI: np.ndarray, LLI: np.ndarray, CI: np.ndarray, i: int) -> None:  # pragma: no cover
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
        _expand(LI, LLI, CI, i)


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
def _grow(BI: np.ndarray, BF: np.ndarray, BL: np.ndarray, YI: np.ndarray,  # pragma: no cover
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
def _start_region(BI: np.ndarray, BF: np.ndarray, BL: np.ndarray,  # pragma: no cover
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
            _expand(LI, LLI, CI, i)
    for k in range(CI[PEND_N]):
        b = BL[B_PEND, k]
        if BI[b, B_NEW] and BI[b, B_W] > 0 and BI[b, B_MARK] != epoch:
            _admit(BI, BL, YI, LI, LLI, LF, CI, b)
    _grow(BI, BF, BL, YI, LI, LLI, LF, CI, CF)


@numba.njit(cache=True, nogil=True)
def _batch(st: FluidState, t: float, limit: float, qt: float, level: float,  # pragma: no cover
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
    SI, SF, BI, BF, CI, LI, LF = st.SI, st.SF, st.BI, st.BF, st.CI, st.LI, st.LF
    SL, SLF, BL, HK, LLI, ZI = st.SL, st.SLF, st.BL, st.HK, st.LLI, st.ZI
    if level == np.inf:
        return 0
    st.CF[LEVEL] = level
    _start_region(BI, BF, BL, st.YI, LI, LLI, LF, CI, st.CF)  # the region of the flows due now
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
            _b_remove(BI, BL, HK, CI, b)
            BL[B_STASH, stashed] = b  # apart from the candidates: both can near fill a row
            stashed += 1
            continue
        SLF[C_LEFT, n] = _leave(SI, SF, BI, BF, b, s, t)
        _refresh(BI, BL, HK, BF, SF, CI, b)
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
        _refresh(BI, BL, HK, BF, SF, CI, BL[B_STASH, k])
    # undo the tentative group counts, newest first
    for k in range(n - 1, -1, -1):
        g = SI[SL[S_CAND, k], S_GROUP]
        g_rem[g] += 1
        g_end[g] = SLF[C_GEND, k]
    if n == 0:
        return 0
    # the region these departures reach, and the youngest flow in it
    for k in range(n):
        s = SL[S_CAND, k]
        for e in range(SI[s, S_Z0], SI[s, S_Z0] + SI[s, S_NZ]):
            i = ZI[e, Z_LINK]
            if LI[i, L_TIGHT]:
                _seed(LI, LLI, LF, CI, i)
    _start_region(BI, BF, BL, st.YI, LI, LLI, LF, CI, st.CF)
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
        _join(SI, SF, BI, BF, b, s, SLF[C_LEFT, k], t)
        _refresh(BI, BL, HK, BF, SF, CI, b)
    return keep


@numba.njit(cache=True, nogil=True)
def begin_instant(st: FluidState, t: float, limit: float, q: float, qt: float,  # pragma: no cover
                  g_rem: np.ndarray, g_end: np.ndarray, end_rec: np.ndarray, end_base: int,
                  done: np.ndarray) -> float:
    """Start the events of instant ``t``: complete the due flows (finish time within ``q`` of
    their own duration; in tolerance mode, ``qt > 0``, also those :func:`_batch` takes),
    take the released ones, grow the region. Returns the new limit (the earliest time a
    completed transfer's event fires, or ``limit``)."""
    HK = st.HK
    LLI, BL, SL, SLF = st.LLI, st.BL, st.SL, st.SLF
    SI, SF, BI, BF, CI, ZI, LI, LF = st.SI, st.SF, st.BI, st.BF, st.CI, st.ZI, st.LI, st.LF
    _integrate(st.BINS, st.GL, st.CF, t)
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
        _advance(SI, SF, BI, BF, b, t)
        while BI[b, B_ROOT] >= 0:
            s = BI[b, B_ROOT]
            fin = t + (SF[s, S_F] - BF[b, B_V]) / rate
            if fin - t > q * max(fin - SF[s, S_START], 0.0):
                break
            _leave(SI, SF, BI, BF, b, s, t)
            limit = min(limit, _depart(SI, SF, SL, ZI, st.ZF, LI, LLI, LF, st.GL, CI, s,
                                       rate, t, max(fin, t), g_rem, g_end, end_rec,
                                       end_base, done))
        if BI[b, B_W] == 0:
            _delete_bundle(BI, st.BL, st.HK, st.HT, st.YI, st.LI, st.CI, b)
        else:
            _refresh(BI, BL, HK, BF, SF, CI, b)
    if qt > 0.0 and CI[PEND_N] == 0:
        n = _batch(st, t, limit, qt, level, g_rem, g_end)
        for k in range(n):
            s = SL[S_CAND, k]
            b = SL[S_CBUND, k]
            rate = BF[b, B_RATE]
            if rate < level:
                level = rate
            limit = min(limit, _depart(SI, SF, SL, ZI, st.ZF, LI, LLI, LF, st.GL, CI, s,
                                       rate, t, SLF[C_FIN, k], g_rem, g_end, end_rec,
                                       end_base, done))
            if BI[b, B_W] == 0 and BI[b, B_HPOS] >= 0:  # emptied, not yet deleted
                _delete_bundle(BI, st.BL, st.HK, st.HT, st.YI, st.LI, st.CI, b)
    for k in range(CI[PEND_N]):
        b = BL[B_PEND, k]
        if BI[b, B_NEW] == 0 or BI[b, B_W] == 0:
            continue
        s = BI[b, B_MEM]
        while s >= 0:
            for e in range(SI[s, S_Z0], SI[s, S_Z0] + SI[s, S_NZ]):
                i = ZI[e, Z_LINK]
                if LI[i, L_TIGHT]:
                    _seed(LI, LLI, LF, CI, i)
                share = LF[i, L_CAP] / LF[i, L_NFL]
                if share < level:
                    level = share
            s = SI[s, S_MNEXT]
    st.CF[LEVEL] = level
    _start_region(BI, BF, BL, st.YI, LI, LLI, LF, CI, st.CF)
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
            _expand(LI, LLI, CI, i)
            grew = True
    if grew:
        CI[EXPAND] += 1
        _grow(BI, BF, BL, st.YI, LI, LLI, LF, CI, st.CF)
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
            _loose_list(st.SI, BI, st.ZI, st.ZF, LI, XI, XF, CI, b)
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
            _tighten(st, i, t)
            LLI[L_FORCED, CI[N_FORCED]] = i
            CI[N_FORCED] += 1
            tightened = True
    if tightened:
        _start_region(BI, BF, BL, st.YI, LI, LLI, LF, CI, st.CF)
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
            _advance(SI, SF, BI, BF, b, t)
            BF[b, B_RATE] = new
            _refresh(BI, BL, HK, BF, SF, CI, b)
    for k in range(n_rl):
        if LLF[L_ACC, k] != 0.0:
            _add_load(LF, LI, GL, LLI[L_REG, k], LLF[L_ACC, k], t)
    for k in range(CI[N_LOOSE]):
        i = LLI[L_LOOSE, k]
        _add_load(LF, LI, GL, i, LX[i, 0], t)
    CI[N_LOOSE] = 0
    CI[SOLVES] += 1
    CI[SOLVED] += members
    CI[BUNDLES_SOLVED] += CI[N_REG]
    for k in range(CI[N_REG]):
        b = BL[B_REG, k]
        if BI[b, B_NEW]:
            BI[b, B_NEW] = 0
            if BI[b, B_TWIN] >= 0:
                _move_all(SI, SF, BI, BF, BL, HK, st.HT, CI, st.ZI, st.ZF, LF, LI, GL, YI,
                          b, BI[b, B_TWIN], t)
    for k in range(CI[PEND_N]):
        BI[BL[B_PEND, k], B_INPEND] = 0
    CI[PEND_N] = 0
    for k in range(n_rl):
        i = LLI[L_REG, k]
        if LI[i, L_TIGHT] and LF[i, L_LOAD] < LF[i, L_CAP] * (1.0 - LOOSE):
            _loosen(st, i, t)


@numba.njit(cache=True, nogil=True)
def next_time(st: FluidState) -> float:  # pragma: no cover
    """When the next flow's last byte is due (inf if none)."""
    if st.CI[HEAP_N] == 0:
        return np.inf
    return st.HK[0]


@numba.njit(cache=True, nogil=True)
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
    CI[DONE_N] = 0
    t = now
    for _ in range(budget):
        limit = begin_instant(st, t, limit, q, qt, g_rem, g_end, end_rec, end_base, done)
        if CI[N_REG] > 0:
            while True:
                n = region_problem(st)
                rates = progressive_filling(EI[E_LINK, :n], EI[E_FLOW, :n], EF[:n],
                                            LLF[L_RESID, :CI[N_RL]], CI[N_REG], SAME_LEVEL)
                if check(st, rates, t) == 0:
                    break
            settle(st, t, rates)
        end_instant(st, t)
        t = next_time(st)
        if t >= limit:
            break
    return next_time(st)
