"""How many planes does a 4,096-GPU cluster need?

Every GPU has a 400 Gb/s NIC. 64-port 400G switches hold 2,048 endpoints in two tiers, so a
4,096-GPU cluster (512 servers of 8 GPUs) needs a third tier, or several planes: eight planes of
one NIC per server each (DeepSeek's MPFT), or multi-plane NICs whose ports split the 400 Gb/s
over 2 or 4 planes of switches running their ports split (128 x 200G, 256 x 100G). This script
builds the candidates in code, counts and prices them (the default price book charges every
switch the same: pass a PriceBook to price split-port switches differently), and runs one
DeepEP EP64 dispatch + combine on every EP group at once (analytic model: seconds).

Run:  .venv/bin/python examples/planes_for_4096_gpus.py
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mpft_sim
from mpft_sim.spec.topology import FabricSpec, NicSpec, NodeSpec, SwitchSpec, TopologySpec

ROOT = Path(__file__).resolve().parent.parent
SERVERS = 512


NIC_Bps = 50e9  # 400 Gb/s per GPU


def design(name: str, planes: int, ports: int = 1, tiers: int = 2) -> TopologySpec:
    """512 servers of 8 GPUs, one 400G NIC per GPU with ``ports`` ports; switches are 64-port
    400G silicon, run as ``64 * ports`` ports of ``400G / ports``."""
    kind = "fat-tree" if planes == 1 else "multi-plane-fat-tree"
    return TopologySpec(
        name=name,
        node=NodeSpec(gpus=8, nics=8, nic=NicSpec(bandwidth_Bps=NIC_Bps, ports=ports)),
        fabric=FabricSpec(kind=kind, nodes=SERVERS, planes=planes, tiers=tiers,  # type: ignore[arg-type]
                          switch=SwitchSpec(radix=64 * ports,
                                            port_bandwidth_Bps=NIC_Bps / ports)),
    )


def main() -> None:
    candidates = [
        design("FT3, 1 plane", 1, tiers=3),
        design("MPFT, 2 planes", 2, ports=2),
        design("MPFT, 4 planes", 4, ports=4),
        design("MPFT, 8 planes", 8),
    ]
    work = mpft_sim.load_workload(ROOT / "workloads" / "ep-alltoall.yaml")
    work = dataclasses.replace(work, layout=dataclasses.replace(work.layout, dp=4096, ep=64))
    print(f"{'design':<16} {'tiers':>5} {'switches':>9} {'cables':>7} {'cost/GPU':>9} "
          f"{'EP64 dispatch+combine':>22}")
    for spec in candidates:
        try:
            bom = mpft_sim.bill_of_materials(spec)
        except mpft_sim.SpecError as exc:  # a design the radix cannot build
            print(f"{spec.name:<16} does not fit: {exc.message}")
            continue
        step = mpft_sim.simulate(spec, work, "analytic").summary.job.step_time_s
        tiers = 3 if spec.fabric.tiers == 3 else 2
        print(f"{spec.name:<16} {tiers:>5} {bom.switches:>9,} {bom.links:>7,} "
              f"${bom.cost_per_endpoint_usd:>8,.0f} {step * 1e3:>19.3f} ms")


if __name__ == "__main__":
    main()
