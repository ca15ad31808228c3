"""A spec built in code is held to exactly the rules of one loaded from YAML: each rule is
tried both ways, and both give the same message at the same key."""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mpft_sim.errors import SpecError, format_key, short_repr
from mpft_sim.spec import PriceBook, load_input
from mpft_sim.spec.loading import load_spec
from mpft_sim.spec.model import ExpertLoadSpec
from mpft_sim.spec.schema import Spec, yaml_fields
from mpft_sim.spec.topology import (
    FabricSpec,
    FailureSpec,
    NicSpec,
    NodeSpec,
    SwitchSpec,
    TopologySpec,
)
from mpft_sim.spec.workload import (
    InferenceWorkloadSpec,
    JobsWorkloadSpec,
    NcclAllToAllSpec,
    TrainingWorkloadSpec,
    load_workload,
)
from mpft_sim.sweep.spec import SweepSpec, load_sweep
from tests.conftest import DATA

SWEEP_DATA = DATA / "sweep"

# A valid input of each kind, as the YAML mapping a file would hold.
BASES: dict[str, tuple[type[Spec], dict[str, Any]]] = {
    "topology": (TopologySpec, {
        "name": "tiny", "node": {"gpus": 2, "nics": 2, "nic": {"bandwidth": "400Gb/s"},
                                 "nvlink": {"efficiency": 0.8}, "pcie": {"switches": 0}},
        "fabric": {"kind": "multi-plane-fat-tree", "planes": 2, "nodes": 4,
                   "switch": {"radix": 4, "port_bandwidth": "400Gb/s"},
                   "oversubscription": "1:1", "latency": {"preset": "infiniband"}},
        "routing": {"policy": "ecmp", "cross_plane": "destination"},
        "failures": [{"plane": 0}]}),
    "inference": (InferenceWorkloadSpec, {
        "name": "i", "kind": "inference", "phase": "prefill", "seed": 0,
        "layout": {"dp": 8, "ep": 8, "first_node": 0},
        "model": {"layers": 4, "dense_layers": 0, "experts": 8, "expert_groups": 4,
                  "groups_per_token": 2, "top_k": 2},
        "expert_load": {"distribution": "file", "weights": [1, 2, 1, 2, 1, 2, 1, 2]},
        "compute": {"peak": "989TFLOP/s", "fp8": True,
                    "durations": {"mlp_forward": "1ms"}},
        "mtp_accepted": 0.5}),
    "training": (TrainingWorkloadSpec, {
        "name": "t", "kind": "training", "schedule": "1f1b", "layout": {"pp": 2, "dp": 8, "ep": 8},
        "batch": {"tokens": 4096, "micro_batches": 4}}),
    "nccl": (NcclAllToAllSpec, {"name": "n", "kind": "nccl-alltoall", "gpus": 8,
                                "message": "1MiB", "repeat": 2}),
    "prices": (PriceBook, {"switch": 83000, "switch_link": 500, "nic": 1500}),
    "sweep": (SweepSpec, {"name": "s", "topology": str(SWEEP_DATA / "tiny-mpft.yaml"),
                          "workload": str(SWEEP_DATA / "ep-small.yaml"), "model": "analytic",
                          "tolerance": 0.0, "seed": 0, "grid": {"nodes": [4]}}),
}

INF = math.inf
# (input, key path, value in YAML, the same value in code, message before ", got")
RULES: list[tuple[str, tuple[str | int, ...], Any, Any, str]] = [
    # types: a whole number is not a string, a bool or a float
    ("topology", ("fabric", "nodes"), "4", "4", "expected a whole number"),
    ("topology", ("fabric", "nodes"), True, True, "expected a whole number"),
    ("topology", ("fabric", "nodes"), 4.0, 4.0, "expected a whole number"),
    ("topology", ("node", "nvlink", "efficiency"), "0.8", "0.8", "expected a number"),
    ("topology", ("node", "nvlink", "efficiency"), False, False, "expected a number"),
    ("topology", ("name",), 5, 5, "expected a string"),
    ("topology", ("description",), ["x"], ["x"], "expected a string"),
    ("inference", ("compute", "fp8"), "yes", "yes", "expected true or false"),
    ("prices", ("nic",), "cheap", "cheap", "expected a number"),
    # choices, with a did-you-mean
    ("topology", ("routing", "policy"), "ecmpp", "ecmpp",
     "must be one of 'ecmp', 'adaptive', 'spray' (did you mean 'ecmp'?)"),
    ("topology", ("routing", "cross_plane"), 1, 1, "must be one of 'source', 'destination'"),
    ("topology", ("fabric", "kind"), "multi-plane", "multi-plane",
     "must be one of 'fat-tree', 'multi-plane-fat-tree', 'multi-rail-fat-tree', 'slim-fly', "
     "'dragonfly' (did you mean 'multi-plane-fat-tree'?)"),
    ("topology", ("fabric", "latency", "preset"), "ib", "ib",
     "must be one of 'infiniband', 'roce'"),
    ("inference", ("phase",), "decoding", "decoding",
     "must be one of 'prefill', 'decode' (did you mean 'decode'?)"),
    ("training", ("schedule",), "dualpip", "dualpip",
     "must be one of 'dualpipe', 'dualpipev', '1f1b', 'zb1p' (did you mean 'dualpipe'?)"),
    ("sweep", ("model",), "analytc", "analytc",
     "must be one of 'fluid', 'analytic' (did you mean 'analytic'?)"),
    # units: parsed from YAML, SI numbers in code; bounds hold for both
    ("topology", ("node", "nic", "bandwidth"), "-400Gb/s", -50e9, "must be positive"),
    ("topology", ("fabric", "switch", "port_bandwidth"), "1e400Gb/s", INF,
     "must be a finite number"),
    ("topology", ("fabric", "latency", "link"), "2s", 2.0,
     "must be at most 1 s (10**5 times any measured latency)"),
    ("inference", ("compute", "peak"), "2000PFLOP/s", 2e18,
     "must be at most 1e+18 FLOP/s (a hundred times the fastest GPU)"),
    ("nccl", ("message",), "0B", 0.0, "must be positive"),
    # bounds and ceilings
    ("topology", ("fabric", "nodes"), 0, 0, "must be at least 1"),
    ("topology", ("fabric", "switch", "radix"), 2**64, 2**64,
     "must be at most 1,024 (the highest switch radix sold)"),
    ("topology", ("node", "nvlink", "efficiency"), 1.5, 1.5, "must be at most 1"),
    ("topology", ("node", "pcie", "switches"), -1, -1, "must be non-negative"),
    ("nccl", ("gpus",), 1, 1, "must be at least 2"),
    ("nccl", ("repeat",), 10**9, 10**9, "must be at most 1,024 (back-to-back repetitions)"),
    ("training", ("batch", "tokens"), 10**12, 10**12,
     "must be at most 1,048,576 (256 times DeepSeek-V3's 4,096)"),
    ("inference", ("seed",), -1, -1, "must be non-negative"),
    ("inference", ("mtp_accepted",), 17, 17, "must be at most 16 (DeepSeek-V3 drafts one "
                                             "token)"),
    ("prices", ("switch",), -5, -5, "must be non-negative"),
    ("sweep", ("tolerance",), 1, 1, "must be less than 1 (a relative time quantum)"),
    ("sweep", ("seed",), -1, -1, "must be non-negative"),
    # names become folder names
    ("topology", ("name",), "", "", "must not be empty"),
    ("topology", ("name",), "../../x", "../../x",
     "is used as a folder name: no '/', '\\', '.' or '..'"),
    ("nccl", ("name",), "..", "..", "is used as a folder name: no '/', '\\', '.' or '..'"),
    ("sweep", ("name",), "a\\b", "a\\b", "is used as a folder name: no '/', '\\', '.' or '..'"),
    # tuples and their items, dicts and their entries
    ("topology", ("failures",), "plane=1", "plane=1", "expected a list"),
    ("topology", ("failures", 0, "plane"), -1, -1, "must be non-negative"),
    ("topology", ("failures", 0, "switch"), 3, 3, "expected a string"),
    ("topology", ("fabric", "oversubscription"), "2048:1", (2048, 1),
     "must be at most 1,024 (the highest switch radix sold)"),
    ("inference", ("expert_load", "weights"), [1, -1, 1, 1, 1, 1, 1, 1],
     (1.0, -1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0), "must be non-negative"),
    ("inference", ("expert_load", "weights"), [1, "x", 1, 1, 1, 1, 1, 1],
     (1.0, "x", 1.0, 1.0, 1.0, 1.0, 1.0, 1.0), "expected a number"),
    ("inference", ("expert_load", "weights"), [0] * 8, (0.0,) * 8,
     "every load is zero: at least one expert must get tokens"),
    ("inference", ("compute", "durations"), {"mlp_forward": 5}, {"mlp_forward": 5},
     "expected a string"),
    ("inference", ("compute", "durations"), {"mlp_forward": "-1ms"}, {"mlp_forward": "-1ms"},
     "must be non-negative"),
    ("sweep", ("grid",), {"nodes": 4}, {"nodes": 4}, "expected a list"),
    # cross-field rules
    ("topology", ("fabric", "planes"), 4, 4, "must equal the 2 NICs per node (NIC i sits in "
                                             "plane i)"),
    ("inference", ("layout", "ep"), 3, 3, "must divide dp (8)"),
]


def _set(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    here: Any = out
    for part in path[:-1]:
        here = here[part]
    here[path[-1]] = value
    return out


def _replace(obj: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """``obj`` with the value at a YAML key path replaced, rebuilt as code would rebuild it.

    Spec levels are rebuilt with :func:`dataclasses.replace`; a tuple of specs (failures) is
    stepped into; anything else below a field is replaced whole.
    """
    head, rest = path[0], path[1:]
    if isinstance(obj, tuple):
        items = list(obj)
        assert isinstance(head, int)
        items[head] = _replace(items[head], rest, value) if rest else value
        return tuple(items)
    name = yaml_fields(type(obj))[str(head)].name
    current = getattr(obj, name)
    if rest and (isinstance(current, Spec) or (isinstance(current, tuple) and current
                                               and isinstance(current[0], Spec))):
        value = _replace(current, rest, value)
    return dataclasses.replace(obj, **{name: value})


def _load_yaml(kind: str, data: dict[str, Any], tmp_path: Path) -> Any:
    path = tmp_path / f"{kind}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    if kind == "sweep":
        return load_sweep(path)
    if kind == "prices":
        return load_input(path)[1]
    return load_workload(path) if kind in ("inference", "training", "nccl") else \
        load_input(path)[1]


def _base(kind: str, folder: Path) -> Any:
    """The valid base spec of an input kind, built in code (a sweep as if read from
    ``folder``)."""
    cls, data = BASES[kind]
    if cls is SweepSpec:
        return SweepSpec(**{**data, "topology": (data["topology"],)}, base_dir=str(folder),
                         file=str(folder / "sweep.yaml"))
    return load_spec(cls, data)


@pytest.mark.parametrize(("kind", "path", "in_yaml", "in_code", "message"), RULES,
                         ids=[f"{r[0]}:{format_key(r[1])}={r[2]!r}"[:60] for r in RULES])
def test_rule_holds_both_ways(kind: str, path: tuple[str | int, ...], in_yaml: Any,
                              in_code: Any, message: str, tmp_path: Path) -> None:
    """The rule gives the same message from a YAML file and from code, at the same key."""
    base = _base(kind, tmp_path)  # the base is valid both ways
    assert _load_yaml(kind, BASES[kind][1], tmp_path) == base
    with pytest.raises(SpecError) as from_yaml:
        _load_yaml(kind, _set(BASES[kind][1], path, in_yaml), tmp_path)
    with pytest.raises(SpecError) as from_code:
        _replace(base, path, in_code)
    file_err, code_err = from_yaml.value, from_code.value
    assert file_err.file == str(tmp_path / f"{kind}.yaml")
    assert file_err.message == code_err.message == message
    # code builds the innermost spec first: its key is the tail of the file's key
    assert code_err.key and file_err.key[-len(code_err.key):] == code_err.key
    assert file_err.key[:len(path)] == path
    where = f"{code_err.file}: " if code_err.file else ""  # a SweepSpec names its file
    assert str(code_err) == f"{where}{format_key(code_err.key)}: {message}" + (
        f", got {short_repr(code_err.value)}" if code_err.has_value else "")


def test_every_rule_class_is_tried_for_every_input_kind() -> None:
    """The table covers each input kind (so a kind cannot silently lose its checks)."""
    assert {r[0] for r in RULES} == set(BASES)


# -- what only code can get wrong -------------------------------------------------------------

def test_nested_spec_of_the_wrong_type() -> None:
    """A mapping or another spec where a spec belongs is refused, naming the expected type."""
    with pytest.raises(SpecError) as info:
        NodeSpec(nic={"bandwidth": 50e9})  # type: ignore[arg-type]
    assert str(info.value) == "nic: expected a NicSpec, got {'bandwidth': 50000000000.0}"
    with pytest.raises(SpecError) as info:
        TopologySpec(name="x", fabric=SwitchSpec())  # type: ignore[arg-type]
    assert str(info.value) == "fabric: expected a FabricSpec, got SwitchSpec(...)"


def test_a_job_must_be_a_job_spec() -> None:
    """The jobs of a jobs workload are training, inference or NCCL specs, and at least one."""
    nccl = NcclAllToAllSpec(name="n", kind="nccl-alltoall", gpus=8, message_bytes=1.0)
    with pytest.raises(SpecError) as info:
        JobsWorkloadSpec(name="j", kind="jobs", jobs=(nccl, "x"))  # type: ignore[arg-type]
    assert str(info.value) == ("jobs[1]: expected one of TrainingWorkloadSpec, "
                               "InferenceWorkloadSpec, NcclAllToAllSpec, got 'x'")
    with pytest.raises(SpecError) as info:
        JobsWorkloadSpec(name="j", kind="jobs", jobs=())
    assert str(info.value) == "jobs: expected a non-empty list of jobs, got []"


def test_unit_field_given_a_unit_string_in_code() -> None:
    """Units are parsed from YAML only: code gives SI numbers, and is told so."""
    with pytest.raises(SpecError) as info:
        NicSpec(bandwidth_Bps="400Gb/s")  # type: ignore[arg-type]
    assert str(info.value) == ("bandwidth: expected a bandwidth in bytes/s as a number, "
                               "got '400Gb/s'")


def test_numbers_are_normalised() -> None:
    """An int (or numpy number) given for a float is stored as a float; numpy ints as ints;
    lists as tuples; dicts are copied."""
    nic = NicSpec(bandwidth_Bps=50_000_000_000, ports=np.int64(2))  # type: ignore[arg-type]
    assert type(nic.bandwidth_Bps) is float and type(nic.ports) is int
    assert nic == NicSpec(bandwidth_Bps=50e9, ports=2)
    spec = TopologySpec(name="x", fabric=FabricSpec(kind="fat-tree", nodes=4),
                        failures=[FailureSpec(plane=0)])  # type: ignore[arg-type]
    assert spec.failures == (FailureSpec(plane=0),)
    weights = [1, 2]
    load = ExpertLoadSpec(distribution="file", weights=weights)  # type: ignore[arg-type]
    assert load.weights == (1.0, 2.0)
    durations = {"mlp_forward": "1ms"}
    base = load_spec(InferenceWorkloadSpec, BASES["inference"][1])
    compute = dataclasses.replace(base.compute, durations=durations)
    durations["mlp_forward"] = "-5ms"  # the caller's dict is not the spec's
    assert compute.durations == {"mlp_forward": "1ms"}


def test_source_is_not_a_key() -> None:
    """``source`` remembers the file, is kept by replace, and is not part of equality, repr or
    the YAML keys."""
    path = DATA / "csv" / "tiny.yaml"
    spec = load_input(path)[1]
    assert spec.source == str(path)
    moved = dataclasses.replace(spec, name="other")
    assert moved.source == str(path)
    again = dataclasses.replace(spec, source=None)
    assert again == spec and "source" not in repr(spec)
    assert "source" not in yaml_fields(TopologySpec)
    with pytest.raises(SpecError) as info:
        load_spec(TopologySpec, {**BASES["topology"][1], "source": "x"})
    assert str(info.value).startswith("source: unknown key (known: name, fabric, ")


def test_literal_choices_need_a_string() -> None:
    """A choice compares as a string: an unhashable or odd value is refused, not crashed on."""
    with pytest.raises(SpecError) as info:
        dataclasses.replace(_base("topology", DATA).routing, policy=["ecmp"])
    assert str(info.value).startswith("policy: must be one of 'ecmp', 'adaptive', 'spray', got")
