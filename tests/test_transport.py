"""Transport overhead: InfiniBand/RoCE packets carry headers (goodput below the line rate) and a
transfer ends when its last acknowledgement is back; exact completion times on and off."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mpft_sim.engine import simulate
from mpft_sim.errors import SpecError
from mpft_sim.results import Result
from mpft_sim.spec.loading import load_spec
from mpft_sim.spec.topology import FabricSpec, NodeSpec, SwitchSpec, TopologySpec
from mpft_sim.spec.transport import LatencySpec, TransportSpec
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import LinkKind
from mpft_sim.workload.flows import FlowList

LINE = 50e9  # 400 Gb/s
IB_GOODPUT = 4096 / (4096 + 26)  # LRH 8 + BTH 12 + ICRC 4 + VCRC 2
ROCE_GOODPUT = 4096 / (4096 + 82)  # Eth 14 + IPv4 20 + UDP 8 + BTH 12 + ICRC 4 + FCS 4 + 20
# InfiniBand preset: 430 ns per switch, 20 ns per cable, 2.33 us at the endpoints
IB_SAME_LEAF = 2.33e-6 + (20e-9 + 430e-9) + 20e-9  # 2.80 us, ISCA'25 Table 5
IB_ACK_SAME_LEAF = (20e-9 + 430e-9) + 20e-9  # the switched part once more: 0.47 us
IB_CROSS_LEAF = 2.33e-6 + 3 * (20e-9 + 430e-9) + 20e-9  # 3.70 us
IB_ACK_CROSS_LEAF = 3 * (20e-9 + 430e-9) + 20e-9  # 1.37 us
# RoCE preset: 980 ns per switch, 2.58 us at the endpoints
ROCE_SAME_LEAF = 2.58e-6 + (20e-9 + 980e-9) + 20e-9  # 3.60 us
ROCE_ACK_SAME_LEAF = (20e-9 + 980e-9) + 20e-9  # 1.02 us


def tree(nodes: int, transport: TransportSpec | None = None, latency: str = "infiniband",
         gpus: int = 1) -> TopologySpec:
    """A fat-tree of radix-4 switches (2 servers per leaf), one NIC per server."""
    fabric: dict[str, Any] = {"kind": "fat-tree", "nodes": nodes,
                              "switch": SwitchSpec(radix=4, port_bandwidth_Bps=LINE),
                              "latency": LatencySpec(preset=latency)}  # type: ignore[arg-type]
    if transport is not None:
        fabric["transport"] = transport
    return TopologySpec(name="t", node=NodeSpec(gpus=gpus, nics=1),
                        fabric=FabricSpec(**fabric))


def flows(src: list[int], dst: list[int], size: list[float]) -> FlowList:
    return FlowList(np.array(src), np.array(dst), np.array(size, float), np.zeros(len(src)),
                    tuple("" for _ in src))


def run(spec: TopologySpec, src: list[int], dst: list[int], size: list[float]) -> Result:
    return simulate(spec, flows(src, dst, size))


# -- the spec ---------------------------------------------------------------------------------


def test_presets_carry_the_published_header_arithmetic() -> None:
    """InfiniBand adds 26 bytes to a 4,096-byte packet, RoCEv2 82 on the wire; none adds
    nothing and waits for no acknowledgement."""
    ib, roce, none = (TransportSpec(preset=p) for p in ("infiniband", "roce", "none"))
    assert (ib.mtu_bytes, ib.header_bytes, ib.ack) == (4096, 26, True)
    assert (roce.mtu_bytes, roce.header_bytes, roce.ack) == (4096, 82, True)
    assert (none.header_bytes, none.ack) == (0, False)
    assert ib.goodput == IB_GOODPUT == pytest.approx(0.993692, abs=1e-6)
    assert roce.goodput == ROCE_GOODPUT == pytest.approx(0.980373, abs=1e-6)
    assert none.goodput == 1.0


def test_given_values_override_the_preset() -> None:
    """A key given beside the preset wins; header_bytes 0 is line rate."""
    t = TransportSpec(preset="infiniband", header_bytes=0, mtu_bytes=2048)
    assert (t.mtu_bytes, t.header_bytes, t.ack, t.goodput) == (2048, 0, True, 1.0)


def test_loaded_from_yaml_with_checks() -> None:
    """The transport section loads from YAML; a bad preset or MTU names its key."""
    base = {"name": "t", "fabric": {"kind": "fat-tree", "nodes": 2,
                                    "transport": {"preset": "none"}}}
    spec = load_spec(TopologySpec, base)
    assert spec.fabric.transport == TransportSpec(preset="none")
    base["fabric"]["transport"] = {"preset": "infiniban"}  # type: ignore[index]
    with pytest.raises(SpecError, match=r"fabric\.transport\.preset: .*did you mean "
                                        r"'infiniband'"):
        load_spec(TopologySpec, base)
    base["fabric"]["transport"] = {"mtu_bytes": 0}  # type: ignore[index]
    with pytest.raises(SpecError, match=r"fabric\.transport\.mtu_bytes: must be at least 1"):
        load_spec(TopologySpec, base)


def test_capacity_is_the_goodput_on_switched_links_only() -> None:
    """NIC and switch cables carry payload at line rate x goodput; NVLink and PCIe keep
    their own rates; the line rate is kept beside it."""
    fabric = build_fabric(tree(2, TransportSpec(preset="infiniband"), gpus=2))
    switched = np.isin(fabric.link_kind, [LinkKind.ENDPOINT, LinkKind.FABRIC])
    assert np.array_equal(fabric.capacity_Bps[switched],
                          fabric.line_rate_Bps[switched] * IB_GOODPUT)
    assert np.array_equal(fabric.capacity_Bps[~switched], fabric.line_rate_Bps[~switched])
    assert set(fabric.line_rate_Bps[switched].tolist()) == {LINE}


# -- closed forms, overhead on ----------------------------------------------------------------


@pytest.mark.parametrize(("size", "nodes", "dst", "latency", "ack"), [
    (1e6, 2, 1, IB_SAME_LEAF, IB_ACK_SAME_LEAF),
    (64.0, 2, 1, IB_SAME_LEAF, IB_ACK_SAME_LEAF),
    (8e6, 4, 2, IB_CROSS_LEAF, IB_ACK_CROSS_LEAF),
])
def test_infiniband_flow_alone(size: float, nodes: int, dst: int, latency: float,
                               ack: float) -> None:
    """A flow alone: size / (line rate x 4096/4122) + path latency + the acknowledgement's
    way back over the switched path (same leaf 2.80 + 0.47 us, cross leaf 3.70 + 1.37 us)."""
    result = run(tree(nodes, TransportSpec(preset="infiniband")), [0], [dst], [size])
    fct = size / (LINE * IB_GOODPUT) + latency + ack
    assert result.flow_table.end_s[0] == pytest.approx(fct, rel=1e-12)
    assert result.flow_table.latency_s[0] == pytest.approx(latency + ack, rel=1e-12)


def test_roce_flow_alone() -> None:
    """RoCE: size / (line rate x 4096/4178) + 3.60 us + 1.02 us."""
    spec = tree(2, TransportSpec(preset="roce"), latency="roce")
    result = run(spec, [0], [1], [1e6])
    fct = 1e6 / (LINE * ROCE_GOODPUT) + ROCE_SAME_LEAF + ROCE_ACK_SAME_LEAF
    assert result.flow_table.end_s[0] == pytest.approx(fct, rel=1e-12)


def test_the_default_follows_the_latency_preset() -> None:
    """With no transport section the fabric's latency preset names the link layer: an
    InfiniBand fabric carries InfiniBand headers, a RoCE one RoCE headers."""
    assert tree(2).fabric.transport == TransportSpec(preset="infiniband")
    assert tree(2, latency="roce").fabric.transport == TransportSpec(preset="roce")
    result = run(tree(2), [0], [1], [1e6])
    fct = 1e6 / (LINE * IB_GOODPUT) + IB_SAME_LEAF + IB_ACK_SAME_LEAF
    assert result.flow_table.end_s[0] == pytest.approx(fct, rel=1e-12)


def test_flows_share_the_goodput() -> None:
    """Two flows into one NIC share its goodput max-min: each at half of it."""
    spec = tree(4, TransportSpec(preset="infiniband"))
    result = run(spec, [0, 2], [1, 1], [1e6, 1e6])
    fct = 1e6 / (LINE * IB_GOODPUT / 2) + IB_SAME_LEAF + IB_ACK_SAME_LEAF
    assert result.flow_table.end_s[0] == pytest.approx(fct, rel=1e-12)
    fct = 1e6 / (LINE * IB_GOODPUT / 2) + IB_CROSS_LEAF + IB_ACK_CROSS_LEAF
    assert result.flow_table.end_s[1] == pytest.approx(fct, rel=1e-12)


def test_nvlink_has_no_packet_overhead_nor_acknowledgement() -> None:
    """Inside a server: size / (200 GB/s x 0.8) + 3.33 us, as with the overhead off."""
    spec = tree(2, TransportSpec(preset="infiniband"), gpus=2)
    result = run(spec, [0], [1], [1e6])
    assert result.flow_table.end_s[0] == pytest.approx(1e6 / 160e9 + 3.33e-6, rel=1e-12)


def test_a_forwarded_flow_acknowledges_its_switched_leg_only() -> None:
    """Multi-plane, forwarded at the destination: the acknowledgement crosses the plane
    back, not the NVLink forward (the NICs generate and consume it)."""
    spec = TopologySpec(
        name="mp", node=NodeSpec(gpus=2, nics=2),
        fabric=FabricSpec(kind="multi-plane-fat-tree", planes=2, nodes=2,
                          switch=SwitchSpec(radix=4, port_bandwidth_Bps=LINE),
                          transport=TransportSpec(preset="infiniband")))
    result = run(spec, [0], [3], [1e6])  # n0/gpu0 -> plane 0 -> n1/gpu0 -> NVLink -> n1/gpu1
    latency = IB_SAME_LEAF + 3.33e-6 + IB_ACK_SAME_LEAF
    assert result.flow_table.latency_s[0] == pytest.approx(latency, rel=1e-12)
    assert result.flow_table.end_s[0] == pytest.approx(1e6 / (LINE * IB_GOODPUT) + latency,
                                                       rel=1e-12)


# -- closed forms, overhead off ---------------------------------------------------------------


@pytest.mark.parametrize("transport", [TransportSpec(preset="none"),
                                       TransportSpec(header_bytes=0, ack=False)])
def test_overhead_off_is_line_rate(transport: TransportSpec) -> None:
    """Pinned off (preset none, or no header and no acknowledgement): size / line rate +
    path latency, exactly the idealised fluid model."""
    result = run(tree(2, transport), [0], [1], [1e6])
    assert result.flow_table.end_s[0] == pytest.approx(1e6 / LINE + IB_SAME_LEAF, rel=1e-12)
    fabric = build_fabric(tree(2, transport))
    assert np.array_equal(fabric.capacity_Bps, fabric.line_rate_Bps)


def test_the_run_records_its_transport() -> None:
    """summary.json says which transport the run had, for the report and for export."""
    info = run(tree(2, TransportSpec(preset="roce")), [0], [1], [1e3]).summary.info
    assert info.fabric is not None
    assert (info.fabric.transport, info.fabric.mtu_bytes, info.fabric.header_bytes,
            info.fabric.ack) == ("roce", 4096, 82, True)
    assert info.fabric.goodput == ROCE_GOODPUT


def test_describe_states_the_transport() -> None:
    """mpft-sim describe shows a tree's packet overhead and goodput."""
    from mpft_sim.topology.describe import describe_topology

    info = describe_topology(tree(4, latency="roce"))
    assert info["transport"] == {"preset": "roce", "mtu_bytes": 4096, "header_bytes": 82,
                                 "ack": True, "goodput": ROCE_GOODPUT}
