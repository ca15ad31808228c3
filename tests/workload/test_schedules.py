"""Pipeline schedules: reference listings, counts, message matching, argument checks (the
bubbles: test_bubbles.py)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from mpft_sim.workload.bubbles import bubble_formula, replay_idle
from mpft_sim.workload.pipelines import Item, Message
from mpft_sim.workload.schedules import (
    SCHEDULES,
    Schedule,
    count_items,
    listing,
    num_stages,
    pipeline_items,
    stage_of,
)

# DualPipe, P = 4, num_chunks = 8: the worked per-rank op order of traffic-mechanics §1.6,
# derived there from the reference code by a replay (ranks 2 and 3 are mirrors of 1 and 0).
# Re-wrapped to the line length; the comparison normalises whitespace.
DUALPIPE_P4_C8 = {
    0: """
    F0[0] {s1:a0.0} F0[1] {s1:a0.1} F0[2] {r1:a1.0} F1[0] {s1:a0.2} B1[0]z {s1:g1.0,r1:a1.1} W
    F1[1] F0[3]&B1[1] {s1:a0.3,s1:g1.1,r1:a1.2,r1:g0.0} F1[2]&B0[0] B1[2]
    {s1:g1.2,r1:a1.3,r1:g0.1} F1[3]&B0[1] B1[3] {s1:g1.3,r1:g0.2} B0[2]z W {r1:g0.3} B0[3]z W
    """,
    1: """
    {r0:a0.0} F0[0] {s2:a0.0,r0:a0.1,r2:a1.0} F1[0] {s0:a1.0} F0[1] {s2:a0.1,r0:a0.2,r2:a1.1}
    F1[1] F0[2] {s0:a1.1,r0:g1.0} B1[0] {s2:a0.2,s2:g1.0,r2:a1.2,r2:g0.0} F1[2]&B0[0]
    {s0:a1.2,s0:g0.0,r0:a0.3,r0:g1.1} F0[3]&B1[1] {s2:a0.3,s2:g1.1,r2:a1.3,r2:g0.1} F1[3]&B0[1]
    {s0:a1.3,s0:g0.1,r0:g1.2} B1[2] {s2:g1.2,r2:g0.2} B0[2] {s0:g0.2,r0:g1.3} B1[3]z
    {s2:g1.3,r2:g0.3} B0[3]z {s0:g0.3} W W
    """,
}

# DualPipeV, N = 2 devices, num_chunks = 4: the listing of traffic-mechanics §1.7.
DUALPIPEV_N2_C4 = {
    0: """
    F0[0] {s1:a0.0} F0[1] {s1:a0.1} F0[2] {r1:a1.0} F1[0] {s1:a0.2} B1[0]z {s1:g1.0,r1:a1.1} W
    F1[1] F0[3]&B1[1] {s1:a0.3,s1:g1.1,r1:a1.2,r1:g0.0} F1[2]&B0[0] B1[2]
    {s1:g1.2,r1:a1.3,r1:g0.1} F1[3]&B0[1] B1[3] {s1:g1.3,r1:g0.2} B0[2]z W {r1:g0.3} B0[3]z W
    """,
    1: """
    {r0:a0.0} F0[0] {r0:a0.1} F1[0] {s0:a1.0} F0[1] {r0:a0.2} F1[1] F0[2] {s0:a1.1,r0:g1.0}
    B1[0] F1[2]&B0[0] {s0:a1.2,s0:g0.0,r0:a0.3,r0:g1.1} F0[3]&B1[1] F1[3]&B0[1]
    {s0:a1.3,s0:g0.1,r0:g1.2} B1[2] B0[2] {s0:g0.2,r0:g1.3} B1[3]z B0[3]z {s0:g0.3} W W
    """,
}


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _mirror(text: str, pp: int) -> str:
    """Swap the two modules and reflect peer ranks, turning rank r's listing into rank pp-1-r's."""
    text = re.sub(r"([FBag])([01])(?=[\[.])", lambda m: m[1] + str(1 - int(m[2])), text)
    return re.sub(r"([sr])(\d+):", lambda m: f"{m[1]}{pp - 1 - int(m[2])}:", text)


def _configs() -> list[tuple[Schedule, int, int]]:
    configs: list[tuple[Schedule, int, int]] = []
    for pp in (2, 4, 6, 8, 16):
        configs += [("dualpipe", pp, n) for n in (2 * pp, 2 * pp + 2, 4 * pp)]
        configs += [("dualpipev", pp, n) for n in (2 * pp, 2 * pp + 1, 4 * pp)]
        for schedule in ("1f1b", "zb1p"):
            configs += [(schedule, pp, n) for n in (pp, pp + 1, 3 * pp)]
    configs += [(schedule, 1, 3) for schedule in ("dualpipev", "1f1b", "zb1p")]
    return configs


CONFIGS = _configs()
CONFIG_IDS = [f"{s}-pp{pp}-n{n}" for s, pp, n in CONFIGS]


def _programs(schedule: Schedule, pp: int, num_chunks: int) -> list[list[Item]]:
    return [pipeline_items(schedule, pp, rank, num_chunks) for rank in range(pp)]


def _modules(schedule: Schedule) -> tuple[int, ...]:
    return (0, 1) if schedule in ("dualpipe", "dualpipev") else (0,)


Key = tuple[str, int, int]  # (kind, module, mb) of a message, without its peer


def _key(m: Message) -> Key:
    return (m.kind, m.module, m.mb)


def _posted_batches(items: list[Item]) -> list[list[tuple[str, Message]]]:
    """The posted batches of one rank, plus the final batch of sends posted after the last item.

    The final batch is reconstructed as the produced sends never posted before an item (the
    reference flushes its pending list once more after the last item).
    """
    batches = [list(item.posted) for item in items if item.posted]
    posted = Counter(m for batch in batches for op, m in batch if op == "s")
    final = [m for item in items for m in item.sends if m not in posted]
    if final:
        batches.append([("s", m) for m in final])
    return batches


def _rendezvous_completes(batches: list[list[list[tuple[str, Message]]]]) -> bool:
    """Whether the reference's post-batch-then-wait-for-all discipline runs to the end.

    A rank posts its next batch and moves on once every operation in it has its counterpart
    posted by the peer (the k-th send a->b pairs with the k-th receive at b from a).
    """
    where: dict[tuple[str, int, int, int], int] = {}  # (op, rank, peer, k) -> batch index
    needs: list[list[list[tuple[int, int | None]]]] = []  # per batch: (peer, counterpart key)
    seen: Counter[tuple[str, int, int]] = Counter()
    numbered: list[list[list[tuple[str, int, int]]]] = []
    for rank, rank_batches in enumerate(batches):
        numbered.append([])
        for index, batch in enumerate(rank_batches):
            numbered[rank].append([])
            for op, m in batch:
                k = seen[(op, rank, m.peer)]
                seen[(op, rank, m.peer)] += 1
                where[(op, rank, m.peer, k)] = index
                numbered[rank][index].append((op, m.peer, k))
    for rank, rank_numbered in enumerate(numbered):
        needs.append([])
        for ops in rank_numbered:
            needs[rank].append(
                [
                    (peer, where.get(("r" if op == "s" else "s", peer, rank, k)))
                    for op, peer, k in ops
                ]
            )
    pos = [0] * len(batches)
    progress = True
    while progress:
        progress = False
        for rank, rank_needs in enumerate(needs):
            while pos[rank] < len(rank_needs) and all(
                other is not None and other <= pos[peer] for peer, other in rank_needs[pos[rank]]
            ):
                pos[rank] += 1
                progress = True
    return all(pos[rank] == len(b) for rank, b in enumerate(batches))


# -- 1 and 2: the reference listings -------------------------------------------------------------


def test_dualpipe_listing_p4_matches_reference() -> None:
    """DualPipe P=4, 8 chunks: ranks 0 and 1 equal §1.6, ranks 2 and 3 mirror ranks 1 and 0."""
    got = listing("dualpipe", 4, 8)
    assert sorted(got) == [0, 1, 2, 3]
    for rank, text in DUALPIPE_P4_C8.items():
        assert got[rank] == _normalise(text)
    assert got[2] == _mirror(_normalise(DUALPIPE_P4_C8[1]), 4)
    assert got[3] == _mirror(_normalise(DUALPIPE_P4_C8[0]), 4)


def test_dualpipev_listing_n2_matches_reference() -> None:
    """DualPipeV N=2, 4 chunks: both ranks equal the §1.7 listing."""
    got = listing("dualpipev", 2, 4)
    assert got == {rank: _normalise(text) for rank, text in DUALPIPEV_N2_C4.items()}


def test_listing_items_agree() -> None:
    """The listing has one token per item and one batch token per non-empty posted batch."""
    items = pipeline_items("dualpipe", 4, 1, 8)
    tokens = listing("dualpipe", 4, 8)[1].split()
    assert len([t for t in tokens if not t.startswith("{")]) == len(items)
    assert sum(1 for item in items if item.posted) == sum(1 for t in tokens if t.startswith("{"))


# -- 3: counts, message matching, deadlock freedom -----------------------------------------------


@pytest.mark.parametrize(("schedule", "pp", "num_chunks"), CONFIGS, ids=CONFIG_IDS)
def test_item_counts(schedule: Schedule, pp: int, num_chunks: int) -> None:
    """Each module runs every micro-batch of its direction once forward and once backward, in
    order, and each W follows a zero-bubble B that queued it."""
    per_module = num_chunks // 2 if schedule == "dualpipe" else num_chunks
    for rank, items in enumerate(_programs(schedule, pp, num_chunks)):
        forwards = [item.f for item in items if item.f is not None]
        backwards = [item.b for item in items if item.b is not None]
        for module in _modules(schedule):
            expected = list(range(per_module))
            assert [mb for m, mb in forwards if m == module] == expected, (rank, module)
            assert [mb for m, mb in backwards if m == module] == expected, (rank, module)
        assert len(forwards) == len(backwards) == per_module * len(_modules(schedule))
        queued = 0
        for item in items:
            assert (item.kind == "B" and item.zero_bubble) or not item.zero_bubble
            queued += item.zero_bubble
            queued -= item.kind == "W"
            assert queued >= 0, "W before its zero-bubble B"
        assert queued == 0


@pytest.mark.parametrize(("schedule", "pp", "num_chunks"), CONFIGS, ids=CONFIG_IDS)
def test_messages_matched(schedule: Schedule, pp: int, num_chunks: int) -> None:
    """Every message sent is received exactly once by its neighbouring peer, in the same order
    per stream, and per (sender, receiver) pair the reference's posted sends and receives pair
    up in FIFO order with matching (kind, module, mb)."""
    programs = _programs(schedule, pp, num_chunks)
    sent: dict[tuple[int, int], list[Key]] = defaultdict(list)
    received: dict[tuple[int, int], list[Key]] = defaultdict(list)
    posted_sent: dict[tuple[int, int], list[Key]] = defaultdict(list)
    posted_received: dict[tuple[int, int], list[Key]] = defaultdict(list)
    for rank, items in enumerate(programs):
        for item in items:
            for m in item.sends:
                assert abs(m.peer - rank) == 1
                sent[(rank, m.peer)].append(_key(m))
            for m in item.recvs:
                assert abs(m.peer - rank) == 1
                received[(m.peer, rank)].append(_key(m))
        produced_posts: list[Message] = []
        for batch in _posted_batches(items):
            for op, m in batch:
                if op == "s":
                    posted_sent[(rank, m.peer)].append(_key(m))
                    produced_posts.append(m)
                else:
                    posted_received[(m.peer, rank)].append(_key(m))
        # the reference posts each output exactly once, and each stream (peer, kind, module)
        # in production order; it may hold one stream's send back behind another's
        produced = [m for item in items for m in item.sends]
        assert Counter(produced_posts) == Counter(produced)
        for stream in {(m.peer, m.kind, m.module) for m in produced}:
            assert [m for m in produced_posts if (m.peer, m.kind, m.module) == stream] == [
                m for m in produced if (m.peer, m.kind, m.module) == stream
            ]
        # and posts each receive no later than the item that consumes it
        posted_so_far: set[Message] = set()
        for item in items:
            posted_so_far.update(m for op, m in item.posted if op == "r")
            assert set(item.recvs) <= posted_so_far
    assert sent.keys() == received.keys()
    for pair, keys in sent.items():
        assert Counter(keys) == Counter(received[pair])
        assert len(set(keys)) == len(keys), "a message sent twice"
        for kind_module in {k[:2] for k in keys}:
            assert [k for k in keys if k[:2] == kind_module] == [
                k for k in received[pair] if k[:2] == kind_module
            ]
    assert posted_sent == posted_received


@pytest.mark.parametrize(("schedule", "pp", "num_chunks"), CONFIGS, ids=CONFIG_IDS)
def test_no_deadlock(schedule: Schedule, pp: int, num_chunks: int) -> None:
    """Neither the zero-communication production replay nor the reference rendezvous of posted
    batches deadlocks."""
    idle = replay_idle(schedule, pp, num_chunks, 1.0, 2.0, 1.0, 3.0)
    assert len(idle) == pp and min(idle) >= 0.0
    programs = _programs(schedule, pp, num_chunks)
    assert _rendezvous_completes([_posted_batches(items) for items in programs])


def test_rendezvous_detects_deadlock() -> None:
    """The rendezvous checker itself reports two ranks that both receive before sending."""
    a, b = Message(1, "a", 0, 0), Message(0, "a", 0, 0)
    assert not _rendezvous_completes([[[("r", a)], [("s", a)]], [[("r", b)], [("s", b)]]])


# -- stages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_stage_placement(schedule: Schedule) -> None:
    """Every stage is held by the expected modules: twice in DualPipe, once elsewhere."""
    pp = 4
    holders = Counter(
        stage_of(schedule, pp, rank, module) for rank in range(pp) for module in _modules(schedule)
    )
    copies = 2 if schedule == "dualpipe" else 1
    assert holders == {stage: copies for stage in range(num_stages(schedule, pp))}
    assert stage_of(schedule, pp, 1, 0) == 1
    if schedule == "dualpipev":
        assert stage_of(schedule, pp, 1, 1) == 6
    if schedule == "dualpipe":
        assert stage_of(schedule, pp, 1, 1) == 2


def test_message_directions_follow_stages() -> None:
    """An activation goes to the next stage and a gradient to the previous one, in model order."""
    cases: list[tuple[Schedule, int, int]] = [
        ("dualpipe", 6, 12),
        ("dualpipev", 3, 6),
        ("zb1p", 4, 4),
    ]
    for schedule, pp, num_chunks in cases:
        for rank, items in enumerate(_programs(schedule, pp, num_chunks)):
            for item in items:
                for m in item.sends:
                    here = stage_of(schedule, pp, rank, m.module)
                    there = stage_of(schedule, pp, m.peer, m.module)
                    assert there - here == (1 if m.kind == "a" else -1)


# -- 5: invalid arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "pp", "rank", "num_chunks", "match"),
    [
        ("dualpipe", 3, 0, 6, "even number of pipeline ranks"),
        ("dualpipe", 4, 0, 6, "num_chunks >= 2\\*pp"),
        ("dualpipe", 4, 0, 9, "even num_chunks"),
        ("dualpipev", 4, 0, 7, "num_chunks >= 2\\*pp"),
        ("1f1b", 4, 0, 3, "num_chunks >= pp"),
        ("zb1p", 4, 0, 3, "num_chunks >= pp"),
        ("1f1b", 0, 0, 4, "pp must be at least 1"),
        ("1f1b", 4, 4, 4, "rank must be in"),
        ("zb1p", 4, -1, 4, "rank must be in"),
        ("gpipe", 4, 0, 8, "unknown schedule"),
        ("1f1b", 4.0, 0, 4, "pp must be an integer"),
        ("1f1b", 4, True, 4, "rank must be an integer"),
    ],
)
def test_invalid_arguments(
    schedule: Schedule, pp: int, rank: int, num_chunks: int, match: str
) -> None:
    """Invalid schedule, pipeline size, rank or micro-batch count raise ValueError."""
    with pytest.raises(ValueError, match=match):
        pipeline_items(schedule, pp, rank, num_chunks)


def test_invalid_arguments_other_functions() -> None:
    """The other entry points validate their arguments too."""
    with pytest.raises(ValueError, match="even"):
        listing("dualpipe", 5, 10)
    with pytest.raises(ValueError, match="num_chunks"):
        replay_idle("dualpipev", 4, 6, 1.0, 2.0, 1.0, 3.0)
    with pytest.raises(ValueError, match="even"):
        bubble_formula("dualpipe", 7, 1.0, 2.0, 1.0, 3.0)
    with pytest.raises(ValueError, match=r"modules 0\.\.0"):
        stage_of("1f1b", 4, 0, 1)
    with pytest.raises(ValueError, match=r"modules 0\.\.1"):
        stage_of("dualpipe", 4, 0, 2)
    with pytest.raises(ValueError, match="unknown schedule"):
        num_stages("zb2p", 4)  # type: ignore[arg-type]


@pytest.mark.parametrize("schedule", ["dualpipe", "dualpipev", "1f1b", "zb1p"])
def test_count_items_matches_the_listing(schedule: str) -> None:
    """count_items counts, in O(1), the items of each shape pipeline_items lists: every rank
    of every pipeline up to 10 ranks, at the fewest micro-batches allowed and 8 more."""
    for pp in range(2 if schedule == "dualpipe" else 1, 11, 2 if schedule == "dualpipe" else 1):
        least = 2 * pp if schedule.startswith("dualpipe") else pp
        for chunks in range(least, least + 9, 2 if schedule == "dualpipe" else 1):
            for rank in range(pp):
                listed = Counter(
                    (it.kind, it.f[0] if it.f else None, it.b[0] if it.b else None,
                     it.zero_bubble, len(it.recvs), len(it.sends))
                    for it in pipeline_items(schedule, pp, rank, chunks))  # type: ignore[arg-type]
                assert count_items(schedule, pp, rank, chunks) == dict(listed)  # type: ignore[arg-type]
