"""Pipeline bubbles: the published closed forms, and a zero-communication replay of a
schedule's programs that checks them.

The replay is independent of the simulation engine: it times the items of
:func:`~mpft_sim.workload.schedules.pipeline_items` directly, so a schedule's programs can be
checked against the closed forms without SimPy or a network.
"""

from __future__ import annotations

from mpft_sim.workload.pipelines import Item
from mpft_sim.workload.schedules import Schedule, num_stages, pipeline_items

__all__ = ["bubble_formula", "replay_idle"]


def bubble_formula(schedule: Schedule, pp: int, F: float, B: float, W: float, FB: float) -> float:
    """Closed-form pipeline bubble (idle time per rank) of a schedule.

    Parameters
    ----------
    schedule : {"dualpipe", "dualpipev", "1f1b", "zb1p"}
        Pipeline schedule.
    pp : int
        Number of pipeline ranks (devices).
    F, B, W, FB : float
        Durations of one forward chunk, one full backward chunk, its deferrable
        weight-gradient part, and one overlapped forward-and-backward pair.

    Returns
    -------
    float
        With ``S`` the number of stages
        (:func:`~mpft_sim.workload.schedules.num_stages`): 1F1B ``(S-1)(F+B)``; ZB1P
        ``(S-1)(F+B-2W)``; DualPipe and DualPipeV ``(S/2-1)(FB+B-3W)``. DualPipeV has
        ``S = 2*pp``, so it runs on ``S/2`` devices with the same bubble as DualPipe on ``S``.

    Notes
    -----
    These are the published closed forms. :func:`replay_idle` reproduces them exactly for
    F = 1, B = 2, W = 1, F&B = 3, for every rank and any number of micro-batches. They are not
    exact everywhere: with W = 0.5 the DualPipe replay idles 1 less than the formula (9.5 vs
    10.5 at 8 stages), and ZB-H1's form needs ``W <= B - W`` (a longer W cannot be hidden
    behind the input-gradient chain; the replay then idles ``(S-1)F``).

    Raises
    ------
    ValueError
        For an unknown schedule or invalid ``pp``.
    """
    stages = num_stages(schedule, pp)
    if schedule == "1f1b":
        return (stages - 1) * (F + B)
    if schedule == "zb1p":
        return (stages - 1) * (F + B - 2 * W)
    return (stages / 2 - 1) * (FB + B - 3 * W)


def replay_idle(
    schedule: Schedule, pp: int, num_chunks: int, F: float, B: float, W: float, FB: float
) -> list[float]:
    """Time the schedule with zero communication and return each rank's idle time.

    Every rank starts at time 0 and runs its items in order. An item starts when the rank is
    free and every message in its ``recvs`` has arrived; a message arrives the instant the
    item that sends it finishes (production semantics: the reference's posting batches play
    no part). Durations: F ``F``; B ``B``, or ``B - W`` for a zero-bubble B; W ``W``; F&B
    ``FB``. The idle time of a rank is the makespan (the time the last rank finishes) minus
    that rank's busy time, which is how the DualPipe replay behind the bubble table counts it.

    Parameters
    ----------
    schedule : {"dualpipe", "dualpipev", "1f1b", "zb1p"}
        Pipeline schedule.
    pp : int
        Number of pipeline ranks.
    num_chunks : int
        Number of micro-batches.
    F, B, W, FB : float
        Durations as in :func:`bubble_formula`.

    Returns
    -------
    list of float
        Idle time of ranks ``0 .. pp-1``.

    Raises
    ------
    ValueError
        For invalid arguments (see :func:`~mpft_sim.workload.schedules.pipeline_items`).
    RuntimeError
        If the ranks deadlock: some item waits for a message that is never sent.
    """
    programs = [pipeline_items(schedule, pp, rank, num_chunks) for rank in range(pp)]

    def duration(item: Item) -> float:
        if item.kind == "F":
            return F
        if item.kind == "B":
            return B - W if item.zero_bubble else B
        return W if item.kind == "W" else FB

    # arrival time per (sender, receiver, kind, module, mb)
    arrived: dict[tuple[int, int, str, int, int], float] = {}
    position = [0] * pp
    clock = [0.0] * pp
    busy = [0.0] * pp
    progress = True
    # sweep the ranks until none can advance; an item's start depends only on items already
    # timed, so the sweep order does not change the result
    while progress:
        progress = False
        for rank, items in enumerate(programs):
            while position[rank] < len(items):
                item = items[position[rank]]
                keys = [(m.peer, rank, m.kind, m.module, m.mb) for m in item.recvs]
                if any(key not in arrived for key in keys):
                    break
                start = max([clock[rank], *(arrived[key] for key in keys)])
                clock[rank] = start + duration(item)
                busy[rank] += duration(item)
                for m in item.sends:
                    arrived[(rank, m.peer, m.kind, m.module, m.mb)] = clock[rank]
                position[rank] += 1
                progress = True
    stuck = [rank for rank in range(pp) if position[rank] < len(programs[rank])]
    if stuck:
        raise RuntimeError(f"{schedule} deadlocks: ranks {stuck} wait for messages never sent")
    makespan = max(clock)
    return [makespan - b for b in busy]
