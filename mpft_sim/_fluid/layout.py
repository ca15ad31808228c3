"""The compiled fluid network's state: the column layout of its item-major arrays,
:class:`FluidState`, its allocation and growth, and the rebuild of the signature table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, cast

import numba
import numpy as np

from mpft_sim._kernels import fill_work

_F = TypeVar("_F", bound=Callable[..., Any])


def without_refcount(fn: _F) -> _F:
    """``numba.njit(cache=True, nogil=True)`` without reference counting, for the entry
    points Python calls with the state (:func:`~.instant.run_events`,
    :func:`~.release.add_flows`), and everything they call.

    With it, numba increfs and decrefs the state's 30 arrays, atomically, at every call of a
    function that takes them: a quarter of a training step's run. Without it, nothing in
    the call tree may allocate an array. (``_nrt`` is a numba target option its type stubs
    do not list.)
    """
    options: dict[str, Any] = {"cache": True, "nogil": True, "_nrt": False}
    return cast(_F, numba.njit(**options)(fn))

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
    ``YI``/``YF``; the sharing problem ``EI``/``EF``, each bundle's loose links ``XI``/``XF``;
    the work arrays of its solver ``WI``/``WF`` (the rates first, in ``WF``). Also the load
    of each (plane, tier) group ``GL``, the signature table ``HT``, the timeline (rows
    ``TLT``/``TLL``, bins ``BINS``) and the counters ``CI``/``CF``.
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
    WI: np.ndarray
    WF: np.ndarray
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
    return _with_work(FluidState(
        LF=LF, LI=LI, LLF=np.zeros((N_LLF, n)), LLI=np.zeros((N_LLI, n), np.int64),
        LX=np.zeros((n, 2)), GL=np.zeros(n_groups), SI=SI, SF=np.zeros((slots, N_SF)),
        SL=np.zeros((N_SL, slots), np.int64), SLF=np.zeros((N_SLF, slots)), BI=BI,
        BF=np.zeros((slots + 1, N_BF)),
        BL=np.zeros((N_BL, slots + 1), np.int64), HK=np.zeros(slots + 1),
        ZI=np.zeros((entries, N_ZI), np.int64), ZF=np.zeros(entries),
        YI=np.zeros((2 * entries, N_YI), np.int64), YF=np.zeros(2 * entries),
        EI=np.zeros((2, 2 * entries), np.int64), EF=np.zeros(2 * entries),
        XI=np.zeros(2 * entries, np.int64),
        XF=np.zeros(2 * entries), WI=np.zeros(0, np.int64), WF=np.zeros(0),
        HT=np.full(_table_size(slots + 1), EMPTY, np.int64),
        TLT=np.zeros(TL_ROWS), TLL=np.zeros((TL_ROWS, n_groups), np.float32),
        BINS=np.zeros((TL_BINS, n_groups)), CI=np.zeros(N_CI, np.int64), CF=CF))


def _with_work(state: FluidState) -> FluidState:
    """``state`` with solver work arrays for its largest region: every bundle, every link,
    the whole sharing-problem arena (the rates, one per bundle, lead ``WF``)."""
    n_flows, n_links, nnz = state.BI.shape[0], state.LF.shape[0], state.EI.shape[1]
    n_i, n_f = fill_work(n_flows, n_links, nnz)
    return state._replace(WI=np.zeros(n_i, np.int64), WF=np.zeros(n_flows + n_f))


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
    return out if out is state else _with_work(out)

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
