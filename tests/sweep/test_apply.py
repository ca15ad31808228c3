"""Applying a sweep parameter to a point's raw mappings and run options."""

from __future__ import annotations

from typing import Any

import pytest

from mpft_sim.errors import SpecError
from mpft_sim.spec.run import RunOptions
from mpft_sim.sweep.apply import apply_param, set_path

OPTIONS = RunOptions(routing="ecmp", cross_plane="source", seed=3)

TOPOLOGY_EDITS: list[tuple[str, Any, dict[str, Any], dict[str, Any]]] = [
    ("nodes", 8, {}, {"fabric": {"nodes": 8}}),
    ("radix", 16, {"fabric": {"nodes": 4}}, {"fabric": {"nodes": 4, "switch": {"radix": 16}}}),
    ("oversubscription", "3:1", {}, {"fabric": {"oversubscription": "3:1"}}),
    ("planes", 4, {"node": {"nics": 2}}, {"node": {"nics": 4}, "fabric": {"planes": 4}}),
    ("planes", 4, {"node": {"nic": {"ports": 2}}},
     {"node": {"nic": {"ports": 4}}, "fabric": {"planes": 4}}),
    ("planes", 4, {"node": {"nic": {"ports": 1}}},
     {"node": {"nic": {"ports": 1}, "nics": 4}, "fabric": {"planes": 4}}),
    ("failures", ["plane=1", "switch=p0/spine/0", "link=a - b"], {"failures": [{"nic": "x"}]},
     {"failures": [{"plane": 1}, {"switch": "p0/spine/0"}, {"link": "a - b"}]}),
    ("failures", "nic=n1/nic0", {}, {"failures": [{"nic": "n1/nic0"}]}),
    ("failures", [], {"failures": [{"plane": 0}]}, {"failures": []}),
    ("topology.fabric.switch.port_bandwidth", "200Gb/s", {"fabric": {"kind": "fat-tree"}},
     {"fabric": {"kind": "fat-tree", "switch": {"port_bandwidth": "200Gb/s"}}}),
]


@pytest.mark.parametrize(("name", "value", "before", "after"), TOPOLOGY_EDITS,
                         ids=[f"{e[0]}={e[1]}" for e in TOPOLOGY_EDITS])
def test_topology_parameters_edit_the_raw_topology(name: str, value: Any,
                                                   before: dict[str, Any],
                                                   after: dict[str, Any]) -> None:
    """A topology parameter sets its keys in the raw mapping, creating missing mappings, and
    leaves the workload and the run options alone."""
    work: dict[str, Any] = {"kind": "training"}
    assert apply_param(name, value, before, work, OPTIONS) is OPTIONS
    assert before == after
    assert work == {"kind": "training"}


@pytest.mark.parametrize(("name", "cleared"), [("routing", "routing"),
                                               ("cross_plane", "cross_plane")])
def test_a_point_routing_replaces_the_runs_override(name: str, cleared: str) -> None:
    """Setting a topology's routing policy or forwarding drops the run's override of it, so
    the point's own value wins."""
    topo: dict[str, Any] = {}
    value = "spray" if name == "routing" else "destination"
    options = apply_param(name, value, topo, {}, OPTIONS)
    key = "policy" if name == "routing" else "cross_plane"
    assert topo == {"routing": {key: value}}
    assert getattr(options, cleared) is None
    assert options.seed == 3


WORKLOAD_EDITS: list[tuple[str, Any, dict[str, Any], dict[str, Any]]] = [
    ("tokens", 256, {"kind": "training"}, {"kind": "training", "batch": {"tokens": 256}}),
    ("tokens", 64, {"kind": "inference"}, {"kind": "inference", "tokens_per_gpu": 64}),
    ("micro_batches", 6, {"kind": "training", "batch": {"tokens": 8}},
     {"kind": "training", "batch": {"tokens": 8, "micro_batches": 6}}),
    ("micro_batches", 2, {"kind": "inference"}, {"kind": "inference", "micro_batches": 2}),
    ("ep", 32, {"kind": "training", "layout": {"dp": 16}},
     {"kind": "training", "layout": {"dp": 32, "ep": 32}}),
    ("ep", 8, {"kind": "training", "layout": {"dp": 16}},
     {"kind": "training", "layout": {"dp": 16, "ep": 8}}),
    ("ep", 4, {"kind": "inference"}, {"kind": "inference", "layout": {"ep": 4, "dp": 4}}),
    ("workload.jobs.1.layout.ep", 8, {"kind": "jobs", "jobs": [{}, {"layout": {"pp": 2}}]},
     {"kind": "jobs", "jobs": [{}, {"layout": {"pp": 2, "ep": 8}}]}),
]


@pytest.mark.parametrize(("name", "value", "before", "after"), WORKLOAD_EDITS,
                         ids=[f"{e[0]}={e[1]}-{e[2]['kind']}" for e in WORKLOAD_EDITS])
def test_workload_parameters_edit_the_raw_workload(name: str, value: Any,
                                                   before: dict[str, Any],
                                                   after: dict[str, Any]) -> None:
    """A workload parameter sets the key of its workload's kind; ``ep`` raises a smaller
    ``dp`` (default 1) to ``ep``; a dotted path indexes lists by number."""
    topo: dict[str, Any] = {}
    assert apply_param(name, value, topo, before, OPTIONS) is OPTIONS
    assert before == after
    assert topo == {}


@pytest.mark.parametrize(("name", "value", "field", "stored"), [
    ("model", "analytic", "model", "analytic"),
    ("seed", 7, "seed", 7),
    ("tolerance", 0.01, "tolerance", 0.01),
    ("tolerance", 0, "tolerance", 0.0),
])
def test_run_parameters_set_the_run_options(name: str, value: Any, field: str,
                                            stored: Any) -> None:
    """A run parameter returns new run options with it set, the mappings untouched."""
    topo: dict[str, Any] = {}
    work: dict[str, Any] = {}
    options = apply_param(name, value, topo, work, OPTIONS)
    assert getattr(options, field) == stored
    assert type(getattr(options, field)) is type(stored)
    assert (options.routing, options.cross_plane) == ("ecmp", "source")
    assert (topo, work) == ({}, {})


@pytest.mark.parametrize("name", ["topology", "workload"])
def test_file_parameters_are_the_callers(name: str) -> None:
    """The file parameters choose mappings; applied to them they change nothing."""
    topo: dict[str, Any] = {"a": 1}
    work: dict[str, Any] = {"b": 2}
    assert apply_param(name, "x.yaml", topo, work, OPTIONS) is OPTIONS
    assert (topo, work) == ({"a": 1}, {"b": 2})


MISFITS: list[tuple[str, Any, dict[str, Any], dict[str, Any], str]] = [
    ("nodes", 4, {"fabric": 3}, {}, "fabric: expected a mapping of keys, got 3"),
    ("workload.jobs.5.layout.ep", 4, {}, {"jobs": [{}]}, "jobs.5: the list has 1 entries"),
    ("workload.jobs.x.layout.ep", 4, {}, {"jobs": [{}]},
     "jobs: expected a mapping of keys, got [{}]"),
    ("tokens", 4, {}, {"kind": "flows"},
     "kind: the tokens parameter applies to training and inference workloads; use a dotted "
     "path such as workload.jobs.0.layout.ep, got 'flows'"),
    ("ep", 4, {}, {"kind": "jobs"}, "kind: the ep parameter applies to training and inference "
     "workloads; use a dotted path such as workload.jobs.0.layout.ep, got 'jobs'"),
    ("failures", ["plane=x"], {}, {}, "failures: a plane is a number, such as plane=3, "
     "got ['plane=x']"),
    ("tolerance", 1, {}, {}, "tolerance: must be below 1 (a relative time quantum), got 1.0"),
]


@pytest.mark.parametrize(("name", "value", "topo", "work", "message"), MISFITS,
                         ids=[m[0] for m in MISFITS])
def test_misfits_are_spec_errors(name: str, value: Any, topo: dict[str, Any],
                                 work: dict[str, Any], message: str) -> None:
    """A value where a mapping must be, a list index out of range, a parameter for another
    workload kind or an impossible run option is a SpecError naming the key."""
    with pytest.raises(SpecError) as err:
        apply_param(name, value, topo, work, OPTIONS)
    assert str(err.value) == message


def test_set_path_creates_mappings() -> None:
    """``set_path`` sets a nested key, creating the mappings on the way and keeping others."""
    root: dict[str, Any] = {"a": {"x": 1}}
    set_path(root, ("a", "b", "c"), 2)
    assert root == {"a": {"x": 1, "b": {"c": 2}}}
