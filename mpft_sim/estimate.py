"""What a run would cost, counted from its specs before any work: fabric nodes and links,
tasks, flows and memory; and the check that refuses a run too large for the machine.

Nothing is built or planned: the fabric's nodes and links are closed forms of the topology
(the builder's wiring rules) and the workload's tasks and flows come from
:func:`~mpft_sim.workload.counts.count_workload`, so a 10**7-GPU design or a step of 10**9
tasks is estimated in milliseconds. Memory is a linear model of those counts whose
constants were measured (:data:`MEMORY_MODEL`; ``docs/limits.md`` has the runs and the fit).
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from mpft_sim.errors import JobTooLargeError, SpecError
from mpft_sim.spec.run import RunOptions
from mpft_sim.spec.topology import TopologySpec
from mpft_sim.spec.workload import (
    FlowsWorkloadSpec,
    InferenceWorkloadSpec,
    JobsWorkloadSpec,
    NcclAllToAllSpec,
    TrainingWorkloadSpec,
    WorkloadSpec,
)
from mpft_sim.topology.fabric import Layout
from mpft_sim.topology.sizing import size_fabric
from mpft_sim.workload.counts import count_workload

__all__ = [
    "MEMORY_MODEL",
    "Estimate",
    "MemoryModel",
    "MemoryTerm",
    "available_memory_bytes",
    "check_estimate",
    "estimate",
    "fabric_counts",
    "memory_ceiling",
]


TIMELINE_ROWS = 1 << 16
"""Timeline rows the fluid model keeps before it bins load in time instead
(``mpft_sim._fluid.layout.TL_ROWS``; kept here so that estimating does not load numba)."""


@dataclass(frozen=True)
class MemoryModel:
    """Bytes of memory a run holds per thing the estimate counts: a linear model.

    The constants are fitted to the peak resident memory of whole ``mpft-sim simulate`` runs
    (loading, building, planning, simulating, writing the run directory) of different sizes
    (``bench/memory.py``; ``docs/limits.md`` has the runs, the fit and its errors). Each is a
    named field, so that a change in the engine is a change of one constant. The fluid model
    keeps at most :data:`TIMELINE_ROWS` timeline rows (then fixed time bins). Past
    :data:`~mpft_sim.flowstore.SPILL_FLOWS` flows the network's per-flow records stream to
    disk, but ``flow_bytes`` still counts every flow: the program's own per-flow arrays stay
    in memory, and an estimate that refuses jobs must not come out low.

    Attributes
    ----------
    base_bytes : float
        The interpreter, the libraries and a tiny run (the analytic model).
    fluid_base_bytes : float
        The fluid model's compiled kernels, on top.
    link_bytes : float
        Per directed link: the fabric's arrays, the router's and network's per-link state,
        the links table (nodes are folded in: every node has a cable, and costs less).
    task_bytes : float
        Per task: the program's graph, labels and transfers, the timings and ops table.
    flow_bytes : float
        Per flow released: the engine's flow record, the flows table and its file.
    in_flight_bytes : float
        Fluid model, per flow that may be in flight at once: its slot and link incidence.
    path_bytes : float
        Per flow whose path is kept (flow lists, ``--flow-paths``).
    flow_row_bytes : float
        Per line of a flow list: the text and the parsed columns while it is read.
    timeline_row_bytes, timeline_group_bytes : float
        Fluid model: per row of the load timeline (one per instant at which rates change),
        and per row and group of links (a plane and tier).
    routing_entry_bytes : float
        Per (token, expert) routing choice held while a routing pool is drawn.
    rows_per_flow_at_1e2, rows_exponent : float
        Timeline rows per flow: 1 at tolerance 0 (at most one per completion), else
        ``min(1, rows_per_flow_at_1e2 * (tolerance / 1e-2) ** -rows_exponent)`` (measured on
        training steps, whose completions are the most spread out).
    """

    base_bytes: float
    fluid_base_bytes: float
    link_bytes: float
    task_bytes: float
    flow_bytes: float
    in_flight_bytes: float
    path_bytes: float
    flow_row_bytes: float
    timeline_row_bytes: float
    timeline_group_bytes: float
    routing_entry_bytes: float
    rows_per_flow_at_1e2: float
    rows_exponent: float

    def timeline_rows(self, flows: int, tolerance: float) -> int:
        """Rows the fluid model's timeline logs for ``flows`` flows at ``tolerance``."""
        if tolerance <= 0:
            return min(flows, TIMELINE_ROWS)
        per_flow = self.rows_per_flow_at_1e2 * (tolerance / 1e-2) ** -self.rows_exponent
        return min(math.ceil(flows * min(1.0, per_flow)), TIMELINE_ROWS)


MEMORY_MODEL = MemoryModel(
    base_bytes=170e6,
    fluid_base_bytes=48e6,
    link_bytes=230.0,
    task_bytes=655.0,
    flow_bytes=140.0,
    in_flight_bytes=1220.0,
    path_bytes=170.0,
    flow_row_bytes=325.0,
    timeline_row_bytes=144.0,
    timeline_group_bytes=18.0,
    routing_entry_bytes=8.0,
    rows_per_flow_at_1e2=0.024,
    rows_exponent=0.63,
)
"""The measured model (``docs/limits.md``)."""


@dataclass(frozen=True)
class MemoryTerm:
    """One term of the memory estimate: ``count`` things of ``bytes_each`` bytes."""

    what: str
    count: int
    bytes_each: float

    @property
    def bytes(self) -> float:
        """The term's bytes."""
        return self.count * self.bytes_each


@dataclass(frozen=True)
class Estimate:
    """What a run would cost, counted from its specs.

    Attributes
    ----------
    topology, workload : str
        Names of the design and the workload.
    model : str
        The network model (``fluid`` or ``analytic``).
    nodes, links : int
        Nodes (GPUs, NVSwitches, NICs, PCIe and fabric switches) and directed links (two per
        cable) of the fabric: exact.
    tasks : int
        Tasks of the program: exact when ``tasks_exact``, else an upper bound.
    flows : int
        Flows the run releases: exact when ``flows_exact``, else an upper bound.
    tasks_exact, flows_exact : bool
    in_flight : int
        Flows that may be in flight at once (an upper bound).
    paths_kept : bool
        Whether each flow's path is kept.
    timeline_rows, link_groups : int
        The fluid model's timeline rows (0 for the analytic model), and its columns.
    routing_entries : int
        (token, expert) routing choices held while routing pools are drawn.
    terms : tuple of MemoryTerm
        What the memory estimate is made of.
    """

    topology: str
    workload: str
    model: str
    nodes: int
    links: int
    tasks: int
    flows: int
    tasks_exact: bool
    flows_exact: bool
    in_flight: int
    paths_kept: bool
    timeline_rows: int
    link_groups: int
    routing_entries: int
    terms: tuple[MemoryTerm, ...] = field(default=())

    @property
    def memory_bytes(self) -> float:
        """The memory the run would need at its peak: the sum of the terms."""
        return sum(t.bytes for t in self.terms)

    def lines(self, ceiling_bytes: float | None = None) -> list[str]:
        """The estimate for reading, one line per figure (``--dry-run``); with a memory
        ceiling, a last line saying whether the run fits under it."""
        from mpft_sim.units import format_bytes

        def bound(exact: bool) -> str:
            return "" if exact else " at most"

        terms = ", ".join(f"{t.what} {format_bytes(t.bytes, 3)}" for t in self.terms if t.bytes)
        out = [f"{self.workload} on {self.topology} ({self.model}): estimate",
               f"  nodes   {self.nodes:,}",
               f"  links   {self.links:,} directed",
               f"  tasks  {bound(self.tasks_exact)} {self.tasks:,}",
               f"  flows  {bound(self.flows_exact)} {self.flows:,} ({self.in_flight:,} at "
               "most in flight)",
               f"  memory  {format_bytes(self.memory_bytes, 3)} ({terms})"]
        if ceiling_bytes is not None:
            fits = "fits" if self.memory_bytes <= ceiling_bytes else "too large"
            out.append(f"  limit   {format_bytes(ceiling_bytes, 3)}: {fits}")
        return out

    def to_dict(self) -> dict[str, object]:
        """Plain data."""
        return {"topology": self.topology, "workload": self.workload, "model": self.model,
                "nodes": self.nodes, "links": self.links, "tasks": self.tasks,
                "tasks_exact": self.tasks_exact, "flows": self.flows,
                "flows_exact": self.flows_exact, "in_flight": self.in_flight,
                "memory_bytes": self.memory_bytes,
                "terms": {t.what: t.bytes for t in self.terms}}


def fabric_counts(spec: TopologySpec) -> tuple[int, int, int]:
    """Nodes, directed links and link groups (planes x tiers, and the node tier) of a tree
    design, as :func:`~mpft_sim.topology.build.build_fabric` makes them.

    Notes
    -----
    Cables: one NVLink per GPU; one PCIe per GPU, and one per NIC with PCIe switches; one per
    NIC port; per plane, the tree's leaf-spine and spine-core cables
    (:class:`~mpft_sim.topology.sizing.TreeSize`). Each cable is two directed links. Nodes
    follow the numbering blocks of :class:`~mpft_sim.topology.fabric.Layout`.

    Raises
    ------
    SpecError
        If the design is cost-only (slim-fly, dragonfly).
    """
    if not spec.fabric.is_tree:
        raise SpecError(f"a {spec.fabric.kind} is cost-only: it has a bill of materials but "
                        "cannot be built or simulated", ("fabric", "kind"), spec.fabric.kind)
    size = size_fabric(spec)
    tree = size.tree
    assert tree is not None
    node = spec.node
    gpus, nics = size.nodes * node.gpus, size.nodes * node.nics
    cables = (2 * gpus + (nics if node.pcie.switches else 0) + nics * node.nic.ports
              + size.planes * (tree.leaf_spine_cables + tree.spine_core_cables))
    groups = 1 + size.planes * (1 + (tree.spines > 0) + (tree.cores > 0))
    return Layout.of(spec, size).total, 2 * cables, groups


def estimate(topology: TopologySpec, workload: WorkloadSpec,
             options: RunOptions | None = None, *, keep_paths: bool | None = None,
             memory: MemoryModel = MEMORY_MODEL) -> Estimate:
    """Count what running ``workload`` on ``topology`` would take, without building the
    fabric or planning the program.

    Parameters
    ----------
    topology : TopologySpec
    workload : WorkloadSpec
    options : RunOptions, optional
        The run's options: the model and tolerance (the fluid model keeps a timeline).
    keep_paths : bool, optional
        Whether flows keep their paths; default as :func:`mpft_sim.simulate`, for flow lists.
    memory : MemoryModel
        Bytes per thing counted.

    Returns
    -------
    Estimate

    Raises
    ------
    SpecError
        If the design is cost-only, or a flow list cannot be read.
    """
    options = options or RunOptions()
    nodes, links, groups = fabric_counts(topology)
    work = count_workload(workload, topology.node.gpus)
    paths = isinstance(workload, FlowsWorkloadSpec) if keep_paths is None else keep_paths
    fluid = options.model == "fluid"
    rows = memory.timeline_rows(work.flows, options.tolerance) if fluid else 0
    m = memory
    terms = (
        MemoryTerm("base", 1, m.base_bytes + (m.fluid_base_bytes if fluid else 0.0)),
        MemoryTerm("links", links, m.link_bytes),
        MemoryTerm("tasks", work.tasks, m.task_bytes),
        # not capped at SPILL_FLOWS: the records stream to disk, but the program's own
        # per-flow arrays stay (8.0 GB for the 108 M flows of the 16,384-GPU step, analytic)
        MemoryTerm("flows", work.flows, m.flow_bytes),
        MemoryTerm("in flight", work.in_flight if fluid else 0, m.in_flight_bytes),
        MemoryTerm("paths", work.flows if paths else 0, m.path_bytes),
        MemoryTerm("flow list", work.flow_rows, m.flow_row_bytes),
        MemoryTerm("timeline", rows, m.timeline_row_bytes + groups * m.timeline_group_bytes),
        MemoryTerm("routing", work.routing_entries, m.routing_entry_bytes),
    )
    return Estimate(topology=topology.name, workload=getattr(workload, "name", "flows"),
                    model=options.model, nodes=nodes, links=links, tasks=work.tasks,
                    flows=work.flows, tasks_exact=work.tasks_exact,
                    flows_exact=work.flows_exact, in_flight=work.in_flight,
                    paths_kept=paths, timeline_rows=rows, link_groups=groups,
                    routing_entries=work.routing_entries, terms=terms)


def available_memory_bytes() -> int | None:
    """Memory this process may still use: the kernel's estimate of available memory
    (``MemAvailable``), within the control group's limit if there is one; None if unknown."""
    found: list[int] = []
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    if not found:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    with contextlib.suppress(OSError, ValueError):  # a container's limit (cgroup v2)
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            found.append(max(int(limit) - used, 0))
    return min(found) if found else None


def memory_ceiling(text: str | None) -> float | None:
    """The memory ceiling ``--max-memory`` gives (``16GiB``), or the memory available if
    it gives none (None if that is unknown).

    Raises
    ------
    SpecError
        If ``text`` is not a size, naming ``--max-memory``.
    """
    from mpft_sim.units import UnitError, parse_quantity

    if text is None:
        return available_memory_bytes()
    try:
        value = parse_quantity(text, "size")
    except UnitError as exc:
        raise SpecError(str(exc), value=text, file="--max-memory") from None
    if not value > 0:
        raise SpecError("must be positive", value=text, file="--max-memory")
    return value


def _hints(workload: WorkloadSpec, model: str) -> str:
    """Ways to shrink a job, for the refusal message."""
    jobs = workload.jobs if isinstance(workload, JobsWorkloadSpec) else (workload,)
    kinds = {type(j) for j in jobs}
    hints = []
    if model == "fluid":
        hints += ["--model analytic", "a larger --tolerance (fewer timeline rows)"]
    if TrainingWorkloadSpec in kinds:
        hints.append("fewer micro-batches (batch.micro_batches) or layers (model.layers)")
    if InferenceWorkloadSpec in kinds:
        hints.append("fewer steps or layers (model.layers)")
    if kinds & {TrainingWorkloadSpec, InferenceWorkloadSpec}:
        hints.append("a smaller layout (layout.pp, layout.dp, layout.ep)")
    if NcclAllToAllSpec in kinds:
        hints.append("fewer gpus or a smaller repeat")
    if FlowsWorkloadSpec in kinds:
        hints.append("a shorter flow list")
    return "to shrink it, try " + ", ".join(hints)


def check_estimate(est: Estimate, workload: WorkloadSpec, *, max_flows: int | None = None,
                   max_memory_bytes: float | None = None, processes: int = 1) -> None:
    """Refuse a run whose estimate exceeds a ceiling on flows or memory.

    Parameters
    ----------
    est : Estimate
    workload : WorkloadSpec
        The workload estimated (the message says how to shrink it).
    max_flows : int, optional
        At most this many flows in the run (no ceiling if None).
    max_memory_bytes : float, optional
        At most this much memory for all the ``processes`` (no ceiling if None).
    processes : int
        Runs this large at once (a sweep's workers).

    Raises
    ------
    JobTooLargeError
        Saying what the run would need, the ceiling it exceeds, and how to shrink it.
    """
    from mpft_sim.units import format_bytes

    what = f"{est.workload} on {est.topology}"
    flows = f"{'' if est.flows_exact else 'at most '}{est.flows:,} flows"
    if max_flows is not None and est.flows > max_flows:
        raise JobTooLargeError(f"{what}: the run would release {flows}, more than "
                               f"--max-flows {max_flows:,}; {_hints(workload, est.model)}")
    need = est.memory_bytes * processes
    if max_memory_bytes is not None and need > max_memory_bytes:
        parts = ", ".join(f"{t.what} {format_bytes(t.bytes, 3)}" for t in est.terms
                          if t.bytes)
        each = f" in each of {processes} processes" if processes > 1 else ""
        raise JobTooLargeError(
            f"{what}: the run would need about {format_bytes(est.memory_bytes, 3)} of memory"
            f"{each} ({parts}; for {flows}, {est.tasks:,} tasks, {est.links:,} links), more "
            f"than the {format_bytes(max_memory_bytes, 3)} allowed (--max-memory; default: "
            f"the memory available); {_hints(workload, est.model)}")
