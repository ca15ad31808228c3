"""One sweep point: edit the raw inputs, validate them, simulate, reduce to one row of data.

:func:`run_point` is a module-level function of a picklable :class:`PointTask` (the raw YAML
mappings travel with it, no open files), so the process pool and Dask workers run exactly what
the in-process loop runs, and a point's row depends on its task alone.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpft_sim.errors import MpftError, SpecError
from mpft_sim.estimate import Estimate
from mpft_sim.results.metrics import METRICS as FIGURES
from mpft_sim.results.metrics import Metrics, metrics_row
from mpft_sim.spec.loading import load_spec
from mpft_sim.spec.run import RunOptions
from mpft_sim.spec.topology import TopologySpec
from mpft_sim.spec.workload import WorkloadSpec, workload_from_mapping
from mpft_sim.sweep.apply import apply_param
from mpft_sim.sweep.spec import Point, SweepSpec, read_input

__all__ = ["METRICS", "PointOutcome", "PointTask", "SweepEstimate", "columns", "estimate_points",
           "make_tasks", "point_specs",
           "run_point"]

METRICS: tuple[str, ...] = (*FIGURES, "error")
"""The result columns of a row, after the point index, the parameters and the design: the
figures of :class:`~mpft_sim.results.Metrics`, then why the point could not run, if so."""


def columns(spec: SweepSpec) -> list[str]:
    """The CSV columns of a sweep: fixed by the spec, whatever the points' outcomes."""
    return ["point", *spec.parameters, "design", *METRICS]


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs to run one point: plain, picklable data."""

    index: int
    params: dict[str, Any]
    label: str
    """The parameters as text, for messages: ``planes=4, nodes=256``."""
    design: str
    topology_file: str
    """The topology file, for messages."""
    topology: dict[str, Any]
    """Its raw YAML mapping, before the point's edits."""
    workload_file: str
    workload_dir: str
    """Absolute folder that the workload's relative paths (flow CSV, rank map) start from."""
    workload: dict[str, Any]
    options: RunOptions
    """The run options every point starts from (the sweep's, and the caller's)."""


@dataclass(frozen=True)
class PointOutcome:
    """What a point produced: its metrics (see :data:`METRICS`) and how long it took."""

    index: int
    metrics: dict[str, Any]
    wall_s: float


def make_tasks(spec: SweepSpec, points: Sequence[Point],
               options: RunOptions | None = None) -> list[PointTask]:
    """The tasks of ``points``, each file read once.

    ``options`` are run options every point starts from (routing, cross-plane forwarding,
    failures); the sweep's own model, seed and tolerance replace its.

    Raises
    ------
    SpecError
        If a file named in the sweep has become unreadable since the sweep loaded.
    """
    cache: dict[tuple[str, str], dict[str, Any]] = {}

    def raw(name: str, what: str) -> dict[str, Any]:
        if (name, what) not in cache:
            try:
                cache[name, what] = read_input(spec.resolve(name), what, (what,), name)
            except SpecError as exc:
                raise exc.within(spec.file) from None
        return cache[name, what]

    base = dataclasses.replace(options or RunOptions(), model=spec.model, seed=spec.seed,
                               tolerance=spec.tolerance)
    files = [spec.files(point) for point in points]
    names = {t: _topology_name(raw(t, "topology"), t) for t, _ in files}
    clash = {n for n in names.values() if list(names.values()).count(n) > 1}
    # two files of one name would merge into one design: tell them apart by file
    names = {t: f"{n} ({Path(t).stem})" if n in clash else n for t, n in names.items()}
    tasks = []
    for point, (topo_file, work_file) in zip(points, files, strict=True):
        topology = raw(topo_file, "topology")
        design = spec.design(point, names[topo_file])
        tasks.append(PointTask(
            index=point.index, params=point.params, label=point.label, design=design,
            topology_file=str(spec.resolve(topo_file)), topology=topology,
            workload_file=str(spec.resolve(work_file)),
            workload_dir=str(spec.resolve(work_file).parent.absolute()),
            workload=raw(work_file, "workload"), options=base))
    return tasks


def _topology_name(raw: dict[str, Any], file: str) -> str:
    name = raw.get("name")
    return name if isinstance(name, str) and name else Path(file).stem


def _edited(task: PointTask) -> tuple[dict[str, Any], dict[str, Any], RunOptions]:
    """The task's raw mappings with its parameters applied (copies: tasks stay unchanged
    when the loop runs in-process), and its run options."""
    topo = copy.deepcopy(task.topology)
    work = copy.deepcopy(task.workload)
    options = task.options
    # degrade_factor sets the factor of the degraded components the other parameters name
    for name, value in sorted(task.params.items(), key=lambda item: item[0] == "degrade_factor"):
        if name in ("topology", "workload"):
            continue  # chose the mappings already
        try:
            options = apply_param(name, copy.deepcopy(value), topo, work, options)
        except SpecError as exc:
            is_workload = name.startswith("workload.") or name in ("tokens", "micro_batches",
                                                                    "ep")
            raise exc.within(task.workload_file if is_workload else task.topology_file) \
                from None
    return topo, work, options


def _load_workload(task: PointTask, raw: dict[str, Any]) -> WorkloadSpec:
    # load_workload() takes a path; the edited mapping must keep the file's folder so its
    # relative paths (flow CSV, rank map, expert loads) resolve as they would from the file
    return workload_from_mapping(raw, task.workload_file, task.workload_dir)


def point_specs(spec: SweepSpec, index: int) -> tuple[TopologySpec, WorkloadSpec,
                                                      RunOptions]:
    """The validated specs and run options of one point, as :func:`run_point` builds them.

    Parameters
    ----------
    spec : SweepSpec
    index : int
        The point's index in :meth:`SweepSpec.points`.

    Returns
    -------
    (TopologySpec, WorkloadSpec, RunOptions)

    Raises
    ------
    SpecError
        If the point is not a valid design or workload (naming the file and key).
    IndexError
        If there is no such point.
    """
    task = make_tasks(spec, [spec.points()[index]])[0]
    topo, work, options = _edited(task)
    topology = load_spec(TopologySpec, topo, file=task.topology_file)
    return topology, _load_workload(task, work), options


@dataclass(frozen=True)
class SweepEstimate:
    """What a sweep would cost: each valid point's estimate, and why the others are not."""

    points: int
    estimates: tuple[Estimate, ...]
    workloads: tuple[WorkloadSpec, ...]
    """The workload of each estimate (the refusal message says how to shrink it)."""
    invalid: tuple[str, ...]

    @property
    def largest(self) -> int | None:
        """Index (in ``estimates``) of the point needing the most memory."""
        if not self.estimates:
            return None
        return max(range(len(self.estimates)), key=lambda i: self.estimates[i].memory_bytes)

    def lines(self, ceiling_bytes: float | None = None) -> list[str]:
        """The estimate for reading: the points, the flows of all, the largest point."""
        flows = sum(e.flows for e in self.estimates)
        out = [f"{self.points:,} points ({len(self.invalid):,} invalid), {flows:,} flows in "
               "all; the largest point:"]
        if self.largest is not None:
            out += self.estimates[self.largest].lines(ceiling_bytes)
        return out


def estimate_points(spec: SweepSpec, options: RunOptions | None = None) -> SweepEstimate:
    """Estimate every point of a sweep from its specs, without running any.

    A point whose specs are invalid is listed in ``invalid`` with its message (the sweep
    would record it as a row with an error), not raised.

    Parameters
    ----------
    spec : SweepSpec
    options : RunOptions, optional
        The run options every point starts from (routing, cross-plane, failures); the
        sweep's model, seed and tolerance replace its.
    """
    from mpft_sim.estimate import estimate

    points = spec.points()
    estimates, workloads, invalid = [], [], []
    for task in make_tasks(spec, points, options):
        try:
            topo, work, point_options = _edited(task)
            topology = load_spec(TopologySpec, topo, file=task.topology_file)
            workload = _load_workload(task, work)
            estimates.append(estimate(topology, workload, point_options))
            workloads.append(workload)
        except MpftError as exc:
            invalid.append(f"point {task.index} ({task.label}): {exc}")
    return SweepEstimate(len(points), tuple(estimates), tuple(workloads), tuple(invalid))


def run_point(task: PointTask) -> PointOutcome:
    """Build a point's specs, simulate it and reduce the result to one row of metrics.

    An invalid point (a :class:`~mpft_sim.errors.MpftError`: a bad value, a design that cannot
    hold its nodes, a transfer without a path) gives a row whose ``error`` says why, with the
    cost filled in when the design itself was valid. Any other exception is a bug and
    propagates.

    Parameters
    ----------
    task : PointTask

    Returns
    -------
    PointOutcome
    """
    from mpft_sim.engine import simulate
    from mpft_sim.topology.cost import bill_of_materials
    from mpft_sim.topology.sizing import size_fabric

    started = time.perf_counter()
    metrics: dict[str, Any] = dict.fromkeys(METRICS)
    try:
        topo, work, options = _edited(task)
        topology = load_spec(TopologySpec, topo, file=task.topology_file)
        gpus = size_fabric(topology).gpus
        cost = bill_of_materials(topology).cost_usd
        metrics.update(Metrics(gpus=gpus, cost_usd=cost,
                               cost_per_gpu_usd=cost / gpus if gpus else None).to_dict())
        workload = _load_workload(task, work)
        result = simulate(topology, workload, options.model, seed=options.seed,
                          routing=options.routing, cross_plane=options.cross_plane,
                          failures=options.failures, tolerance=options.tolerance)
        metrics.update(metrics_row(result.summary, cost, gpus).to_dict())
    except MpftError as exc:
        metrics["error"] = f"point {task.index} ({task.label}): {exc}"
    return PointOutcome(task.index, metrics, time.perf_counter() - started)
