"""Pipeline-parallel schedules as per-rank programs: DualPipe, DualPipeV, 1F1B and ZB-H1.

Each pipeline rank runs a fixed sequence of compute *items* (F, B, W, or an overlapped F&B),
and each item consumes and produces point-to-point messages (activations forward, gradients
backward) with its neighbouring ranks. :func:`pipeline_items` builds that sequence and the
traffic generator turns its messages into flows; :mod:`mpft_sim.workload.bubbles` times it
with zero communication against the closed-form bubbles.

DualPipe and DualPipeV follow the open-source reference (deepseek-ai/DualPipe) step by step,
including its middle/last-rank special cases, so the op order and the posted
``batch_isend_irecv`` batches match it exactly (:func:`listing`). 1F1B is the standard
non-interleaved schedule; ``zb1p`` is ZB-H1 (Qi et al., 2023), the zero-bubble variant of 1F1B
with the same peak activation memory.
"""

from __future__ import annotations

from mpft_sim.spec.workload import SCHEDULES, Schedule
from mpft_sim.workload.pipelines import (
    DualPipeRole,
    Item,
    Links,
    Message,
    Recorder,
    dualpipe_program,
    one_f_one_b_program,
    zb_h1_program,
)

__all__ = [
    "SCHEDULES",
    "ItemShape",
    "Schedule",
    "count_items",
    "listing",
    "num_stages",
    "pipeline_items",
    "stage_of",
]



def _check_int(name: str, value: object) -> int:
    # bool is an int subclass; a flag passed as a count is a bug, not a count of 0 or 1
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


def _check_schedule(schedule: object) -> Schedule:
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
    return schedule  # type: ignore[return-value]


def _check_pp(schedule: Schedule, pp: object) -> int:
    pp = _check_int("pp", pp)
    if pp < 1:
        raise ValueError(f"pp must be at least 1, got {pp}")
    if schedule == "dualpipe" and pp % 2:
        # the two directions meet between the two middle ranks: an odd pipeline has no middle
        raise ValueError(f"dualpipe needs an even number of pipeline ranks, got pp={pp}")
    return pp


def _check_rank(pp: int, rank: object) -> int:
    rank = _check_int("rank", rank)
    if not 0 <= rank < pp:
        raise ValueError(f"rank must be in [0, {pp}), got {rank}")
    return rank


def _check_chunks(schedule: Schedule, pp: int, num_chunks: object) -> int:
    num_chunks = _check_int("num_chunks", num_chunks)
    if schedule in ("dualpipe", "dualpipev"):
        if num_chunks < 2 * pp:
            raise ValueError(f"{schedule} needs num_chunks >= 2*pp = {2 * pp}, got {num_chunks}")
        if schedule == "dualpipe" and num_chunks % 2:
            # half the micro-batches go each way
            raise ValueError(f"dualpipe needs an even num_chunks, got {num_chunks}")
    elif num_chunks < pp:
        raise ValueError(f"{schedule} needs num_chunks >= pp = {pp}, got {num_chunks}")
    return num_chunks


def num_stages(schedule: Schedule, pp: int) -> int:
    """Number of model stages the pipeline is cut into.

    Parameters
    ----------
    schedule : {"dualpipe", "dualpipev", "1f1b", "zb1p"}
        Pipeline schedule.
    pp : int
        Number of pipeline ranks (devices).

    Returns
    -------
    int
        ``2 * pp`` for DualPipeV (two stages per device, no duplicates), else ``pp``.

    Raises
    ------
    ValueError
        For an unknown schedule or an invalid ``pp``.
    """
    schedule = _check_schedule(schedule)
    pp = _check_pp(schedule, pp)
    return 2 * pp if schedule == "dualpipev" else pp


def stage_of(schedule: Schedule, pp: int, rank: int, module: int) -> int:
    """Which model stage (0-based, in model order) a rank's module holds.

    Parameters
    ----------
    schedule : {"dualpipe", "dualpipev", "1f1b", "zb1p"}
        Pipeline schedule.
    pp : int
        Number of pipeline ranks (devices).
    rank : int
        Pipeline rank, ``0 <= rank < pp``.
    module : int
        0 or 1 for DualPipe and DualPipeV; 0 for 1F1B and ZB1P.

    Returns
    -------
    int
        Module 0 holds stage ``rank``. Module 1 holds stage ``pp - 1 - rank`` (DualPipe: the
        mirror copy) or ``2*pp - 1 - rank`` (DualPipeV: the second leg of the V).

    Raises
    ------
    ValueError
        For invalid arguments, including module 1 of a one-module schedule.
    """
    schedule = _check_schedule(schedule)
    pp = _check_pp(schedule, pp)
    rank = _check_rank(pp, rank)
    module = _check_int("module", module)
    n_modules = 2 if schedule in ("dualpipe", "dualpipev") else 1
    if not 0 <= module < n_modules:
        raise ValueError(f"{schedule} ranks hold modules 0..{n_modules - 1}, got {module}")
    if module == 0:
        return rank
    return (pp - 1 - rank) if schedule == "dualpipe" else (2 * pp - 1 - rank)


def _links(schedule: Schedule, pp: int, rank: int, module: int) -> Links:
    prev = rank - 1 if rank > 0 else None
    nxt = rank + 1 if rank < pp - 1 else None
    if module == 0:
        # DualPipeV's module 0 on the last rank hands its output to module 1 in memory
        return prev, (None if schedule == "dualpipev" and rank == pp - 1 else nxt)
    # module 1 flows towards rank 0 in both DualPipe (direction U) and DualPipeV (the V's
    # second leg); in DualPipeV it starts from the local turn-around on the last rank
    return (None if schedule == "dualpipev" and rank == pp - 1 else nxt), prev


def _program(
    schedule: Schedule, pp: int, rank: int, num_chunks: int
) -> tuple[list[Item], tuple[tuple[str, Message], ...]]:
    """Validate, build one rank's items, and return them with any batch posted after the last."""
    schedule = _check_schedule(schedule)
    pp = _check_pp(schedule, pp)
    rank = _check_rank(pp, rank)
    num_chunks = _check_chunks(schedule, pp, num_chunks)

    def links(module: int) -> Links:
        return _links(schedule, pp, rank, module)

    recorder = Recorder(links)
    if schedule in ("dualpipe", "dualpipev"):
        dualpipe_program(recorder, pp, rank, num_chunks, v=schedule == "dualpipev")
    elif schedule == "1f1b":
        one_f_one_b_program(recorder, pp, rank, num_chunks)
    else:
        zb_h1_program(recorder, pp, rank, num_chunks)
    if recorder.weight_queue:
        raise AssertionError(f"{schedule}: {recorder.weight_queue} weight passes never ran")
    return recorder.items, tuple(recorder.pending)


def pipeline_items(schedule: Schedule, pp: int, rank: int, num_chunks: int) -> list[Item]:
    """The compute items of one pipeline rank, in program order.

    Parameters
    ----------
    schedule : {"dualpipe", "dualpipev", "1f1b", "zb1p"}
        ``dualpipe``: ``pp`` even, ``num_chunks`` even and ``>= 2*pp``; module 0 is stage
        ``rank`` (direction D, entering at rank 0) and module 1 is stage ``pp-1-rank``
        (direction U, entering at rank ``pp-1``); ``num_chunks/2`` micro-batches each way.
        ``dualpipev``: ``2*pp`` stages, ``num_chunks >= 2*pp``; module 0 is stage ``rank``,
        module 1 is stage ``2*pp-1-rank``; every micro-batch goes down module 0 and back up
        module 1. ``1f1b``: one module (stage ``rank``), ``num_chunks >= pp``; ``pp-rank-1``
        warm-up forwards, steady F then B, cool-down. ``zb1p``: ZB-H1 (Qi et al., 2023), B
        split into input-gradient B and weight-gradient W with the Ws filling the cool-down.
    pp : int
        Number of pipeline ranks (devices).
    rank : int
        Pipeline rank, ``0 <= rank < pp``.
    num_chunks : int
        Number of micro-batches in the step (both directions together for DualPipe).

    Returns
    -------
    list of Item
        The items, with their production-semantics ``recvs``/``sends`` and, for DualPipe and
        DualPipeV, the reference code's posted batches. For 1F1B and ZB1P, which have no
        reference listing here, ``posted`` follows the same lazy discipline: an item's batch
        holds the previous item's sends and its own receives.

    Raises
    ------
    ValueError
        For an unknown schedule, odd ``pp`` (DualPipe), ``rank`` out of range, or too few or
        (DualPipe) an odd number of micro-batches.
    """
    return _program(schedule, pp, rank, num_chunks)[0]


ItemShape = tuple[str, int | None, int | None, bool, int, int]
"""What the program builder needs to know of an item to count its tasks and flows:
``(kind, forward module, backward module, zero_bubble, receives, sends)``."""


def count_items(schedule: Schedule, pp: int, rank: int, num_chunks: int) -> dict[ItemShape, int]:
    """How many items of each shape one pipeline rank runs, in O(1), without listing them.

    The cost estimate counts a step of 4,096 micro-batches over 1,024 pipeline ranks with
    this; it follows the same steps as :func:`pipeline_items` (the tests check that the
    counts agree with the listing), multiplying where the listing loops.

    Returns
    -------
    dict
        :data:`ItemShape` to its number of items; the shapes' messages follow from the
        module links alone (an item receives from the upstream peer of its forward part and
        the downstream peer of its backward part, and sends the other way).

    Raises
    ------
    ValueError
        As :func:`pipeline_items`.
    """
    schedule = _check_schedule(schedule)
    pp = _check_pp(schedule, pp)
    rank = _check_rank(pp, rank)
    num_chunks = _check_chunks(schedule, pp, num_chunks)
    counts: dict[ItemShape, int] = {}

    def add(times: int, kind: str, f: int | None = None, b: int | None = None,
            zero_bubble: bool = False) -> None:
        if times <= 0:
            return
        recvs = sends = 0
        if f is not None:
            up, down = _links(schedule, pp, rank, f)
            recvs, sends = recvs + (up is not None), sends + (down is not None)
        if b is not None:
            up, down = _links(schedule, pp, rank, b)
            recvs, sends = recvs + (down is not None), sends + (up is not None)
        shape = (kind, f, b, zero_bubble, recvs, sends)
        counts[shape] = counts.get(shape, 0) + times

    if schedule == "1f1b":
        add(num_chunks, "F", f=0)
        add(num_chunks, "B", b=0)
        return counts
    if schedule == "zb1p":
        add(num_chunks, "F", f=0)
        add(num_chunks, "B", b=0, zero_bubble=True)
        add(num_chunks, "W")
        return counts
    # the eight steps of dualpipe_program, each loop as a multiplication
    role = DualPipeRole.of(pp, rank, num_chunks, schedule == "dualpipev")
    half, dist, per_dir = role.half, role.dist, role.per_dir
    near, far, special, wait = role.near, role.far, role.special, role.wait
    add(2 * wait + dist + 1, "F", f=near)  # steps 1 and 2
    add(dist + 1 + wait, "F", f=far)  # steps 2 and 3
    add(wait, "B", b=far, zero_bubble=True)  # step 3
    steady = per_dir - 2 * half + dist + 1  # step 4: two F&B a round, or F, B, F&B first
    if special:
        add(1, "F", f=near)
        add(1, "B", b=far)
        add(steady - 1, "FB", f=near, b=far)
    else:
        add(steady, "FB", f=near, b=far)
    add(steady + wait, "FB", f=far, b=near)  # steps 4 and 5
    add(wait, "B", b=far)  # step 5
    # step 6: dist + 1 rounds of B(far), B(near); from round h on they defer their weights
    h = (dist + 1) // 2
    far_full = h + (dist % 2 == 0)
    near_full = h
    add(far_full, "B", b=far)
    add(dist + 1 - far_full, "B", b=far, zero_bubble=True)
    add(near_full, "B", b=near)
    add(dist + 1 - near_full + wait, "B", b=near, zero_bubble=True)  # steps 6 and 7
    add(2 * wait + dist + 1, "W")  # steps 3, 7 and 8
    return counts


def _token(item: Item) -> str:
    if item.kind == "W":
        return "W"
    f = f"F{item.f[0]}[{item.f[1]}]" if item.f is not None else ""
    b = f"B{item.b[0]}[{item.b[1]}]{'z' if item.zero_bubble else ''}" if item.b is not None else ""
    return f"{f}&{b}" if item.kind == "FB" else f + b


def _batch(posted: tuple[tuple[str, Message], ...]) -> str:
    ops = (f"{op}{m.peer}:{m.kind}{m.module}.{m.mb}" for op, m in posted)
    return "{" + ",".join(ops) + "}"


def listing(schedule: Schedule, pp: int, num_chunks: int) -> dict[int, str]:
    """Each rank's items in the notation of the DualPipe worked example.

    Parameters
    ----------
    schedule : {"dualpipe", "dualpipev", "1f1b", "zb1p"}
        Pipeline schedule.
    pp : int
        Number of pipeline ranks.
    num_chunks : int
        Number of micro-batches.

    Returns
    -------
    dict of int to str
        Per rank, space-separated tokens: ``F0[i]``/``F1[i]`` forwards, ``B1[i]`` backwards
        (``B1[i]z`` when zero-bubble), ``W``, ``F1[2]&B0[0]`` for an overlapped pair, and each
        posted batch such as ``{s1:a0.0,r1:a1.1}`` (``s``/``r`` send/receive, peer rank,
        ``a``/``g`` activation/gradient, module, micro-batch) before the item it precedes,
        plus a final batch after the last item if one is posted there.

    Raises
    ------
    ValueError
        For invalid arguments (see :func:`pipeline_items`).
    """
    schedule = _check_schedule(schedule)
    pp = _check_pp(schedule, pp)
    out: dict[int, str] = {}
    for rank in range(pp):
        items, final = _program(schedule, pp, rank, num_chunks)
        tokens: list[str] = []
        for item in items:
            if item.posted:
                tokens.append(_batch(item.posted))
            tokens.append(_token(item))
        if final:
            tokens.append(_batch(final))
        out[rank] = " ".join(tokens)
    return out
