"""A design's vital statistics as plain data (the counts of its sizes, the shape of one plane
for the fat-tree kinds, its routing and failures) and in words."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mpft_sim.spec.topology import (
    FabricSpec,
    FailureSpec,
    RoutingSpec,
    SwitchSpec,
    TopologySpec,
    load_topology,
)
from mpft_sim.topology.describe import describe_lines, describe_topology
from mpft_sim.topology.sizing import size_fabric
from tests.conftest import TOPOLOGIES
from tests.topology.conftest import PORT_Bps, tree_spec


def multi_plane() -> TopologySpec:
    """Four planes of a radix-4 tree, sprayed, a plane and a spine failed."""
    return dataclasses.replace(
        tree_spec("multi-plane-fat-tree", nodes=8, radix=4, planes=4, gpus=4, nics=4),
        routing=RoutingSpec(policy="spray"),
        failures=(FailureSpec(plane=1), FailureSpec(switch="p0/spine/0")))


def dragonfly() -> TopologySpec:
    """A cost-only dragonfly: 9 groups of 4 radix-7 switches."""
    return TopologySpec(name="df", fabric=FabricSpec(
        kind="dragonfly", group_size=4, global_ports=2, endpoints_per_switch=2,
        switch=SwitchSpec(radix=7)))


def test_multi_plane_design() -> None:
    """Four planes of a radix-4 tree, sprayed, a plane and a spine failed: every figure."""
    assert describe_topology(multi_plane()) == {
        "name": "multi-plane-fat-tree-8", "kind": "multi-plane-fat-tree", "nodes": 8,
        "gpus": 32, "planes": 4, "switches": 24, "switches_by_tier": {"leaf": 16, "spine": 8},
        "links": 32, "links_by_tier": {"leaf-spine": 32}, "endpoint_links": 32,
        "max_gpus": 32, "bisection_Bps": 4 * 8 * PORT_Bps / 2, "oversubscription": "1:1",
        "radix": 4, "port_bandwidth_Bps": PORT_Bps, "tiers": 2,
        "per_plane": {"endpoints": 8, "leaves": 4, "spines": 2, "cores": 0,
                      "leaf_down_ports": 2, "leaf_up_ports": 2},
        "routing": {"policy": "spray", "cross_plane": "destination"},
        "failures": ["plane=1", "switch=p0/spine/0"],
        "transport": {"preset": "infiniband", "mtu_bytes": 4096, "header_bytes": 26,
                      "ack": True, "goodput": 4096 / 4122},
    }


def test_three_tier_oversubscribed_design() -> None:
    """A three-tier tree at 3:1 has 2 pods of u = 2 spines and 2 cores; the ratio reads
    down:up."""
    spec = tree_spec(nodes=48, radix=8, tiers=3, ratio=(3, 1))
    out = describe_topology(spec)
    assert out["oversubscription"] == "3:1"
    assert out["tiers"] == 3
    assert out["per_plane"] == {"endpoints": 48, "leaves": 8, "spines": 4, "cores": 2,
                                "leaf_down_ports": 6, "leaf_up_ports": 2}
    assert out["switches_by_tier"] == {"leaf": 8, "spine": 4, "core": 2}
    assert out["failures"] == []


def test_cost_only_design_has_no_plane_shape() -> None:
    """A dragonfly is priced, not simulated: no tiers, plane shape, routing or bisection."""
    out = describe_topology(dragonfly())
    assert out["bisection_Bps"] is None
    assert (out["switches"], out["links"], out["gpus"]) == (36, 90, 72)
    assert not {"tiers", "per_plane", "routing", "failures"} & set(out)


@pytest.mark.parametrize("name", ["deepseek-v3-2048", "ft3-64k", "slimfly-32k", "mrft-2048"])
def test_agrees_with_sizing_and_is_json(name: str) -> None:
    """For the shipped designs the counts are the sizing's, and the whole is plain JSON."""
    spec = load_topology(TOPOLOGIES / f"{name}.yaml")
    size = size_fabric(spec)
    out = describe_topology(spec)
    assert (out["switches"], out["links"], out["gpus"], out["max_gpus"]) == (
        size.switches, size.links, size.gpus, size.max_gpus)
    assert json.loads(json.dumps(out)) == out


def test_multi_plane_design_in_words() -> None:
    """In words: counts with separators, bandwidths in bits and bytes, the plane's shape, the
    forwarding and the failures."""
    assert describe_lines(describe_topology(multi_plane())) == [
        ("design", "multi-plane-fat-tree-8: a multi-plane fat-tree of 4 planes, 2 switch tiers"),
        ("servers", "8 of 4 GPUs: 32 GPUs (the radix and tiers hold at most 32)"),
        ("switches", "24: 16 leaves, 8 spines"),
        ("switch ports", "4 x 400 Gb/s (50 GB/s)"),
        ("switch-switch cables", "32 (leaf-spine 32)"),
        ("endpoint cables", "32 (NIC port to switch)"),
        ("oversubscription", "1:1 (leaf ports down:up)"),
        ("per plane", "8 endpoints, 4 leaves, 2 spines; a leaf has 2 ports down and 2 up"),
        ("bisection bandwidth", "6.4 Tb/s (800 GB/s) per direction"),
        ("routing", "spray; cross-plane traffic forwarded over NVLink at the destination "
                    "(DeepEP)"),
        ("failures", "plane=1, switch=p0/spine/0"),
        ("transport", "InfiniBand: goodput 99.37% (4,096 B packets + 26 B of headers); ends "
                      "at the last ACK"),
    ]


def test_cost_only_design_in_words() -> None:
    """A cost-only design says so, and has no plane, routing or bisection to describe."""
    assert describe_lines(describe_topology(dragonfly())) == [
        ("design", "df: a dragonfly (cost only: priced, not simulated)"),
        ("servers", "9 of 8 GPUs: 72 GPUs (the radix and tiers hold at most 72)"),
        ("switches", "36: 36 switches"),
        ("switch ports", "7 x 400 Gb/s (50 GB/s)"),
        ("switch-switch cables", "90 (switch-switch 90)"),
        ("endpoint cables", "72 (NIC port to switch)"),
        ("oversubscription", "1:1 (leaf ports down:up)"),
        ("bisection bandwidth", "-"),
    ]


def test_one_leaf_design_in_words() -> None:
    """A single-plane design with one leaf: one switch, no cable between switches, its
    routing policy alone and no failures."""
    lines = dict(describe_lines(describe_topology(tree_spec(nodes=16, radix=64))))
    assert (lines["switches"], lines["switch-switch cables"]) == ("1: 1 leaf", "0")
    assert (lines["routing"], lines["failures"]) == ("ecmp", "none")
