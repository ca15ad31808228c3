"""The ZeRO-1 end of a training step: one data-parallel group per set of ranks holding the
same stages, each a reduce-scatter, an update and an all-gather."""

from __future__ import annotations

from mpft_sim.results.steps import Timings
from mpft_sim.workload.program import JobInfo
from tests.workload import test_training

v3_run = test_training.v3_run  # the same step's program run directly, as a module fixture


def test_zero1_mirror_groups(v3_run: tuple[Timings, list[JobInfo]]) -> None:
    """DualPipe's mirror ranks r and P-1-r share one data-parallel group: 2 groups of
    2 x 32 GPUs, each reduce-scatter, update, all-gather."""
    prog = v3_run[0].program
    job = v3_run[1][0]
    assert len(job.step_lanes) == 2
    for lane, (a, b) in zip(job.step_lanes, ((0, 3), (1, 2)), strict=True):
        gpus = prog.lanes[lane].gpus
        assert sorted(set((gpus // 32).tolist())) == [a, b]
        kinds = [prog.kinds[k] for k in prog.kind[prog.lane == lane]]
        assert kinds == ["grad_rs", "optimizer", "param_ag"]
