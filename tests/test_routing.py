"""Routing: latency, path shapes, cross-plane forwarding, ECMP/spray/adaptive, failures."""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
from collections import Counter
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from mpft_sim.engine import simulate
from mpft_sim.errors import RoutingError
from mpft_sim.results import Result
from mpft_sim.routing import Router, Routes
from mpft_sim.spec.topology import (
    FabricSpec,
    FailureSpec,
    NicSpec,
    NodeSpec,
    SwitchSpec,
    TopologySpec,
    load_topology,
)
from mpft_sim.spec.transport import LatencySpec
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric, LinkKind, NodeKind
from mpft_sim.workload.flows import FlowList
from tests.conftest import ROOT, TOPOLOGIES, no_overhead, run_file_bytes

Run = Callable[..., tuple[int, str, str]]
IntArray = NDArray[np.int64]

NIC_Bps = 50e9  # 400 Gb/s ConnectX-7, the tightest link of a fabric path
NVLINK_Bps = 160e9  # 200 GB/s x 0.8 efficiency
NVLINK_S = 3.33e-6
EXAMPLE = ROOT / "workloads" / "example-flows.yaml"

# A small three-tier fat-tree: radix 8, pods of 4 leaves and 4 spines, 2 cores per group;
# 8 servers of 8 GPUs fill 16 leaves (2 per server), so n0, n1 are pod 0 and n4 is pod 2.
FT3 = TopologySpec(
    name="ft3-small",
    fabric=FabricSpec(kind="fat-tree", tiers=3, nodes=8,
                      switch=SwitchSpec(radix=8, port_bandwidth_Bps=NIC_Bps)),
    node=NodeSpec(gpus=8, nics=8),
)
# Multi-plane NICs: one NIC per GPU with a 25 GB/s port in each of 2 planes.
MP_NIC = TopologySpec(
    name="mp-nic",
    fabric=FabricSpec(kind="multi-plane-fat-tree", planes=2, nodes=8,
                      switch=SwitchSpec(radix=8, port_bandwidth_Bps=NIC_Bps)),
    node=NodeSpec(gpus=4, nics=4, nic=NicSpec(bandwidth_Bps=NIC_Bps, ports=2)),
)
# A fat-tree whose two leaves share one spine (radix 4, 2 down / 2 up ports per leaf).
FT_ONE_SPINE = TopologySpec(
    name="ft-one-spine",
    fabric=FabricSpec(kind="fat-tree", nodes=4, switch=SwitchSpec(radix=4)),
    node=NodeSpec(gpus=1, nics=1),
)


# -- helpers -------------------------------------------------------------------------------

def spec_of(name: str) -> TopologySpec:
    """A shipped topology (by file stem) or one of the designs above, its transport overhead
    pinned off: these closed forms are of paths and their latency (the overhead's are in
    test_transport.py)."""
    built_in = {"ft3-small": FT3, "mp-nic": MP_NIC, "ft-one-spine": FT_ONE_SPINE}
    return no_overhead(built_in.get(name) or load_topology(TOPOLOGIES / f"{name}.yaml"))


@functools.cache
def fabric(name: str, *fails: str) -> Fabric:
    """Build a design once per test session; ``fails`` are ``kind=name`` strings."""
    spec = spec_of(name)
    failures = []
    for text in fails:
        key, _, value = text.partition("=")
        failures.append(FailureSpec(**{key: int(value) if key == "plane" else value}))
    if failures:
        spec = dataclasses.replace(spec, failures=tuple(failures))
    return build_fabric(spec)


def idx(fab: Fabric, *names: str) -> IntArray:
    """Node indices (GPU ranks for GPUs) of ``names``."""
    return np.array([fab.node_index(n) for n in names], dtype=np.int64)


def route(fab: Fabric, src: str, dst: str, *, key: int = 0, **router: object) -> Routes:
    """Route one transfer by GPU names."""
    return Router(fab, **router).route(idx(fab, src), idx(fab, dst),  # type: ignore[arg-type]
                                       np.array([key]))


def links_of(row: IntArray) -> IntArray:
    """The link ids of one padded path row."""
    return row[row >= 0]


def hops(fab: Fabric, links: Sequence[int] | IntArray) -> list[str]:
    """``src>dst`` node names of each link."""
    return [f"{fab.node_name(fab.link_src[i])}>{fab.node_name(fab.link_dst[i])}" for i in links]


def assert_hops(fab: Fabric, links: IntArray, patterns: list[str]) -> None:
    """The path's hops match ``patterns`` (fnmatch) one to one and form a chain."""
    got = hops(fab, links)
    assert len(got) == len(patterns), got
    for hop, pattern in zip(got, patterns, strict=True):
        assert fnmatchcase(hop, pattern), (hop, pattern, got)
    assert_chain(fab, links)


def assert_chain(fab: Fabric, links: IntArray, src: int | None = None,
                 dst: int | None = None) -> None:
    """Consecutive links meet; the path starts at ``src`` and ends at ``dst`` if given."""
    links = np.asarray(links)
    assert (fab.link_dst[links[:-1]] == fab.link_src[links[1:]]).all(), hops(fab, links)
    if src is not None:
        assert fab.link_src[links[0]] == src
    if dst is not None:
        assert fab.link_dst[links[-1]] == dst


def one_flow(fab: Fabric, src: str, dst: str, size: float = 64.0, **kw: object) -> Result:
    """Replay a single flow released at t = 0."""
    flows = FlowList(idx(fab, src), idx(fab, dst), np.array([size]), np.array([0.0]), ("",))
    return simulate(fab, flows, **kw)  # type: ignore[arg-type]


def flow_links(result: Result, f: int = 0) -> IntArray:
    """Link ids of a single-path flow, from its flows.csv text."""
    return np.array([int(x) for x in result.flow_table.paths.text(f).split()], dtype=np.int64)


def tier2(fab: Fabric, routes: Routes) -> tuple[IntArray, IntArray]:
    """Per path of a two-tier route: its leaf-to-spine link and its spine-to-leaf link."""
    up, down = [], []
    for row in routes.path_links:
        fabric_links = [int(i) for i in links_of(row) if fab.link_tier[i] == 2]
        assert len(fabric_links) == 2, hops(fab, fabric_links)
        up.append(fabric_links[0])
        down.append(fabric_links[1])
    return np.array(up), np.array(down)


def leaf_pairs(n: int, seed: int = 0, gpu: int = 0) -> tuple[IntArray, IntArray]:
    """``n`` flows from GPU ``gpu`` of servers on leaf 0 to servers on leaf 1 (deepseek)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 32, n) * 8 + gpu, (32 + rng.integers(0, 32, n)) * 8 + gpu


def touches(fab: Fabric, links: IntArray, node: int) -> bool:
    """Whether any of ``links`` starts or ends at ``node``."""
    return bool(((fab.link_src[links] == node) | (fab.link_dst[links] == node)).any())


@pytest.fixture(scope="module")
def deepseek() -> Fabric:
    """The deployed 8-plane DeepSeek-V3 cluster, nothing failed."""
    return fabric("deepseek-v3-2048")


# -- 1. latency (ISCA25 Table 5) -----------------------------------------------------------

LATENCY_CASES = [
    pytest.param("infiniband", "n0/gpu0", "n1/gpu0", 2.8e-6, NIC_Bps, id="ib-same-leaf"),
    pytest.param("infiniband", "n0/gpu0", "n32/gpu0", 3.7e-6, NIC_Bps, id="ib-cross-leaf"),
    pytest.param("infiniband", "n0/gpu0", "n0/gpu1", 3.33e-6, NVLINK_Bps, id="nvlink"),
    pytest.param("roce", "n0/gpu0", "n1/gpu0", 3.6e-6, NIC_Bps, id="roce-same-leaf"),
    pytest.param("roce", "n0/gpu0", "n32/gpu0", 5.6e-6, NIC_Bps, id="roce-cross-leaf"),
    pytest.param("roce", "n0/gpu0", "n0/gpu1", 3.33e-6, NVLINK_Bps, id="roce-nvlink"),
]


@pytest.mark.parametrize(("preset", "src", "dst", "table_s", "rate_Bps"), LATENCY_CASES)
def test_latency_table(preset: str, src: str, dst: str, table_s: float,
                       rate_Bps: float) -> None:
    """A lone 64-byte flow completes within 5% of ISCA25 Table 5, at latency + 64 B / rate."""
    spec = spec_of("deepseek-v3-2048")
    spec = dataclasses.replace(spec, fabric=dataclasses.replace(
        spec.fabric, latency=LatencySpec(preset=preset)))  # type: ignore[arg-type]
    result = one_flow(build_fabric(spec), src, dst, model="fluid")
    flows = result.flow_table
    assert flows.latency_s[0] == pytest.approx(table_s, rel=1e-9)
    assert flows.end_s[0] == pytest.approx(table_s, rel=0.05)
    assert flows.end_s[0] == pytest.approx(flows.latency_s[0] + 64 / rate_Bps, rel=1e-12)
    assert result.makespan_s == flows.end_s[0]


def test_latency_is_sum_of_parts(deepseek: Fabric) -> None:
    """IB cross-leaf latency = endpoint 2.33us + 3 cables into switches (450ns) + 1 into a NIC."""
    lat = deepseek.spec.fabric.latency
    assert (lat.endpoint, lat.switch, lat.link) == (2.33e-6, 430e-9, 20e-9)
    routes = route(deepseek, "n0/gpu0", "n32/gpu0")
    links = links_of(routes.path_links[0])
    assert deepseek.latency_s[links].tolist() == pytest.approx(
        [0.0, 450e-9, 450e-9, 450e-9, 20e-9, 0.0], abs=1e-18)
    assert routes.latency_s[0] == pytest.approx(2.33e-6 + 3 * 450e-9 + 20e-9, rel=1e-12)


# -- 2. path shapes ------------------------------------------------------------------------

def test_same_server_path_is_nvlink(deepseek: Fabric) -> None:
    """GPUs of one server talk over exactly GPU -> NVSwitch -> GPU."""
    src, dst = idx(deepseek, "n3/gpu2", "n3/gpu7")
    routes = Router(deepseek).route(np.array([src]), np.array([dst]), np.array([0]))
    assert routes.path_flow.tolist() == [0] and routes.path_share.tolist() == [1.0]
    links = links_of(routes.path_links[0])
    assert links.tolist() == [deepseek.gpu_nvl_up[src], deepseek.gpu_nvl_down[dst]]
    assert hops(deepseek, links) == ["n3/gpu2>n3/nvswitch", "n3/nvswitch>n3/gpu7"]
    assert (deepseek.link_kind[links] == LinkKind.NVLINK).all()
    assert routes.latency_s[0] == pytest.approx(NVLINK_S, rel=1e-12)


def test_same_leaf_path(deepseek: Fabric) -> None:
    """Same plane, same leaf: GPU -> NIC -> leaf -> NIC -> GPU, nothing else."""
    links = links_of(route(deepseek, "n0/gpu0", "n1/gpu0").path_links[0])
    assert hops(deepseek, links) == ["n0/gpu0>n0/nic0", "n0/nic0>p0/leaf/0",
                                     "p0/leaf/0>n1/nic0", "n1/nic0>n1/gpu0"]
    assert deepseek.link_kind[links].tolist() == [LinkKind.PCIE, LinkKind.ENDPOINT,
                                                  LinkKind.ENDPOINT, LinkKind.PCIE]
    assert deepseek.link_tier[links].tolist() == [0, 1, 1, 0]
    assert (deepseek.link_plane[links[1:3]] == 0).all()


def test_cross_leaf_path(deepseek: Fabric) -> None:
    """Same plane, different leaves: the same-leaf path plus leaf -> spine -> leaf."""
    links = links_of(route(deepseek, "n0/gpu0", "n32/gpu0").path_links[0])
    kinds = deepseek.node_kind[np.append(deepseek.link_src[links], deepseek.link_dst[links[-1]])]
    assert kinds.tolist() == [NodeKind.GPU, NodeKind.NIC, NodeKind.LEAF, NodeKind.SPINE,
                              NodeKind.LEAF, NodeKind.NIC, NodeKind.GPU]
    assert_hops(deepseek, links, ["n0/gpu0>n0/nic0", "n0/nic0>p0/leaf/0",
                                  "p0/leaf/0>p0/spine/*", "p0/spine/*>p0/leaf/1",
                                  "p0/leaf/1>n32/nic0", "n32/nic0>n32/gpu0"])
    assert deepseek.link_tier[links].tolist() == [0, 1, 2, 2, 1, 0]


def test_three_tier_cross_pod_path() -> None:
    """Across pods of a three-tier tree: leaf -> spine -> core -> spine -> leaf, 4.6us."""
    fab = fabric("ft3-small")
    tree = fab.size.tree
    assert tree is not None and (tree.tiers, tree.pods, tree.leaves_per_pod) == (3, 4, 4)
    routes = route(fab, "n0/gpu0", "n4/gpu0")
    links = links_of(routes.path_links[0])
    assert_hops(fab, links, ["n0/gpu0>n0/nic0", "n0/nic0>p0/leaf/0", "p0/leaf/0>p0/spine/*",
                             "p0/spine/*>p0/core/*", "p0/core/*>p0/spine/*",
                             "p0/spine/*>p0/leaf/8", "p0/leaf/8>n4/nic0", "n4/nic0>n4/gpu0"])
    assert fab.link_tier[links].tolist() == [0, 1, 2, 3, 3, 2, 1, 0]
    up_spine, down_spine = fab.node_id(fab.link_dst[links[2]]), fab.node_id(fab.link_src[links[5]])
    # spine j of pod 0 climbs to a core of group j, which comes down to spine j of pod 2
    assert (up_spine.number // tree.up, down_spine.number // tree.up) == (0, 2)
    assert up_spine.number % tree.up == down_spine.number % tree.up
    # endpoint + 5 cables into switches + 1 cable into a NIC
    assert routes.latency_s[0] == pytest.approx(2.33e-6 + 5 * 450e-9 + 20e-9, rel=1e-12)


def test_three_tier_same_pod_path() -> None:
    """Between leaves of one pod a three-tier tree turns at the spine: 3.7us, no core."""
    fab = fabric("ft3-small")
    routes = route(fab, "n0/gpu0", "n1/gpu0")
    links = links_of(routes.path_links[0])
    assert_hops(fab, links, ["n0/gpu0>n0/nic0", "n0/nic0>p0/leaf/0", "p0/leaf/0>p0/spine/*",
                             "p0/spine/*>p0/leaf/2", "p0/leaf/2>n1/nic0", "n1/nic0>n1/gpu0"])
    assert routes.latency_s[0] == pytest.approx(3.7e-6, rel=1e-12)


# -- 3. MPFT cross-plane forwarding ---------------------------------------------------------

CROSS_PLANE_CASES = [
    pytest.param("deepseek-v3-2048", "source", [
        "n0/gpu1>n0/nvswitch", "n0/nvswitch>n0/gpu3", "n0/gpu3>n0/nic3", "n0/nic3>p3/leaf/0",
        "p3/leaf/0>p3/spine/*", "p3/spine/*>p3/leaf/1", "p3/leaf/1>n40/nic3",
        "n40/nic3>n40/gpu3"], 3.7e-6 + NVLINK_S, id="mpft-source"),
    pytest.param("deepseek-v3-2048", "destination", [
        "n0/gpu1>n0/nic1", "n0/nic1>p1/leaf/0", "p1/leaf/0>p1/spine/*", "p1/spine/*>p1/leaf/1",
        "p1/leaf/1>n40/nic1", "n40/nic1>n40/gpu1", "n40/gpu1>n40/nvswitch",
        "n40/nvswitch>n40/gpu3"], 3.7e-6 + NVLINK_S, id="mpft-destination"),
    pytest.param("mrft-2048", "source", [
        "n0/gpu1>n0/nic1", "n0/nic1>p0/leaf/1", "p0/leaf/1>p0/spine/*", "p0/spine/*>p0/leaf/11",
        "p0/leaf/11>n40/nic3", "n40/nic3>n40/gpu3"], 3.7e-6, id="mrft-source"),
    pytest.param("mrft-2048", "destination", [
        "n0/gpu1>n0/nic1", "n0/nic1>p0/leaf/1", "p0/leaf/1>p0/spine/*", "p0/spine/*>p0/leaf/11",
        "p0/leaf/11>n40/nic3", "n40/nic3>n40/gpu3"], 3.7e-6, id="mrft-destination"),
]


@pytest.mark.parametrize(("design", "cross_plane", "patterns", "latency_s"),
                         CROSS_PLANE_CASES)
def test_cross_plane_forwarding(design: str, cross_plane: str, patterns: list[str],
                                latency_s: float) -> None:
    """n0/gpu1 -> n40/gpu3: MPFT forwards over NVLink at the chosen end; MRFT crosses rails
    through a spine."""
    fab = fabric(design)
    result = one_flow(fab, "n0/gpu1", "n40/gpu3", cross_plane=cross_plane)
    links = flow_links(result)
    assert_hops(fab, links, patterns)
    assert_chain(fab, links, *idx(fab, "n0/gpu1", "n40/gpu3"))
    assert result.flow_table.latency_s[0] == pytest.approx(latency_s, rel=1e-12)
    assert result.flow_table.end_s[0] == pytest.approx(latency_s + 64 / NIC_Bps, rel=1e-12)


def test_cross_plane_default_is_the_topologys(deepseek: Fabric) -> None:
    """Without an override the router forwards where the topology file says (destination)."""
    assert deepseek.spec.routing.cross_plane == "destination"
    assert Router(deepseek).cross_plane == "destination"
    links = links_of(route(deepseek, "n0/gpu1", "n40/gpu3").path_links[0])
    assert hops(deepseek, links)[-2:] == ["n40/gpu1>n40/nvswitch", "n40/nvswitch>n40/gpu3"]


# -- 4. ECMP -------------------------------------------------------------------------------

def test_ecmp_same_seed_same_paths(deepseek: Fabric) -> None:
    """The same seed and keys give identical routes."""
    src, dst = leaf_pairs(500)
    a = Router(deepseek, seed=7).route(src, dst, np.arange(500))
    b = Router(deepseek, seed=7).route(src, dst, np.arange(500))
    for field in ("path_flow", "path_share", "path_links", "latency_s"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_ecmp_seed_changes_choices(deepseek: Fabric) -> None:
    """Another seed re-hashes: most flows change uplink (31 in 32 expected)."""
    src, dst = leaf_pairs(2000)
    up0, _ = tier2(deepseek, Router(deepseek, seed=0).route(src, dst, np.arange(2000)))
    up1, _ = tier2(deepseek, Router(deepseek, seed=1).route(src, dst, np.arange(2000)))
    assert np.mean(up0 != up1) > 0.9


def test_ecmp_covers_uplinks_and_collides(deepseek: Fabric) -> None:
    """Many leaf-0 to leaf-1 flows use all 32 uplinks about evenly; 32 flows collide."""
    src, dst = leaf_pairs(2000)
    up, _ = tier2(deepseek, Router(deepseek).route(src, dst, np.arange(2000)))
    counts = Counter(up.tolist())
    assert set(counts) == set(deepseek.up[0, 0].tolist())
    assert min(counts.values()) >= 30 and max(counts.values()) <= 100  # mean 62.5
    src32 = np.arange(32) * 8  # gpu0 of n0..n31: distinct GPUs on leaf 0
    up32, _ = tier2(deepseek, Router(deepseek).route(src32, src32 + 256, np.arange(32)))
    assert len(set(up32.tolist())) < 32
    assert max(Counter(up32.tolist()).values()) > 1


def test_ecmp_down_cable_chosen_independently(deepseek: Fabric) -> None:
    """The spine hashes its own choice among its 8 parallel cables down to the leaf."""
    tree = deepseek.size.tree
    assert tree is not None
    spines, par = tree.spines, tree.parallel
    assert (spines, par) == (4, 8)
    src, dst = leaf_pairs(2000)
    up, down = tier2(deepseek, Router(deepseek).route(src, dst, np.arange(2000)))
    j = np.array([deepseek.up[0, 0].tolist().index(u) for u in up])
    q = np.array([deepseek.down[0, 1].tolist().index(d) for d in down])
    assert (deepseek.link_dst[up] == deepseek.link_src[down]).all()
    assert (j % spines == q % spines).all()  # same spine both ways
    same = np.mean(j // spines == q // spines)
    assert 0.05 < same < 0.25  # about 1 in 8, not always
    assert set((q // spines).tolist()) == set(range(par))


# -- 5. spray ------------------------------------------------------------------------------

def test_spray_cross_leaf_uses_every_uplink(deepseek: Fabric) -> None:
    """A cross-leaf flow sprays 1/32 on each uplink, paired with the same-index cable down."""
    routes = route(deepseek, "n0/gpu0", "n32/gpu0", policy="spray")
    assert len(routes.path_flow) == 32
    assert routes.path_share.tolist() == [1 / 32] * 32
    up, down = tier2(deepseek, routes)
    assert sorted(up.tolist()) == sorted(deepseek.up[0, 0].tolist())
    assert sorted(down.tolist()) == sorted(deepseek.down[0, 1].tolist())
    for u, d in zip(up, down, strict=True):
        assert deepseek.up[0, 0].tolist().index(u) == deepseek.down[0, 1].tolist().index(d)
    src, dst = idx(deepseek, "n0/gpu0", "n32/gpu0")
    for row in routes.path_links:
        assert_chain(deepseek, links_of(row), src, dst)


def test_spray_shares_sum_to_one(deepseek: Fabric) -> None:
    """Every sprayed transfer's shares sum to 1; same-leaf and NVLink ones keep one path."""
    rng = np.random.default_rng(3)
    src, dst = rng.integers(0, 2048, 400), rng.integers(0, 2048, 400)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    routes = Router(deepseek, policy="spray").route(src, dst, np.arange(len(src)))
    assert np.bincount(routes.path_flow, routes.path_share) == pytest.approx(1.0, rel=1e-12)
    paths = np.bincount(routes.path_flow, minlength=len(src))
    same_leaf = (src // 8 == dst // 8) | (src // 256 == dst // 256)
    assert (paths[same_leaf] == 1).all()
    assert (paths[~same_leaf] == 32).all()


def test_spray_three_tier_cross_pod() -> None:
    """Across pods of the radix-8 three-tier tree: 4 uplinks x 4 core cables, 1/16 each."""
    fab = fabric("ft3-small")
    routes = route(fab, "n0/gpu0", "n4/gpu0", policy="spray")
    assert routes.path_share.tolist() == [1 / 16] * 16
    core_up = [int(i) for row in routes.path_links for i in links_of(row)
               if fab.link_tier[i] == 3 and fab.node_kind[fab.link_dst[i]] == NodeKind.CORE]
    assert len(set(core_up)) == 16
    src, dst = idx(fab, "n0/gpu0", "n4/gpu0")
    for row in routes.path_links:
        assert_chain(fab, links_of(row), src, dst)


def test_spray_avoids_failed_spine() -> None:
    """With p0/spine/1 failed, plane-0 flows spray 1/24 over the 24 live uplinks."""
    fab = fabric("deepseek-v3-2048", "switch=p0/spine/1")
    spine = fab.node_index("p0/spine/1")
    routes = route(fab, "n0/gpu0", "n32/gpu0", policy="spray")
    assert routes.path_share.tolist() == [1 / 24] * 24
    up, _ = tier2(fab, routes)
    live = [u for u in fab.up[0, 0].tolist() if fab.link_dst[u] != spine]
    assert sorted(up.tolist()) == sorted(live)
    for row in routes.path_links:
        assert not touches(fab, links_of(row), spine)
    # other planes keep all 32 uplinks
    assert len(route(fab, "n0/gpu1", "n32/gpu1", policy="spray").path_flow) == 32


# -- 6. adaptive ---------------------------------------------------------------------------

def test_adaptive_batch_spreads_over_uplinks(deepseek: Fabric) -> None:
    """32 flows routed in one call onto idle links take 32 distinct uplinks (and down cables),
    and link_flows counts each once."""
    src = np.arange(32) * 8  # gpu0 of n0..n31 (leaf 0, plane 0)
    dst = src + 256  # gpu0 of n32..n63 (leaf 1)
    link_flows = np.zeros(deepseek.n_links)
    routes = Router(deepseek, policy="adaptive").route(src, dst, np.arange(32),
                                                       link_flows=link_flows)
    up, down = tier2(deepseek, routes)
    per_uplink = Counter(up.tolist())
    assert len(per_uplink) == 32, f"{32 - len(per_uplink)} idle uplinks, loads {per_uplink}"
    assert len(set(down.tolist())) == 32
    assert link_flows[deepseek.up[0, 0]].tolist() == [1.0] * 32
    assert link_flows[deepseek.down[0, 1]].tolist() == [1.0] * 32


def test_adaptive_sees_earlier_calls(deepseek: Fabric) -> None:
    """Flows routed one call at a time with a shared link_flows avoid each other's links."""
    link_flows = np.zeros(deepseek.n_links)
    router = Router(deepseek, policy="adaptive")
    ups = []
    for k in range(32):
        routes = router.route(np.array([8 * k]), np.array([8 * k + 256]), np.array([k]),
                              link_flows=link_flows)
        ups.append(int(tier2(deepseek, routes)[0][0]))
    assert sorted(ups) == sorted(deepseek.up[0, 0].tolist())
    assert link_flows[deepseek.up[0, 0]].tolist() == [1.0] * 32
    assert link_flows.sum() == 64  # an uplink and a down cable per flow


def test_adaptive_picks_least_loaded(deepseek: Fabric) -> None:
    """With every uplink but one already carrying flows, a new flow takes the idle one."""
    link_flows = np.zeros(deepseek.n_links)
    link_flows[deepseek.up[0, 0]] = 3.0
    idle = int(deepseek.up[0, 0, 17])
    link_flows[idle] = 0.0
    routes = Router(deepseek, policy="adaptive").route(np.array([0]), np.array([256]),
                                                       np.array([0]), link_flows=link_flows)
    assert tier2(deepseek, routes)[0].tolist() == [idle]
    assert link_flows[idle] == 1.0


# -- 7. multi-plane NICs -------------------------------------------------------------------

def test_multi_plane_nic_splits_evenly() -> None:
    """A multi-plane NIC sends half of a transfer through each plane, with no NVLink hop."""
    fab = fabric("mp-nic")
    result = one_flow(fab, "n0/gpu1", "n5/gpu2", size=1e6)
    fl = result.flow_table
    assert fl.paths.share.tolist() == [0.5, 0.5]
    src, dst = idx(fab, "n0/gpu1", "n5/gpu2")
    planes = set()
    for p in range(2):
        links = fl.paths.links[fl.paths.link_ptr[p]:fl.paths.link_ptr[p + 1]]
        assert_hops(fab, links, ["n0/gpu1>n0/nic1", "n0/nic1>p?/leaf/0", "p?/leaf/0>p?/spine/*",
                                 "p?/spine/*>p?/leaf/5", "p?/leaf/5>n5/nic2", "n5/nic2>n5/gpu2"])
        assert_chain(fab, links, src, dst)
        assert not (fab.link_kind[links] == LinkKind.NVLINK).any()
        planes |= set(fab.link_plane[links[1:-1]].tolist())
    assert planes == {0, 1}
    # each 25 GB/s port carries half: together the NIC's 50 GB/s
    assert fl.latency_s[0] == pytest.approx(3.7e-6, rel=1e-12)
    assert fl.end_s[0] == pytest.approx(3.7e-6 + 1e6 / NIC_Bps, rel=1e-9)


def test_multi_plane_nic_every_pair_splits() -> None:
    """Every inter-server transfer on multi-plane NICs has one half-share path per plane."""
    fab = fabric("mp-nic")
    rng = np.random.default_rng(5)
    src, dst = rng.integers(0, fab.n_gpus, 300), rng.integers(0, fab.n_gpus, 300)
    inter = np.flatnonzero(src // 4 != dst // 4)
    routes = Router(fab).route(src[inter], dst[inter], np.arange(len(inter)))
    assert (np.bincount(routes.path_flow) == 2).all()
    assert (routes.path_share == 0.5).all()
    valid = routes.path_links >= 0
    assert not (fab.link_kind[routes.path_links[valid]] == LinkKind.NVLINK).any()


# -- 8. failures ---------------------------------------------------------------------------

@pytest.mark.parametrize("cross_plane", ["source", "destination"])
def test_failed_plane_forwards_at_both_ends(cross_plane: str) -> None:
    """Plane 3 down: n0/gpu3 -> n40/gpu3 forwards over NVLink at both ends through a live
    plane, costing 3.7us + 2 x 3.33us."""
    fab = fabric("deepseek-v3-2048", "plane=3")
    result = one_flow(fab, "n0/gpu3", "n40/gpu3", cross_plane=cross_plane)
    links = flow_links(result)
    assert fab.link_alive[links].all()
    assert not (fab.link_plane[links] == 3).any()
    plane = int(fab.link_plane[links[4]])
    assert_hops(fab, links, [
        "n0/gpu3>n0/nvswitch", f"n0/nvswitch>n0/gpu{plane}", f"n0/gpu{plane}>n0/nic{plane}",
        f"n0/nic{plane}>p{plane}/leaf/0", f"p{plane}/leaf/0>p{plane}/spine/*",
        f"p{plane}/spine/*>p{plane}/leaf/1", f"p{plane}/leaf/1>n40/nic{plane}",
        f"n40/nic{plane}>n40/gpu{plane}", f"n40/gpu{plane}>n40/nvswitch",
        "n40/nvswitch>n40/gpu3"])
    assert result.flow_table.latency_s[0] == pytest.approx(3.7e-6 + 2 * NVLINK_S, rel=1e-12)


def test_failed_spine_never_used_by_ecmp() -> None:
    """ECMP never hashes a flow onto a failed spine."""
    fab = fabric("deepseek-v3-2048", "switch=p0/spine/1")
    spine = fab.node_index("p0/spine/1")
    rng = np.random.default_rng(11)
    a = rng.integers(0, 256, 4000)
    b = rng.integers(0, 256, 4000)
    keep = np.flatnonzero(a // 32 != b // 32)[:2000]  # cross-leaf server pairs
    assert len(keep) == 2000
    src, dst = a[keep] * 8, b[keep] * 8  # gpu0: plane 0
    routes = Router(fab).route(src, dst, np.arange(2000))
    links = routes.path_links[routes.path_links >= 0]
    assert not touches(fab, links, spine)
    assert fab.link_alive[links].all()
    up, _ = tier2(fab, routes)
    assert set(fab.link_dst[up].tolist()) == set(idx(fab, "p0/spine/0", "p0/spine/2",
                                                     "p0/spine/3").tolist())


@pytest.mark.parametrize(("dst", "patterns", "latency_s"), [
    pytest.param("n6/gpu3", ["n5/gpu2>n5/nvswitch", "n5/nvswitch>n5/gpu3", "n5/gpu3>n5/nic3",
                             "n5/nic3>p3/leaf/0", "p3/leaf/0>n6/nic3", "n6/nic3>n6/gpu3"],
                 2.8e-6 + NVLINK_S, id="cross-plane"),
    pytest.param("n6/gpu2", ["n5/gpu2>n5/nvswitch", "n5/nvswitch>n5/gpu?", "n5/gpu?>n5/nic?",
                             "n5/nic?>p?/leaf/0", "p?/leaf/0>n6/nic?", "n6/nic?>n6/gpu?",
                             "n6/gpu?>n6/nvswitch", "n6/nvswitch>n6/gpu2"],
                 2.8e-6 + 2 * NVLINK_S, id="same-plane"),
])
def test_failed_nic_forwards_over_nvlink(dst: str, patterns: list[str],
                                         latency_s: float) -> None:
    """n5/nic2 down: n5/gpu2 sends through another GPU's NIC, reached over NVLink."""
    fab = fabric("deepseek-v3-2048", "nic=n5/nic2")
    routes = route(fab, "n5/gpu2", dst)
    links = links_of(routes.path_links[0])
    assert_hops(fab, links, patterns)
    assert_chain(fab, links, *idx(fab, "n5/gpu2", dst))
    assert not touches(fab, links, fab.node_index("n5/nic2"))
    assert fab.link_alive[links].all()
    assert routes.latency_s[0] == pytest.approx(latency_s, rel=1e-12)
    # and traffic towards n5/gpu2 avoids the dead NIC too
    back = links_of(route(fab, "n6/gpu2", "n5/gpu2").path_links[0])
    assert not touches(fab, back, fab.node_index("n5/nic2"))


@pytest.mark.parametrize(("src", "dst", "cross_plane"), [
    pytest.param("n0/gpu3", "n40/gpu1", "source", id="forward-from-failed-source"),
    pytest.param("n40/gpu1", "n0/gpu3", "destination", id="forward-to-failed-destination"),
])
def test_failed_nvlink_is_never_crossed(src: str, dst: str, cross_plane: str) -> None:
    """With n0/gpu3's NVLink cut, its cross-plane flows go through its own NIC (plane 3)
    instead of forwarding over the dead NVLink."""
    fab = fabric("deepseek-v3-2048", "link=n0/gpu3 - n0/nvswitch")
    routes = route(fab, src, dst, cross_plane=cross_plane)
    links = links_of(routes.path_links[0])
    assert_chain(fab, links, *idx(fab, src, dst))
    dead = [h for h, ok in zip(hops(fab, links), fab.link_alive[links], strict=True) if not ok]
    assert dead == [], f"routed over failed links {dead}: {hops(fab, links)}"
    # a live path exists: plane 3 through n0/nic3, forwarding on n40's side
    assert set(fab.link_plane[links[fab.link_plane[links] >= 0]].tolist()) == {3}


@pytest.mark.parametrize(("design", "fails", "dst"), [
    pytest.param("tiny-mpft", ("plane=0", "plane=1"), "n1/gpu0", id="all-planes-down"),
    pytest.param("ft-one-spine", ("switch=p0/spine/0",), "n2/gpu0", id="only-spine-down"),
])
def test_no_path_raises(design: str, fails: tuple[str, ...], dst: str) -> None:
    """A transfer with no live path raises RoutingError naming both endpoints (and the flow)."""
    fab = fabric(design, *fails)
    with pytest.raises(RoutingError, match=f"^no path from n0/gpu0 to {dst}: "):
        route(fab, "n0/gpu0", dst)
    router = Router(fab)
    with pytest.raises(RoutingError, match=f"^flow 7: no path from n0/gpu0 to {dst}: "):
        router.route(idx(fab, "n0/gpu0"), idx(fab, dst), np.array([7]), names=["flow 7"])


def test_cut_leaves_still_route_locally() -> None:
    """With the only spine down, servers on one leaf still reach each other."""
    fab = fabric("ft-one-spine", "switch=p0/spine/0")
    links = links_of(route(fab, "n0/gpu0", "n1/gpu0").path_links[0])
    assert hops(fab, links) == ["n0/gpu0>n0/nic0", "n0/nic0>p0/leaf/0", "p0/leaf/0>n1/nic0",
                                "n1/nic0>n1/gpu0"]


PROPERTY_CASES = [
    ("deepseek-v3-2048", ()),
    ("deepseek-v3-2048", ("switch=p0/spine/1",)),
    ("deepseek-v3-2048", ("link=p2/leaf/3 - p2/spine/2",)),
    ("deepseek-v3-2048", ("plane=3",)),
    ("deepseek-v3-2048", ("nic=n5/nic2", "link=n7/nic3 - p3/leaf/0")),
    ("deepseek-v3-2048", ("link=n0/gpu3 - n0/nic3",)),
    ("mrft-2048", ("switch=p0/spine/0", "switch=p0/leaf/3")),
    ("ft2-2048", ("switch=p0/spine/5", "nic=n3/nic1")),
    ("ft3-small", ()),
    ("ft3-small", ("switch=p0/core/0", "switch=p0/core/1")),
    ("ft3-small", ("switch=p0/spine/4", "link=p0/leaf/0 - p0/spine/0")),
    ("mp-nic", ("link=n0/nic1 - p1/leaf/0",)),
]


@pytest.mark.parametrize("policy", ["ecmp", "adaptive", "spray"])
@pytest.mark.parametrize(("design", "fails"), PROPERTY_CASES,
                         ids=[f"{d}[{','.join(f)}]" for d, f in PROPERTY_CASES])
def test_paths_are_live_chains(design: str, fails: tuple[str, ...], policy: str) -> None:
    """Random transfers get live, connected paths from source to destination GPU whose shares
    sum to 1 and whose latency is endpoint + links + NVLink per forward."""
    fab = fabric(design, *fails)
    rng = np.random.default_rng(2)
    src, dst = rng.integers(0, fab.n_gpus, 400), rng.integers(0, fab.n_gpus, 400)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    routes = Router(fab, policy=policy).route(src, dst, np.arange(len(src)),
                                              link_flows=np.zeros(fab.n_links))
    assert np.bincount(routes.path_flow, routes.path_share,
                       minlength=len(src)) == pytest.approx(1.0, rel=1e-12)
    g = fab.gpus_per_node
    lat = fab.spec.fabric.latency
    worst = np.zeros(len(src))
    for f, row in zip(routes.path_flow, routes.path_links, strict=True):
        links = links_of(row)
        assert fab.link_alive[links].all(), hops(fab, links)
        assert_chain(fab, links, src[f], dst[f])
        nvl = int((fab.link_kind[links] == LinkKind.NVLINK).sum())
        if src[f] // g == dst[f] // g:
            path_s = NVLINK_S
        else:
            path_s = lat.endpoint + fab.latency_s[links].sum() + NVLINK_S * nvl / 2
        worst[f] = max(worst[f], path_s)
    assert routes.latency_s == pytest.approx(worst, rel=1e-12)


# -- 8e. failures through the CLI ----------------------------------------------------------

def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def link_ids(text: str) -> list[int]:
    """Link ids of a flows.csv ``links`` cell (single path or ``share:ids|...``)."""
    return [int(x) for part in text.split("|") for x in part.split(":")[-1].split()]


def test_cli_fail_plane(run_cli: Run, tmp_path: Path) -> None:
    """--fail plane=1 runs and no flow crosses a plane-1 link, which links.csv marks dead."""
    out = tmp_path / "out"
    code, _, err = run_cli("simulate", TOPOLOGIES / "deepseek-v3-2048.yaml", EXAMPLE,
                           "--fail", "plane=1", "-o", out, "-q")
    assert code == 0, err
    links = read_csv(out / "links.csv")
    plane = {int(r["id"]): int(r["plane"] or -1) for r in links}
    alive = {int(r["id"]): r["alive"] == "true" for r in links}
    assert {alive[i] for i in plane if plane[i] == 1} == {False}
    assert all(alive[i] for i in plane if plane[i] != 1)
    flows = read_csv(out / "flows.csv")
    assert len(flows) == 6
    used = [i for row in flows for i in link_ids(row["links"])]
    assert used and all(plane[i] != 1 for i in used) and all(alive[i] for i in used)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["info"]["failures"] == ["plane=1"]
    assert summary["by_plane"]["1"]["bytes"] == 0.0


def test_cli_fail_unknown_plane(run_cli: Run, tmp_path: Path) -> None:
    """--fail plane=9 on an 8-plane design: exit 1, an Error line naming it, nothing written."""
    out = tmp_path / "out"
    code, stdout, err = run_cli("simulate", TOPOLOGIES / "deepseek-v3-2048.yaml", EXAMPLE,
                                "--fail", "plane=9", "-o", out, "-q")
    assert code == 1 and stdout == ""
    assert err.startswith("Error: --fail plane=9: ")
    assert "no such plane: the fabric has 8, got 9" in err
    assert not out.exists() or not any(out.iterdir())
    assert not list(tmp_path.glob(".out.staging.*"))


# -- 9. determinism ------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["ecmp", "adaptive", "spray"])
def test_simulate_is_deterministic(run_cli: Run, tmp_path: Path, policy: str) -> None:
    """Two identical simulate runs write byte-identical flows.csv, links.csv, summary.json."""
    for name in ("a", "b"):
        code, _, err = run_cli("simulate", TOPOLOGIES / "deepseek-v3-2048.yaml", EXAMPLE,
                               "--routing", policy, "--seed", "3", "-o", tmp_path / name, "-q")
        assert code == 0, err
    for file in ("flows.csv", "links.csv", "summary.json", "report.md", "report.html"):
        assert run_file_bytes(tmp_path / "a", file) == run_file_bytes(tmp_path / "b", file)


@pytest.mark.parametrize("policy", ["ecmp", "spray"])
def test_taken_routes_hand_on_their_entries(policy: str) -> None:
    """take() filters the entries already derived (incidence, links, merged entries)
    instead of computing them again: what it hands on equals what the taken routes compute
    themselves, for flows taken in order and out of order, cross-plane and same-server
    pairs included."""
    fab = fabric("tiny-mpft")
    rng = np.random.default_rng(7)
    n = 40
    src, dst = rng.integers(0, fab.n_gpus, n), rng.integers(0, fab.n_gpus, n)
    routes = Router(fab, policy=policy).route(src, dst, np.arange(n))
    fresh = dataclasses.replace  # a copy of the path arrays without derived entries
    for flows in (np.sort(rng.choice(n, 25, replace=False)), rng.permutation(n)[:25],
                  np.arange(n), np.zeros(0, dtype=np.int64)):
        parent = fresh(routes)
        parent.incidence(), parent.links(), parent.entries()
        handed, own = parent.take(flows), fresh(routes).take(flows)
        assert handed._incidence is not None and handed._links is not None
        for mine, theirs in ((handed.incidence(), own.incidence()),
                             (handed.links(), own.links()),
                             (handed.entries(), own.entries())):
            assert all(np.array_equal(a, b) and a.dtype == b.dtype
                       for a, b in zip(mine, theirs, strict=True))
            assert not any(a.flags.writeable for a in mine)
