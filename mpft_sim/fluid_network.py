"""The fluid model: max-min fair sharing of the fabric's links, event by event.

Semantics (:class:`FluidNetwork`)
---------------------------------
- ``transfer(src, dst, size_bytes)`` (or :meth:`~FluidNetwork.transfer_batch` for many) routes
  the flows at once (:mod:`mpft_sim.routing`) and returns a SimPy event that succeeds when the
  last of them completes.
- From its release, a flow's bytes move at its current rate. Rates are max-min fair over the
  directed links (progressive filling, :func:`~mpft_sim.sharing.max_min_rates`), and stay
  constant between events. A flow split over paths puts its share of the rate on each path.
- Rates are recomputed when flows arrive or finish, once per distinct simulated instant: all
  arrivals and completions of one instant are handled together, after every other event of
  that instant.
- A flow's bytes are served when its last byte leaves at its rate; it *completes* (its event
  succeeds, its record's ``end_s``) its path latency later. Bandwidth is held from release to
  served, not during the latency.
- Zero-byte flows and flows from a GPU to itself hold no bandwidth: they complete their
  latency after release (zero for a GPU to itself).

How it stays fast
-----------------
- The event loop is compiled (:mod:`mpft_sim._fluid`): completions follow one another in
  numba code until the next event SimPy knows of, or until a transfer completes and its event
  must fire. Python only releases flows and fires transfer events.
- Only what an event can change is re-solved: progressive filling is unchanged below the
  lowest level an event can reach, so the re-solve covers the *region* grown from the event's
  saturated links over flows at or above that level.
- Flows with the same entries on the links that can bind them (*tight* links) form a
  *bundle* that max-min fairness gives one rate: the re-solve sees one weighted flow per bundle.
- ``tolerance`` x > 0 completes, with the flows due at an instant, those whose last byte is due
  within x/4 of their own duration and of the elapsed time of every flow the early release can
  change: each flow's time from release to completion stays within a relative x of the exact
  one (docs/engine.md).
- Per-flow records stream to disk past :data:`~mpft_sim.flowstore.SPILL_FLOWS` flows
  (:mod:`mpft_sim.flowstore`), so memory follows the active flows.

The analytic model beside it is in :mod:`mpft_sim.analytic`.
"""

from __future__ import annotations

import numpy as np
import simpy
from numpy.typing import NDArray

from mpft_sim._fluid import instant, layout, links, release
from mpft_sim.network import Network, link_groups, schedule
from mpft_sim.records import LinkLoad, Timeline
from mpft_sim.routing import Router, Routes
from mpft_sim.sharing import Incidence, Solver, max_min_rates
from mpft_sim.topology.fabric import Fabric

__all__ = ["FluidNetwork"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_SAME_TIME = 1e-9  # completions this close (relative to a flow's elapsed time) are simultaneous
_TOLERANCE_QUANTUM = 0.25  # batching quantum over the tolerance
_BUDGET = 100_000  # instants per call of the compiled loop, so that Python gets a word in


class FluidNetwork(Network):
    """Max-min fair fluid sharing of the fabric's links (see the module docstring).

    Parameters
    ----------
    env : simpy.Environment
    fabric : Fabric
    router : Router
    solver : callable, optional
        ``solver(incidence, capacity) -> rates``; default :func:`max_min_rates`, which runs
        inside the compiled event loop. Any other solver runs through a slower loop that
        calls it from Python at every re-solve, with the same results.
    tolerance : float
        Relative error allowed on completion times, to batch nearly simultaneous
        completions; 0 is exact.
    """

    def __init__(self, env: simpy.Environment, fabric: Fabric, router: Router | None,
                 solver: Solver = max_min_rates, tolerance: float = 0.0,
                 keep_paths: bool = True) -> None:
        super().__init__(env, fabric, router, keep_paths)
        if tolerance < 0:
            raise ValueError(f"tolerance must be non-negative, got {tolerance}")
        self.solver = solver
        self.tolerance = float(tolerance)
        # batching at a fraction of the tolerance keeps completion times within it
        # (docs/engine.md, "Tolerance")
        self._batch_quantum = self.tolerance * _TOLERANCE_QUANTUM
        self.group_of_link, self.link_groups, self.group_cap = link_groups(fabric)
        self.state = layout.new_state(fabric.capacity_Bps, self.group_of_link,
                                      len(self.link_groups))
        self.link_flows = self.state.LF[:, layout.L_NFL]  # updated in place by the compiled loop
        self._pending = False
        self._wake_at = np.inf
        self._gen = 0
        self._done = np.zeros(1024, dtype=np.int64)

    # -- arrivals ----------------------------------------------------------------------------

    def _start(self, ids: IntArray, routes: Routes, size: FloatArray) -> None:
        # one entry per distinct (flow, link): paths of a flow sharing a link add up
        flow_i, link, frac = routes.entries()
        per_flow = np.bincount(flow_i, minlength=len(ids))
        idle = (per_flow == 0) | (size <= 0)
        if idle.any():
            self._complete(ids[idle], self.env.now)
            keep = ~idle[flow_i]
            flow_i, link, frac = flow_i[keep], link[keep], frac[keep]
        busy = np.flatnonzero(~idle)
        if busy.size == 0:
            return
        ptr = np.zeros(busy.size + 1, dtype=np.int64)
        np.cumsum(per_flow[busy], out=ptr[1:])
        self._make_room(busy.size, len(link))
        flow_ids = ids[busy].astype(np.int64)
        release.add_flows(self.state, flow_ids, self.flows.groups_of(flow_ids),
                         size[busy].astype(np.float64), self.flows.latency_of(flow_ids), ptr,
                         link.astype(np.int64), np.array(frac, dtype=np.float64),
                         self.env.now)  # copies: the kernel takes writable arrays
        if not self._pending:
            self._pending = True
            self._arm(self.env.now)

    def _make_room(self, flows: int, entries: int) -> None:
        st = self.state
        ci = st.CI
        have_slots, have_entries = st.SI.shape[0], st.ZI.shape[0]
        free_slots = ci[layout.FREE_N] + have_slots - ci[layout.HWM]
        slots = have_slots + max(0, flows - free_slots)
        need = ci[layout.Z_N] + entries
        if need > have_entries and ci[layout.Z_N] > 2 * ci[layout.Z_LIVE]:
            release.compact_z(st)  # more than half the arena is garbage: reuse it first
            need = ci[layout.Z_N] + entries
        if slots > have_slots or need > have_entries:
            self.state = layout.grow(st, slots, need)

    # -- the event loop ----------------------------------------------------------------------

    def _arm(self, at: float) -> None:
        # a wake-up already due no later serves: the network's events run after all others
        # of their instant, so it also sees arrivals made at that instant
        if at >= self._wake_at:
            return
        self._gen += 1
        self._wake_at = at
        gen = self._gen
        schedule(self.env, max(0.0, at - self.env.now), lambda _e: self._tick(gen))

    def _tick(self, gen: int) -> None:
        if gen != self._gen:
            return  # superseded by an earlier wake-up
        now = self.env.now
        self._wake_at = np.inf
        self._pending = False
        limit = self.env.peek()
        if len(self._done) < self.groups.n:
            self._done = np.zeros(2 * self.groups.n, dtype=np.int64)
        g = self.groups
        if self.solver is max_min_rates:
            nxt = instant.run_events(self.state, now, limit, _SAME_TIME, self._batch_quantum,
                                    g["remaining"],
                                    g["max_end"], self.flows.end, self.flows.base,
                                    self._done, _BUDGET)
        else:
            nxt = self._run_with_solver(now, limit)
        ci = self.state.CI
        for gid in self._done[:ci[layout.DONE_N]].tolist():
            self._fire(gid)
        self.flows.flush()  # a spilled run's completed end times go out (else nothing)
        if ci[layout.N_ACTIVE]:
            self._arm(nxt)

    def _run_with_solver(self, now: float, limit: float) -> float:
        """:func:`instant.run_events` with the injected solver called from Python."""
        st = self.state
        g = self.groups
        st.CI[layout.DONE_N] = 0
        t = now
        for _ in range(_BUDGET):
            limit = instant.begin_instant(st, t, limit, _SAME_TIME, self._batch_quantum,
                                         g["remaining"],
                                         g["max_end"], self.flows.end, self.flows.base,
                                         self._done)
            if st.CI[layout.N_REG] > 0:
                while True:
                    n = instant.region_problem(st)
                    inc = Incidence(st.EI[layout.E_LINK, :n].copy(),
                                    st.EI[layout.E_FLOW, :n].copy(), st.EF[:n].copy(),
                                    int(st.CI[layout.N_RL]), int(st.CI[layout.N_REG]))
                    resid = st.LLF[layout.L_RESID, :inc.n_links].copy()
                    rates = np.asarray(self.solver(inc, resid),
                                       dtype=np.float64)
                    if instant.check(st, rates, t) == 0:
                        break
                instant.settle(st, t, rates)
            links.end_instant(st, t)
            t = instant.next_time(st)
            if t >= limit:
                break
        return float(instant.next_time(st))

    # -- counters ----------------------------------------------------------------------------

    @property
    def solves(self) -> int:
        """Re-solves of the max-min problem so far."""
        return int(self.state.CI[layout.SOLVES])

    @property
    def solved_flows(self) -> int:
        """Flows re-solved, summed over re-solves."""
        return int(self.state.CI[layout.SOLVED])

    @property
    def peak(self) -> FloatArray:
        """Peak utilisation of each link so far."""
        return self.state.LF[:, layout.L_PEAK]

    def stats(self) -> dict[str, int]:
        """Engine counters: re-solves, flows re-solved, instants handled, region growths."""
        ci = self.state.CI
        return {"solves": int(ci[layout.SOLVES]), "flows_resolved": int(ci[layout.SOLVED]),
                "bundles_resolved": int(ci[layout.BUNDLES_SOLVED]),
                "events": int(ci[layout.EVENTS]), "expansions": int(ci[layout.EXPAND]),
                "tightened": int(ci[layout.TIGHTEN]), "loosened": int(ci[layout.LOOSEN]),
                "moves": int(ci[layout.MOVES]), "loose_visits": int(ci[layout.LOOSE_VISITS]),
                "bfs_visits": int(ci[layout.BFS_VISITS])}

    # -- results -----------------------------------------------------------------------------

    def link_table(self, until: float) -> LinkLoad:
        """Per-link busy, hot (>= 90 %) and saturated time, and peak utilisation, up to
        ``until``."""
        lf = self.state.LF
        load, cap = lf[:, layout.L_LOAD], lf[:, layout.L_CAP]
        dt = np.maximum(until - lf[:, layout.L_SINCE], 0.0)
        busy = lf[:, layout.L_BUSY] + dt * (load > 1e-9 * cap)
        hot = lf[:, layout.L_HOT] + dt * (load >= cap * (layout.HOT - 1e-9))
        sat = lf[:, layout.L_SAT] + dt * (load >= cap * (1 - 1e-9))
        return LinkLoad(busy_s=busy, saturated_s=sat, hot_s=hot,
                        peak_util=np.minimum(lf[:, layout.L_PEAK], 1.0))

    def timeline(self) -> Timeline:
        """Load per (plane, tier) group of links: after each event while there are at most
        65,536 events, else as the mean over each of up to 32,768 equal time bins."""
        st = self.state
        ci, cf = st.CI, st.CF
        if not ci[layout.TL_OVER]:
            n = int(ci[layout.TL_N])
            return Timeline(st.TLT[:n].copy(), st.TLL[:n].copy(), self.group_cap,
                            self.link_groups)
        end = float(cf[layout.BIN_T])
        width = float(cf[layout.BIN_W])
        k = int(np.ceil(end / width))
        edges = np.arange(k + 1) * width
        edges[-1] = end
        load = st.BINS[:k] / np.diff(edges)[:, None]
        times = np.append(edges[:-1], end)
        loads = np.vstack([load, st.GL[None, :]]).astype(np.float32)
        return Timeline(times, loads, self.group_cap, self.link_groups)
