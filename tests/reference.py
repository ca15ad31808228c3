"""A slow, independent fluid simulator to check the engine against.

Plain Python and dicts, written from the semantics alone: at every event, raise the rates of
all unfrozen flows together until some link fills, freeze the flows on full links, repeat;
then advance time to the next release or completion. Nothing is shared with mpft_sim.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

Entry = tuple[int, int, float]  # (flow, link, fraction of the flow's rate on the link)


def reference_max_min(flows: Sequence[int], entries: Sequence[Entry],
                      capacity: Sequence[float]) -> dict[int, float]:
    """Max-min fair rates by the textbook water-filling loop."""
    rate = {f: 0.0 for f in flows}
    unfrozen = set(flows)
    mine = [(f, link, a) for f, link, a in entries if f in unfrozen and a > 0]
    has_link = {f for f, _, _ in mine}
    for f in unfrozen - has_link:
        rate[f] = float("inf")
    unfrozen &= has_link
    residual = {link: float(capacity[link]) for _, link, _ in mine}
    while unfrozen:
        demand: dict[int, float] = defaultdict(float)
        for f, link, a in mine:
            if f in unfrozen:
                demand[link] += a
        raise_by = min(max(residual[link], 0.0) / d for link, d in demand.items())
        for f in unfrozen:
            rate[f] += raise_by
        full = set()
        for link, d in demand.items():
            residual[link] -= raise_by * d
            if residual[link] <= 1e-9 * capacity[link]:
                full.add(link)
        unfrozen -= {f for f, link, _ in mine if link in full}
    return rate


def reference_fluid(release: Sequence[float], size: Sequence[float],
                    latency: Sequence[float], entries: Sequence[Entry],
                    capacity: Sequence[float]) -> list[float]:
    """Completion time of each flow: served at max-min rates from release, plus latency."""
    n = len(release)
    remaining = [float(s) for s in size]
    end = [float("nan")] * n
    waiting = sorted(range(n), key=lambda f: release[f])
    active: list[int] = []
    t = 0.0
    while waiting or active:
        if not active:
            t = max(t, release[waiting[0]])
        while waiting and release[waiting[0]] <= t:
            active.append(waiting.pop(0))
        rate = reference_max_min(active, entries, capacity)
        for f in list(active):
            if remaining[f] <= 0 or rate[f] == float("inf"):
                end[f] = t + latency[f]
                active.remove(f)
        if not active:
            continue
        rate = reference_max_min(active, entries, capacity)
        step = min(remaining[f] / rate[f] for f in active)
        if waiting:
            step = min(step, release[waiting[0]] - t)
        t += step
        for f in list(active):
            remaining[f] -= rate[f] * step
            if remaining[f] <= 1e-9 * size[f]:
                end[f] = t + latency[f]
                active.remove(f)
    return end
