"""The end of a training step: ZeRO-1 over each group of pipeline ranks holding the same stages.

Each group reduce-scatters its gradients over its data-parallel GPUs, updates its optimizer
shard and all-gathers the parameters; the routed experts sync over their expert-DP groups
(EP index e of every lane holds the same experts). With DualPipe's mirror (ranks r and P-1-r
hold the same stages) a pair of ranks is one group. Each ring is one communication task whose
flows are all the ring's steps, plus a latency per step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mpft_sim.spec.model import ModelSpec
from mpft_sim.spec.workload import TrainingWorkloadSpec
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.collectives import ring_flows, ring_steps
from mpft_sim.workload.layout import RankLayout
from mpft_sim.workload.program import Category, Comm, ProgramBuilder, Stream, TaskKind
from mpft_sim.workload.schedules import stage_of

__all__ = ["zero1_step"]

IntArray = NDArray[np.int64]


def zero1_step(spec: TrainingWorkloadSpec, fabric: Fabric, prog: ProgramBuilder, job: str,
               layout: RankLayout, lane_of: Mapping[tuple[int, int], int],
               layers: list[list[int]]) -> list[int]:
    """Add the ZeRO-1 end of a training step to a program.

    Parameters
    ----------
    spec : TrainingWorkloadSpec
    fabric : Fabric
    prog : ProgramBuilder
        The program the step's lanes are in.
    job : str
        The job's name in the program.
    layout : RankLayout
        The job's ranks.
    lane_of : mapping of (int, int) to int
        The lane of each (pipeline rank, expert-DP index).
    layers : list of list of int
        The layers of each stage.

    Returns
    -------
    list of int
        The data-parallel lanes added, one per group (none without ZeRO-1).
    """
    model, opt = spec.model, spec.optimizer
    if not opt.zero1:
        return []
    pp = layout.pp
    lat = fabric.spec.fabric.latency
    step_latency = lat.endpoint + 3 * lat.switch + 4 * lat.link
    mirror = opt.mirror and spec.schedule == "dualpipe"
    pairs = ([(r, pp - 1 - r) for r in range(pp // 2)] if mirror else [(r,) for r in range(pp)])
    modules = (0, 1) if spec.schedule in ("dualpipe", "dualpipev") else (0,)
    lanes_out = []
    for ranks in pairs:
        members = [lane_of[(r, e)] for r in ranks for e in range(layout.edp)]
        gpus = np.concatenate([prog.lanes[m].gpus for m in members])
        dp_lane = prog.lane(job, f"{job}:dp{'+'.join(map(str, ranks))}", gpus)
        lanes_out.append(dp_lane)
        ends = [prog.last(m, s) for m in members for s in Stream]
        held = [stage_of(spec.schedule, pp, ranks[0], m) for m in modules]
        dense = sum(_dense_params(model, layers[s], len(layers), s) for s in held)
        moe_layers = sum(1 for s in held for layer in layers[s] if layer >= model.dense_layers)
        experts = (model.experts // layout.ep * moe_layers * 3 * model.hidden
                   * model.expert_hidden) if layout.ep > 1 else 0.0
        group = _DpGroup(prog, dp_lane, gpus, members, dense, experts, layout.ep,
                         fabric.gpus_per_node, step_latency)
        rs = group.ring(opt.grad_bytes, "reduce_scatter", ends)
        shard = (dense + experts) / max(len(gpus), 1)
        update = spec.compute.duration_s("optimizer")
        if update is None:  # Adam: read and write fp32 master, two moments, the grad
            update = shard * 16 / (spec.compute.memory_bandwidth_Bps * spec.compute.efficiency)
        upd = prog.task(dp_lane, Stream.COMPUTE, TaskKind.OPTIMIZER, duration=update,
                        deps=[rs], category=Category.OPTIMIZER)
        group.ring(opt.param_bytes, "allgather", [upd])
    return lanes_out


def _dense_params(model: ModelSpec, layers: list[int], stages: int, stage: int) -> float:
    """Weights outside the routed experts held by one stage."""
    total = 0.0
    for layer in layers:
        total += model.attention.params(model.hidden)
        if layer < model.dense_layers:
            total += 3 * model.hidden * model.dense_hidden
        else:
            total += model.shared_experts * 3 * model.hidden * model.expert_hidden
            total += model.hidden * model.experts
    if stage == 0:
        total += model.vocab * model.hidden
    if stage == stages - 1:
        total += model.vocab * model.hidden
    return total


@dataclass(frozen=True)
class _DpGroup:
    """One group of pipeline ranks as its data-parallel lane: its GPUs, the lanes it gathers
    and the weights (outside the routed experts, and of one EP index's experts) it syncs."""

    prog: ProgramBuilder
    lane: int
    gpus: IntArray
    members: list[int]
    dense: float
    experts: float
    ep: int
    gpus_per_node: int
    step_latency: float

    def ring(self, width: int, kind: str, deps: list[int]) -> int:
        """A ring reduce-scatter or all-gather of ``width`` bytes per weight, after ``deps``."""
        g = self.gpus_per_node
        parts = [ring_flows(self.gpus, g, self.dense * width, kind)]  # type: ignore[arg-type]
        if self.experts:
            # experts: EP index e of every member lane holds the same experts
            by_e = np.stack([self.prog.lanes[m].gpus for m in self.members])  # (lanes, ep)
            for e in range(self.ep):
                parts.append(ring_flows(by_e[:, e], g, self.experts * width,
                                        kind))  # type: ignore[arg-type]
        src = np.concatenate([p[0] for p in parts])
        dst = np.concatenate([p[1] for p in parts])
        size = np.concatenate([p[2] for p in parts])
        steps = ring_steps(kind, len(self.gpus))  # type: ignore[arg-type]
        comm = Comm(TaskKind.GRAD_RS if kind == "reduce_scatter" else TaskKind.PARAM_AG,
                    (src, dst, size), route_key=(self.lane, kind),
                    extra_latency_s=steps * self.step_latency)
        return self.prog.task(self.lane, Stream.COMM, comm.tag, comm=comm, deps=deps,
                              category=Category.OPTIMIZER)
