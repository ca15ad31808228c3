"""Running a workload's program directly: the task timings and the jobs, for tests that look
inside a step (the program, its lanes) rather than at its records."""

from __future__ import annotations

from typing import Any

import simpy

from mpft_sim.engine import make_network, run_program
from mpft_sim.results.steps import Timings
from mpft_sim.spec.run import RunOptions
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.jobs import build_program
from mpft_sim.workload.program import JobInfo


def run_job(fabric: Fabric, workload: Any, **options: Any) -> tuple[Timings, list[JobInfo]]:
    """Build a workload's program on ``fabric`` and run it: when each task ran, and what each
    job builder said of its job."""
    program, jobs = build_program(workload, fabric)
    env = simpy.Environment()
    network = make_network(env, fabric, RunOptions(**options))
    return run_program(env, network, program), jobs
