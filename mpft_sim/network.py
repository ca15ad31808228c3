"""The network as a SimPy resource: fluid max-min sharing of the fabric's links.

Fluid model semantics (:class:`FluidNetwork`)
---------------------------------------------
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
- Everything is numpy over arrays of flows and links; no Python loop per flow per event.
- Only what an event can change is re-solved. (1) Connected components: flows that share no
  link, directly or through other flows, cannot affect each other, so only the components an
  event touches are re-solved (labels merge as flows arrive and are recomputed when the tables
  are compacted). (2) Levels: progressive filling is unchanged below the lowest level an event
  can touch -- the smallest rate among the departing flows and, for arriving flows, the
  smallest ``capacity / flows`` over their links -- so flows slower than that keep their rates
  and only the rest of their component is re-solved over the capacity they leave.
- ``tolerance`` > 0 completes, at each completion event, every flow whose own remaining time
  is within ``tolerance`` of its elapsed time: nearly simultaneous completions are handled in
  one re-solve, at a relative error of at most ``tolerance`` on those flows' completion times.

The analytic model beside it is in :mod:`mpft_sim.analytic`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import simpy
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from mpft_sim._kernels import (
    HOT,
    add_load,
    due_slots,
    gather_links,
    merge_components,
    residual_capacity,
    select_slots,
    settle,
)
from mpft_sim.records import LinkLoad, Timeline
from mpft_sim.results.flows import FlowTable, Paths
from mpft_sim.routing import Router, Routes
from mpft_sim.sharing import Incidence, Solver, max_min_rates
from mpft_sim.topology.fabric import Fabric

__all__ = ["FluidNetwork", "Network"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# SimPy runs events of one instant by (priority, order scheduled); the network's own events run
# after everything else of their instant (NORMAL = 1), so all arrivals of an instant are in.
_LATE = 2
_SAME_TIME = 1e-9  # completions this close (relative to a flow's elapsed time) are simultaneous


def _schedule(env: simpy.Environment, delay: float, callback: Any, priority: int = _LATE,
              value: Any = None) -> simpy.Event:
    """An event that succeeds after ``delay`` with the given priority, calling ``callback``."""
    event = simpy.Event(env)
    # as simpy.Timeout does: mark it triggered, then put it on the queue ourselves, because
    # Event.succeed() cannot choose a priority
    event._ok = True
    event._value = value
    if callback is not None:
        event.callbacks.append(callback)
    env.schedule(event, priority, delay)  # type: ignore[arg-type]
    return event


class _Grow:
    """Growable numpy columns sharing one length."""

    def __init__(self, **dtypes: Any) -> None:
        self.n = 0
        self._cap = 1024
        self.cols: dict[str, np.ndarray] = {k: np.zeros(self._cap, dtype=v)
                                            for k, v in dtypes.items()}

    def extend(self, k: int) -> slice:
        """Make room for ``k`` more rows; return their slice."""
        need = self.n + k
        if need > self._cap:
            while self._cap < need:
                self._cap *= 2
            for name, col in self.cols.items():
                new = np.zeros(self._cap, dtype=col.dtype)
                new[:self.n] = col[:self.n]
                self.cols[name] = new
        sl = slice(self.n, need)
        self.n = need
        return sl

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def view(self, name: str) -> np.ndarray:
        """The used part of a column."""
        return self.cols[name][:self.n]


class Network:
    """What fluid and analytic models share: flow records, routes, groups of flows.

    Parameters
    ----------
    env : simpy.Environment
    fabric : Fabric
    router : Router
    """

    def __init__(self, env: simpy.Environment, fabric: Fabric, router: Router | None,
                 keep_paths: bool = True) -> None:
        self.env = env
        self.fabric = fabric
        self.router = router
        self.adaptive = router is not None and router.policy == "adaptive"
        self.keep_paths = keep_paths
        self.flows = _Grow(src=np.int32, dst=np.int32, size=np.float64, release=np.float64,
                           end=np.float64, latency=np.float64, tag=np.int32, group=np.int32,
                           alone=np.float32)
        self.link_bytes = np.zeros(fabric.n_links)
        self._route_cache: dict[Any, Routes] = {}
        self._alone_cache: dict[Any, FloatArray] = {}
        self._paths: list[tuple[IntArray, FloatArray, IntArray, IntArray]] = []
        self.tags: list[str] = []
        self._tag_ids: dict[str, int] = {}
        self.groups = _Grow(remaining=np.int64, max_end=np.float64)
        self._group_events: dict[int, simpy.Event] = {}
        self.link_flows = np.zeros(fabric.n_links)  # flows (fractions) on each link now

    def tag_id(self, tag: str) -> int:
        """The integer code of a tag string."""
        code = self._tag_ids.get(tag)
        if code is None:
            code = len(self.tags)
            self._tag_ids[tag] = code
            self.tags.append(tag)
        return code

    def transfer(self, src: int, dst: int, size_bytes: float, tag: str = "") -> simpy.Event:
        """One transfer from GPU ``src`` to GPU ``dst`` (global ranks); see transfer_batch."""
        return self.transfer_batch(np.array([src]), np.array([dst]), np.array([size_bytes]),
                                   tag)

    def transfer_batch(self, src: IntArray, dst: IntArray, size_bytes: FloatArray,
                       tag: str | Sequence[str] = "", route_key: Any = None,
                       forward: str | None = None) -> simpy.Event:
        """Release flows ``src[i] -> dst[i]`` (global GPU ranks) of ``size_bytes[i]`` now.

        With a ``route_key``, ``(src, dst)`` is a fixed pattern sent again and again (a
        collective's connections): its routes are computed once and reused, and pairs with
        nothing to send this time (zero bytes) are not flows at all. ``forward`` overrides the
        router's forwarding for these flows (see :meth:`Router.route`).

        Returns
        -------
        simpy.Event
            Succeeds when the last of them completes; its value is that time.

        Raises
        ------
        RoutingError
            If a flow has no path (nothing is released then).
        """
        if self.router is None:
            raise TypeError("this network has no router: use transfer_routes()")
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        size = np.asarray(size_bytes, dtype=np.float64)
        first = self.flows.n
        names = None if isinstance(tag, str) else list(tag)
        if route_key is not None and not self.adaptive:
            routes = self._route_cache.get(route_key)
            if routes is None:
                # the pattern's position is its connection: hash it, not the flow id (with a
                # hash that is the same in every process, unlike hash() of a string)
                stable = zlib.crc32(repr(route_key).encode())
                keys = np.int64(stable) * (1 << 24) + np.arange(len(src), dtype=np.int64)
                routes = self.router.route(src, dst, keys, names=names, forward=forward)
                self._route_cache[route_key] = routes
            alone = self._alone_cache.get(route_key)
            if alone is None:
                flow_i, link, frac = routes.incidence()
                alone = self._alone_rate(len(src), flow_i, link, frac)
                self._alone_cache[route_key] = alone
            busy = np.flatnonzero(size > 0)
            if len(busy) < len(size):
                routes, src, dst, size = routes.take(busy), src[busy], dst[busy], size[busy]
                alone = alone[busy]
            return self.transfer_routes(routes, size, src, dst, tag, alone=alone)
        scratch = self.link_flows.copy() if self.adaptive else None
        routes = self.router.route(src, dst, np.arange(first, first + len(src)),
                                   link_flows=scratch, names=names, forward=forward)
        return self.transfer_routes(routes, size, src, dst, tag)

    def transfer_routes(self, routes: Routes, size_bytes: FloatArray, src: IntArray,
                        dst: IntArray, tag: str | Sequence[str] = "",
                        alone: FloatArray | None = None) -> simpy.Event:
        """Release flows along given routes now (what :meth:`transfer_batch` does after
        routing); ``src`` and ``dst`` are only recorded, ``alone`` (each flow's rate on an idle
        network) is computed from the routes if not given."""
        size = np.asarray(size_bytes, dtype=np.float64)
        n = len(size)
        first = self.flows.n
        ids = np.arange(first, first + n)
        if isinstance(tag, str):
            tag_codes = np.full(n, self.tag_id(tag), dtype=np.int64)
        else:  # one Python call per distinct tag, not per flow
            uniq, inv = np.unique(np.asarray(tag, dtype=object).astype(str), return_inverse=True)
            tag_codes = np.array([self.tag_id(str(t)) for t in uniq], dtype=np.int64)[inv]
        group = self._new_group(n)
        sl = self.flows.extend(n)
        f = self.flows
        f["src"][sl], f["dst"][sl], f["size"][sl] = src, dst, size
        f["release"][sl] = self.env.now
        f["end"][sl] = np.nan
        f["latency"][sl] = routes.latency_s
        f["tag"][sl] = tag_codes
        f["group"][sl] = group
        if self.keep_paths:
            self._store_paths(first, n, routes)
        flow_i, link, frac = routes.incidence()
        np.add.at(self.link_bytes, link, size[flow_i] * frac)
        f["alone"][sl] = alone if alone is not None else self._alone_rate(n, flow_i, link, frac)
        event = self._group_events[group]  # _start may complete (and drop) the group at once
        self._start(ids, routes, size)
        return event

    def _new_group(self, n: int) -> int:
        sl = self.groups.extend(1)
        g = sl.start
        self.groups["remaining"][g] = n
        self.groups["max_end"][g] = self.env.now
        self._group_events[g] = simpy.Event(self.env)
        return g

    def _store_paths(self, first: int, n: int, routes: Routes) -> None:
        order = np.argsort(routes.path_flow, kind="stable")
        valid = routes.path_links[order] >= 0
        links = routes.path_links[order][valid]
        per_path = valid.sum(axis=1)
        flow_of_path = routes.path_flow[order] + first
        self._paths.append((flow_of_path, routes.path_share[order], per_path, links))

    def _alone_rate(self, n: int, flow_i: IntArray, link: IntArray,
                    frac: FloatArray) -> FloatArray:
        """Each flow's rate on an idle network: its tightest link for its share of the flow
        (a link shared by several paths of one flow carries the sum of their shares)."""
        alone = np.full(n, np.inf)
        if len(link):
            key = flow_i * self.fabric.n_links + link
            uniq, inv = np.unique(key, return_inverse=True)
            share = np.bincount(inv, frac)
            u_flow, u_link = np.divmod(uniq, self.fabric.n_links)
            np.minimum.at(alone, u_flow, self.fabric.capacity_Bps[u_link] / share)
        return alone

    def _start(self, ids: IntArray, routes: Routes, size: FloatArray) -> None:
        raise NotImplementedError

    def _complete(self, ids: IntArray, served: FloatArray | float) -> None:
        """Record flows as served at ``served``; fire the events of groups now complete."""
        f = self.flows
        end = served + f["latency"][ids]
        f["end"][ids] = end
        groups = f["group"][ids]
        np.subtract.at(self.groups["remaining"], groups, 1)
        np.maximum.at(self.groups["max_end"], groups, end)
        done = np.unique(groups[self.groups["remaining"][groups] == 0])
        now = self.env.now
        for g in done.tolist():
            event = self._group_events.pop(g)
            at = float(self.groups["max_end"][g])
            _schedule(self.env, max(0.0, at - now), lambda _e, ev=event, t=at: ev.succeed(t),
                      priority=1)

    @property
    def pending_groups(self) -> int:
        """Transfers released and not yet complete."""
        return len(self._group_events)

    def flow_table(self) -> FlowTable:
        """All flows so far, with their paths."""
        f = self.flows
        n = f.n
        if self._paths:
            pf = np.concatenate([p[0] for p in self._paths])
            share = np.concatenate([p[1] for p in self._paths])
            per_path = np.concatenate([p[2] for p in self._paths])
            links = np.concatenate([p[3] for p in self._paths])
        else:
            pf, share = np.zeros(0, np.int64), np.zeros(0)
            per_path, links = np.zeros(0, np.int64), np.zeros(0, np.int64)
        # batches are stored in id order and paths sorted by flow within a batch
        path_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(pf, minlength=n), out=path_ptr[1:])
        link_ptr = np.zeros(len(per_path) + 1, dtype=np.int64)
        np.cumsum(per_path, out=link_ptr[1:])
        end = f.view("end")
        latency = f.view("latency")
        return FlowTable(
            src=f.view("src").astype(np.int64), dst=f.view("dst").astype(np.int64),
            size_bytes=f.view("size"), release_s=f.view("release"), served_s=end - latency,
            end_s=end, latency_s=latency, alone_Bps=f.view("alone").astype(np.float64),
            tag=f.view("tag").astype(np.int64), tags=tuple(self.tags),
            gpus_per_node=self.fabric.gpus_per_node,
            paths=Paths(path_ptr, share, link_ptr, links.astype(np.int64))
            if self.keep_paths else None)

    def link_table(self, until: float) -> LinkLoad:
        """Per-link statistics up to time ``until``."""
        raise NotImplementedError

    def timeline(self) -> Timeline:
        """Load over time per plane and tier."""
        raise NotImplementedError


def _link_groups(fabric: Fabric) -> tuple[IntArray, list[tuple[int, int]], FloatArray]:
    """Group id per link by (plane, tier); the groups; their capacities."""
    key = (fabric.link_plane.astype(np.int64) + 1) * 8 + fabric.link_tier
    uniq, inv = np.unique(key, return_inverse=True)
    groups = [(int(k // 8) - 1, int(k % 8)) for k in uniq]
    cap = np.bincount(inv, fabric.capacity_Bps, minlength=len(uniq))
    return inv.astype(np.int64), groups, cap.astype(np.float64)


class FluidNetwork(Network):
    """Max-min fair fluid sharing of the fabric's links (see the module docstring).

    Parameters
    ----------
    env : simpy.Environment
    fabric : Fabric
    router : Router
    solver : callable, optional
        ``solver(incidence, capacity) -> rates``; default :func:`max_min_rates`.
    tolerance : float
        Relative time quantum for batching nearly simultaneous completions; 0 is exact.
    """

    def __init__(self, env: simpy.Environment, fabric: Fabric, router: Router | None,
                 solver: Solver = max_min_rates, tolerance: float = 0.0,
                 keep_paths: bool = True) -> None:
        super().__init__(env, fabric, router, keep_paths)
        if tolerance < 0:
            raise ValueError(f"tolerance must be non-negative, got {tolerance}")
        self.solver = solver
        self.tolerance = max(float(tolerance), _SAME_TIME)
        n_links = fabric.n_links
        self.cap = fabric.capacity_Bps
        self.load = np.zeros(n_links)
        self.since = np.zeros(n_links)
        self.busy = np.zeros(n_links)
        self.saturated = np.zeros(n_links)
        self.hot = np.zeros(n_links)
        self.peak = np.zeros(n_links)
        self.label = np.full(n_links, -1, dtype=np.int64)
        self.group_of_link, self.link_groups, self.group_cap = _link_groups(fabric)
        self.group_load = np.zeros(len(self.link_groups))
        self._times: list[float] = []
        self._loads: list[NDArray[np.float32]] = []
        # one row per flow being served ("slot"); its links are z_link[z0:z1]
        self.slots = _Grow(flow=np.int64, rem=np.float64, t0=np.float64, rate=np.float64,
                           fin=np.float64, start=np.float64, label=np.int64, z0=np.int64,
                           z1=np.int64, active=np.bool_, new=np.bool_)
        self.z = _Grow(link=np.int64, frac=np.float64)
        self.parent = np.zeros(1024, dtype=np.int64)  # union-find over component labels,
        self._labels = 0  # labels in use; parent[:_labels] is kept fully compressed
        self._active = 0
        self._pending = False
        self._wake_at = np.inf
        self._gen = 0
        self.solves = 0
        self.solved_flows = 0
        self._scratch = np.full(n_links, -1, dtype=np.int64)

    # -- arrivals ----------------------------------------------------------------------------

    def _start(self, ids: IntArray, routes: Routes, size: FloatArray) -> None:
        flow_i, link, frac = routes.incidence()
        per_flow = np.bincount(flow_i, minlength=len(ids))
        idle = (per_flow == 0) | (size <= 0)
        if idle.any():
            self._complete(ids[idle], self.env.now)
        busy = np.flatnonzero(~idle)
        if busy.size == 0:
            return
        keep = ~idle[flow_i]
        flow_i, link, frac = flow_i[keep], link[keep], frac[keep]
        order = np.argsort(flow_i, kind="stable")
        flow_i, link, frac = flow_i[order], link[order], frac[order]
        zsl = self.z.extend(len(link))
        self.z["link"][zsl] = link
        self.z["frac"][zsl] = frac
        counts = per_flow[busy]
        z1 = zsl.start + np.cumsum(counts)
        ssl = self.slots.extend(busy.size)
        s = self.slots
        s["flow"][ssl] = ids[busy]
        s["rem"][ssl] = size[busy]
        s["t0"][ssl] = self.env.now
        s["rate"][ssl] = 0.0
        s["fin"][ssl] = np.inf
        s["start"][ssl] = self.env.now
        s["z0"][ssl] = z1 - counts
        s["z1"][ssl] = z1
        s["active"][ssl] = True
        s["new"][ssl] = True
        self._active += busy.size
        np.add.at(self.link_flows, link, frac)
        s["label"][ssl] = self._merge_components(counts, link)
        if not self._pending:
            self._pending = True
            self._arm(self.env.now)

    def _merge_components(self, counts: IntArray, link: IntArray) -> IntArray:
        """Label the new flows' components (flow f has ``counts[f]`` of the ``link`` entries),
        merging the existing ones they touch (a compiled union-find over labels)."""
        need = self._labels + len(counts)
        if need > len(self.parent):
            grown = np.arange(max(need, 2 * len(self.parent)), dtype=np.int64)
            grown[:self._labels] = self.parent[:self._labels]
            self.parent = grown
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        labels, self.parent, self._labels = merge_components(ptr, link, self.label,
                                                             self.parent, self._labels)
        return labels

    # -- the event loop ----------------------------------------------------------------------

    def _arm(self, at: float) -> None:
        # a wake-up already due no later serves: the network's events run after all others
        # of their instant, so it also sees arrivals made at that instant
        if at >= self._wake_at:
            return
        self._gen += 1
        self._wake_at = at
        gen = self._gen
        _schedule(self.env, max(0.0, at - self.env.now), lambda _e: self._tick(gen))

    def _tick(self, gen: int) -> None:
        if gen != self._gen:
            return  # superseded by an earlier wake-up
        now = self.env.now
        self._wake_at = np.inf
        self._pending = False
        s = self.slots
        n = s.n
        due = due_slots(n, s["active"], s["fin"], s["start"], now, self.tolerance)
        new = np.flatnonzero(s.view("new"))
        level = np.inf
        labels = []
        if due.size:
            level = float(s["rate"][due].min())
            labels.append(s["label"][due])
            self._depart(due, now)
        if new.size:
            s["new"][new] = False
            zl = self._gather(new)[3]
            with np.errstate(divide="ignore"):
                level = min(level, float((self.cap[zl] / self.link_flows[zl]).min()))
            labels.append(s["label"][new])
        if labels:
            self._resolve(np.concatenate(labels), level, now)
        self._log(now)
        if self._active and (n - self._active) > max(4096, 2 * self._active):
            self._compact()
        if self._active:
            self._arm(float(s.view("fin").min()))

    def _gather(self, slots: IntArray) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
        """The slots' links: (position in ``slots``, local link number, frac, links)."""
        s = self.slots
        return gather_links(slots, s["z0"], s["z1"], self.z["link"], self.z["frac"],
                            self._scratch)

    def _depart(self, due: IntArray, now: float) -> None:
        s = self.slots
        pos, li, frac, ul = self._gather(due)
        rate = s["rate"][due]
        self._add_load(ul, np.bincount(li, -rate[pos] * frac, minlength=len(ul)).astype(
            np.float64), now)
        self.link_flows[ul] -= np.bincount(li, frac, minlength=len(ul))
        s["active"][due] = False
        s["fin"][due] = np.inf
        s["rate"][due] = 0.0
        self._active -= due.size
        self._complete(s["flow"][due], now)

    def _resolve(self, touched_labels: IntArray, level: float, now: float) -> None:
        s = self.slots
        touched = np.zeros(self._labels, dtype=bool)
        touched[self.parent[touched_labels]] = True
        # below the lowest level the event can reach, the filling is unchanged (module doc)
        slots = select_slots(s.n, s["active"], s["label"], self.parent, touched, s["rate"],
                             level)
        if slots.size == 0:
            return
        pos, li, frac, ul = self._gather(slots)
        residual = residual_capacity(pos, li, frac, s["rate"][slots], self.cap[ul],
                                     self.load[ul])
        new = self.solver(Incidence(li, pos, frac, len(ul), len(slots)), residual)
        self.solves += 1
        self.solved_flows += len(slots)
        delta = settle(slots, pos, li, frac, np.asarray(new, dtype=np.float64), len(ul), now,
                       s["rem"], s["t0"], s["rate"], s["fin"])
        self._add_load(ul, delta, now)

    def _add_load(self, link: IntArray, delta: FloatArray, now: float) -> None:
        """Change the loads of distinct links, closing each one's accounting interval."""
        if link.size == 0:
            return
        add_load(link, delta, now, self.cap, self.load, self.since, self.busy, self.saturated,
                 self.hot, self.peak, self.group_of_link, self.group_load)

    def _log(self, now: float) -> None:
        loads = self.group_load.astype(np.float32)
        if self._times and self._times[-1] == now:
            self._loads[-1] = loads
        else:
            self._times.append(now)
            self._loads.append(loads)

    def _compact(self) -> None:
        """Drop finished slots, renumber links, recompute loads and components exactly."""
        s = self.slots
        keep = np.flatnonzero(s.view("active"))
        pos, li, frac, ul_all = self._gather(keep)
        link = ul_all[li]
        counts = np.bincount(pos, minlength=len(keep))
        for col in s.cols.values():
            col[:len(keep)] = col[keep]
        s.n = len(keep)
        z1 = np.cumsum(counts)
        s["z0"][:len(keep)] = z1 - counts
        s["z1"][:len(keep)] = z1
        self.z.n = 0
        zsl = self.z.extend(len(link))
        self.z["link"][zsl] = link
        self.z["frac"][zsl] = frac
        # exact loads, free of accumulated rounding
        n_links = len(self.cap)
        self.load = np.bincount(link, s["rate"][pos] * frac, minlength=n_links).astype(float)
        self.link_flows = np.bincount(link, frac, minlength=n_links).astype(float)
        self.group_load = np.bincount(self.group_of_link, self.load,
                                      minlength=len(self.link_groups)).astype(float)
        # fresh components: finished flows no longer join anything
        ul, linv = np.unique(link, return_inverse=True)
        n = len(keep)
        graph = coo_matrix((np.ones(len(link)), (pos, n + linv)), shape=(n + len(ul),) * 2)
        n_comp, comp = connected_components(graph, directed=False)
        self.parent = np.arange(max(n_comp, 1024), dtype=np.int64)
        self._labels = n_comp
        self.label[:] = -1
        self.label[ul] = comp[n:]
        s["label"][:n] = comp[:n]

    # -- results -----------------------------------------------------------------------------

    def link_table(self, until: float) -> LinkLoad:
        """Per-link busy, hot and saturated time, and peak utilisation, up to ``until``."""
        dt = until - self.since
        busy = self.busy + dt * (self.load > 1e-9 * self.cap)
        hot = self.hot + dt * (self.load >= self.cap * (HOT - 1e-9))
        sat = self.saturated + dt * (self.load >= self.cap * (1 - 1e-9))
        return LinkLoad(busy_s=busy, saturated_s=sat, hot_s=hot,
                        peak_util=np.minimum(self.peak, 1.0))

    def timeline(self) -> Timeline:
        """Load per (plane, tier) group of links after each event."""
        loads = (np.stack(self._loads) if self._loads
                 else np.zeros((0, len(self.link_groups)), np.float32))
        return Timeline(np.array(self._times), loads, self.group_cap, self.link_groups)


