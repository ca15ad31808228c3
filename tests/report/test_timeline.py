"""The step timeline: each task's class by what it does (:func:`op_class`), an op table laid
out as lanes (:func:`gantt`: markers and empty tasks dropped, step-end lanes drawn on the lanes
they span, many lanes cut with a note) and drawn at the documented size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mpft_sim.report.html import png_size
from mpft_sim.report.style import REPORT_WIDTH_IN, size_px
from mpft_sim.report.timeline import (
    TIMELINE_CLASSES,
    draw,
    gantt,
    op_class,
    timeline_height_in,
)
from mpft_sim.results import OpTable

Row = tuple[str, str, str, str, str, str, float, float]


def table(rows: list[Row]) -> OpTable:
    """An op table of (job, lane, ranks, stream, kind, category, start, end) rows."""
    n = len(rows)
    col = list(zip(*rows, strict=True)) if rows else [()] * 8

    def obj(values: tuple[object, ...]) -> np.ndarray:
        return np.array(values, dtype=object)

    return OpTable(job=obj(col[0]), lane=obj(col[1]), ranks=obj(col[2]), stream=obj(col[3]),
                   kind=obj(col[4]), category=obj(col[5]), label=obj(("",) * n),
                   chunk=np.zeros(n, dtype=int), start_s=np.array(col[6], dtype=float),
                   end_s=np.array(col[7], dtype=float), flows=np.zeros(n, dtype=int))


# -- op_class -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("stream", "kind", "category", "cls"), [
    ("compute", "attn_f", "forward", "forward"),
    ("compute", "attn_b", "backward", "backward (input)"),
    ("compute", "attn_b", "backward_input", "backward (input)"),
    ("compute", "mlp_w", "backward", "backward (weights)"),
    ("compute", "attn_w", "backward_weight", "backward (weights)"),
    ("compute", "w", "backward_weight", "backward (weights)"),
    ("compute", "mlp_w", "forward", "forward"),
    ("compute", "mlp_f", "overlapped", "overlapped F&B chunk"),
    ("compute", "optimizer", "optimizer", "optimizer"),
    ("compute", "attn", "kv", "KV-cache transfer"),
    ("compute", "attn", "", "other"),
    ("comm", "dispatch", "forward", "EP dispatch"),
    ("comm", "dispatch_bwd", "backward", "EP dispatch"),
    ("comm", "combine", "forward", "EP combine"),
    ("comm", "combine_bwd", "backward", "EP combine"),
    ("comm", "nccl_alltoall", "", "NCCL all-to-all"),
    ("comm", "grad_rs", "optimizer", "DP grad/param sync"),
    ("comm", "param_ag", "optimizer", "DP grad/param sync"),
    ("comm", "kv_cache", "kv", "KV-cache transfer"),
    ("comm", "flows", "", "other"),
    ("pp", "pp_act", "forward", "pipeline send"),
    ("pp", "pp_grad", "backward", "pipeline send"),
    ("pp", "flows", "", "pipeline send"),
])
def test_op_class(stream: str, kind: str, category: str, cls: str) -> None:
    """Compute is classed by its phase (weight gradients apart), communication by its kind."""
    assert op_class(stream, kind, category) == cls
    assert cls in TIMELINE_CLASSES


# -- gantt ----------------------------------------------------------------------------------------

def test_gantt_of_an_empty_table() -> None:
    """No tasks: no lanes, no bars, no note."""
    g = gantt(table([]))
    assert (g.labels, len(g.lane), len(g.classes), g.note) == ([], 0, 0, "")


def test_gantt_lays_out_lanes() -> None:
    """Lanes keep the table's order and read ``name · GPUs``; markers and empty tasks are
    dropped; the step-end lane (only optimizer tasks) is drawn on every lane whose GPUs it
    shares, and a lane sharing none keeps a row of its own."""
    g = gantt(table([
        ("t", "t:b", "8-15", "compute", "attn_f", "forward", 0.0, 1e-3),
        ("t", "t:a", "0-7", "compute", "attn_f", "forward", 0.0, 2e-3),
        ("t", "t:a", "0-7", "comm", "dispatch", "forward", 2e-3, 3e-3),
        ("t", "t:a", "0-7", "compute", "item_start", "forward", 3e-3, 3e-3),
        ("t", "t:a", "0-7", "compute", "item_end", "forward", 3e-3, 4e-3),
        ("t", "t:a", "0-7", "pp", "pp_act", "forward", 3e-3, 3e-3),
        ("t", "t:a", "0-7", "pp", "pp_act", "forward", 3e-3, 5e-3),
        ("t", "t:dp", " ".join(map(str, range(16))), "comm", "grad_rs", "optimizer", 5e-3,
         6e-3),
        ("t", "t:kv", "100 200", "comm", "kv_cache", "kv", 0.0, 1e-3),
    ]))
    assert g.labels == ["b · GPUs 8-15", "a · GPUs 0-7", "kv · GPUs 100 200"]
    # tasks by lane name: a's three timed ones, b's one, dp's on b and a, kv's
    assert g.lane.tolist() == [1, 1, 1, 0, 0, 1, 2]
    assert g.stream.tolist() == [0, 1, 2, 0, 1, 1, 1]
    assert g.classes.tolist() == ["forward", "EP dispatch", "pipeline send", "forward",
                                  "DP grad/param sync", "DP grad/param sync",
                                  "KV-cache transfer"]
    assert g.start_s.tolist() == [0.0, 2e-3, 3e-3, 0.0, 5e-3, 5e-3, 0.0]
    assert g.end_s.tolist() == [2e-3, 3e-3, 5e-3, 1e-3, 6e-3, 6e-3, 1e-3]
    assert g.note == ""


def test_gantt_labels_of_several_jobs() -> None:
    """With several jobs a lane keeps its job prefix; a long rank list reads as a count."""
    g = gantt(table([
        ("a", "a:ep0", "0-15", "compute", "attn", "forward", 0.0, 1.0),
        ("b", "b:nccl", "0 2 4 6 8 10 12", "comm", "nccl_alltoall", "forward", 0.0,
         1.0),
    ]))
    assert g.labels == ["a:ep0 · GPUs 0-15", "b:nccl · 7 GPUs"]


def test_gantt_keeps_the_first_lanes_without_ep_groups() -> None:
    """Lanes with no EP group in their names are cut to the first ``max_lanes``."""
    rows: list[Row] = [("t", f"t:lane{k}", str(k), "compute", "attn", "forward", 0.0, 1.0)
                       for k in range(5)]
    g = gantt(table(rows), max_lanes=3)
    assert g.labels == ["lane0 · GPUs 0", "lane1 · GPUs 1", "lane2 · GPUs 2"]
    assert g.note == "5 lanes: showing the first 3"
    assert g.lane.tolist() == [0, 1, 2]


def _ops(lanes: list[tuple[str, str]], kinds: list[tuple[str, str, str]]) -> OpTable:
    """One task of each (stream, kind, category) per lane, lane k starting at k ms."""
    rows = [(lane, ranks, *k, 1e-3 * i + 1e-4 * j, 1e-3 * i + 1e-4 * (j + 1))
            for i, (lane, ranks) in enumerate(lanes) for j, k in enumerate(kinds)]
    col = list(zip(*rows, strict=True))

    def obj(values: tuple[object, ...]) -> np.ndarray:
        return np.array(values, dtype=object)

    return OpTable(job=obj(tuple("t" for _ in rows)), lane=obj(col[0]), ranks=obj(col[1]),
                   stream=obj(col[2]), kind=obj(col[3]), category=obj(col[4]),
                   label=obj(tuple("" for _ in rows)), chunk=np.zeros(len(rows), dtype=int),
                   start_s=np.array(col[5], dtype=float), end_s=np.array(col[6], dtype=float),
                   flows=np.zeros(len(rows), dtype=int))


def test_many_lanes_show_the_first_ep_group_of_each_stage() -> None:
    """PP16 x 4 EP groups = 64 lanes: the timeline keeps edp0 of each stage and says so; the
    data-parallel lanes' sync and optimizer are drawn on the pipeline lanes they span."""
    lanes = [(f"t:pp{p}.edp{e}", f"{(4 * p + e) * 8}-{(4 * p + e) * 8 + 7}")
             for p in range(16) for e in range(4)]
    work = [("compute", "attn_f", "forward"), ("comm", "dispatch", "forward"),
            ("pp", "pp_act", "forward"), ("compute", "item_start", "forward")]
    ops = _ops(lanes, work)
    sync = _ops([("t:dp0+15", "0-31 480-511")], [("comm", "grad_rs", "optimizer"),
                                                 ("compute", "optimizer", "optimizer")])
    both = OpTable(*(np.concatenate([getattr(ops, f), getattr(sync, f)])
                     for f in ("job", "lane", "ranks", "stream", "kind", "category", "label",
                               "chunk", "start_s", "end_s", "flows")))
    g = gantt(both)
    assert len(g.labels) == 16
    assert all(".edp0 " in label for label in g.labels)
    assert "64 lanes" in g.note and "first EP group of each pipeline stage" in g.note
    # 3 timed tasks per shown lane (the zero-work marker is dropped), plus the sync lane's two
    # tasks drawn on stage 0 and on stage 15
    assert len(g.lane) == 16 * 3 + 2 * 2
    synced = g.lane[np.isin(g.classes, ["DP grad/param sync", "optimizer"])]
    assert sorted(synced.tolist()) == [0, 0, 15, 15]


# -- drawing --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("lanes", "inches"), [(0, 3.6), (5, 3.6), (10, 5.1), (32, 11.7)])
def test_timeline_height(lanes: int, inches: float) -> None:
    """2.1 inches plus 0.3 a lane, at least 3.6, on the 1/20-inch grid."""
    assert timeline_height_in(lanes) == inches


@pytest.mark.parametrize("lanes", [0, 3, 12])
def test_draw_is_the_documented_size(tmp_path: Path, lanes: int) -> None:
    """The chart is a PNG of the report width and the height of its lane count, empty or
    not."""
    rows: list[Row] = [("t", f"t:pp{k}", f"{8 * k}-{8 * k + 7}", s, kind, "forward",
                        1e-3 * k, 1e-3 * k + 5e-4)
                       for k in range(lanes)
                       for s, kind in (("compute", "attn_f"), ("comm", "dispatch"))]
    g = gantt(table(rows) if rows else table([
        ("t", "t:x", "0", "compute", "item_start", "forward", 0.0, 0.0)]))
    path = tmp_path / "timeline.png"
    draw(g, path)
    assert png_size(path.read_bytes()) == size_px(REPORT_WIDTH_IN, timeline_height_in(lanes))


def test_a_task_without_category_is_other() -> None:
    """A task whose category is empty is classed as 'other', not a crash."""
    import numpy as np

    from mpft_sim.report.timeline import gantt
    from mpft_sim.results.tables import OpTable

    def obj(*values: str) -> np.ndarray:
        return np.array(values, dtype=object)

    table = OpTable(job=obj("t"), lane=obj("t:a"), ranks=obj("0"), stream=obj("compute"),
                    kind=obj("attn"), category=obj(""), label=obj(""), chunk=np.array([0]),
                    start_s=np.array([0.0]), end_s=np.array([1.0]), flows=np.array([0]))
    assert gantt(table).classes.tolist() == ["other"]
