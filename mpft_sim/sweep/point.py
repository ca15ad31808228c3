"""One sweep point: edit the raw inputs, validate them, simulate, reduce to one row of data.

:func:`run_point` is a module-level function of a picklable :class:`PointTask` (the raw YAML
mappings travel with it, no open files), so the process pool and Dask workers run exactly what
the in-process loop runs, and a point's row depends on its task alone.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from mpft_sim.errors import MpftError, SpecError
from mpft_sim.spec.schema import load_spec
from mpft_sim.spec.topology import TopologySpec
from mpft_sim.spec.workload import WorkloadSpec
from mpft_sim.sweep.params import RunSettings, apply_param
from mpft_sim.sweep.spec import Point, SweepSpec, read_input

__all__ = ["METRICS", "TIERS", "PointOutcome", "PointTask", "columns", "make_tasks",
           "point_specs", "run_point"]

# the switched tiers whose utilisation a row reports (the node tier is NVLink and PCIe)
TIERS = ("endpoint", "leaf-spine", "spine-core")

METRICS: tuple[str, ...] = (
    "gpus", "job_gpus", "step_time_s", "makespan_s", "tpot_s", "tokens_per_s",
    "dispatch_s", "combine_s", "fct_p99_s", "exposed_comm_s",
    *(f"{kind}_util_{tier}" for tier in TIERS for kind in ("peak", "mean")),
    "cost_usd", "cost_per_gpu_usd", "perf_per_musd", "error",
)
"""The result columns of a row, after the point index, the parameters and the design."""


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
    model: str
    seed: int
    tolerance: float


@dataclass(frozen=True)
class PointOutcome:
    """What a point produced: its metrics (see :data:`METRICS`) and how long it took."""

    index: int
    metrics: dict[str, Any]
    wall_s: float


def make_tasks(spec: SweepSpec, points: Sequence[Point]) -> list[PointTask]:
    """The tasks of ``points``, each file read once.

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
            workload=raw(work_file, "workload"), model=spec.model, seed=spec.seed,
            tolerance=spec.tolerance))
    return tasks


def _topology_name(raw: dict[str, Any], file: str) -> str:
    name = raw.get("name")
    return name if isinstance(name, str) and name else Path(file).stem


def _edited(task: PointTask) -> tuple[dict[str, Any], dict[str, Any], RunSettings]:
    """The task's raw mappings with its parameters applied (copies: tasks stay unchanged
    when the loop runs in-process)."""
    topo = copy.deepcopy(task.topology)
    work = copy.deepcopy(task.workload)
    settings = RunSettings(task.model, task.seed, task.tolerance)
    for name, value in task.params.items():
        if name in ("topology", "workload"):
            continue  # chose the mappings already
        try:
            apply_param(name, copy.deepcopy(value), topo, work, settings)
        except SpecError as exc:
            is_workload = name.startswith("workload.") or name in ("tokens", "micro_batches",
                                                                    "ep")
            raise exc.within(task.workload_file if is_workload else task.topology_file) \
                from None
    return topo, work, settings


def _load_workload(task: PointTask, raw: dict[str, Any]) -> WorkloadSpec:
    # load_workload() takes a path; the edited mapping must keep the file's folder so its
    # relative paths (flow CSV, rank map, expert loads) resolve as they would from the file
    from mpft_sim.spec.workload import _load_one

    return cast(WorkloadSpec, _load_one(raw, task.workload_file, Path(task.workload_dir)))


def point_specs(spec: SweepSpec, index: int) -> tuple[TopologySpec, WorkloadSpec,
                                                      RunSettings]:
    """The validated specs and run settings of one point, as :func:`run_point` builds them.

    Parameters
    ----------
    spec : SweepSpec
    index : int
        The point's index in :meth:`SweepSpec.points`.

    Returns
    -------
    (TopologySpec, WorkloadSpec, RunSettings)

    Raises
    ------
    SpecError
        If the point is not a valid design or workload (naming the file and key).
    IndexError
        If there is no such point.
    """
    task = make_tasks(spec, [spec.points()[index]])[0]
    topo, work, settings = _edited(task)
    topology = load_spec(TopologySpec, topo, file=task.topology_file)
    return topology, _load_workload(task, work), settings


def _num(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN or infinity)."""
    if value is None:
        return None
    x = float(value)
    return x if math.isfinite(x) else None


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
    from mpft_sim.engine import Model, simulate
    from mpft_sim.topology.cost import bill_of_materials
    from mpft_sim.topology.sizing import size_fabric

    started = time.perf_counter()
    metrics: dict[str, Any] = dict.fromkeys(METRICS)
    try:
        topo, work, settings = _edited(task)
        topology = load_spec(TopologySpec, topo, file=task.topology_file)
        gpus = size_fabric(topology).gpus
        cost = bill_of_materials(topology).cost_usd
        metrics.update(gpus=gpus, cost_usd=_num(cost),
                       cost_per_gpu_usd=_num(cost / gpus) if gpus else None)
        workload = _load_workload(task, work)
        result = simulate(topology, workload, cast(Model, settings.model), seed=settings.seed,
                          tolerance=settings.tolerance)
        metrics.update(_metrics(result.summary(), cost))
    except MpftError as exc:
        metrics["error"] = f"point {task.index} ({task.label}): {exc}"
    return PointOutcome(task.index, metrics, time.perf_counter() - started)


def _metrics(summary: dict[str, Any], cost_usd: float) -> dict[str, Any]:
    """The row figures of a run's summary.

    Several jobs side by side report the slowest job's times and all jobs' tokens and GPUs.
    Performance per dollar is tokens per second (else steps per second, from the step time or
    the makespan of a flow list) per million dollars of the whole network.
    """
    out: dict[str, Any] = {"makespan_s": _num(summary["makespan_s"]),
                           "fct_p99_s": _num(summary["fct_s"]["p99"])}
    util = summary["utilisation"]["by_tier"]
    for tier in TIERS:
        if tier in util:
            out[f"peak_util_{tier}"] = _num(util[tier]["peak"])
            out[f"mean_util_{tier}"] = _num(util[tier]["mean"])
    jobs: list[dict[str, Any]] = summary.get("jobs") or []
    if jobs:
        slowest = max(jobs, key=lambda j: float(j.get("step_time_s") or 0.0))
        alltoall = slowest.get("alltoall", {})
        tokens = [j["tokens_per_s"] for j in jobs if j.get("tokens_per_s") is not None]
        out.update(
            job_gpus=sum(int(j["gpus"]) for j in jobs),
            step_time_s=_num(slowest.get("step_time_s")),
            tpot_s=_num(slowest.get("tpot_s")),
            tokens_per_s=_num(sum(tokens)) if tokens else None,
            exposed_comm_s=_num(slowest.get("exposed_comm_s")),
            dispatch_s=_num(alltoall.get("dispatch", {}).get("mean_s")),
            combine_s=_num(alltoall.get("combine", {}).get("mean_s")),
        )
    time_s = out.get("step_time_s") or out["makespan_s"]
    rate = out.get("tokens_per_s") or (1.0 / time_s if time_s else None)
    out["perf_per_musd"] = _num(rate / (cost_usd / 1e6)) if rate and cost_usd > 0 else None
    return out
