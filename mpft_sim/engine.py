"""simulate(): run a workload on a fabric and collect a Result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import simpy

from mpft_sim.analytic import AnalyticNetwork
from mpft_sim.errors import SimulationError
from mpft_sim.network import FluidNetwork, Network, schedule
from mpft_sim.results import Result
from mpft_sim.routing import Router
from mpft_sim.sharing import Solver, max_min_rates
from mpft_sim.spec.topology import TopologySpec
from mpft_sim.spec.workload import WorkloadSpec
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.flows import FlowList, read_flow_csv
from mpft_sim.workload.program import Program

__all__ = ["MODELS", "Model", "OpTable", "make_network", "replay_flows", "run_program",
           "simulate"]

Model = Literal["fluid", "analytic"]
MODELS: tuple[str, ...] = get_args(Model)
Progress = Callable[[float, float], None]


def make_network(env: simpy.Environment, fabric: Fabric, model: Model = "fluid", *,
                 seed: int = 0, routing: str | None = None, cross_plane: str | None = None,
                 tolerance: float = 0.0, solver: Solver = max_min_rates,
                 keep_paths: bool = True) -> Network:
    """A network of the chosen model over ``fabric``, in ``env``."""
    router = Router(fabric, routing, cross_plane, seed)
    if model == "analytic":
        return AnalyticNetwork(env, fabric, router, keep_paths)
    return FluidNetwork(env, fabric, router, solver=solver, tolerance=tolerance,
                        keep_paths=keep_paths)


def collect(network: Network, inputs: dict[str, Any]) -> Result:
    """Turn a finished network's state into a Result."""
    flows = network.flow_table()
    if network.pending_groups or np.isnan(flows.end_s).any():
        raise SimulationError(f"{int(np.isnan(flows.end_s).sum())} flows never completed")
    makespan = float(flows.end_s.max(initial=0.0))
    stats: dict[str, Any] = {}
    if isinstance(network, FluidNetwork):
        stats = {"solves": network.solves, "flows_resolved": network.solved_flows}
    return Result(fabric=network.fabric, flow_table=flows,
                  link_table=network.link_table(makespan),
                  timeline=network.timeline(), link_bytes=network.link_bytes.copy(),
                  makespan_s=makespan, inputs=inputs, stats=stats)


@dataclass
class OpTable:
    """When each task of a program ran (seconds); ``flows`` counts the flows a communication
    task released."""

    program: Program
    start_s: np.ndarray
    end_s: np.ndarray
    flows: np.ndarray


def run_program(env: simpy.Environment, network: Network, program: Program,
                progress: Progress | None = None) -> OpTable:
    """Run a program's task graph on a network until every task has ended.

    A task starts as soon as all its predecessors have ended: a compute task ends its
    duration later, a communication task when its last flow completes (plus its extra
    latency), a marker at once. Dependency counting with callbacks: no process per rank.

    Raises
    ------
    SimulationError
        If some task never becomes ready (a cycle in the graph).
    """
    n = len(program)
    remaining = program.n_deps.copy()
    start = np.full(n, np.nan)
    end = np.full(n, np.nan)
    flows = np.zeros(n, dtype=np.int64)
    succ_ptr, succ = program.succ_ptr, program.succ
    done = 0

    def finish(task: int) -> None:
        nonlocal done
        ready = [task]
        while ready:
            t = ready.pop()
            end[t] = env.now
            done += 1
            for s_ in succ[succ_ptr[t]:succ_ptr[t + 1]].tolist():
                remaining[s_] -= 1
                # begin() starts it; a task that ends at once is finished here, not by recursion
                if remaining[s_] == 0 and begin(s_):
                    ready.append(s_)
        if progress is not None:
            progress(env.now, done / n)

    def begin(t: int) -> bool:
        """Start task t; True if it ended at once."""
        start[t] = env.now
        comm = program.comm[t]
        if comm is not None:
            src, dst, size = comm.flows
            busy = size > 0
            flows[t] = int(busy.sum()) if comm.route_key is not None else len(size)
            if flows[t] == 0:
                return _after(comm.extra_latency_s, t)
            event = network.transfer_batch(src, dst, size, comm.tag, route_key=comm.route_key,
                                           forward=comm.forward)
            event.callbacks.append(_ender(t, comm.extra_latency_s))
            return False
        return _after(float(program.duration_s[t]), t)

    def _ender(t: int, delay: float) -> Callable[[object], None]:
        def ended(_e: object) -> None:
            if delay <= 0:
                finish(t)
            else:
                schedule(env, delay, lambda _e2: finish(t), priority=1)
        return ended

    def _after(delay: float, t: int) -> bool:
        if delay <= 0:
            return True
        schedule(env, delay, lambda _e: finish(t), priority=1)
        return False

    def kick(_e: object) -> None:
        for t in np.flatnonzero(remaining == 0).tolist():
            if begin(t):
                finish(t)

    schedule(env, 0.0, kick, priority=1)
    env.run()
    if done < n:
        stuck = np.flatnonzero(np.isnan(end))[:5]
        names = [f"{program.kinds[program.kind[t]]} {program.label[t]} on "
                 f"{program.lanes[program.lane[t]].name}" for t in stuck]
        raise SimulationError(f"{n - done} tasks never ran (a dependency cycle?), such as: "
                              + "; ".join(names))
    return OpTable(program, start, end, flows)


def replay_flows(fabric: Fabric, flows: FlowList, model: Model = "fluid", *, seed: int = 0,
                 routing: str | None = None, cross_plane: str | None = None,
                 tolerance: float = 0.0, solver: Solver = max_min_rates,
                 inputs: dict[str, Any] | None = None,
                 progress: Progress | None = None) -> Result:
    """Release each flow at its start time; run until all complete.

    Flows released at the same instant are released together (one routing call, one re-solve).

    Parameters
    ----------
    fabric : Fabric
    flows : FlowList
    model : {"fluid", "analytic"}
    seed : int
        Seeds ECMP hashing.
    routing, cross_plane : str, optional
        Override the topology's routing policy and cross-plane forwarding.
    tolerance : float
        Fluid model: relative time quantum for batching nearly simultaneous completions.
    solver : callable
        The max-min solver (fluid model).
    inputs : dict, optional
        Recorded in the result as what ran.
    progress : callable, optional
        Called now and then with (simulated time, fraction of flows released).

    Returns
    -------
    Result
    """
    env = simpy.Environment()
    network = make_network(env, fabric, model, seed=seed, routing=routing,
                           cross_plane=cross_plane, tolerance=tolerance, solver=solver)
    order = np.argsort(flows.start_s, kind="stable")
    starts = flows.start_s[order]
    edges = np.flatnonzero(np.diff(starts)) + 1
    batches = np.split(order, edges)
    total = len(flows)
    released = 0

    def release(batch: np.ndarray) -> None:
        nonlocal released
        network.transfer_batch(flows.src[batch], flows.dst[batch], flows.size_bytes[batch],
                               [flows.tag[i] for i in batch])
        released += len(batch)
        if progress is not None:
            progress(env.now, released / total)

    for batch in batches:
        schedule(env, float(flows.start_s[batch[0]]), lambda _e, b=batch: release(b),
                  priority=1)
    env.run()
    router = network.router
    assert router is not None
    base: dict[str, Any] = {"model": model, "seed": seed, "tolerance": tolerance,
            "routing": router.policy, "cross_plane": router.cross_plane,
            "failures": [f.what for f in fabric.spec.failures]}
    result = collect(network, {**base, **(inputs or {})})
    # the network numbers flows as released; give them back their input order
    result.flow_table = result.flow_table.take(np.argsort(order, kind="stable"))
    return result


def simulate(topology: TopologySpec | Fabric, workload: WorkloadSpec, model: Model = "fluid", *,
             seed: int = 0, routing: str | None = None, cross_plane: str | None = None,
             tolerance: float = 0.0, solver: Solver = max_min_rates,
             keep_paths: bool | None = None, progress: Progress | None = None) -> Result:
    """Run a workload on a design and return what happened.

    Parameters
    ----------
    topology : TopologySpec or Fabric
        The design (built here if a spec is given).
    workload : WorkloadSpec
        What to run: a flow list, a training step, inference steps, NCCL all-to-alls, or
        several jobs side by side.
    model : {"fluid", "analytic"}
        Flow-level max-min sharing, or per-phase load over capacity.
    seed : int
        Seeds ECMP hashing (the workload's own seed drives its traffic).
    routing, cross_plane : str, optional
        Override the topology's routing policy and cross-plane forwarding.
    tolerance : float
        Fluid model: relative time quantum batching nearly simultaneous completions (0 exact).
    solver : callable
        Max-min solver for the fluid model.
    keep_paths : bool, optional
        Keep every flow's links (for flows.csv); default: for flow lists only, since a
        training step has tens of millions of flows.
    progress : callable, optional
        Called now and then with (simulated time, fraction done).

    Returns
    -------
    Result

    Raises
    ------
    MpftError
        On bad input (a bad flow list row, a job that does not fit) or a transfer without a
        path.
    """
    from mpft_sim.spec.workload import FlowsWorkloadSpec
    from mpft_sim.workload.jobs import build_program

    fabric = topology if isinstance(topology, Fabric) else build_fabric(topology)
    inputs: dict[str, Any] = {"workload": workload.name, "workload_kind": workload.kind,
                              "topology": fabric.name}
    if isinstance(workload, FlowsWorkloadSpec):
        flows = read_flow_csv(workload.flows, fabric)
        return replay_flows(fabric, flows, model, seed=seed, routing=routing,
                            cross_plane=cross_plane, tolerance=tolerance, solver=solver,
                            inputs=inputs, progress=progress)
    program, jobs = build_program(workload, fabric)
    env = simpy.Environment()
    network = make_network(env, fabric, model, seed=seed, routing=routing,
                           cross_plane=cross_plane, tolerance=tolerance, solver=solver,
                           keep_paths=bool(keep_paths))
    ops = run_program(env, network, program, progress)
    router = network.router
    assert router is not None
    inputs.update({"model": model, "seed": seed, "tolerance": tolerance,
                   "routing": router.policy, "cross_plane": router.cross_plane,
                   "failures": [f.what for f in fabric.spec.failures]})
    result = collect(network, inputs)
    result.op_table = ops
    result.jobs = jobs
    return result
