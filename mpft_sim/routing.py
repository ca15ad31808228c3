"""Which links a transfer crosses: plane choice, NVLink forwarding, failures (vectorised).

A transfer between GPUs of one server crosses NVLink: GPU to NVSwitch to GPU. Between servers
it leaves through a NIC, crosses one plane of the fabric and enters through a NIC; a GPU may
forward over NVLink to a GPU whose NIC suits the transfer better:

- same plane (always so in a single-plane fat-tree or a multi-rail tree, whose spines join the
  rails): straight through the two GPUs' own NICs;
- MPFT cross-plane traffic (GPU i to GPU j != i of another server): forwarded at the
  ``source`` (NCCL PXN: over NVLink to GPU j of the sending server, then plane j) or at the
  ``destination`` (DeepEP: plane i to GPU i of the receiving server, then NVLink to GPU j);
- multi-plane NICs (one port in every plane): an even split over all the planes, no forwarding;
- failures: a GPU whose NIC (or plane) is gone forwards over NVLink to the nearest GPU of its
  server with a working NIC in a usable plane, at either end (when neither end's plane works,
  the nearest healthy plane after the source's, at both ends); if no plane can carry the
  transfer, :class:`~mpft_sim.errors.RoutingError` names it.

Inside a plane, :mod:`mpft_sim.paths` picks the equal-cost path by policy.

Latency of a path: the fabric's endpoint overhead, plus each link's latency (propagation and
the switch it enters), plus the NVLink latency once per forward; with the transport's
acknowledgements on (``fabric.transport.ack``), plus the acknowledgement's way back: the
latency of the path's switched links once more (a reverse path of the same cables and switches,
whose latency is the same). A transfer inside one server costs the NVLink latency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import RoutingError
from mpft_sim.paths import PlanePaths, hash_keys
from mpft_sim.topology.fabric import Fabric

__all__ = ["Router", "Routes"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass
class Routes:
    """Paths of a batch of transfers.

    Attributes
    ----------
    path_flow : ndarray of int, shape (paths,)
        The transfer (index within the batch) each path belongs to.
    path_share : ndarray of float, shape (paths,)
        Fraction of its transfer's rate each path carries (a transfer's shares sum to 1).
    path_links : ndarray of int, shape (paths, width)
        Link ids of each path in order, padded with -1.
    latency_s : ndarray of float, shape (transfers,)
        Latency added to each transfer (the slowest of its paths).
    """

    path_flow: IntArray
    path_share: FloatArray
    path_links: IntArray
    latency_s: FloatArray
    # derived entries, computed once: a batch's routes are read by the network and its model,
    # cached routes serve every later batch of the same pairs, and take() hands them on
    _incidence: tuple[IntArray, IntArray, FloatArray] | None = field(
        default=None, init=False, repr=False, compare=False)
    _links: tuple[IntArray, IntArray] | None = field(
        default=None, init=False, repr=False, compare=False)
    _entries: tuple[IntArray, IntArray, FloatArray] | None = field(
        default=None, init=False, repr=False, compare=False)

    def take(self, flows: IntArray) -> Routes:
        """The routes of some transfers (renumbered 0..len(flows)-1 in that order), with the
        derived entries already computed here filtered rather than computed again."""
        new_index = np.full(len(self.latency_s), -1, dtype=np.int64)
        new_index[flows] = np.arange(len(flows))
        keep = new_index[self.path_flow] >= 0
        out = Routes(new_index[self.path_flow[keep]], self.path_share[keep],
                     self.path_links[keep], self.latency_s[flows])
        if self._incidence is not None:  # paths keep their order: so do their entries
            flow, link, frac = self._incidence
            mine = new_index[flow] >= 0
            out._incidence = _frozen(new_index[flow[mine]], link[mine], frac[mine])
            if self._links is not None:
                links, at = self._links
                at = at[mine]
                used = np.bincount(at, minlength=len(links)) > 0
                out._links = _frozen(links[used], (np.cumsum(used) - 1)[at])
        if self._entries is not None and bool(np.all(np.diff(flows) > 0)):
            # renumbering in order keeps the entries sorted by transfer
            flow, link, frac = self._entries
            mine = new_index[flow] >= 0
            out._entries = _frozen(new_index[flow[mine]], link[mine], frac[mine])
        return out

    def incidence(self) -> tuple[IntArray, IntArray, FloatArray]:
        """(transfer, link, fraction) entries, one per link of each path (read-only arrays,
        computed on the first call)."""
        if self._incidence is None:
            valid = self.path_links >= 0
            per_path = valid.sum(axis=1)
            self._incidence = _frozen(np.repeat(self.path_flow, per_path),
                                      self.path_links[valid],
                                      np.repeat(self.path_share, per_path))
        return self._incidence

    def links(self) -> tuple[IntArray, IntArray]:
        """The links the paths use, sorted, and each :meth:`incidence` entry's index among
        them (read-only arrays, computed on the first call)."""
        if self._links is None:
            self._links = _frozen(*np.unique(self.incidence()[1], return_inverse=True))
        return self._links

    def entries(self) -> tuple[IntArray, IntArray, FloatArray]:
        """(transfer, link, fraction) with one entry per transfer and link it uses with a
        positive fraction (the fractions of its paths through one link added up), sorted
        by transfer, then link (read-only arrays, computed on the first call)."""
        if self._entries is None:
            flow, link, frac = self.incidence()
            keep = frac > 0
            flow, link, frac = flow[keep], link[keep], frac[keep]
            width = int(link.max()) + 1 if len(link) else 1
            key, at = np.unique(flow.astype(np.int64) * width + link, return_inverse=True)
            flow, link = np.divmod(key, width)
            self._entries = _frozen(flow, link, np.bincount(at, frac).astype(np.float64))
        return self._entries


def _frozen(*arrays: np.ndarray) -> Any:
    """The arrays, made read-only (derived entries are shared by every user of a route)."""
    for a in arrays:
        a.setflags(write=False)
    return arrays


class Router:
    """Routes transfers through a built fabric.

    Parameters
    ----------
    fabric : Fabric
    policy : {"ecmp", "adaptive", "spray"}, optional
        Path choice inside a plane; default: the topology's ``routing.policy``.
    cross_plane : {"source", "destination"}, optional
        Where MPFT cross-plane traffic is forwarded; default: the topology's.
    seed : int
        Seeds the ECMP hash.
    """

    def __init__(self, fabric: Fabric, policy: str | None = None,
                 cross_plane: str | None = None, seed: int = 0) -> None:
        self.fabric = fabric
        self.policy = policy or fabric.spec.routing.policy
        self.cross_plane = cross_plane or fabric.spec.routing.cross_plane
        self.seed = int(seed)
        self.paths = PlanePaths(fabric, self.policy)
        spec = fabric.spec
        self.g = spec.node.gpus
        self.ports = spec.node.nic.ports
        self.planes = fabric.size.planes
        self.endpoint_s = spec.fabric.latency.endpoint
        self.nvlink_s = spec.node.nvlink.latency_s
        self.ack = bool(spec.fabric.transport.ack)
        self._switched = fabric.switched
        alive = fabric.link_alive
        # a GPU's NIC path works: PCIe both ways and the NIC itself
        self.pcie_ok = alive[fabric.gpu_to_nic].all(axis=1) & alive[fabric.nic_to_gpu].all(axis=1)
        self.nvl_ok = alive[fabric.gpu_nvl_up] & alive[fabric.gpu_nvl_down]
        port_ok = alive[fabric.port_up] & alive[fabric.port_down]
        # usable[gpu, plane]: the GPU's NIC has a working port in the plane (port index = plane
        # for multi-plane NICs, 0 otherwise)
        n_gpus = fabric.n_gpus
        self.usable = np.zeros((n_gpus, self.planes), dtype=bool)
        nic = fabric.gpu_nic
        for port in range(self.ports):
            plane = fabric.port_plane[nic, port]
            self.usable[np.arange(n_gpus), plane] |= port_ok[nic, port] & self.pcie_ok
        self.proxy = self._proxy_table()

    def _proxy_table(self) -> IntArray:
        """proxy[server, plane, pref]: the GPU nearest ``pref`` (cyclically) on the server
        whose NIC works in the plane and whose NVLink works (-1 if none)."""
        g, planes = self.g, self.planes
        servers = self.fabric.n_gpus // g
        ok = self.usable.reshape(servers, g, planes).transpose(0, 2, 1)  # (server, plane, local)
        nvl = self.nvl_ok.reshape(servers, 1, g)
        table = np.full((servers, planes, g), -1, dtype=np.int64)
        base = (np.arange(servers) * g)[:, None]
        for pref in range(g):
            order = (pref + np.arange(g)) % g
            # the preferred GPU itself needs no NVLink; others must reach it over NVLink
            cand = ok[:, :, order] & np.where(order == pref, True, nvl[:, :, order])
            first = np.argmax(cand, axis=2)
            found = cand.any(axis=2)
            table[:, :, pref] = np.where(found, base + order[first], -1)
        return table

    def nic_plane(self, gpu: IntArray) -> IntArray:
        """Plane of each GPU's (single-port) NIC."""
        return self.fabric.port_plane[self.fabric.gpu_nic[gpu], 0]

    def route(self, src: IntArray, dst: IntArray, keys: IntArray,
              link_flows: FloatArray | None = None, names: list[str] | None = None,
              forward: str | None = None) -> Routes:
        """Paths for transfers ``src[i] -> dst[i]`` (global GPU ranks).

        Parameters
        ----------
        src, dst : ndarray of int
        keys : ndarray of int
            One distinct key per transfer (its flow id): the ECMP hash input.
        link_flows : ndarray of float, optional
            Flows currently on each link (adaptive routing reads and updates it).
        names : list of str, optional
            A name per transfer, used in the error when one has no path.
        forward : {"source", "destination", "pxn", "none"}, optional
            Overrides the cross-plane forwarding for these transfers: ``pxn`` forwards every
            cross-rail transfer at the source to the GPU with the destination's local index
            (NCCL PXN), on any fabric; ``none`` forbids forwarding unless a failure needs it.

        Raises
        ------
        RoutingError
            If a transfer has no path through the (failed) fabric.
        """
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        keys = np.asarray(keys, dtype=np.int64)
        n = len(src)
        fab, g = self.fabric, self.g
        h = hash_keys(keys.astype(np.uint64), self.seed)
        rows: list[IntArray] = []
        shares: list[FloatArray] = []
        links: list[IntArray] = []
        latency = np.zeros(n)
        width = 4 + 2 * fab.gpu_to_nic.shape[1] + 2 + 4

        intra = (src // g == dst // g) & (src != dst)
        idx = np.flatnonzero(intra)
        if idx.size:
            bad = idx[~(self.nvl_ok[src[idx]] & self.nvl_ok[dst[idx]])]
            if bad.size:
                self._fail(bad[0], src, dst, names, "its NVLink has failed")
            block = np.full((idx.size, width), -1, dtype=np.int64)
            block[:, 0] = fab.gpu_nvl_up[src[idx]]
            block[:, 1] = fab.gpu_nvl_down[dst[idx]]
            rows.append(idx)
            shares.append(np.ones(idx.size))
            links.append(block)
            latency[idx] = self.nvlink_s

        inter = np.flatnonzero(src // g != dst // g)
        if inter.size:
            a_row, a_share, a_src, a_dst, a_plane = self._attach(inter, src, dst, h, names,
                                                                 forward)
            self._assemble(a_row, a_share, a_src, a_dst, a_plane, src, dst, h, width,
                           link_flows, rows, shares, links, latency)
        if not rows:
            return Routes(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, width), np.int64),
                          latency)
        return Routes(np.concatenate(rows), np.concatenate(shares), np.concatenate(links),
                      latency)

    def _fail(self, i: int | np.integer, src: IntArray, dst: IntArray,
              names: list[str] | None, why: str) -> None:
        fab = self.fabric
        what = f"{names[i]}: " if names is not None and names[i] else ""
        raise RoutingError(f"{what}no path from {fab.node_name(src[i])} to "
                           f"{fab.node_name(dst[i])}: {why}")

    def _attach_multi_port(self, inter: IntArray, src: IntArray, dst: IntArray,
                           names: list[str] | None,
                           ) -> tuple[IntArray, FloatArray, IntArray, IntArray, IntArray]:
        """:meth:`_attach` for multi-plane NICs: split each transfer evenly over every plane
        both ends (or their NVLink proxies) can use."""
        g, planes = self.g, self.planes
        s, d = src[inter], dst[inter]
        sa, sb = s // g, d // g
        si, dj = s % g, d % g
        ps = self.proxy[sa[:, None], np.arange(planes)[None, :], si[:, None]]
        pd = self.proxy[sb[:, None], np.arange(planes)[None, :], dj[:, None]]
        ok = ((ps >= 0) & (pd >= 0) & ((ps == s[:, None]) | self.nvl_ok[s][:, None])
              & ((pd == d[:, None]) | self.nvl_ok[d][:, None]))
        rr, pp = np.nonzero(ok)
        ls = self._leaf(ps[rr, pp], pp)
        ld = self._leaf(pd[rr, pp], pp)
        reach = self.paths.reachable(pp, ls, ld)
        ok[rr[~reach], pp[~reach]] = False
        missing = ~ok.any(axis=1)
        if missing.any():
            self._fail(inter[np.argmax(missing)], src, dst, names,
                       "no plane is usable at both ends")
        rr, pp = np.nonzero(ok)
        share = 1.0 / ok.sum(axis=1)[rr]
        return inter[rr], share, ps[rr, pp], pd[rr, pp], pp

    def _attach(self, inter: IntArray, src: IntArray, dst: IntArray, h: NDArray[np.uint64],
                names: list[str] | None, forward: str | None = None,
                ) -> tuple[IntArray, FloatArray, IntArray, IntArray, IntArray]:
        """Choose, per inter-server transfer, the plane(s) and the GPUs whose NICs send and
        receive. Returns per attachment: transfer index, share, sending GPU, receiving GPU,
        plane."""
        g, planes = self.g, self.planes
        s, d = src[inter], dst[inter]
        sa, sb = s // g, d // g
        si, dj = s % g, d % g
        if self.ports > 1:
            return self._attach_multi_port(inter, src, dst, names)

        plane_s, plane_d = self.nic_plane(s), self.nic_plane(d)
        fwd_src = (self.proxy[sa, plane_d, dj], d, plane_d)
        fwd_dst = (s, self.proxy[sb, plane_s, si], plane_s)
        side = forward or self.cross_plane
        if side == "pxn":
            # NCCL PXN: the GPU on the destination's rail sends, whatever the planes
            options = [fwd_src, (s, d, plane_s), fwd_dst]
        elif side == "none":
            options = [(s, d, plane_s)]
        else:
            options = [(s, d, plane_s)]
            options += [fwd_src, fwd_dst] if side == "source" else [fwd_dst, fwd_src]
        chosen_s = np.full(len(s), -1, dtype=np.int64)
        chosen_d = np.full(len(s), -1, dtype=np.int64)
        chosen_p = np.full(len(s), -1, dtype=np.int64)
        todo = np.ones(len(s), dtype=bool)
        # forwarding away from a GPU (or to it) needs that GPU's own NVLink too
        src_nvl, dst_nvl = self.nvl_ok[s], self.nvl_ok[d]
        for gs, gd, gp in options:
            # only a same-plane pair can go straight; the others need a forward
            ok = todo & (gs >= 0) & (gd >= 0) & ((gs == s) | src_nvl) & ((gd == d) | dst_nvl)
            ok[ok] &= self.usable[gs[ok], gp[ok]] & self.usable[gd[ok], gp[ok]]
            ok[ok] &= self.paths.reachable(gp[ok], self._leaf(gs[ok], gp[ok]),
                                           self._leaf(gd[ok], gp[ok]))
            chosen_s[ok], chosen_d[ok], chosen_p[ok] = gs[ok], gd[ok], gp[ok]
            todo &= ~ok
        if todo.any():
            # last resort: the nearest healthy plane, forwarding at both ends. A rank whose NIC
            # is gone is rebound to one other NIC (as NCCL or DeepEP would), not sprayed over
            # all: its traffic then loads that NIC only, and leaves the other rails alone
            t = np.flatnonzero(todo)
            ps = self.proxy[sa[t][:, None], np.arange(planes)[None, :], si[t][:, None]]
            pd = self.proxy[sb[t][:, None], np.arange(planes)[None, :], dj[t][:, None]]
            ok = ((ps >= 0) & (pd >= 0) & ((ps == s[t][:, None]) | src_nvl[t][:, None])
                  & ((pd == d[t][:, None]) | dst_nvl[t][:, None]))
            rr, pp = np.nonzero(ok)
            reach = self.paths.reachable(pp, self._leaf(ps[rr, pp], pp),
                                         self._leaf(pd[rr, pp], pp))
            ok[rr[~reach], pp[~reach]] = False
            if not ok.any(axis=1).all():
                self._fail(inter[t[np.argmax(~ok.any(axis=1))]], src, dst, names,
                           "no working NIC and plane joins the two servers")
            # planes in cyclic order after the source's own: the first that works
            order = (plane_s[t][:, None] + 1 + np.arange(planes)[None, :]) % planes
            first = np.argmax(np.take_along_axis(ok, order, axis=1), axis=1)
            p_star = order[np.arange(len(t)), first]
            chosen_s[t] = ps[np.arange(len(t)), p_star]
            chosen_d[t] = pd[np.arange(len(t)), p_star]
            chosen_p[t] = p_star
        return inter, np.ones(len(inter)), chosen_s, chosen_d, chosen_p

    def _port(self, gpu: IntArray, plane: IntArray) -> IntArray:
        """The port of the GPU's NIC in ``plane``."""
        return plane if self.ports > 1 else np.zeros_like(plane)

    def _leaf(self, gpu: IntArray, plane: IntArray) -> IntArray:
        nic = self.fabric.gpu_nic[gpu]
        return self.fabric.port_leaf[nic, self._port(gpu, plane)]

    def _assemble(self, a_row: IntArray, a_share: FloatArray, a_src: IntArray, a_dst: IntArray,
                  a_plane: IntArray, src: IntArray, dst: IntArray, h: NDArray[np.uint64],
                  width: int, link_flows: FloatArray | None, rows: list[IntArray],
                  shares: list[FloatArray], links: list[IntArray], latency: FloatArray) -> None:
        fab = self.fabric
        ls, ld = self._leaf(a_src, a_plane), self._leaf(a_dst, a_plane)
        cross = np.flatnonzero(ls != ld)
        tree = self.paths.choose(a_plane[cross], ls[cross], ld[cross],
                                 hash_keys(h[a_row[cross]], 0) ^ a_plane[cross].astype(
                                     np.uint64), link_flows)
        # every attachment gets one path, or several (spray) through the tree
        same = np.flatnonzero(ls == ld)
        att = np.concatenate([same, cross[tree.row]])
        share = a_share[att] * np.concatenate([np.ones(same.size), tree.share])
        mid = np.concatenate([np.full((same.size, 4), -1, dtype=np.int64), tree.links])
        s, d, p = a_src[att], a_dst[att], a_plane[att]
        t = a_row[att]
        block = np.full((len(att), width), -1, dtype=np.int64)
        col = 0
        fwd_s = s != src[t]
        block[fwd_s, 0] = fab.gpu_nvl_up[src[t][fwd_s]]
        block[fwd_s, 1] = fab.gpu_nvl_down[s[fwd_s]]
        col = 2
        hops = fab.gpu_to_nic.shape[1]
        block[:, col:col + hops] = fab.gpu_to_nic[s]
        col += hops
        port_s = self._port(s, p)
        port_d = self._port(d, p)
        block[:, col] = fab.port_up[fab.gpu_nic[s], port_s]
        block[:, col + 1:col + 5] = mid
        block[:, col + 5] = fab.port_down[fab.gpu_nic[d], port_d]
        col += 6
        block[:, col:col + hops] = fab.nic_to_gpu[d]
        col += hops
        fwd_d = d != dst[t]
        block[fwd_d, col] = fab.gpu_nvl_up[d[fwd_d]]
        block[fwd_d, col + 1] = fab.gpu_nvl_down[dst[t][fwd_d]]
        # the fabric part's latency, per path; a transfer waits for its slowest path
        valid = block >= 0
        ids = np.where(valid, block, 0)
        link_lat = np.where(valid, fab.latency_s[ids], 0.0)
        lat = link_lat.sum(axis=1)
        if self.ack:
            # the last packet's acknowledgement comes back over the switched part of the path
            # (NIC to NIC): generated and consumed by the NICs, so no endpoint overhead and
            # no NVLink forward on its way
            lat += np.where(self._switched[ids], link_lat, 0.0).sum(axis=1)
        lat += self.endpoint_s + self.nvlink_s * (fwd_s.astype(float) + fwd_d)
        np.maximum.at(latency, t, lat)
        rows.append(t)
        shares.append(share)
        links.append(block)
