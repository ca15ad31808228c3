"""Build the program of a workload: one job, or several side by side on one fabric."""

from __future__ import annotations

from typing import Any

import numpy as np

from mpft_sim.errors import SpecError
from mpft_sim.spec.workload import (
    InferenceWorkloadSpec,
    JobsWorkloadSpec,
    NcclAllToAllSpec,
    TrainingWorkloadSpec,
)
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.collectives import alltoall_flows
from mpft_sim.workload.inference import build_inference
from mpft_sim.workload.program import (
    Category,
    Comm,
    JobInfo,
    Program,
    ProgramBuilder,
    Stream,
    TaskKind,
)
from mpft_sim.workload.training import build_training

__all__ = ["build_nccl_alltoall", "build_program"]


def build_nccl_alltoall(spec: NcclAllToAllSpec, fabric: Fabric, prog: ProgramBuilder,
                        job: str | None = None) -> JobInfo:
    """Back-to-back NCCL all-to-alls among ``spec.gpus`` GPUs (PXN forwarding if asked)."""
    name = job or spec.name
    g = fabric.gpus_per_node
    first = spec.first_node * g
    if first >= fabric.n_gpus:
        raise SpecError(f"the fabric has {fabric.n_gpus // g:,} servers", ("first_node",),
                        spec.first_node)
    if first + spec.gpus > fabric.n_gpus:
        raise SpecError(f"the fabric has {fabric.n_gpus:,} GPUs", ("gpus",), spec.gpus)
    gpus = np.arange(first, first + spec.gpus, dtype=np.int64)
    lane = prog.lane(name, f"{name}:all", gpus)
    src, dst, size = alltoall_flows(gpus, spec.message_bytes)
    for i in range(spec.repeat):
        comm = Comm(TaskKind.NCCL_ALLTOALL, (src, dst, size),
                    route_key=(lane, "a2a"), forward="pxn" if spec.pxn else None,
                    network_bytes=float(size.sum()))
        prog.task(lane, Stream.COMM, TaskKind.NCCL_ALLTOALL, comm=comm, category=Category.FORWARD,
                  chunk=i,
                  label=f"a2a{i}")
    return JobInfo(name, "nccl-alltoall", [lane], [], spec.gpus,
                   info={"message_bytes": spec.message_bytes, "repeat": spec.repeat,
                         "pxn": spec.pxn})


def build_program(workload: Any, fabric: Fabric) -> tuple[Program, list[JobInfo]]:
    """The program of a training, inference, NCCL all-to-all or multi-job workload.

    Raises
    ------
    SpecError
        If a job does not fit the fabric, or two jobs share a GPU.
    """
    prog = ProgramBuilder()
    specs = list(workload.jobs) if isinstance(workload, JobsWorkloadSpec) else [workload]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise SpecError("two jobs share a name", ("jobs",), names)
    jobs = []
    for i, spec in enumerate(specs):
        try:
            if isinstance(spec, TrainingWorkloadSpec):
                jobs.append(build_training(spec, fabric, prog))
            elif isinstance(spec, InferenceWorkloadSpec):
                jobs.append(build_inference(spec, fabric, prog))
            elif isinstance(spec, NcclAllToAllSpec):
                jobs.append(build_nccl_alltoall(spec, fabric, prog))
            else:
                raise SpecError("not a job kind", ("kind",), getattr(spec, "kind", None))
        except SpecError as exc:
            prefix: tuple[str | int, ...] = ("jobs", i) if len(specs) > 1 else ()
            raise exc.within(prefix=prefix) from None
    program = prog.build()
    owner: dict[int, str] = {}
    for job in jobs:
        for lane in job.lanes:
            for gpu in program.lanes[lane].gpus.tolist():
                if owner.setdefault(gpu, job.name) != job.name:
                    raise SpecError(f"jobs {owner[gpu]!r} and {job.name!r} both use GPU "
                                    f"{fabric.node_name(gpu)}", ("jobs",))
    return program, jobs
