"""The analytic network model: per-phase load over capacity, no contention dynamics.

No contention dynamics: the flows of one batch (one phase: a collective, or the flows a replay
releases at one instant) each take ``max over their links of (the batch's bytes on the link /
capacity)`` plus their latency. Batches do not see each other. It agrees with the fluid model
when every flow of a phase is limited by equally loaded links it shares with flows that finish
together (a uniform permutation or all-to-all on a non-blocking fabric); it cannot show a
flow speeding up as others finish, nor two phases slowing each other down.
"""

from __future__ import annotations

import numpy as np
import simpy
from numpy.typing import NDArray

from mpft_sim.network import Network, link_groups
from mpft_sim.records import LinkLoad, Timeline
from mpft_sim.routing import Router, Routes
from mpft_sim.topology.fabric import Fabric

__all__ = ["AnalyticNetwork"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class AnalyticNetwork(Network):
    """Each batch of flows takes its busiest link's bytes over capacity, plus latency.

    No contention dynamics and no interaction between batches (see the module docstring).
    """

    def __init__(self, env: simpy.Environment, fabric: Fabric, router: Router | None,
                 keep_paths: bool = True) -> None:
        super().__init__(env, fabric, router, keep_paths)
        n_links = fabric.n_links
        self.busy = np.zeros(n_links)
        self.peak = np.zeros(n_links)
        self.group_of_link, self.link_groups, self.group_cap = link_groups(fabric)
        # timeline pieces: (start, end, group, load) per batch and group of links touched
        self._pieces: list[tuple[FloatArray, FloatArray, IntArray, FloatArray]] = []

    def _start(self, ids: IntArray, routes: Routes, size: FloatArray) -> None:
        flow_i, _, frac = routes.incidence()
        # the batch's bytes per link it touches, not a pass over every link of the fabric
        # (hundreds of thousands at 16,384 GPUs) per batch
        links, at = routes.links()
        bytes_on = np.bincount(at, size[flow_i] * frac, minlength=len(links))
        per_link = bytes_on / self.fabric.capacity_Bps[links]
        loaded = bytes_on > 0
        touched, busy_for = links[loaded], per_link[loaded]
        self.busy[touched] += busy_for
        self.peak[touched] = 1.0
        per_entry = per_link[at]
        duration = np.zeros(len(ids))
        np.maximum.at(duration, flow_i, per_entry)
        duration[size <= 0] = 0.0
        now = self.env.now
        # a group of links is busy for its longest link's time, at its bytes over that time
        group = self.group_of_link[touched]
        span = np.zeros(len(self.link_groups))
        np.maximum.at(span, group, busy_for)
        load = np.bincount(group, bytes_on[loaded], minlength=len(span))
        used = np.flatnonzero(span > 0)
        self._pieces.append((np.full(len(used), now), now + span[used], used,
                             load[used] / span[used]))
        self._complete(ids, now + duration)
        self.flows.flush()  # every flow of the batch is done: a spilled run's end times go out

    def link_table(self, until: float) -> LinkLoad:
        """Busy time is each phase's bytes over capacity, at full capacity (so hot and
        saturated all the while); a used link peaks at 1."""
        return LinkLoad(busy_s=self.busy.copy(), saturated_s=self.busy.copy(),
                        hot_s=self.busy.copy(), peak_util=self.peak.copy())

    def timeline(self) -> Timeline:
        """Each group of links carries a phase's bytes evenly over its busiest link's time."""
        if not self._pieces:
            return Timeline(np.zeros(0), np.zeros((0, len(self.link_groups)), np.float32),
                            self.group_cap, self.link_groups)
        starts = np.concatenate([p[0] for p in self._pieces])
        ends = np.concatenate([p[1] for p in self._pieces])
        group = np.concatenate([p[2] for p in self._pieces])
        load = np.concatenate([p[3] for p in self._pieces])
        times = np.unique(np.concatenate([starts, ends]))
        diff = np.zeros((len(times) + 1, len(self.link_groups)), dtype=np.float32)
        np.add.at(diff, (np.searchsorted(times, starts), group), load)
        np.add.at(diff, (np.searchsorted(times, ends), group), -load)
        loads = np.cumsum(diff, axis=0)[:len(times)]
        return Timeline(times, loads, self.group_cap, self.link_groups)
