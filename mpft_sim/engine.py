"""simulate(): run a workload on a fabric and collect a Result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, get_args

import numpy as np
import simpy

from mpft_sim.errors import SimulationError
from mpft_sim.network import AnalyticNetwork, FluidNetwork, Network, _schedule
from mpft_sim.results import Result
from mpft_sim.routing import Router
from mpft_sim.sharing import Solver, max_min_rates
from mpft_sim.spec.topology import TopologySpec
from mpft_sim.spec.workload import WorkloadSpec
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.flows import FlowList, read_flow_csv

__all__ = ["MODELS", "Model", "make_network", "replay_flows", "simulate"]

Model = Literal["fluid", "analytic"]
MODELS: tuple[str, ...] = get_args(Model)
Progress = Callable[[float, float], None]


def make_network(env: simpy.Environment, fabric: Fabric, model: Model = "fluid", *,
                 seed: int = 0, routing: str | None = None, cross_plane: str | None = None,
                 tolerance: float = 0.0, solver: Solver = max_min_rates) -> Network:
    """A network of the chosen model over ``fabric``, in ``env``."""
    router = Router(fabric, routing, cross_plane, seed)
    if model == "analytic":
        return AnalyticNetwork(env, fabric, router)
    return FluidNetwork(env, fabric, router, solver=solver, tolerance=tolerance)


def collect(network: Network, inputs: dict[str, Any]) -> Result:
    """Turn a finished network's state into a Result."""
    flows = network.flow_table()
    if network.pending_groups or np.isnan(flows.end_s).any():
        raise SimulationError(f"{int(np.isnan(flows.end_s).sum())} flows never completed")
    makespan = float(flows.end_s.max(initial=0.0))
    stats: dict[str, Any] = {}
    if isinstance(network, FluidNetwork):
        stats = {"solves": network.solves, "flows_resolved": network.solved_flows}
    return Result(fabric=network.fabric, flows=flows, links=network.link_table(makespan),
                  timeline=network.timeline(), link_bytes=flows.link_bytes(
                      network.fabric.n_links), makespan_s=makespan, inputs=inputs, stats=stats)


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
        _schedule(env, float(flows.start_s[batch[0]]), lambda _e, b=batch: release(b),
                  priority=1)
    env.run()
    router = network.router
    assert router is not None
    base: dict[str, Any] = {"model": model, "seed": seed, "tolerance": tolerance,
            "routing": router.policy, "cross_plane": router.cross_plane,
            "failures": [f.what for f in fabric.spec.failures]}
    result = collect(network, {**base, **(inputs or {})})
    # the network numbers flows as released; give them back their input order
    result.flows = result.flows.take(np.argsort(order, kind="stable"))
    return result


def simulate(topology: TopologySpec | Fabric, workload: WorkloadSpec, model: Model = "fluid", *,
             seed: int = 0, routing: str | None = None, cross_plane: str | None = None,
             tolerance: float = 0.0, solver: Solver = max_min_rates,
             progress: Progress | None = None) -> Result:
    """Run a workload on a design and return what happened.

    Parameters
    ----------
    topology : TopologySpec or Fabric
        The design (built here if a spec is given).
    workload : WorkloadSpec
        What to run.
    model : {"fluid", "analytic"}
        Flow-level max-min sharing, or per-phase load over capacity.
    seed : int
        Seeds every random choice (ECMP hashing, traffic generation).
    routing, cross_plane : str, optional
        Override the topology's routing policy and cross-plane forwarding.
    tolerance : float
        Fluid model: relative time quantum batching nearly simultaneous completions (0 exact).
    solver : callable
        Max-min solver for the fluid model.
    progress : callable, optional
        Called now and then with (simulated time, fraction done).

    Returns
    -------
    Result

    Raises
    ------
    MpftError
        On bad input (a bad flow list row, say) or a transfer without a path.
    """
    fabric = topology if isinstance(topology, Fabric) else build_fabric(topology)
    flows = read_flow_csv(workload.flows, fabric)
    inputs = {"workload": workload.name, "workload_kind": workload.kind,
              "topology": fabric.name}
    return replay_flows(fabric, flows, model, seed=seed, routing=routing,
                        cross_plane=cross_plane, tolerance=tolerance, solver=solver,
                        inputs=inputs, progress=progress)
