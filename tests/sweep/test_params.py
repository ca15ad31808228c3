"""Sweep parameters: each named parameter edits the raw YAML mappings (or the run options) as
documented, dotted paths reach any key, values and paths are checked before a point runs,
and a misfit is a SpecError naming the key."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mpft_sim.sweep import load_sweep, point_specs
from mpft_sim.sweep.params import PARAMS, check_dotted, check_value, describe_params
from tests.conftest import SWEEPS, write_sweep

# -- through a loaded sweep: the validated specs of a point ----------------------------------

ALIASES: list[tuple[str, Any, Callable[[Any, Any, Any], Any], Any]] = [
    ("nodes", 8, lambda t, w, s: t.fabric.nodes, 8),
    ("planes", 4, lambda t, w, s: (t.fabric.planes, t.node.nics), (4, 4)),
    ("oversubscription", "3:1", lambda t, w, s: t.fabric.oversubscription, (3, 1)),
    ("radix", 8, lambda t, w, s: t.fabric.switch.radix, 8),
    ("routing", "spray", lambda t, w, s: t.routing.policy, "spray"),
    ("cross_plane", "source", lambda t, w, s: t.routing.cross_plane, "source"),
    ("failures", ["plane=1", "switch=p0/spine/0"],
     lambda t, w, s: [f.what for f in t.failures], ["plane=1", "switch=p0/spine/0"]),
    ("failures", [], lambda t, w, s: t.failures, ()),
    ("tokens", 32, lambda t, w, s: w.tokens_per_gpu, 32),
    ("micro_batches", 2, lambda t, w, s: w.micro_batches, 2),
    ("ep", 8, lambda t, w, s: (w.layout.ep, w.layout.dp), (8, 16)),
    ("ep", 32, lambda t, w, s: (w.layout.ep, w.layout.dp), (32, 32)),
    ("topology.fabric.switch.port_bandwidth", "200Gb/s",
     lambda t, w, s: t.fabric.switch.port_bandwidth_Bps, 25e9),
    ("workload.expert_load.samples", 2, lambda t, w, s: w.expert_load.samples, 2),
    ("model", "fluid", lambda t, w, s: s.model, "fluid"),
    ("seed", 7, lambda t, w, s: s.seed, 7),
    ("tolerance", 0.01, lambda t, w, s: s.tolerance, 0.01),
]


@pytest.mark.parametrize(("name", "value", "read", "expected"), ALIASES,
                         ids=[f"{a[0]}={a[1]}" for a in ALIASES])
def test_each_parameter_edits_the_right_keys(tmp_path: Path, name: str, value: Any,
                                             read: Callable[[Any, Any, Any], Any],
                                             expected: Any) -> None:
    """A parameter's value lands on the keys it documents, in the validated specs."""
    spec = load_sweep(write_sweep(tmp_path, {name: [value]}))
    topology, workload, settings = point_specs(spec, 0)
    assert read(topology, workload, settings) == expected


def test_training_aliases_edit_the_batch(tmp_path: Path) -> None:
    """For a training workload tokens and micro_batches set batch.tokens and
    batch.micro_batches."""
    path = write_sweep(tmp_path, {"tokens": [256], "micro_batches": [6]},
                       workload=str(SWEEPS / "train-small.yaml"))
    _, workload, _ = point_specs(load_sweep(path), 0)
    assert (workload.batch.tokens, workload.batch.micro_batches) == (256, 6)  # type: ignore[union-attr]


def test_planes_sets_ports_of_multi_port_nics(tmp_path: Path) -> None:
    """With multi-port NICs, planes sets the ports per NIC instead of the NIC count."""
    topo = tmp_path / "ports.yaml"
    topo.write_text(json.dumps({
        "name": "ports", "node": {"gpus": 4, "nics": 4, "nic": {"ports": 2}},
        "fabric": {"kind": "multi-plane-fat-tree", "planes": 2, "nodes": 4,
                   "switch": {"radix": 16}}}), encoding="utf-8")
    spec = load_sweep(write_sweep(tmp_path, {"planes": [4]}, topology=str(topo)))
    topology, _, _ = point_specs(spec, 0)
    assert (topology.fabric.planes, topology.node.nic.ports, topology.node.nics) == (4, 4, 4)


# -- checked before anything runs -----------------------------------------------------------------

BAD_VALUES = [
    ("nodes", 0, "expected a positive whole number"),
    ("nodes", True, "expected a positive whole number"),
    ("nodes", 2.0, "expected a positive whole number"),
    ("nodes", 10**7, "must be at most 2,097,152 (two million servers)"),
    ("radix", 2000, "must be at most 1,024 (the highest switch radix sold)"),
    ("micro_batches", 10**9, "must be at most 4,096 (34 times DeepSeek-V3's 120)"),
    ("routing", "sprya", "must be one of 'ecmp', 'adaptive', 'spray' (did you mean 'spray'?)"),
    ("cross_plane", "src", "must be one of 'source', 'destination' (did you mean 'source'?)"),
    ("model", "analytc", "must be one of 'fluid', 'analytic' (did you mean 'analytic'?)"),
    ("seed", -1, "expected a non-negative whole number"),
    ("seed", 2**70, "must be at most 18,446,744,073,709,551,615 (seeds are 64-bit)"),
    ("tolerance", math.nan, "expected a non-negative number"),
    ("tolerance", "0.1", "expected a non-negative number"),
    ("tolerance", math.inf, "must be less than 1 (a relative time quantum)"),
    ("tolerance", 1.0, "must be less than 1 (a relative time quantum)"),
    ("oversubscription", "3-1", "expected a down:up port ratio such as '1:1' or '3:1'"),
    ("failures", "bogus", "expected kind=name, such as plane=3 or switch=p0/spine/1"),
    ("failures", 3, "expected a list of kind=name failures ([] for none)"),
    ("failures", ["plane=x"], "a plane is a number, such as plane=3"),
    ("topology", "", "expected a file name"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_VALUES,
                         ids=[f"{b[0]}={b[1]!r}" for b in BAD_VALUES])
def test_check_value_refuses(name: str, value: Any, message: str) -> None:
    """A value a parameter can never take is a ValueError saying what it expects."""
    with pytest.raises(ValueError) as err:
        check_value(name, value)
    assert str(err.value) == message


@pytest.mark.parametrize(("name", "value"), [
    ("nodes", 1), ("oversubscription", 3), ("oversubscription", "1:1"), ("failures", []),
    ("failures", "plane=2"), ("tolerance", 0), ("seed", 0), ("workload", "w.yaml"),
    ("topology.fabric.nodes", "anything: checked by the spec"),
])
def test_check_value_accepts(name: str, value: Any) -> None:
    """Good values pass, and dotted paths are left to the specs."""
    check_value(name, value)


@pytest.mark.parametrize(("name", "kinds", "message"), [
    ("topology.fabric.swich.radix", [], "'swich' is not a key of fabric (did you mean "
                                        "'switch'?)"),
    ("fabric.nodes", [], "a dotted parameter starts with topology. or workload. and names a "
                         "key, such as topology.fabric.switch.radix"),
    ("topology.", [], "a dotted parameter starts with topology. or workload. and names a key, "
                      "such as topology.fabric.switch.radix"),
    ("topology.fabric.nodes.x", [], "fabric.nodes is a value, not a mapping: 'x' cannot be "
                                    "below it"),
    ("workload.batch.tokens", ["training", "flows"], "'batch' is not a key of the top level in "
                                                     "a flows workload"),
    ("workload.batch.tokenz", ["training"], "'tokenz' is not a key of batch (did you mean "
                                            "'tokens'?) in a training workload"),
    ("workload.jobs.x", ["jobs"], "jobs is a list: index it with a number, not 'x' in a jobs "
                                  "workload"),
])
def test_check_dotted_refuses(name: str, kinds: list[str], message: str) -> None:
    """A dotted path outside the spec classes' keys is a ValueError naming the first bad
    part, with a did-you-mean, for each workload kind of the sweep."""
    with pytest.raises(ValueError) as err:
        check_dotted(name, kinds)
    assert str(err.value) == message


@pytest.mark.parametrize(("name", "kinds"), [
    ("topology.fabric.switch.radix", []), ("topology.failures.0.plane", []),
    ("workload.batch.tokens", ["training"]), ("workload.jobs.0.anything", ["jobs"]),
    ("workload.anything", ["an unknown kind"]),
])
def test_check_dotted_accepts(name: str, kinds: list[str]) -> None:
    """Paths to keys pass; below a list of several job kinds, and for unknown workload kinds,
    the point's own validation decides."""
    check_dotted(name, kinds)


def test_every_parameter_is_described() -> None:
    """Each named parameter has a line for the help texts."""
    assert list(describe_params()) == list(PARAMS)
    assert describe_params()["ep"] == "layout.ep, and layout.dp raised to ep if it is smaller"
