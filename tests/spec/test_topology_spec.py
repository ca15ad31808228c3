"""Topology YAML is validated once, with file, key path and bad value in every message."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from mpft_sim.errors import SpecError
from mpft_sim.spec.topology import FabricSpec, NodeSpec, SwitchSpec, TopologySpec, load_topology
from tests.conftest import DATA

BAD = DATA / "bad"

# One fixture per failure mode, with the whole message the CLI prints after "Error: <file>: ".
CASES = {
    "unknown_key": "fabric.switch.radx: unknown key (did you mean 'radix'?)",
    "bad_kind": "fabric.kind: must be one of 'fat-tree', 'multi-plane-fat-tree', "
    "'multi-rail-fat-tree', 'slim-fly', 'dragonfly' (did you mean 'multi-plane-fat-tree'?), "
    "got 'multi-plane-fat-tre'",
    "bad_unit": "fabric.switch.port_bandwidth: unknown bandwidth unit 'Gbits' (try '400Gb/s'), "
    "got '400Gbits'",
    "missing_unit": "fabric.switch.port_bandwidth: a bandwidth needs a unit, such as "
    "'400Gb/s', got 400",
    "negative_bandwidth": "fabric.switch.port_bandwidth: must be positive, got '-400Gb/s'",
    "zero_nodes": "fabric.nodes: must be at least 1, got 0",
    "nodes_not_a_number": "fabric.nodes: expected a whole number, got 'many'",
    "radix_cannot_split": "fabric.oversubscription: switch radix 8 cannot split 2:1 into down "
    "and up ports, got '2:1'",
    "bad_ratio": "fabric.oversubscription: expected a down:up port ratio such as '1:1' or "
    "'3:1', got '2to1'",
    "too_many_nodes": "fabric.nodes: more nodes than a two-tier fat-tree of radix 8 holds per "
    "plane (at most 32: 8 leaves of 4 down ports), got 40",
    "planes_not_nics": "fabric.planes: must equal the 8 NICs per node (NIC i sits in plane i), "
    "got 4",
    "missing_kind": "fabric.kind: missing required key",
    "efficiency_above_one": "node.nvlink.efficiency: must be at most 1, got 1.5",
    "nics_not_dividing_gpus": "node.nics: must divide the 8 GPUs per node, got 3",
    "four_tiers": "fabric.tiers: must be at most 3, got 4",
    "key_for_other_kind": "fabric.q: applies only to kind slim-fly, not multi-plane-fat-tree, "
    "got 28",
    "planes_on_single_plane": "fabric.planes: a fat-tree has one plane; use kind "
    "multi-plane-fat-tree, got 8",
    "failure_unknown_switch": "failures[0].switch: no plane 9: the fabric has 8, "
    "got 'p9/spine/0'",
    "failure_plane_out_of_range": "failures[0].plane: no such plane: the fabric has 8, got 8",
    "failure_two_keys": "failures[0]: give exactly one of plane, switch, nic, link, "
    "got 'plane, switch'",
    "failure_no_cable": "failures[0].link: no cable between p0/leaf/0 and p1/spine/0, "
    "got 'p0/leaf/0 - p1/spine/0'",
    "failure_nic_not_a_nic": "failures[0].nic: not a nic, got 'p0/leaf/0'",
    "bad_routing_policy": "routing.policy: must be one of 'ecmp', 'adaptive', 'spray' (did you "
    "mean 'ecmp'?), got 'ecmpp'",
    "bad_latency": "fabric.latency.switch: unknown time unit 'parsecs' (try '1.2us'), "
    "got '5 parsecs'",
    "slimfly_bad_q": "fabric.q: must be 4w + d with d in {-1, 0, 1} (q = 2 mod 4 has no MMS "
    "graph), got 30",
    "slimfly_radix_too_small": "fabric.switch.radix: too small: the design needs 63 ports per "
    "switch (42 network + 21 endpoint ports), got 48",
    "dragonfly_too_many_groups": "fabric.groups: too many groups: 32 switches with 16 global "
    "ports each reach at most 513 groups, got 600",
    "invalid_yaml": "line 3, column 1: invalid YAML: expected ',' or ']', but got "
    "'<stream end>'",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_topology_message(case: str) -> None:
    """Each failure mode raises SpecError naming the file, the key path and the bad value."""
    path = BAD / f"{case}.yaml"
    with pytest.raises(SpecError) as info:
        load_topology(path)
    assert str(info.value) == f"{path}: {CASES[case]}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_topology_cli(case: str, run_cli: Callable[..., tuple[int, str, str]]) -> None:
    """The CLI prints one Error line, no traceback, and exits 1."""
    code, out, err = run_cli("validate", BAD / f"{case}.yaml")
    assert code == 1
    assert out == ""
    assert err == f"Error: {BAD / f'{case}.yaml'}: {CASES[case]}\n"
    assert "Traceback" not in err


def test_every_fixture_is_covered() -> None:
    """No fixture file under tests/data/bad is left without an asserted message."""
    topology_fixtures = {p.stem for p in BAD.glob("*.yaml")} - {
        "not_a_mapping", "prices_negative", "prices_unknown_key"}
    assert topology_fixtures == set(CASES)


def test_missing_file() -> None:
    """A path that does not exist is a SpecError, not an OSError."""
    with pytest.raises(SpecError, match="file not found"):
        load_topology(BAD / "no-such-file.yaml")


def test_spec_built_in_code_is_validated() -> None:
    """Bounds and cross-field rules hold for specs built in code, too."""
    fabric = FabricSpec(kind="multi-plane-fat-tree", planes=8, nodes=16,
                        switch=SwitchSpec(radix=8, port_bandwidth_Bps=50e9))
    spec = TopologySpec(name="code", fabric=fabric)
    assert spec.node.nics == 8
    with pytest.raises(SpecError, match="must equal the 8 NICs"):
        dataclasses.replace(spec, fabric=dataclasses.replace(fabric, planes=4))
    with pytest.raises(SpecError, match="must be positive"):
        SwitchSpec(radix=8, port_bandwidth_Bps=0.0)
    with pytest.raises(SpecError, match="must divide"):
        NodeSpec(gpus=8, nics=3)


def test_ratio_as_number() -> None:
    """An oversubscription written as a bare number means number:1."""
    from mpft_sim.spec.loading import load_spec

    data = {"kind": "fat-tree", "nodes": 4, "oversubscription": 3,
            "switch": {"radix": 8, "port_bandwidth": "400Gb/s"}}
    fab = load_spec(FabricSpec, data)
    assert fab.oversubscription == (3, 1)
    assert fab.down_up == (6, 2)


# 2**21 servers of 8 GPUs on a radix-1024 three-tier tree: 16.8M GPUs, some 10**8 links, far
# more than a test can build
HUGE = TopologySpec(name="huge", node=NodeSpec(gpus=8, nics=8),
                    fabric=FabricSpec(kind="fat-tree", tiers=3, nodes=2**21,
                                      switch=SwitchSpec(radix=1024)))


@pytest.fixture
def no_building(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a fabric fails the test."""
    def refuse(spec: TopologySpec) -> None:
        raise AssertionError(f"validation built {spec.name}")

    monkeypatch.setattr("mpft_sim.topology.build.build_fabric", refuse)


@pytest.mark.usefixtures("no_building")
def test_failures_validate_without_building() -> None:
    """Failures naming a switch, a NIC and a cable of a 16.8M-GPU design resolve by name from
    the node numbering, without building the fabric."""
    from mpft_sim.spec.topology import FailureSpec

    failures = (FailureSpec(switch="p0/core/16383"), FailureSpec(nic="n2097151/nic7"),
                FailureSpec(link="p0/leaf/32767 - p0/spine/32767"),
                FailureSpec(link="p0/spine/511 - p0/core/16383"),
                FailureSpec(link="n5/gpu3 - n5/nic3"))
    spec = dataclasses.replace(HUGE, failures=failures)
    assert spec.failures == failures


@pytest.mark.usefixtures("no_building")
@pytest.mark.parametrize(("failure", "message"), [
    ({"link": "p0/leaf/0 - p0/spine/512"},
     "failures[0].link: no cable between p0/leaf/0 and p0/spine/512, "
     "got 'p0/leaf/0 - p0/spine/512'"),
    ({"link": "p0/spine/0 - p0/core/512"},
     "failures[0].link: no cable between p0/spine/0 and p0/core/512, "
     "got 'p0/spine/0 - p0/core/512'"),
    ({"link": "n0/gpu0 - n0/nic1"},
     "failures[0].link: no cable between n0/gpu0 and n0/nic1, got 'n0/gpu0 - n0/nic1'"),
    ({"switch": "p0/core/16384"},
     "failures[0].switch: no core 16384: a plane has 16384, got 'p0/core/16384'"),
    ({"nic": "n2097152/nic0"},
     "failures[0].nic: no server 2097152: the fabric has 2097152, got 'n2097152/nic0'"),
    ({"switch": "n0/nic0"}, "failures[0].switch: not a switch, got 'n0/nic0'"),
    ({"link": "p0/leaf/0"}, "failures[0].link: expected two node names joined by ' - ', "
                            "got 'p0/leaf/0'"),
])
def test_wrong_failure_names_are_refused_without_building(failure: dict[str, str],
                                                          message: str) -> None:
    """A name that is not in the design, or a link without a cable, is refused with the
    message a built fabric gave, without building."""
    from mpft_sim.spec.loading import load_spec

    data = {"name": "huge", "node": {"gpus": 8, "nics": 8},
            "fabric": {"kind": "fat-tree", "tiers": 3, "nodes": 2**21,
                       "switch": {"radix": 1024}},
            "failures": [failure]}
    with pytest.raises(SpecError) as info:
        load_spec(TopologySpec, data)
    assert str(info.value) == message


@pytest.mark.usefixtures("no_building")
def test_validate_a_huge_design_with_failures(run_cli: Callable[..., tuple[int, str, str]],
                                              tmp_path: Path) -> None:
    """`mpft-sim validate` of a 16.8M-GPU design whose failures name a switch and a cable
    answers at once, without building it."""
    import yaml

    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump({
        "name": "huge", "node": {"gpus": 8, "nics": 8},
        "fabric": {"kind": "fat-tree", "tiers": 3, "nodes": 2**21, "switch": {"radix": 1024}},
        "failures": [{"switch": "p0/spine/7"}, {"link": "n9/nic1 - p0/leaf/0"}]}))
    assert run_cli("validate", path) == (0, f"ok: {path} (topology 'huge')\n", "")
