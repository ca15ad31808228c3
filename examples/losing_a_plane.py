"""What does losing a plane cost my step time?

The deployed DeepSeek-V3 cluster has eight independent planes. When one goes down, the GPUs
whose NICs sit in it forward over NVLink to a healthy plane's NIC, which they then share. This
script runs the same job on the healthy cluster and with each plane failed in turn, and
reports the slowdown (here a reduced V3 training step on 256 GPUs, for speed).

Run:  .venv/bin/python examples/losing_a_plane.py
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mpft_sim

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    cluster = mpft_sim.load_topology(ROOT / "topologies" / "deepseek-v3-2048.yaml")
    job = mpft_sim.load_workload(ROOT / "workloads" / "deepseek-v3-train.yaml")
    # a smaller step of the same job: PP2 x EP64 x DP128 on 256 GPUs, 8 layers, 4 micro-batches
    job = dataclasses.replace(
        job, model=dataclasses.replace(job.model, layers=8, dense_layers=1),
        layout=dataclasses.replace(job.layout, pp=2, dp=128),
        batch=dataclasses.replace(job.batch, micro_batches=4),
        expert_load=dataclasses.replace(job.expert_load, samples=2))
    healthy = mpft_sim.simulate(cluster, job, tolerance=1e-2).summary.job
    base = healthy.step_time_s
    print(f"healthy cluster: step {base * 1e3:.1f} ms, dispatch "
          f"{healthy.alltoall['dispatch'].mean_s * 1e3:.2f} ms")
    for plane in (0, 3):
        # the run option adds the failure to the design's own
        s = mpft_sim.simulate(cluster, job, tolerance=1e-2, failures=[f"plane={plane}"]).summary.job
        print(f"plane {plane} failed: step {s.step_time_s * 1e3:.1f} ms "
              f"({s.step_time_s / base:.2f}x), dispatch "
              f"{s.alltoall['dispatch'].mean_s * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
