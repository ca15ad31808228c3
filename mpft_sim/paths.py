"""Equal-cost paths between two leaves of one plane, chosen by policy (vectorised).

A path between leaves goes up to the lowest common tier and back down: nothing (same leaf),
leaf-spine-leaf (two tiers, or the same pod of three) or leaf-spine-core-spine-leaf (three
tiers, different pods). Choices are made hop by hop, as switches do: the leaf picks an uplink,
the spine (or core) picks one of its parallel cables down. Only alive links whose far end still
reaches the destination leaf are candidates.

- ``ecmp``: each hop picks by a seeded hash of the flow, so collisions happen as in real fabrics.
- ``adaptive``: each hop picks the candidate with the fewest flows per unit capacity when the
  flow starts; flows starting together are placed one after another, each seeing the choices
  made before it (as a switch's adaptive routing sees its queues fill).
- ``spray``: an even split over every uplink; each uplink's spine uses the parallel cable
  with the same index when it is alive (so every cable gets an even share), another otherwise.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mpft_sim._kernels import greedy_least_loaded
from mpft_sim.topology.fabric import Fabric

__all__ = ["PlanePaths", "TreePaths", "hash_keys"]

IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]



def hash_keys(keys: NDArray[np.uint64] | IntArray, salt: int) -> NDArray[np.uint64]:
    """SplitMix64 of ``keys`` mixed with ``salt``: a fast, well-spread, deterministic hash."""
    with np.errstate(over="ignore"):
        x = np.asarray(keys, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        x ^= np.uint64((salt * 0xD1B54A32D192ED03) & 0xFFFFFFFFFFFFFFFF)
        x += np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def pick(mask: BoolArray, h: NDArray[np.uint64]) -> IntArray:
    """Per row, the column of the ``h % count``-th true entry (-1 where a row has none)."""
    count = mask.sum(axis=1)
    out = np.full(len(mask), -1, dtype=np.int64)
    ok = count > 0
    if not ok.any():
        return out
    k = (h[ok] % count[ok].astype(np.uint64)).astype(np.int64)
    out[ok] = np.argmax(np.cumsum(mask[ok], axis=1) > k[:, None], axis=1)
    return out


@dataclass
class TreePaths:
    """Chosen paths: ``row`` indexes the request, ``share`` its fraction, ``links`` (n, 4)."""

    row: IntArray
    share: FloatArray
    links: IntArray


@dataclass
class PlanePaths:
    """Path choice inside the planes of a fabric, with its failures applied.

    Parameters
    ----------
    fabric : Fabric
    policy : {"ecmp", "adaptive", "spray"}
    """

    fabric: Fabric
    policy: str

    reach: BoolArray = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        fab, tree = self.fabric, self.fabric.size.tree
        assert tree is not None
        self.tiers, self.spines = tree.tiers, tree.spines
        self.cores_per_group = tree.cores_per_group
        alive = fab.link_alive
        self.all_alive = bool(alive.all())
        self.up_ok = alive[fab.up] if fab.up.size else np.zeros(fab.up.shape, dtype=bool)
        self.down_ok = alive[fab.down] if fab.down.size else self.up_ok
        self.core_up_ok = alive[fab.core_up] if fab.core_up.size else np.zeros((0,), bool)
        self.core_down_ok = alive[fab.core_down] if fab.core_down.size else self.core_up_ok
        self.leaves_per_pod = tree.leaves_per_pod
        if self.tiers == 2 and self.spines:
            p, n_leaves, u = fab.up.shape
            par = u // self.spines
            # reach[p, s, leaf]: spine s still has a live cable down to the leaf
            reach = np.any(self.down_ok.reshape(p, n_leaves, par, self.spines), axis=2)
            self.reach = np.ascontiguousarray(np.transpose(reach, (0, 2, 1)))

    def reachable(self, plane: IntArray, ls: IntArray, ld: IntArray) -> BoolArray:
        """Whether an alive path joins leaf ``ls`` to leaf ``ld`` in ``plane``."""
        if self.all_alive:
            return np.ones(len(plane), dtype=bool)
        out = ls == ld
        other = ~out
        if other.any():
            p, a, b = plane[other], ls[other], ld[other]
            if self.tiers == 2:
                out[other] = (self._two_tier_candidates(p, a, b)).any(axis=1)
            else:
                out[other] = self._three_tier_up_candidates(p, a, b).any(axis=1)
        return out

    # -- candidates ------------------------------------------------------------------------

    def _two_tier_candidates(self, p: IntArray, ls: IntArray, ld: IntArray) -> BoolArray:
        u = self.fabric.up.shape[2]
        spine_of = np.arange(u) % self.spines
        return self.up_ok[p, ls] & self.reach[p[:, None], spine_of[None, :], ld[:, None]]

    def _same_pod(self, ls: IntArray, ld: IntArray) -> BoolArray:
        return (ls // self.leaves_per_pod) == (ld // self.leaves_per_pod)

    def _three_tier_up_candidates(self, p: IntArray, ls: IntArray, ld: IntArray) -> BoolArray:
        cand = self.up_ok[p, ls] & self.down_ok[p, ld]
        cross = ~self._same_pod(ls, ld)
        if cross.any():
            cand[cross] &= self._core_candidates(p[cross], ls[cross], ld[cross]).any(axis=2)
        return cand

    def _core_candidates(self, p: IntArray, ls: IntArray, ld: IntArray) -> BoolArray:
        """(n, u, k/2): spine uplink m of spine j reaches the destination pod's spine j."""
        c = self.cores_per_group
        half = self.fabric.core_up.shape[3]
        ps, pd = ls // self.leaves_per_pod, ld // self.leaves_per_pod
        down = self.core_down_ok[p, pd]  # (n, u, half): core -> spine (pd, j) by cable m
        par = half // c
        core_reach = np.any(down.reshape(len(p), -1, par, c), axis=2)  # (n, u, c)
        return self.core_up_ok[p, ps] & core_reach[:, :, np.arange(half) % c]

    # -- choices ---------------------------------------------------------------------------

    def choose(self, plane: IntArray, ls: IntArray, ld: IntArray, h: NDArray[np.uint64],
               link_flows: FloatArray | None = None) -> TreePaths:
        """Paths from leaf ``ls`` to leaf ``ld`` in ``plane`` for each request.

        Parameters
        ----------
        plane, ls, ld : ndarray of int
            Requests; ``ls != ld`` for all of them, and a path exists (see :meth:`reachable`).
        h : ndarray of uint64
            A hash per request (ECMP).
        link_flows : ndarray of float, optional
            Flows (fractions) currently on each link; required for ``adaptive``, which adds
            its own choices to it.
        """
        if self.policy == "spray":
            return self._spray(plane, ls, ld, h)
        n = len(plane)
        if self.policy == "adaptive" and link_flows is None:
            raise ValueError("adaptive routing needs the current flows per link")
        links = self._single(plane, ls, ld, h, link_flows if self.policy == "adaptive" else None)
        return TreePaths(np.arange(n), np.ones(n), links)

    def _choose_col(self, mask: BoolArray, h: NDArray[np.uint64], salt: int,
                    link_ids: IntArray, link_flows: FloatArray | None) -> IntArray:
        """One column per row: by hash (ECMP) or least flows per capacity (adaptive)."""
        hh = hash_keys(h.astype(np.uint64), salt)
        if link_flows is None:
            if self.all_alive:
                return (hh % np.uint64(mask.shape[1])).astype(np.int64)
            return pick(mask, hh)
        # ties broken by hash so equal candidates spread out
        spread = (hh[:, None] + np.arange(mask.shape[1], dtype=np.uint64)).astype(np.uint64)
        jitter = (hash_keys(spread, 7) % np.uint64(1 << 20)).astype(np.float64) * 1e-9
        return greedy_least_loaded(np.ascontiguousarray(link_ids, dtype=np.int64),
                                   np.ascontiguousarray(mask), self.fabric.capacity_Bps,
                                   link_flows, jitter)

    def _single(self, p: IntArray, ls: IntArray, ld: IntArray, h: NDArray[np.uint64],
                link_flows: FloatArray | None) -> IntArray:
        fab = self.fabric
        n = len(p)
        out = np.full((n, 4), -1, dtype=np.int64)
        if n == 0:
            return out
        u = fab.up.shape[2]
        if self.tiers == 2:
            s_count = self.spines
            cand = (np.ones((n, u), dtype=bool) if self.all_alive
                    else self._two_tier_candidates(p, ls, ld))
            j = self._choose_col(cand, h, 1, fab.up[p, ls], link_flows)
            spine = j % s_count
            par = u // s_count
            downs = fab.down[p, ld].reshape(n, par, s_count)[np.arange(n), :, spine]  # (n, par)
            dmask = np.ones((n, par), dtype=bool) if self.all_alive else fab.link_alive[downs]
            q = self._choose_col(dmask, h, 2, downs, link_flows)
            out[:, 0] = fab.up[p, ls, j]
            out[:, 3] = downs[np.arange(n), q]
        else:
            cand = (np.ones((n, u), dtype=bool) if self.all_alive
                    else self._three_tier_up_candidates(p, ls, ld))
            j = self._choose_col(cand, h, 1, fab.up[p, ls], link_flows)
            out[:, 0] = fab.up[p, ls, j]
            out[:, 3] = fab.down[p, ld, j]
            cross = np.flatnonzero(~self._same_pod(ls, ld))
            if cross.size:
                self._single_core(out, cross, p, ls, ld, j, h, link_flows)
        return out

    def _single_core(self, out: IntArray, cross: IntArray, p: IntArray, ls: IntArray,
                     ld: IntArray, j: IntArray, h: NDArray[np.uint64],
                     link_flows: FloatArray | None) -> None:
        fab = self.fabric
        c = self.cores_per_group
        half = fab.core_up.shape[3]
        pc, jc, hc = p[cross], j[cross], h[cross]
        ps, pd = ls[cross] // self.leaves_per_pod, ld[cross] // self.leaves_per_pod
        ups = fab.core_up[pc, ps, jc]  # (n, half)
        if self.all_alive:
            mmask = np.ones(ups.shape, dtype=bool)
        else:
            mmask = self._core_candidates(pc, ls[cross], ld[cross])[np.arange(len(cross)), jc]
        m = self._choose_col(mmask, hc, 3, ups, link_flows)
        core = m % c
        par = half // c
        downs = fab.core_down[pc, pd, jc].reshape(len(cross), par, c)[
            np.arange(len(cross)), :, core]
        dmask = np.ones(downs.shape, dtype=bool) if self.all_alive else fab.link_alive[downs]
        q = self._choose_col(dmask, hc, 4, downs, link_flows)
        out[cross, 1] = ups[np.arange(len(cross)), m]
        out[cross, 2] = downs[np.arange(len(cross)), q]

    def _spray(self, p: IntArray, ls: IntArray, ld: IntArray,
               h: NDArray[np.uint64]) -> TreePaths:
        fab = self.fabric
        u = fab.up.shape[2]
        if self.tiers == 2:
            s_count = self.spines
            cand = self._two_tier_candidates(p, ls, ld)
            row, j = np.nonzero(cand)
            share = 1.0 / cand.sum(axis=1)[row]
            spine, q_same = j % s_count, j // s_count
            par = u // s_count
            downs = fab.down[p[row], ld[row]].reshape(len(row), par, s_count)[
                np.arange(len(row)), :, spine]
            q = self._paired(downs, q_same, h[row])
            links = np.full((len(row), 4), -1, dtype=np.int64)
            links[:, 0] = fab.up[p[row], ls[row], j]
            links[:, 3] = downs[np.arange(len(row)), q]
            return TreePaths(row, share, links)
        cand = self._three_tier_up_candidates(p, ls, ld)
        row, j = np.nonzero(cand)
        share = 1.0 / cand.sum(axis=1)[row]
        links = np.full((len(row), 4), -1, dtype=np.int64)
        links[:, 0] = fab.up[p[row], ls[row], j]
        links[:, 3] = fab.down[p[row], ld[row], j]
        cross = ~self._same_pod(ls[row], ld[row])
        if not cross.any():
            return TreePaths(row, share, links)
        same_rows = np.flatnonzero(~cross)
        cr = np.flatnonzero(cross)
        rp, rj = row[cr], j[cr]
        mm = self._core_candidates(p[rp], ls[rp], ld[rp])[np.arange(len(cr)), rj]  # (n, half)
        sub, m = np.nonzero(mm)
        base = cr[sub]
        c = self.cores_per_group
        half = fab.core_up.shape[3]
        par = half // c
        pd = ld[row[base]] // self.leaves_per_pod
        ps = ls[row[base]] // self.leaves_per_pod
        downs = fab.core_down[p[row[base]], pd, j[base]].reshape(len(base), par, c)[
            np.arange(len(base)), :, m % c]
        q = self._paired(downs, m // c, h[row[base]])
        core_links = links[base].copy()
        core_links[:, 1] = fab.core_up[p[row[base]], ps, j[base], m]
        core_links[:, 2] = downs[np.arange(len(base)), q]
        core_share = share[base] / mm.sum(axis=1)[sub]
        return TreePaths(np.concatenate([row[same_rows], row[base]]),
                         np.concatenate([share[same_rows], core_share]),
                         np.concatenate([links[same_rows], core_links]))

    def _paired(self, downs: IntArray, q_same: IntArray, h: NDArray[np.uint64]) -> IntArray:
        """The parallel cable with the uplink's index if alive, else a hashed alive one."""
        if self.all_alive:
            return q_same
        ok = self.fabric.link_alive[downs]
        q = q_same.copy()
        bad = ~ok[np.arange(len(q)), q_same]
        if bad.any():
            q[bad] = pick(ok[bad], hash_keys(h[bad], 5))
        return q
