"""The fluid network: exact completion times, once-per-instant re-solves, and agreement with
an independent reference simulator on random scenarios."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from mpft_sim.fluid_network import FluidNetwork
from mpft_sim.network import schedule
from mpft_sim.routing import Routes
from mpft_sim.sharing import max_min_rates_numpy
from tests.reference import reference_fluid

Path = tuple[float, list[int]]  # (share, links)
Flow = tuple[float, float, float, list[Path]]  # (release, size, latency, paths)


def links_only(capacity: list[float]) -> Any:
    """A stand-in fabric: just links with capacities (all plane 0, tier 1)."""
    n = len(capacity)
    return SimpleNamespace(n_links=n, capacity_Bps=np.array(capacity, dtype=float),
                           gpus_per_node=8, link_plane=np.zeros(n, np.int16),
                           link_tier=np.ones(n, np.int8))


def routes_of(flows: list[Flow]) -> Routes:
    width = max([len(p[1]) for f in flows for p in f[3]] + [1])
    rows, shares, links = [], [], []
    for i, (_, _, _, paths) in enumerate(flows):
        for share, ls in paths:
            rows.append(i)
            shares.append(share)
            links.append(ls + [-1] * (width - len(ls)))
    return Routes(np.array(rows, dtype=np.int64), np.array(shares, dtype=float),
                  np.array(links, dtype=np.int64).reshape(len(rows), width),
                  np.array([f[2] for f in flows], dtype=float))


def run(capacity: list[float], flows: list[Flow], **kw: Any) -> tuple[np.ndarray, FluidNetwork]:
    """Release each flow at its time along its paths; return completion times."""
    env = simpy.Environment()
    net = FluidNetwork(env, links_only(capacity), None, **kw)
    by_time: dict[float, list[int]] = {}
    for i, f in enumerate(flows):
        by_time.setdefault(f[0], []).append(i)

    def release(idx: list[int]) -> None:
        batch = [flows[i] for i in idx]
        routes = routes_of(batch)
        net.transfer_routes(routes, np.array([f[1] for f in batch]), np.zeros(len(idx)),
                            np.zeros(len(idx)))

    order: list[int] = []
    for t in sorted(by_time):
        order += by_time[t]
        schedule(env, t, lambda _e, idx=by_time[t]: release(idx), priority=1)
    env.run()
    end = net.flow_table().end_s
    out = np.empty(len(flows))
    out[order] = end
    return out, net


def test_one_flow() -> None:
    """One flow takes its latency plus size over the bottleneck capacity."""
    end, _ = run([50e9, 100e9], [(0.0, 1e9, 2.8e-6, [(1.0, [0, 1])])])
    assert end[0] == pytest.approx(1e9 / 50e9 + 2.8e-6, rel=1e-12)


def test_n_flows_one_bottleneck() -> None:
    """N equal flows on one link finish together at N * size / capacity."""
    n = 7
    end, net = run([10.0], [(0.0, 3.0, 0.0, [(1.0, [0])])] * n)
    assert end == pytest.approx([n * 3.0 / 10.0] * n, rel=1e-12)
    assert net.solves == 1


def test_different_sizes_one_link() -> None:
    """Flows of sizes 1, 2, 3 on a 1-unit link end at 3, 5, 6."""
    end, _ = run([1.0], [(0.0, s, 0.0, [(1.0, [0])]) for s in (1.0, 2.0, 3.0)])
    assert end == pytest.approx([3.0, 5.0, 6.0], rel=1e-12)


def test_parking_lot() -> None:
    """A long flow over 3 unit links and a short flow on each, all of size 1: all rates are
    1/2, so everyone ends at 2."""
    flows = [(0.0, 1.0, 0.0, [(1.0, [0, 1, 2])])] + [(0.0, 1.0, 0.0, [(1.0, [i])])
                                                       for i in range(3)]
    end, _ = run([1.0, 1.0, 1.0], flows)
    assert end == pytest.approx([2.0] * 4, rel=1e-12)


def test_join_halfway() -> None:
    """A (size 2) runs alone at 1; B (size 1) joins at t=1: both at 1/2, both end at 3."""
    end, _ = run([1.0], [(0.0, 2.0, 0.0, [(1.0, [0])]), (1.0, 1.0, 0.0, [(1.0, [0])])])
    assert end == pytest.approx([3.0, 3.0], rel=1e-12)


def test_leave_halfway() -> None:
    """A (size 1) and B (size 2) share a unit link: A ends at 2, then B alone ends at 3."""
    end, _ = run([1.0], [(0.0, 1.0, 0.0, [(1.0, [0])]), (0.0, 2.0, 0.0, [(1.0, [0])])])
    assert end == pytest.approx([2.0, 3.0], rel=1e-12)


def test_different_bottlenecks_over_time() -> None:
    """A, B share link 0 (cap 1); B, C share link 1 (cap 3). Rates 0.5, 0.5, 2.5; C (size 5)
    ends at 2; then nothing changes for A and B (size 1 each): they end at 2."""
    flows = [(0.0, 1.0, 0.0, [(1.0, [0])]), (0.0, 1.0, 0.0, [(1.0, [0, 1])]),
             (0.0, 5.0, 0.0, [(1.0, [1])])]
    end, _ = run([1.0, 3.0], flows)
    assert end == pytest.approx([2.0, 2.0, 2.0], rel=1e-12)


def test_latency_does_not_hold_bandwidth() -> None:
    """A flow's latency delays its completion but not the next flow's bandwidth."""
    flows = [(0.0, 1.0, 10.0, [(1.0, [0])]), (0.0, 1.0, 0.0, [(1.0, [0])])]
    end, _ = run([1.0], flows)
    assert end == pytest.approx([12.0, 2.0], rel=1e-12)


def test_zero_size_and_no_link() -> None:
    """A zero-byte flow and a flow without links complete their latency after release."""
    flows = [(1.0, 0.0, 3e-6, [(1.0, [0])]), (2.0, 5.0, 0.0, [(1.0, [])])]
    end, _ = run([1.0], flows)
    assert end == pytest.approx([1.0 + 3e-6, 2.0], rel=1e-12)


def test_simultaneous_release_costs_one_solve() -> None:
    """10,000 flows released together by 100 callers at the same instant cost one re-solve."""
    env = simpy.Environment()
    net = FluidNetwork(env, links_only([1.0] * 100), None)
    for i in range(100):
        routes = routes_of([(0.0, 1.0, 0.0, [(1.0, [i])])] * 100)
        schedule(env, 0.0, lambda _e, r=routes: net.transfer_routes(
            r, np.ones(100), np.zeros(100), np.zeros(100)), priority=1)
    env.run()
    assert net.solves == 1
    assert np.allclose(net.flow_table().end_s, 100.0)


def test_events_succeed_at_completion() -> None:
    """transfer_routes returns an event that succeeds when its last flow completes."""
    env = simpy.Environment()
    net = FluidNetwork(env, links_only([1.0]), None)
    seen = []

    def proc() -> Any:
        r = routes_of([(0.0, 1.0, 0.5, [(1.0, [0])]), (0.0, 3.0, 0.0, [(1.0, [0])])])
        value = yield net.transfer_routes(r, np.array([1.0, 3.0]), np.zeros(2), np.zeros(2))
        seen.append((env.now, value))

    env.process(proc())
    env.run()
    assert seen == [(pytest.approx(4.0), pytest.approx(4.0))]


def test_tolerance_batches_near_completions() -> None:
    """With tolerance 1e-2, flows sharing a link and finishing within 1% of their time
    complete in a few batches (solves), each flow's end within 1% of the exact one; exact
    mode re-solves at every completion. A batched flow records its own projected end, so
    the batching shows in the solve count, not in equal end times."""
    flows = [(0.0, 1.0 + i * 1e-4, 0.0, [(1.0, [0])]) for i in range(50)]
    exact, exact_net = run([1.0], flows)
    approx, approx_net = run([1.0], flows, tolerance=1e-2)
    assert len(np.unique(exact)) == 50
    assert exact_net.solves == 50
    assert approx_net.solves < 5
    assert np.all(np.abs(approx - exact) <= 1e-2 * exact)


def draw_paths(draw: st.DrawFn, n_links: int) -> list[tuple[float, list[int]]]:
    """One flow's paths: one or two, of 1-3 distinct links each, sharing the flow evenly."""
    n_paths = draw(st.integers(1, 2))
    return [(1.0 / n_paths, draw(st.lists(st.integers(0, n_links - 1), min_size=1, max_size=3,
                                          unique=True))) for _ in range(n_paths)]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[float], list[Flow]]:
    """Random links and flows: paths of 1-3 links, some flows split over two paths, sizes and
    release times from small sets so that ties and simultaneous events are common."""
    n_links = draw(st.integers(1, 6))
    capacity = draw(st.lists(st.sampled_from([1.0, 2.0, 4.0, 5.0]), min_size=n_links,
                             max_size=n_links))
    flows = []
    for _ in range(draw(st.integers(1, 10))):
        paths = draw_paths(draw, n_links)
        flows.append((draw(st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5])),
                      draw(st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0, 3.0])),
                      draw(st.sampled_from([0.0, 0.1])), paths))
    return capacity, flows


def entries_of(flows: list[Flow]) -> list[tuple[int, int, float]]:
    return [(i, link, share) for i, f in enumerate(flows) for share, links in f[3]
            for link in links]


@settings(max_examples=250, deadline=None)
@given(scenarios())
def test_agrees_with_reference(scenario: tuple[list[float], list[Flow]]) -> None:
    """Completion times match the independent reference; no link ever exceeds capacity;
    every byte is accounted for on every link it crossed."""
    capacity, flows = scenario
    end, net = run(capacity, flows)
    ref = reference_fluid([f[0] for f in flows], [f[1] for f in flows],
                          [f[2] for f in flows], entries_of(flows), capacity)
    assert end == pytest.approx(ref, rel=1e-7, abs=1e-12)
    assert np.all(net.peak <= 1 + 1e-9)
    table = net.flow_table()
    expect = np.zeros(len(capacity))
    for f in flows:
        for share, links in f[3]:
            expect[links] += f[1] * share
    assert table.link_bytes(len(capacity)) == pytest.approx(expect, rel=1e-12)
    assert np.all(np.isfinite(table.end_s))


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_solvers_are_interchangeable(scenario: tuple[list[float], list[Flow]]) -> None:
    """The numpy solver, injected, gives the same completion times as the compiled one."""
    capacity, flows = scenario
    a, _ = run(capacity, flows)
    b, _ = run(capacity, flows, solver=max_min_rates_numpy)
    assert a == pytest.approx(b, rel=1e-9, abs=1e-12)


@st.composite
def near_ties(draw: st.DrawFn) -> tuple[list[float], list[Flow]]:
    """Random links and flows with continuous sizes and release times, so that completions
    fall close together without tying: what tolerance mode batches."""
    n_links = draw(st.integers(1, 5))
    capacity = draw(st.lists(st.sampled_from([1.0, 2.0, 5.0]), min_size=n_links,
                             max_size=n_links))
    flows = []
    for _ in range(draw(st.integers(2, 14))):
        paths = draw_paths(draw, n_links)
        flows.append((draw(st.floats(0.0, 2.0)), draw(st.floats(0.5, 3.0)),
                      draw(st.sampled_from([0.0, 0.05])), paths))
    return capacity, flows


@settings(max_examples=300, deadline=None)
@given(near_ties(), st.sampled_from([1e-3, 1e-2, 5e-2]))
def test_tolerance_is_a_bound(scenario: tuple[list[float], list[Flow]],
                              tolerance: float) -> None:
    """With ``tolerance`` x, every flow's time from release to completion is within a
    relative x of the exact one, and no link exceeds its capacity."""
    capacity, flows = scenario
    exact, _ = run(capacity, flows)
    approx, net = run(capacity, flows, tolerance=tolerance)
    release = np.array([f[0] for f in flows])
    fct, fct_exact = approx - release, exact - release
    assert np.all(np.abs(fct - fct_exact) <= tolerance * fct_exact + 1e-12)
    assert np.all(net.peak <= 1 + 1e-9)
