"""Collectives as flows: bandwidth-equivalent rings (rail-aligned channels) and all-to-alls."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from mpft_sim.engine import simulate
from mpft_sim.spec.topology import load_topology
from mpft_sim.topology.build import build_fabric
from mpft_sim.workload.collectives import alltoall_flows, ring_flows, ring_steps
from mpft_sim.workload.flows import FlowList
from tests.conftest import TOPOLOGIES, no_overhead

MB = 1_200_000.0  # divisible by 12 and 4


def _channels(src: np.ndarray, dst: np.ndarray, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split a ring_flows result into its channels (n edges each, in order)."""
    assert len(src) % n == 0
    return [(src[i:i + n], dst[i:i + n]) for i in range(0, len(src), n)]


def _ring_order(src: np.ndarray, dst: np.ndarray) -> list[int]:
    """Follow a channel's edges from its first source; return the visiting order."""
    nxt = dict(zip(src.tolist(), dst.tolist(), strict=True))
    order = [int(src[0])]
    while nxt[order[-1]] != order[0]:
        order.append(nxt[order[-1]])
    return order


def test_ring_volume_is_exact() -> None:
    """Each edge of each channel carries k*(N-1)/N*bytes/m: 12 ranks, 4 per server."""
    gpus = np.arange(12)
    for kind, k in (("reduce_scatter", 1), ("allgather", 1), ("allreduce", 2)):
        src, dst, size = ring_flows(gpus, 4, MB, kind)  # type: ignore[arg-type]
        assert len(src) == len(dst) == len(size) == 4 * 12
        assert np.all(size == k * 11 / 12 * MB / 4)
        assert size.sum() == pytest.approx(k * 11 * MB)


def test_allreduce_is_twice_reduce_scatter() -> None:
    """All-reduce moves the same edges as reduce-scatter with twice the bytes."""
    gpus = np.arange(8, 24)
    rs = ring_flows(gpus, 8, MB, "reduce_scatter")
    ar = ring_flows(gpus, 8, MB, "allreduce")
    ag = ring_flows(gpus, 8, MB, "allgather")
    assert np.array_equal(rs[0], ar[0]) and np.array_equal(rs[1], ar[1])
    assert np.array_equal(ar[2], 2 * rs[2])
    assert np.array_equal(ag[2], rs[2])


def test_channels_are_rings_over_every_rank() -> None:
    """Each channel is one cycle through all N ranks; channels = ranks per server."""
    gpus = np.arange(12)
    src, dst, _ = ring_flows(gpus, 4, MB, "allreduce")
    channels = _channels(src, dst, 12)
    assert len(channels) == 4
    for s, d in channels:
        assert sorted(s.tolist()) == sorted(d.tolist()) == list(range(12))
        assert len(_ring_order(s, d)) == 12
        # a channel visits each server's ranks together
        servers = [g // 4 for g in _ring_order(s, d)]
        assert sum(a != b for a, b in zip(servers, servers[1:] + servers[:1], strict=True)) == 3


def test_server_hops_stay_on_one_rail() -> None:
    """4 ranks on each of 3 servers: every inter-server edge joins equal local indices, except
    the wrap edge (3 servers is not a multiple of 4 channels), and each hop uses each rail once."""
    gpus = np.arange(12)
    src, dst, _ = ring_flows(gpus, 4, MB, "reduce_scatter")
    rails_per_hop: dict[tuple[int, int], list[int]] = {}
    wraps = 0
    for s, d in _channels(src, dst, 12):
        for a, b in zip(s.tolist(), d.tolist(), strict=True):
            if a // 4 == b // 4:
                continue
            if (a // 4, b // 4) == (2, 0):
                wraps += 1
                assert a % 4 != b % 4
                continue
            assert b // 4 == a // 4 + 1
            assert a % 4 == b % 4
            rails_per_hop.setdefault((a // 4, b // 4), []).append(a % 4)
    assert wraps == 4
    assert {hop: sorted(r) for hop, r in rails_per_hop.items()} == {
        (0, 1): [0, 1, 2, 3], (1, 2): [0, 1, 2, 3]}


def test_wrap_edge_on_rail_when_servers_divide() -> None:
    """With as many servers as channels (4 x 4) the wrap edge is rail-aligned too."""
    src, dst, _ = ring_flows(np.arange(16), 4, MB, "allgather")
    cross = src // 4 != dst // 4
    assert np.all(src[cross] % 4 == dst[cross] % 4)
    assert Counter(zip((src[cross] // 4).tolist(), (dst[cross] // 4).tolist(),
                       strict=True)) == {(0, 1): 4, (1, 2): 4, (2, 3): 4, (3, 0): 4}


def test_one_rank_per_server_is_one_channel() -> None:
    """GPUs 0, 8, 16, 24 on 4 servers: one ring of 4 edges with (N-1)/N of the bytes."""
    src, dst, size = ring_flows(np.array([16, 0, 24, 8]), 8, MB, "reduce_scatter")
    assert src.tolist() == [0, 8, 16, 24]
    assert dst.tolist() == [8, 16, 24, 0]
    assert np.all(size == 3 / 4 * MB)


def test_uneven_servers_fall_back_to_one_channel() -> None:
    """Servers with different rank counts: one channel over the sorted ranks."""
    src, dst, size = ring_flows(np.array([0, 1, 2, 8]), 8, MB, "allreduce")
    assert src.tolist() == [0, 1, 2, 8]
    assert dst.tolist() == [1, 2, 8, 0]
    assert np.all(size == 2 * 3 / 4 * MB)


def test_duplicates_and_order_do_not_matter() -> None:
    """The ring is over the distinct GPUs, whatever order they are given in."""
    a = ring_flows(np.array([3, 1, 2, 0, 1]), 2, MB, "allreduce")
    b = ring_flows(np.arange(4), 2, MB, "allreduce")
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("n", [0, 1])
def test_ring_of_fewer_than_two_is_empty(n: int) -> None:
    """Nothing to exchange with fewer than two ranks."""
    src, dst, size = ring_flows(np.arange(n), 8, MB, "allreduce")
    assert len(src) == len(dst) == len(size) == 0


def test_ring_steps() -> None:
    """All-reduce pipelines 2(N-1) steps, reduce-scatter and all-gather N-1."""
    assert ring_steps("allreduce", 16) == 30
    assert ring_steps("reduce_scatter", 16) == 15
    assert ring_steps("allgather", 16) == 15
    assert ring_steps("allreduce", 1) == 0
    assert ring_steps("allgather", 0) == 0


def test_alltoall_pairs() -> None:
    """An all-to-all among N GPUs is every ordered pair of distinct GPUs, once, N(N-1) flows."""
    gpus = np.array([4, 9, 2, 30, 17])
    src, dst, size = alltoall_flows(gpus, 3e6)
    assert len(src) == 5 * 4
    pairs = set(zip(src.tolist(), dst.tolist(), strict=True))
    assert len(pairs) == 20
    assert all(a != b for a, b in pairs)
    assert {a for a, _ in pairs} == {b for _, b in pairs} == set(gpus.tolist())
    assert np.all(size == 3e6)
    assert Counter(src.tolist()) == dict.fromkeys(gpus.tolist(), 4)


def test_ring_allreduce_through_the_engine() -> None:
    """Ring all-reduce over 2 servers of tiny-mpft: network edges run at the 50 GB/s NIC,
    NVLink edges at 160 GB/s, each carrying 2*(N-1)/N*bytes/m (at line rate: the transport
    overhead pinned off)."""
    fabric = build_fabric(no_overhead(load_topology(TOPOLOGIES / "tiny-mpft.yaml")))
    src, dst, size = ring_flows(np.arange(4), fabric.gpus_per_node, 8e6, "allreduce")
    assert np.all(size == 2 * 3 / 4 * 8e6 / 2)
    flows = FlowList(src, dst, size, np.zeros(len(src)), tuple("ring" for _ in src))
    result = simulate(fabric, flows)
    fl = result.flow_table
    serve = fl.served_s - fl.release_s
    cross = src // 2 != dst // 2
    assert cross.sum() == 4 and (~cross).sum() == 4
    assert np.allclose(serve[cross], 6e6 / 50e9, rtol=1e-12)
    assert np.allclose(serve[~cross], 6e6 / 160e9, rtol=1e-12)
