"""simulate(): run a workload on a design and return its :class:`~mpft_sim.results.Result`.

One driver for every workload: a training or inference step, NCCL all-to-alls, several jobs
side by side, or a replayed flow list all become a :class:`~mpft_sim.workload.program.Program`
(a task graph), which :func:`run_program` runs on a network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import platform
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import simpy

from mpft_sim._version import __version__
from mpft_sim.analytic import AnalyticNetwork
from mpft_sim.errors import SimulationError, SpecError
from mpft_sim.fluid_network import FluidNetwork
from mpft_sim.network import Network, schedule
from mpft_sim.progress import BUILD, COMPILE, PLAN, SIMULATE, ProgressCallback, Reporter
from mpft_sim.results.result import Result, summarise
from mpft_sim.results.steps import Timings
from mpft_sim.results.summary import EngineStats, FabricInfo, Provenance, RunInfo
from mpft_sim.results.tables import LinkGroup, LinkTable, OpTable, TimelineTable
from mpft_sim.routing import Router
from mpft_sim.sharing import Solver, max_min_rates
from mpft_sim.spec.run import MODELS, Model, RunOptions, run_failures
from mpft_sim.spec.schema import in_source
from mpft_sim.spec.topology import FailureSpec, TopologySpec, load_topology
from mpft_sim.spec.workload import FlowsWorkloadSpec, WorkloadSpec, load_workload
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.cost import bill_of_materials
from mpft_sim.topology.fabric import Fabric, Tier
from mpft_sim.workload.flows import FlowList, flow_program, read_flow_csv
from mpft_sim.workload.program import JobInfo, Program

__all__ = ["MODELS", "Model", "fabric_info", "make_network", "run_program", "simulate"]

TIMELINE_BINS = 400
"""Time bins of a run's utilisation timeline."""


def make_network(env: simpy.Environment, fabric: Fabric, options: RunOptions, *,
                 solver: Solver = max_min_rates, keep_paths: bool = True) -> Network:
    """A network of the chosen model over ``fabric``, in ``env``."""
    router = Router(fabric, options.routing, options.cross_plane, options.seed)
    if options.model == "analytic":
        return AnalyticNetwork(env, fabric, router, keep_paths)
    return FluidNetwork(env, fabric, router, solver=solver, tolerance=options.tolerance,
                        keep_paths=keep_paths)


def _counters(network: Network) -> dict[str, float]:
    """The engine's counters, for progress: flows released, re-solves, flows re-solved."""
    return {"flows": float(network.flows.n), "solves": float(getattr(network, "solves", 0)),
            "flows re-solved": float(getattr(network, "solved_flows", 0))}


def run_program(env: simpy.Environment, network: Network, program: Program,
                reporter: Reporter | None = None) -> Timings:
    """Run a program's task graph on a network until every task has ended.

    A task starts as soon as all its predecessors have ended: a compute task ends its
    duration later, a communication task when its last flow completes (plus its extra
    latency), a marker at once. Dependency counting with callbacks: no process per rank.

    Raises
    ------
    SimulationError
        If some task never becomes ready (a cycle in the graph).
    """
    # One function because its callbacks share the graph's counters, and SimPy calls them
    # back one event at a time.
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
        if reporter is not None:
            reporter.simulating(done / n, env.now, _counters(network))

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
            event = network.transfer_batch(src, dst, size,
                                           comm.tags if comm.tags is not None else comm.tag,
                                           route_key=comm.route_key, forward=comm.forward)
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
    return Timings(program, start, end, flows)


_kernels_loaded = False


def _load_kernels() -> None:
    """Run two flows on a tiny fabric, once per process: the fluid model's compiled kernels
    load from numba's cache (or, on a first run, compile: some seconds) here, where progress
    can say so, rather than silently in the middle of the first event."""
    global _kernels_loaded
    if _kernels_loaded:
        return
    from mpft_sim.spec.topology import FabricSpec, NodeSpec, SwitchSpec

    tiny = build_fabric(TopologySpec(
        name="warm-up", node=NodeSpec(gpus=1, nics=1),
        fabric=FabricSpec(kind="fat-tree", nodes=2, switch=SwitchSpec(radix=4))))
    flows = FlowList(np.array([0, 0]), np.array([1, 1]), np.array([1e3, 2e3]),
                     np.array([0.0, 0.0]), ("", ""))
    env = simpy.Environment()
    run_program(env, make_network(env, tiny, RunOptions()), flow_program(flows)[0])
    _kernels_loaded = True


def fabric_info(fabric: Fabric) -> FabricInfo:
    """The shape of one plane of a built fabric and its transport, as a run records them."""
    tree = fabric.size.tree
    assert tree is not None, "a built fabric is a tree"
    t = fabric.spec.fabric.transport
    assert t.preset is not None and t.mtu_bytes is not None and t.header_bytes is not None
    return FabricInfo(kind=fabric.spec.fabric.kind, planes=fabric.size.planes,
                      tiers=tree.tiers, radix=tree.radix, leaf_down=tree.down,
                      leaf_up=tree.up, leaves=tree.leaves, spines=tree.spines,
                      parallel=tree.parallel, pods=tree.pods, cores=tree.cores,
                      core_parallel=tree.core_parallel, transport=t.preset,
                      mtu_bytes=t.mtu_bytes, header_bytes=t.header_bytes, ack=bool(t.ack))


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # KiB on Linux


def _failures(options: RunOptions, failures: Sequence[FailureSpec | str],
              degrade: Sequence[FailureSpec | str]) -> RunOptions:
    return dataclasses.replace(options, failures=options.failures
                               + run_failures(failures, degrade))


def _fabric(topology: TopologySpec | Fabric, failures: tuple[FailureSpec, ...]) -> Fabric:
    """The fabric to run on: built from the spec, with the run's failures added."""
    if isinstance(topology, Fabric) and not failures:
        return topology
    spec = topology.spec if isinstance(topology, Fabric) else topology
    if failures:
        try:
            spec = dataclasses.replace(spec, failures=spec.failures + failures)
        except SpecError as exc:
            # a failure of the run's own: name the option, not a key of the topology file
            index = exc.key[1] if len(exc.key) > 1 and exc.key[0] == "failures" else None
            if isinstance(index, int) and index >= len(spec.failures):
                bad = failures[index - len(spec.failures)]
                option = "--fail" if bad.factor is None else "--degrade"
                raise SpecError(exc.message, exc.key[2:], exc.value,
                                f"{option} {bad.what}") from None
            raise exc.within(spec.name) from None
    return build_fabric(spec)


def simulate(topology: TopologySpec | Fabric | str | Path,
             workload: WorkloadSpec | FlowList | str | Path, model: Model = "fluid", *,
             seed: int = 0, routing: str | None = None, cross_plane: str | None = None,
             failures: Sequence[FailureSpec | str] = (),
             degrade: Sequence[FailureSpec | str] = (), tolerance: float = 0.0,
             solver: Solver = max_min_rates, keep_paths: bool | None = None,
             progress: ProgressCallback | None = None) -> Result:
    """Run a workload on a design and return what happened.

    Parameters
    ----------
    topology : TopologySpec, Fabric or path
        The design (built here unless a Fabric is given), or its YAML file.
    workload : WorkloadSpec, FlowList or path
        What to run: a training step, inference steps, NCCL all-to-alls, several jobs side
        by side, or a list of flows; or its YAML file.
    model : {"fluid", "analytic"}
        Flow-level max-min sharing, or per-phase load over capacity.
    seed : int
        Seeds ECMP path hashing and adaptive routing's tie-breaks (the workload's own seed,
        in its file, drives its traffic).
    routing : {"ecmp", "adaptive", "spray"}, optional
        Overrides the topology's routing policy.
    cross_plane : {"source", "destination"}, optional
        Overrides where multi-plane cross-plane traffic is forwarded.
    failures : sequence of FailureSpec or "kind=name"
        Components to fail, besides the topology's own (``"plane=3"``, ``"switch=p0/spine/1"``).
    degrade : sequence of FailureSpec or "kind=name:factor"
        Components to slow down to a fraction of their bandwidth (``"plane=3:0.5"``: plane 3
        at half its bandwidth, ``"link=p0/leaf/0 - p0/spine/1:0.25"``).
    tolerance : float
        Fluid model: relative time quantum batching nearly simultaneous completions, in
        [0, 1) (0 is exact).
    solver : callable
        Max-min solver for the fluid model.
    keep_paths : bool, optional
        Keep every flow's links (the ``links`` column of flows.csv); default: for flow lists
        only, since a training step has tens of millions of flows.
    progress : callable, optional
        Called with a :class:`~mpft_sim.progress.Progress` event at each phase and now and
        then while simulating (simulated time, fraction of tasks done, engine counters).

    Returns
    -------
    Result

    Raises
    ------
    SpecError
        On a bad option or input (a bad flow list row, a job that does not fit the design),
        naming the file or option.
    RoutingError
        If a transfer has no path.
    """
    started = time.perf_counter()
    reporter = Reporter(progress)
    options = _failures(RunOptions(model=model, seed=seed,
                                   routing=routing, cross_plane=cross_plane,  # type: ignore[arg-type]
                                   tolerance=tolerance), failures, degrade)
    spec = load_topology(topology) if isinstance(topology, str | Path) else topology
    work = load_workload(workload) if isinstance(workload, str | Path) else workload
    # the files the inputs were loaded from, if they were (a spec keeps its source)
    topology_file = getattr(spec.spec if isinstance(spec, Fabric) else spec, "source", None)
    workload_file = getattr(work, "source", None)
    reporter.phase(BUILD)
    with in_source(spec):
        fabric = _fabric(spec, options.failures)
    reporter.phase(PLAN)
    order = None
    jobs: list[JobInfo] = []
    # an error found while planning names the workload's file (and the key in it)
    with in_source(work):
        if isinstance(work, FlowList | FlowsWorkloadSpec):
            flow_list = work if isinstance(work, FlowList) else read_flow_csv(work.flows,
                                                                              fabric)
            program, order = flow_program(flow_list)
            keep = True if keep_paths is None else keep_paths
        else:
            from mpft_sim.workload.jobs import build_program

            program, jobs = build_program(work, fabric)
            keep = bool(keep_paths)
    if options.model == "fluid":
        reporter.phase(COMPILE)
        _load_kernels()
    reporter.phase(SIMULATE)
    env = simpy.Environment()
    network = make_network(env, fabric, options, solver=solver, keep_paths=keep)
    timings = run_program(env, network, program, reporter)
    flows = network.flow_table()
    if network.pending_groups or np.isnan(flows.end_s).any():
        raise SimulationError(f"{int(np.isnan(flows.end_s).sum())} flows never completed")
    if order is not None and np.any(np.diff(order) < 0):
        # the network numbers flows as released: back to input order (a list in release
        # order keeps its table, memmapped when the run spilled it to disk)
        flows = flows.take(np.argsort(order, kind="stable"))
    makespan = float(flows.end_s.max(initial=0.0))
    links, timeline = _link_tables(fabric, network, makespan)
    info = _run_info(fabric, network, work, options, topology_file, workload_file)
    engine = EngineStats(network.solves, network.solved_flows) \
        if isinstance(network, FluidNetwork) else EngineStats()
    provenance = Provenance(mpft_sim=__version__, python=platform.python_version(),
                            wall_s=time.perf_counter() - started,
                            peak_rss_bytes=_peak_rss_bytes())
    summary = summarise(info, flows, links, bill_of_materials(fabric), timings, jobs, engine,
                        provenance)
    # a flow list's program (a wait and a release per start time) is a means, not a result
    ops = (OpTable.of(program, timings.start_s, timings.end_s, timings.flows)
           if order is None else None)
    return Result(summary=summary, link_table=links, timeline=timeline, flow_table=flows,
                  op_table=ops, fabric=fabric)


def _link_tables(fabric: Fabric, network: Network,
                 makespan: float) -> tuple[LinkTable, TimelineTable]:
    """What each link carried up to ``makespan``, and utilisation over time per plane and
    tier."""
    load = network.link_table(makespan)
    links = LinkTable.of(fabric, network.link_bytes, load.busy_s, load.hot_s,
                         load.saturated_s, load.peak_util, makespan)
    timeline = network.timeline()
    edges, util = timeline.binned(makespan, TIMELINE_BINS)
    groups = tuple(LinkGroup(None if p < 0 else p, Tier(t)) for p, t in timeline.groups)
    return links, TimelineTable(edges, groups, util)


def _run_info(fabric: Fabric, network: Network, work: object, options: RunOptions,
              topology_file: str | None, workload_file: str | None) -> RunInfo:
    """What ran: the inputs (names, files and their hashes) and the options in effect."""
    router = network.router
    assert router is not None
    return RunInfo(
        topology=fabric.name, workload=getattr(work, "name", "flows"),
        workload_kind=getattr(work, "kind", "flows"), model=options.model,
        seed=options.seed, tolerance=options.tolerance, routing=router.policy,
        cross_plane=router.cross_plane, failures=tuple(f.what for f in fabric.spec.failures),
        gpus_per_node=fabric.gpus_per_node, topology_file=topology_file,
        topology_sha256=_sha256(topology_file) if topology_file else None,
        workload_file=workload_file,
        workload_sha256=_sha256(workload_file) if workload_file else None,
        fabric=fabric_info(fabric))
