"""Programs: the builder's lanes and tasks, program order on a lane's stream, explicit edges,
the frozen graph in CSR form, and the one vocabulary of task kinds and categories."""

from __future__ import annotations

import numpy as np
import pytest

from mpft_sim.workload.program import (
    MARKERS,
    WEIGHT_KINDS,
    Category,
    Comm,
    Lane,
    ProgramBuilder,
    Stream,
    TaskKind,
)


@pytest.fixture
def builder() -> ProgramBuilder:
    """A builder with two lanes: GPUs 0-3 and GPUs 4 and 6."""
    b = ProgramBuilder()
    b.lane("t", "t:a", np.arange(4))
    b.lane("t", "t:b", np.array([4, 6]), stage=1)
    return b


def test_lanes_are_numbered_in_order(builder: ProgramBuilder) -> None:
    """``lane`` returns the new lane's index and keeps its GPUs and stage."""
    assert builder.lane("u", "u:c", np.array([7])) == 2
    assert [(lane.job, lane.name, lane.stage) for lane in builder.lanes] == [
        ("t", "t:a", -1), ("t", "t:b", 1), ("u", "u:c", -1)]
    assert builder.lanes[1].gpus.dtype == np.int64


@pytest.mark.parametrize(("gpus", "text"), [([0, 1, 2, 3], "0-3"), ([4, 6], "4 6"), ([5], "5"),
                                            ([3, 2], "3 2")])
def test_ranks_text(gpus: list[int], text: str) -> None:
    """A lane's GPUs read ``first-last`` when contiguous, else as a list."""
    assert Lane("j", "l", np.array(gpus)).ranks_text == text


def test_tasks_on_a_stream_run_in_program_order(builder: ProgramBuilder) -> None:
    """Each ordered task waits for the previous task of its lane's stream, and only that:
    streams and lanes are independent."""
    a = builder.task(0, Stream.COMPUTE, "attn_f", duration=1.0)
    b = builder.task(0, Stream.COMPUTE, "mlp_f", duration=2.0)
    c = builder.task(0, Stream.COMM, "dispatch")
    d = builder.task(1, Stream.COMPUTE, "attn_f")
    e = builder.task(0, Stream.COMM, "combine")
    assert (a, b, c, d, e) == (0, 1, 2, 3, 4)
    program = builder.build()
    assert program.n_deps.tolist() == [0, 1, 0, 0, 1]
    assert program.succ_ptr.tolist() == [0, 1, 1, 2, 2, 2]
    assert program.succ.tolist() == [1, 4]
    assert builder.last(0, Stream.COMPUTE) == 1
    assert builder.last(0, Stream.COMM) == 4
    assert builder.last(1, Stream.PP) == -1


def test_unordered_tasks_and_explicit_edges(builder: ProgramBuilder) -> None:
    """An unordered task neither waits for nor becomes its stream's last; ``deps`` and
    ``edge`` add dependencies (negative ids meaning none), each counted once in ``n_deps``."""
    a = builder.task(0, Stream.COMPUTE, "attn_f")
    b = builder.task(0, Stream.COMPUTE, "release", ordered=False, deps=[-1])
    c = builder.task(1, Stream.PP, "pp_act", deps=[a, b, a])
    builder.edge(c, b)
    program = builder.build()
    assert builder.last(0, Stream.COMPUTE) == a
    assert program.n_deps.tolist() == [0, 1, 2]
    # successors of a: c; of b: c; of c: b
    assert [program.succ[program.succ_ptr[t]:program.succ_ptr[t + 1]].tolist()
            for t in range(3)] == [[2], [2], [1]]


def test_build_freezes_every_column(builder: ProgramBuilder) -> None:
    """Kinds and categories are numbered in order of first use; durations, chunks, labels
    and communications are kept per task."""
    comm = Comm("dispatch", (np.array([0]), np.array([4]), np.array([8.0])))
    builder.task(0, Stream.COMPUTE, "attn_f", duration=1.5, category="forward", chunk=3,
                 label="L1 mb0")
    builder.task(0, Stream.COMM, TaskKind.DISPATCH, comm=comm, category="forward", chunk=3)
    builder.task(1, Stream.COMPUTE, "mlp_w", duration=2, category="backward_weight")
    builder.task(1, Stream.COMPUTE, "attn_f", category="forward")
    program = builder.build()
    assert len(program) == 4
    assert program.kinds == [TaskKind.ATTN_F, TaskKind.DISPATCH, TaskKind.MLP_W]
    assert program.kind.tolist() == [0, 1, 2, 0]
    assert program.categories == [Category.FORWARD, Category.BACKWARD_WEIGHT]
    assert program.category.tolist() == [0, 0, 1, 0]
    assert program.lane.tolist() == [0, 0, 1, 1]
    assert program.stream.tolist() == [0, 1, 0, 0]
    assert program.duration_s.tolist() == [1.5, 0.0, 2.0, 0.0]
    assert program.chunk.tolist() == [3, 3, -1, -1]
    assert program.label == ["L1 mb0", "", "", ""]
    assert program.comm == [None, comm, None, None]


def test_an_empty_builder_builds_an_empty_program() -> None:
    """No tasks: an empty graph."""
    program = ProgramBuilder().build()
    assert (len(program), program.succ_ptr.tolist(), program.succ.tolist()) == (0, [0], [])


@pytest.mark.parametrize(("kind", "category", "bad"), [
    ("mlp_x", "", "'mlp_x' is not a valid TaskKind"),
    ("MLP_F", "", "'MLP_F' is not a valid TaskKind"),
    ("mlp_f", "fwd", "'fwd' is not a valid Category"),
])
def test_unknown_kind_or_category_is_a_value_error(builder: ProgramBuilder, kind: str,
                                                   category: str, bad: str) -> None:
    """A task kind or category outside the vocabulary is a builder bug: ValueError, and
    nothing is added."""
    with pytest.raises(ValueError, match=bad):
        builder.task(0, Stream.COMPUTE, kind, category=category)
    assert len(builder.build()) == 0


def test_kinds_are_their_strings() -> None:
    """A task kind equals, and hashes as, the text written in ops.csv."""
    text: str = "mlp_w"
    assert text == TaskKind.MLP_W
    assert {text: 1}[TaskKind.MLP_W] == 1
    assert str(TaskKind.ITEM_START) == "item_start"
    assert Category("") is Category.NONE


def test_markers_and_weight_kinds() -> None:
    """Markers are the zero-work kinds; weight kinds the ones producing weight gradients."""
    assert {TaskKind.ITEM_START, TaskKind.ITEM_END, TaskKind.RELEASE} == MARKERS
    assert {TaskKind.MLP_W, TaskKind.ATTN_W, TaskKind.W} == WEIGHT_KINDS
