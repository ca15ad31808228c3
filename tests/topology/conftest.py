"""Designs built in code, shared by the topology tests."""

from __future__ import annotations

from mpft_sim.spec.topology import FabricSpec, NicSpec, NodeSpec, SwitchSpec, TopologySpec

PORT_Bps = 50e9  # a 400 Gb/s switch port and NIC


def tree_spec(kind: str = "fat-tree", nodes: int = 8, radix: int = 8, *, planes: int = 1,
              tiers: int = 2, ratio: tuple[int, int] = (1, 1), gpus: int = 1, nics: int = 1,
              ports: int = 1, spines: int | None = None) -> TopologySpec:
    """A fat-tree design of ``nodes`` servers with ``gpus`` GPUs and ``nics`` NICs each, on
    switches of ``radix`` ports of 50 GB/s (NICs of 50 GB/s over ``ports`` ports)."""
    fabric = FabricSpec(kind=kind, nodes=nodes, planes=planes, tiers=tiers,  # type: ignore[arg-type]
                        oversubscription=ratio, spines=spines,
                        switch=SwitchSpec(radix=radix, port_bandwidth_Bps=PORT_Bps))
    node = NodeSpec(gpus=gpus, nics=nics, nic=NicSpec(bandwidth_Bps=PORT_Bps, ports=ports))
    return TopologySpec(name=f"{kind}-{nodes}", fabric=fabric, node=node)
