"""The analytic network model: each batch of flows takes its busiest link's bytes over
capacity plus its latency, batches do not see each other, and where every flow of a phase is
held by equally loaded links it agrees with the fluid model."""

from __future__ import annotations

import numpy as np
import pytest

from mpft_sim.engine import simulate
from mpft_sim.results import FlowTable, Result
from mpft_sim.spec.topology import load_topology
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.flows import FlowList
from tests.conftest import TOPOLOGIES, flow_list, no_overhead
from tests.topology.conftest import tree_spec

NIC_Bps = 50e9  # every NIC-leaf and leaf-spine link
PCIE_Bps = 64e9  # GPU to NIC
SAME_LEAF_S = 2.8e-6  # InfiniBand, ISCA25 Table 5
CROSS_LEAF_S = 3.7e-6


@pytest.fixture(scope="module")
def small() -> Fabric:
    """4 servers of 1 GPU on a radix-4 tree: GPUs 0, 1 on leaf 0 and 2, 3 on leaf 1, the two
    leaves joined to one spine by 2 cables each; line rate, no acknowledgement (the closed
    forms below leave the transport overhead out)."""
    return build_fabric(no_overhead(tree_spec(nodes=4, radix=4)))


def flows_of(result: Result) -> FlowTable:
    """A replay's flow table (a flow list always has one)."""
    assert result.flow_table is not None
    return result.flow_table


def link(fabric: Fabric, src: str, dst: str) -> int:
    """The directed link from node ``src`` to node ``dst`` (the first, if parallel)."""
    return int(fabric.links_between(fabric.node_index(src), fabric.node_index(dst))[0])


@pytest.mark.parametrize(("dst", "latency_s"), [(1, SAME_LEAF_S), (2, CROSS_LEAF_S)])
@pytest.mark.parametrize("size", [1e6, 5e6])
def test_one_flow_is_size_over_bandwidth_plus_latency(small: Fabric, dst: int,
                                                      latency_s: float, size: float) -> None:
    """A flow alone ends at size / NIC bandwidth plus its path's latency."""
    result = simulate(small, flow_list([0], [dst], [size], [0.0]), "analytic")
    assert flows_of(result).served_s.tolist() == pytest.approx([size / NIC_Bps], rel=1e-12)
    assert flows_of(result).end_s.tolist() == pytest.approx([size / NIC_Bps + latency_s],
                                                             rel=1e-12)


def test_a_batch_shares_its_busiest_link(small: Fabric) -> None:
    """Two flows of 1 and 2 MB leaving one NIC together are both charged the NIC's 3 MB."""
    result = simulate(small, flow_list([0, 0], [1, 2], [1e6, 2e6], [0.0, 0.0]), "analytic")
    assert flows_of(result).served_s.tolist() == pytest.approx([3e6 / NIC_Bps] * 2, rel=1e-12)
    assert flows_of(result).end_s.tolist() == pytest.approx(
        [3e6 / NIC_Bps + SAME_LEAF_S, 3e6 / NIC_Bps + CROSS_LEAF_S], rel=1e-12)


def test_a_flow_is_charged_a_shared_link_it_does_not_fill(small: Fabric) -> None:
    """Sprayed flows of 3 and 1 MB from GPUs 0 and 1 to leaf 1 put 2 MB on each uplink: the
    3 MB flow is held by its NIC (60 us), the 1 MB one by the uplinks (40 us), although alone
    on its NIC it would take 20 us (as it does in the fluid model)."""
    flows = flow_list([0, 1], [2, 3], [3e6, 1e6], [0.0, 0.0])
    analytic = simulate(small, flows, "analytic", routing="spray")
    fluid = simulate(small, flows, "fluid", routing="spray")
    assert flows_of(analytic).served_s.tolist() == pytest.approx([60e-6, 40e-6], rel=1e-12)
    assert flows_of(fluid).served_s.tolist() == pytest.approx([60e-6, 20e-6], rel=1e-12)


def test_batches_do_not_see_each_other(small: Fabric) -> None:
    """2 MB flows from GPU 0 released at 0 and 10 us each take 40 us in the analytic model;
    the fluid model shares the NIC while both run (70 us and 80 us)."""
    flows = flow_list([0, 0], [1, 2], [2e6, 2e6], [0.0, 10e-6])
    analytic = simulate(small, flows, "analytic")
    fluid = simulate(small, flows, "fluid")
    assert flows_of(analytic).served_s.tolist() == pytest.approx([40e-6, 50e-6], rel=1e-12)
    assert flows_of(fluid).served_s.tolist() == pytest.approx([70e-6, 80e-6], rel=1e-12)


def test_an_empty_flow_takes_only_latency(small: Fabric) -> None:
    """A zero-byte flow in a batch is served at once and ends after its latency; the other
    flow of the batch is unaffected."""
    result = simulate(small, flow_list([0, 1], [2, 3], [0.0, 1e6], [5e-6, 5e-6]), "analytic")
    assert flows_of(result).served_s.tolist() == pytest.approx([5e-6, 5e-6 + 20e-6], rel=1e-12)
    assert flows_of(result).end_s[0] == pytest.approx(5e-6 + CROSS_LEAF_S, rel=1e-12)


def test_link_busy_time_is_bytes_over_capacity(small: Fabric) -> None:
    """A link is busy for each batch's bytes over its capacity, at full load all the while
    (busy = hot = saturated), and a used link peaks at 1; unused links stay idle."""
    result = simulate(small, flow_list([0, 0], [1, 2], [2e6, 2e6], [0.0, 10e-6]), "analytic")
    links = result.link_table
    nic = link(small, "n0/nic0", "p0/leaf/0")
    pcie = link(small, "n0/gpu0", "n0/nic0")
    idle = link(small, "n3/nic0", "p0/leaf/1")
    assert links.busy_s[nic] == pytest.approx(4e6 / NIC_Bps, rel=1e-12)
    assert links.busy_s[pcie] == pytest.approx(4e6 / PCIE_Bps, rel=1e-12)
    for table in (links.hot_s, links.saturated_s):
        assert table[[nic, pcie]].tolist() == links.busy_s[[nic, pcie]].tolist()
    assert (links.peak_util[nic], links.peak_util[pcie], links.peak_util[idle]) == (1.0, 1.0,
                                                                                    0.0)
    assert (links.busy_s[idle], links.bytes[idle]) == (0.0, 0.0)
    assert links.bytes[nic] == 4e6


def test_same_inputs_same_times(small: Fabric) -> None:
    """The analytic model is deterministic: a rerun gives identical records."""
    flows = flow_list([0, 1, 2, 3], [2, 3, 0, 1], [1e6, 2e6, 3e6, 4e6], [0.0, 0.0, 1e-6, 1e-6])
    a, b = simulate(small, flows, "analytic"), simulate(small, flows, "analytic")
    assert np.array_equal(flows_of(a).end_s, flows_of(b).end_s)
    assert np.array_equal(a.link_table.busy_s, b.link_table.busy_s)


class TestAnalyticAgreement:
    """Where every flow of a phase is held by equally loaded links, the models agree (the
    closed forms at line rate: transport overhead pinned off)."""

    fabric = build_fabric(no_overhead(load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml")))

    def both(self, flows: FlowList, **kw: object) -> tuple[Result, Result]:
        return (simulate(self.fabric, flows, "fluid", **kw),  # type: ignore[arg-type]
                simulate(self.fabric, flows, "analytic", **kw))  # type: ignore[arg-type]

    def test_uniform_permutation(self) -> None:
        """Each GPU sends 8 MB to the same-index GPU 32 servers on, sprayed (no ECMP
        collisions): both models give size / NIC bandwidth + latency for every flow."""
        src = np.arange(512)
        flows = flow_list(list(src), list((src + 256) % 1024), [8e6] * 512, [0.0] * 512)
        fluid, analytic = self.both(flows, routing="spray")
        assert fluid.flow_table.end_s == pytest.approx(analytic.flow_table.end_s, rel=1e-9)
        assert fluid.flow_table.end_s == pytest.approx(8e6 / 50e9 + 3.7e-6, rel=1e-9)

    def test_rail_all_to_all_with_spray(self) -> None:
        """An all-to-all among the same-index GPUs of 64 servers, sprayed: every NIC sends
        and receives 63 equal flows, so both models end together at 63 * size / 50 GB/s."""
        gpus = np.arange(64) * 8
        s, d = np.meshgrid(gpus, gpus, indexing="ij")
        keep = s != d
        flows = flow_list(list(s[keep]), list(d[keep]), [1e6] * int(keep.sum()),
                          [0.0] * int(keep.sum()))
        fluid, analytic = self.both(flows, routing="spray")
        assert fluid.makespan_s == pytest.approx(analytic.makespan_s, rel=1e-9)
        assert fluid.makespan_s == pytest.approx(63e6 / 50e9 + 3.7e-6, rel=1e-6)

    def test_ecmp_collisions_differ(self) -> None:
        """With ECMP the same permutation collides on uplinks; a flow sharing a link with one
        held elsewhere speeds up in the fluid model but not in the analytic one."""
        src = np.arange(512)
        flows = flow_list(list(src), list((src + 256) % 1024), [8e6] * 512, [0.0] * 512)
        fluid, analytic = self.both(flows)
        assert np.all(fluid.flow_table.end_s <= analytic.flow_table.end_s * (1 + 1e-9))
        assert fluid.makespan_s == pytest.approx(analytic.makespan_s, rel=1e-9)
        assert np.any(fluid.flow_table.end_s < analytic.flow_table.end_s * (1 - 1e-3))

    def test_where_they_differ(self) -> None:
        """Flows of 1 and 2 MB on one NIC: fluid lets the second speed up when the first ends
        (40 us, 60 us); analytic charges both the whole phase (60 us)."""
        flows = flow_list([0, 0], [8, 16], [1e6, 2e6], [0.0, 0.0])
        fluid, analytic = self.both(flows)
        serve = fluid.flow_table.served_s
        assert serve == pytest.approx([2e6 / 50e9, 3e6 / 50e9], rel=1e-9)
        assert analytic.flow_table.served_s == pytest.approx([3e6 / 50e9] * 2, rel=1e-9)
