"""Flow-level networks as SimPy resources: what the fluid model
(:class:`~mpft_sim.fluid_network.FluidNetwork`) and the analytic model
(:class:`~mpft_sim.analytic.AnalyticNetwork`) share.

:class:`Network` routes transfers (:mod:`mpft_sim.routing`), numbers their flows as they are
released, keeps their records (:class:`~mpft_sim.flowstore.FlowStore`) and the bytes each
link carried, and fires each transfer's SimPy event when its last flow completes; a model
decides when flows complete. :func:`schedule` puts a callback on SimPy's queue at a priority,
:func:`link_groups` groups links by plane and tier for the timeline.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import simpy
from numpy.typing import NDArray

from mpft_sim.flowstore import FlowStore
from mpft_sim.records import LinkLoad, Timeline
from mpft_sim.results.flows import FlowTable
from mpft_sim.routing import Router, Routes
from mpft_sim.topology.fabric import Fabric

__all__ = ["Network", "link_groups", "schedule"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# SimPy runs events of one instant by (priority, order scheduled); the network's own events run
# after everything else of their instant (NORMAL = 1), so all arrivals of an instant are in.
_LATE = 2


def schedule(env: simpy.Environment, delay: float, callback: Any, priority: int = _LATE,
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
        self.flows = FlowStore(keep_paths)
        self.link_bytes = np.zeros(fabric.n_links)
        self._route_cache: dict[Any, Routes] = {}
        self._alone_cache: dict[Any, FloatArray] = {}
        self.tags: list[str] = []
        self._tag_ids: dict[str, int] = {}
        # one group per transfer: flows left and the latest end so far; ids are reused once
        # a transfer's event is scheduled
        self.groups = _Grow(remaining=np.int64, max_end=np.float64)
        self._free_groups: list[int] = []
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
        if isinstance(tag, str):
            tag_codes = np.full(n, self.tag_id(tag), dtype=np.int64)
        else:  # one Python call per distinct tag, not per flow
            uniq, inv = np.unique(np.asarray(tag, dtype=object).astype(str), return_inverse=True)
            tag_codes = np.array([self.tag_id(str(t)) for t in uniq], dtype=np.int64)[inv]
        group = self._new_group(n)
        flow_i, link, frac = routes.incidence()
        np.add.at(self.link_bytes, link, size[flow_i] * frac)
        if alone is None:
            alone = self._alone_rate(n, flow_i, link, frac)
        first = self.flows.add(src, dst, size, self.env.now, routes.latency_s, tag_codes,
                               alone, group, self._paths_of(routes) if self.keep_paths else None)
        event = self._group_events[group]  # _start may complete (and drop) the group at once
        self._start(np.arange(first, first + n), routes, size)
        return event

    def _new_group(self, n: int) -> int:
        g = self._free_groups.pop() if self._free_groups else self.groups.extend(1).start
        self.groups["remaining"][g] = n
        self.groups["max_end"][g] = self.env.now
        self._group_events[g] = simpy.Event(self.env)
        return g

    @staticmethod
    def _paths_of(routes: Routes) -> tuple[IntArray, FloatArray, IntArray, IntArray]:
        """(flow of each path, share, links per path, links), paths in flow order."""
        order = np.argsort(routes.path_flow, kind="stable")
        valid = routes.path_links[order] >= 0
        return (routes.path_flow[order], routes.path_share[order], valid.sum(axis=1),
                routes.path_links[order][valid])

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
        end = self.flows.complete(ids, served)
        groups = self.flows.groups_of(ids)
        np.subtract.at(self.groups["remaining"], groups, 1)
        np.maximum.at(self.groups["max_end"], groups, end)
        done = np.unique(groups[self.groups["remaining"][groups] == 0])
        for g in done.tolist():
            self._fire(g)

    def _fire(self, g: int) -> None:
        """Schedule transfer ``g``'s event at its last flow's end; its id is free again."""
        event = self._group_events.pop(g)
        at = float(self.groups["max_end"][g])
        self._free_groups.append(g)
        schedule(self.env, max(0.0, at - self.env.now),
                 lambda _e, ev=event, t=at: ev.succeed(t), priority=1)

    @property
    def pending_groups(self) -> int:
        """Transfers released and not yet complete."""
        return len(self._group_events)

    def flow_table(self) -> FlowTable:
        """All flows so far, with their paths (memmaps over files for a very large run: see
        :class:`~mpft_sim.flowstore.FlowStore`)."""
        return self.flows.table(tuple(self.tags), self.fabric.gpus_per_node)

    def link_table(self, until: float) -> LinkLoad:
        """Per-link statistics up to time ``until``."""
        raise NotImplementedError

    def timeline(self) -> Timeline:
        """Load over time per plane and tier."""
        raise NotImplementedError


def link_groups(fabric: Fabric) -> tuple[IntArray, list[tuple[int, int]], FloatArray]:
    """Group id per link by (plane, tier); the groups; their capacities."""
    key = (fabric.link_plane.astype(np.int64) + 1) * 8 + fabric.link_tier
    uniq, inv = np.unique(key, return_inverse=True)
    groups = [(int(k // 8) - 1, int(k % 8)) for k in uniq]
    cap = np.bincount(inv, fabric.capacity_Bps, minlength=len(uniq))
    return inv.astype(np.int64), groups, cap.astype(np.float64)
