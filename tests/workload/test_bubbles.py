"""Pipeline bubbles: the published closed forms, and the zero-communication replay that
reproduces them from a schedule's programs (and times hand-made programs exactly)."""

from __future__ import annotations

import pytest

from mpft_sim.workload import bubbles
from mpft_sim.workload.bubbles import bubble_formula, replay_idle
from mpft_sim.workload.pipelines import Item, Message
from mpft_sim.workload.schedules import Schedule

DURATIONS = {"F": 1.0, "B": 2.0, "W": 1.0, "FB": 3.0}


@pytest.mark.parametrize(
    ("schedule", "pp", "expected"),
    [
        ("dualpipe", 8, 6.0),
        ("dualpipe", 16, 14.0),
        ("dualpipev", 4, 6.0),  # 8 stages
        ("dualpipev", 8, 14.0),  # 16 stages
        ("1f1b", 4, 9.0),
        ("1f1b", 8, 21.0),
        ("zb1p", 4, 3.0),
        ("zb1p", 8, 7.0),
    ],
)
def test_bubble_matches_formula(schedule: Schedule, pp: int, expected: float) -> None:
    """With F=1, B=2, W=1, F&B=3 and no communication, every rank idles exactly the closed-form
    bubble, whatever the number of micro-batches."""
    assert bubble_formula(schedule, pp, **DURATIONS) == expected
    low = 2 * pp if schedule in ("dualpipe", "dualpipev") else pp
    for num_chunks in (low, low + 2, 2 * low, 3 * low + 4):
        assert replay_idle(schedule, pp, num_chunks, **DURATIONS) == [expected] * pp, num_chunks


def test_bubble_formula_forms() -> None:
    """The formula uses stages: DualPipeV on pp devices equals DualPipe on 2*pp ranks."""
    f, b, w, fb = 1.5, 2.5, 0.75, 3.25
    assert bubble_formula("1f1b", 5, f, b, w, fb) == 4 * (f + b)
    assert bubble_formula("zb1p", 5, f, b, w, fb) == 4 * (f + b - 2 * w)
    assert bubble_formula("dualpipe", 6, f, b, w, fb) == 2 * (fb + b - 3 * w)
    assert bubble_formula("dualpipev", 3, f, b, w, fb) == bubble_formula("dualpipe", 6, f, b, w, fb)


@pytest.mark.parametrize("schedule", ["1f1b", "zb1p"])
@pytest.mark.parametrize(
    "durations",
    [{"F": 2.0, "B": 3.0, "W": 1.0, "FB": 5.0}, {"F": 1.0, "B": 2.0, "W": 0.5, "FB": 3.0}],
)
def test_one_direction_bubble_other_durations(
    schedule: Schedule, durations: dict[str, float]
) -> None:
    """1F1B and ZB-H1 keep their closed-form bubble on every rank for other durations too."""
    expected = bubble_formula(schedule, 5, **durations)
    for num_chunks in (5, 9):
        assert replay_idle(schedule, 5, num_chunks, **durations) == [expected] * 5


def test_dualpipe_replay_half_weight() -> None:
    """With W=0.5 the replay idles 9.5 at 8 stages, 1 below the 10.5 formula, as §1.8 records."""
    durations = {"F": 1.0, "B": 2.0, "W": 0.5, "FB": 3.0}
    assert bubble_formula("dualpipe", 8, **durations) == 10.5
    assert replay_idle("dualpipe", 8, 16, **durations) == [9.5] * 8
    assert replay_idle("dualpipev", 4, 16, **durations) == [9.5] * 4


def item(kind: str, recvs: tuple[Message, ...] = (), sends: tuple[Message, ...] = (),
         zero_bubble: bool = False) -> Item:
    """A hand-made schedule item of module 0, micro-batch 0."""
    return Item(kind, (0, 0) if kind in ("F", "FB") else None,  # type: ignore[arg-type]
                (0, 0) if kind in ("B", "FB") else None, zero_bubble, recvs, sends, ())


def test_one_rank_has_no_bubble() -> None:
    """A pipeline of one rank never waits: 1F1B on one rank idles 0 in both forms."""
    assert bubble_formula("1f1b", 1, **DURATIONS) == 0.0
    assert replay_idle("1f1b", 1, 3, **DURATIONS) == [0.0]


def test_replay_times_hand_made_programs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rank 1's F waits for rank 0's activation; a zero-bubble B takes B - W and the W after
    it W; each rank idles the makespan (6) less its own busy time."""
    act, grad = Message(1, "a", 0, 0), Message(0, "g", 0, 0)
    programs = {
        0: [item("F", sends=(act,)), item("B", recvs=(Message(1, "g", 0, 0),)), item("W")],
        1: [item("F", recvs=(Message(0, "a", 0, 0),)), item("B", sends=(grad,),
                                                            zero_bubble=True),
            item("FB")],
    }
    monkeypatch.setattr(bubbles, "pipeline_items",
                        lambda schedule, pp, rank, num_chunks: programs[rank])
    # rank 0: F 0-1, waits for the gradient sent at 1 + 1 + (2 - 1) = 3, B 3-5, W 5-6 (busy 4)
    # rank 1: F 1-2, B (zero bubble) 2-3, FB 3-6 (busy 5); makespan 6
    assert replay_idle("1f1b", 2, 1, F=1.0, B=2.0, W=1.0, FB=3.0) == [2.0, 1.0]


def test_replay_reports_a_deadlock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two ranks that each wait for the other's message before sending deadlock, and the
    replay names them."""
    programs = {0: [item("F", recvs=(Message(1, "a", 0, 0),), sends=(Message(1, "a", 0, 0),))],
                1: [item("F", recvs=(Message(0, "a", 0, 0),), sends=(Message(0, "a", 0, 0),))]}
    monkeypatch.setattr(bubbles, "pipeline_items",
                        lambda schedule, pp, rank, num_chunks: programs[rank])
    with pytest.raises(RuntimeError, match=r"^1f1b deadlocks: ranks \[0, 1\] wait for messages "
                                           r"never sent$"):
        replay_idle("1f1b", 2, 1, **DURATIONS)
