"""The max-min solver: closed-form cases, the max-min conditions, and agreement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix

from mpft_sim.sharing import Incidence, max_min_rates, max_min_rates_numpy
from tests.reference import reference_max_min

SOLVERS = [max_min_rates, max_min_rates_numpy]


def incidence(entries: list[tuple[int, int, float]], n_links: int, n_flows: int) -> Incidence:
    """Entries are (link, flow, fraction)."""
    link, flow, frac = zip(*entries, strict=True) if entries else ((), (), ())
    return Incidence(np.array(link, dtype=np.int64), np.array(flow, dtype=np.int64),
                     np.array(frac, dtype=float), n_links, n_flows)


@pytest.mark.parametrize("solve", SOLVERS)
def test_one_link_equal_shares(solve) -> None:  # type: ignore[no-untyped-def]
    """N flows on one link each get capacity / N."""
    rates = solve(incidence([(0, f, 1.0) for f in range(5)], 1, 5), np.array([10.0]))
    assert rates == pytest.approx([2.0] * 5, rel=1e-12)


@pytest.mark.parametrize("solve", SOLVERS)
def test_parking_lot(solve) -> None:  # type: ignore[no-untyped-def]
    """A long flow over K links, one short flow per link: everyone gets half."""
    k = 4
    entries = [(i, 0, 1.0) for i in range(k)] + [(i, i + 1, 1.0) for i in range(k)]
    rates = solve(incidence(entries, k, k + 1), np.ones(k))
    assert rates == pytest.approx([0.5] * (k + 1), rel=1e-12)


@pytest.mark.parametrize("solve", SOLVERS)
def test_different_bottlenecks(solve) -> None:  # type: ignore[no-untyped-def]
    """A and B share a 1-unit link; B and C share a 3-unit link: A = B = 0.5, C = 2.5."""
    entries = [(0, 0, 1.0), (0, 1, 1.0), (1, 1, 1.0), (1, 2, 1.0)]
    rates = solve(incidence(entries, 2, 3), np.array([1.0, 3.0]))
    assert rates == pytest.approx([0.5, 0.5, 2.5], rel=1e-12)


@pytest.mark.parametrize("solve", SOLVERS)
def test_split_flow(solve) -> None:  # type: ignore[no-untyped-def]
    """A flow split half/half over two unit links, and one more flow on the first link:
    the first link fills when 0.5x + x = 1, so both get 2/3."""
    entries = [(0, 0, 0.5), (1, 0, 0.5), (0, 1, 1.0)]
    rates = solve(incidence(entries, 2, 2), np.ones(2))
    assert rates == pytest.approx([2 / 3, 2 / 3], rel=1e-12)


@pytest.mark.parametrize("solve", SOLVERS)
def test_flow_without_links_is_unbounded(solve) -> None:  # type: ignore[no-untyped-def]
    """A flow that crosses no link gets an infinite rate; the others are unaffected."""
    rates = solve(incidence([(0, 0, 1.0)], 1, 2), np.array([4.0]))
    assert rates[0] == 4.0 and np.isinf(rates[1])


def test_sparse_matrix_input() -> None:
    """A scipy sparse (links x flows) matrix is accepted and means the same."""
    entries = [(0, 0, 1.0), (0, 1, 1.0), (1, 1, 1.0), (1, 2, 1.0)]
    link, flow, frac = zip(*entries, strict=True)
    matrix = coo_matrix((frac, (link, flow)), shape=(2, 3)).tocsr()
    assert max_min_rates(matrix, np.array([1.0, 3.0])) == pytest.approx([0.5, 0.5, 2.5])


@st.composite
def problems(draw: st.DrawFn) -> tuple[Incidence, np.ndarray]:
    """Random small sharing problems, some flows split over several links."""
    n_links = draw(st.integers(1, 8))
    n_flows = draw(st.integers(1, 12))
    entries = []
    for f in range(n_flows):
        links = draw(st.lists(st.integers(0, n_links - 1), min_size=1, max_size=4,
                              unique=True))
        split = draw(st.sampled_from([1.0, 0.5, 0.25]))
        entries += [(link, f, 1.0 if i == 0 else split) for i, link in enumerate(links)]
    cap = np.array(draw(st.lists(st.sampled_from([1.0, 2.0, 3.0, 5.0, 7.5]),
                                 min_size=n_links, max_size=n_links)))
    return incidence(entries, n_links, n_flows), cap


@settings(max_examples=300, deadline=None)
@given(problems())
def test_max_min_conditions(problem: tuple[Incidence, np.ndarray]) -> None:
    """No link above capacity; every flow has a full link where no flow gets more; the
    compiled and numpy solvers and the reference agree."""
    inc, cap = problem
    rates = max_min_rates(inc, cap)
    load = np.bincount(inc.link, inc.frac * rates[inc.flow], minlength=inc.n_links)
    assert np.all(load <= cap * (1 + 1e-9))
    full = load >= cap * (1 - 1e-9)
    top = np.zeros(inc.n_links)
    np.maximum.at(top, inc.link, rates[inc.flow])
    for f in range(inc.n_flows):
        mine = inc.link[inc.flow == f]
        assert any(full[link] and rates[f] >= top[link] * (1 - 1e-9) for link in mine), f
    assert max_min_rates_numpy(inc, cap) == pytest.approx(rates, rel=1e-9)
    ref = reference_max_min(list(range(inc.n_flows)),
                            list(zip(inc.flow.tolist(), inc.link.tolist(), inc.frac.tolist(),
                                     strict=True)), cap.tolist())
    assert [ref[f] for f in range(inc.n_flows)] == pytest.approx(rates, rel=1e-9)
