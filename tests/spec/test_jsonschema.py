"""The JSON Schemas for editors: generated from the specs, kept current in schemas/, accepting
every input the loader accepts and refusing the mistakes one key can show."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema.exceptions import best_match

from mpft_sim.errors import SpecError
from mpft_sim.spec.files import read_yaml
from mpft_sim.spec.json_schema import (
    SCHEMA_KINDS,
    SchemaKind,
    json_schema,
    schema_file,
    schema_text,
)
from mpft_sim.spec.loading import load_spec
from mpft_sim.spec.topology import TopologySpec
from mpft_sim.spec.workload import workload_from_mapping
from mpft_sim.sweep.params import PARAMS, check_dotted, check_value
from mpft_sim.sweep.spec import SweepFileSpec, SweepSpec
from mpft_sim.units import UnitError, format_quantity, parse_quantity
from tests.conftest import DATA, ROOT

Run = Callable[..., tuple[int, str, str]]

FOLDERS = {"topology": "topologies", "workload": "workloads", "sweep": "sweeps"}
SHIPPED = [(kind, path) for kind, folder in FOLDERS.items()
           for path in sorted((ROOT / folder).glob("*.yaml"))]
STALE = "is stale: regenerate the schemas with `mpft-sim schema --write schemas`"


class Validators(dict[str, jsonschema.Draft202012Validator]):
    """A validator per kind, shown briefly in a failure report (not three whole schemas)."""

    def __repr__(self) -> str:
        return "<validators of the generated schemas>"


@pytest.fixture(scope="module")
def validators() -> Validators:
    """A validator per kind, from the schemas as generated now."""
    return Validators({kind: jsonschema.Draft202012Validator(json_schema(kind))
                       for kind in SCHEMA_KINDS})


def errors(validator: jsonschema.Draft202012Validator, data: Any) -> list[str]:
    """Each error as ``$.json.path: message``."""
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(data)]


# --- generated, current, well-formed ----------------------------------------------------------

@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_schemas_in_the_repository_are_current(kind: SchemaKind) -> None:
    """schemas/<kind>.schema.json is exactly what the specs generate today."""
    path = ROOT / "schemas" / schema_file(kind)
    assert path.is_file(), f"{path} is missing: regenerate with `mpft-sim schema --write schemas`"
    assert path.read_text(encoding="utf-8") == schema_text(kind), f"{path} {STALE}"


@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_schema_is_a_valid_draft_2020_12_schema(kind: SchemaKind) -> None:
    """Each schema passes the draft 2020-12 meta-schema, and its text is deterministic: sorted
    keys, two-space indent, one final newline."""
    schema = json_schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    text = schema_text(kind)
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_every_object_is_closed(validators: Validators) -> None:
    """Every spec object refuses unknown keys (additionalProperties: false), as the loader."""
    for kind, validator in validators.items():
        for name, definition in validator.schema.get("$defs", {}).items():
            if definition.get("type") == "object":
                assert definition["additionalProperties"] is False, f"{kind}: {name}"


# --- what the loader accepts, the schema accepts ----------------------------------------------

@pytest.mark.parametrize(("kind", "path"), SHIPPED, ids=lambda v: getattr(v, "name", v))
def test_shipped_file_names_and_passes_its_schema(
        kind: str, path: Path, validators: Validators) -> None:
    """A shipped file's first line points editors at its schema, and the file validates."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema=../schemas/{kind}.schema.json"
    assert (path.parent / "../schemas" / f"{kind}.schema.json").resolve().is_file()
    assert errors(validators[kind], read_yaml(path)) == []


def _load(kind: str, data: Any, base: Path) -> None:
    """Load raw data as the loader loads a file of ``kind`` in folder ``base``."""
    file = str(base / f"in-memory.{kind}.yaml")
    if kind == "topology":
        load_spec(TopologySpec, data, file=file)
    elif kind == "workload":
        workload_from_mapping(data, file, base)
    else:
        raw = load_spec(SweepFileSpec, data, file=file)  # as load_sweep, from a mapping
        SweepSpec(**{f.name: getattr(raw, f.name) for f in dataclasses.fields(raw)},
                  base_dir=str(base), file=file)


def _kind_of(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    if "fabric" in data:
        return "topology"
    if "kind" in data:
        return "workload"
    return "sweep" if {"grid", "zip", "topology"} & set(data) else None


def _loadable_test_inputs() -> Iterator[tuple[str, Path]]:
    for path in sorted(DATA.rglob("*.yaml")):
        try:
            data = read_yaml(path)
            kind = _kind_of(data)
            if kind is not None:
                _load(kind, data, path.parent)
                yield kind, path
        except SpecError:
            continue


LOADABLE = list(_loadable_test_inputs())


def test_the_test_inputs_include_each_kind() -> None:
    """The valid fixtures under tests/data hold topologies, workloads and sweeps."""
    assert {kind for kind, _ in LOADABLE} == set(SCHEMA_KINDS)


@pytest.mark.parametrize(("kind", "path"), LOADABLE,
                         ids=lambda v: str(v.relative_to(DATA)) if isinstance(v, Path) else v)
def test_test_input_the_loader_accepts_passes_its_schema(
        kind: str, path: Path, validators: Validators) -> None:
    """Every fixture under tests/data that loads validates against its schema."""
    assert errors(validators[kind], read_yaml(path)) == []


VALUES: list[Any] = [
    0, 1, 2, 3, 7, 64, 1023, 1024, 1025, 2**21, 2**64, -1, 0.0, -0.0, 0.5, 1.0, 1.5, True, False,
    None, "", " ", "x", "a/b", "..", "0", "0s", "-0", "+1Gb/s", " 400 Gb/s ", "1e3MB/s", ".5us",
    "5.TB/s", "0.0", "1:1", "3:1", "0:1", "ecmp", "spray", "roce", "fp8", "decode", "uniform",
    "file", "low-latency", "plane=1", "switch=p0/spine/0", "1.2ms", "64MiB", "989TFLOP/s",
    [], [1], ["plane=1"], {}, {"x": 1},
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def _variants(value: Any) -> list[Any]:
    """Values a user might write instead of ``value`` that may well still load: a quantity
    spelled another way, a count changed, an optional key nulled."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value * 2, value // 2, 0, 1, None]
    if isinstance(value, float):
        return [value / 2, 0.0, 0, 1, None]
    if isinstance(value, list):
        return [value[:1], value[1:], value * 2, None]
    if isinstance(value, dict):
        return [{}, None]
    if not isinstance(value, str):
        return [value]
    out: list[Any] = [value.upper(), "", None, f" {value} "]
    split = re.fullmatch(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*", value)
    for kind in ("bandwidth", "time", "size", "flops"):
        with contextlib.suppress(UnitError):
            quantity = parse_quantity(value, kind)
            if split is None:
                continue
            number, unit = split.groups()
            spelled = format_quantity(quantity, kind)
            out += [f"+{value}", f"{number} {unit}", f"{float(number) * 2:g}{unit}", f"0{unit}",
                    "0", 0, spelled, spelled.replace("B/s", "b/s"), spelled.replace("B/s", "bps"),
                    f"{float(number):e}{unit}", f"{number}{unit.replace('us', 'µs')}"]
    return out


def _mutated(data: Any, draw: st.DataObject) -> Any:
    """Shipped data with one or two keys changed, dropped or added."""
    for _ in range(draw.draw(st.sampled_from([1, 1, 1, 2]))):
        path = draw.draw(st.sampled_from([p for p in _paths(data) if p]))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        op = draw.draw(st.sampled_from(["vary", "vary", "vary", "vary", "any", "delete",
                                        "add"]))
        if op == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == "add" and isinstance(parent, dict):
            key = draw.draw(st.sampled_from(["gpus", "nodes", "planes", "ep", "durations",
                                             "kv_transfer", "zip", "q", "spines", "latency"]))
            parent[key] = copy.deepcopy(draw.draw(st.sampled_from(VALUES)))
        elif op == "any":
            parent[path[-1]] = copy.deepcopy(draw.draw(st.sampled_from(VALUES)))
        else:
            parent[path[-1]] = draw.draw(st.sampled_from(_variants(parent[path[-1]])))
    return data


@settings(max_examples=500, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_whatever_the_loader_accepts_the_schema_accepts(
        validators: Validators, data: st.DataObject) -> None:
    """A shipped file with keys changed, dropped or added: if the loader still accepts it, its
    schema does too (an editor never flags a good file)."""
    # the one shipped sweep drawn as often as a topology or a workload
    kind, path = data.draw(st.sampled_from(SHIPPED + [SHIPPED[-1]] * 8), label="file")
    raw = _mutated(read_yaml(path), data)
    try:
        _load(kind, copy.deepcopy(raw), path.parent)
    except SpecError:
        return
    assert errors(validators[kind], raw) == []


# --- what one key can show is wrong, the schema refuses ---------------------------------------

def _set(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    *parents, last = dotted.split(".")
    here: Any = data
    for part in parents:
        here = here[int(part)] if isinstance(here, list) else here.setdefault(part, {})
    if value is _DELETE:
        del here[last]
    else:
        here[last] = value
    return data


_DELETE = object()

BROKEN = [
    # (file, key path, new value, the JSON path of the error)
    ("topologies/tiny-mpft.yaml", "fabric.switch.radx", 4, "$.fabric.switch"),
    ("topologies/tiny-mpft.yaml", "routing.policy", "ecmpp", "$.routing.policy"),
    ("topologies/tiny-mpft.yaml", "fabric.nodes", -4, "$.fabric.nodes"),
    ("topologies/tiny-mpft.yaml", "fabric.kind", "multi-plane-fat-tre", "$.fabric.kind"),
    ("topologies/tiny-mpft.yaml", "fabric.switch.port_bandwidth", 400,
     "$.fabric.switch.port_bandwidth"),
    ("topologies/tiny-mpft.yaml", "fabric.switch.port_bandwidth", "400Gbit/s",
     "$.fabric.switch.port_bandwidth"),
    ("topologies/tiny-mpft.yaml", "fabric.switch.port_bandwidth", "0Gb/s",
     "$.fabric.switch.port_bandwidth"),
    ("topologies/tiny-mpft.yaml", "fabric.latency", {"switch": "-1us"}, "$.fabric.latency.switch"),
    ("topologies/tiny-mpft.yaml", "node.nvlink", {"efficiency": 1.5}, "$.node.nvlink.efficiency"),
    ("topologies/tiny-mpft.yaml", "fabric.oversubscription", "2to1", "$.fabric.oversubscription"),
    ("topologies/tiny-mpft.yaml", "fabric.tiers", 4, "$.fabric.tiers"),
    ("topologies/tiny-mpft.yaml", "name", "../x", "$.name"),
    ("topologies/tiny-mpft.yaml", "fabric", _DELETE, "$"),
    ("topologies/tiny-mpft.yaml", "failures", [{"plane": -1}], "$.failures[0].plane"),
    ("workloads/nccl-alltoall.yaml", "kind", "nccl-all2all", "$.kind"),
    ("workloads/nccl-alltoall.yaml", "gpus", -64, "$.gpus"),
    ("workloads/nccl-alltoall.yaml", "message", "1MiB/s", "$.message"),
    ("workloads/nccl-alltoall.yaml", "pxn", "yes", "$.pxn"),
    ("workloads/deepseek-v3-train.yaml", "layout.ppp", 2, "$.layout"),
    ("workloads/deepseek-v3-train.yaml", "model.layers", 0, "$.model.layers"),
    ("workloads/deepseek-v3-train.yaml", "schedule", "dual-pipe", "$.schedule"),
    ("workloads/deepseek-v3-train.yaml", "compute.peak", "989TFLOP", "$.compute.peak"),
    ("workloads/deepseek-v3-train.yaml", "compute.durations", {"attn_forward": "1ms"},
     "$.compute.durations"),
    ("workloads/deepseek-v3-train.yaml", "compute.durations", {"mlp_forward": "-1ms"},
     "$.compute.durations.mlp_forward"),
    ("workloads/deepseek-v3-decode.yaml", "kv_transfer.first_node", -1,
     "$.kv_transfer.first_node"),
    ("workloads/deepseek-v3-decode.yaml", "phase", "decoding", "$.phase"),
    ("workloads/example-flows.yaml", "flows", _DELETE, "$"),
    ("sweeps/planes-16k.yaml", "gird", {"nodes": [4]}, "$"),
    ("sweeps/planes-16k.yaml", "grid.plane", [2], "$.grid"),
    ("sweeps/planes-16k.yaml", "grid.nodes", [256, -1], "$.grid.nodes[1]"),
    ("sweeps/planes-16k.yaml", "grid.nodes", [], "$.grid.nodes"),
    ("sweeps/planes-16k.yaml", "grid.routing", ["ecmp", "sprya"], "$.grid.routing[1]"),
    ("sweeps/planes-16k.yaml", "grid.topology.fabric.swich.radix", [4, 8], "$.grid"),
    ("sweeps/planes-16k.yaml", "grid.workload.layout.epp", [4, 8], "$.grid"),
    ("sweeps/planes-16k.yaml", "model", "analitic", "$.model"),
    ("sweeps/planes-16k.yaml", "tolerance", 1, "$.tolerance"),
]


@pytest.mark.parametrize(("file", "key", "value", "where"), BROKEN,
                         ids=[f"{Path(f).stem}:{k}={v!r}"[:60] for f, k, v, _ in BROKEN])
def test_a_broken_key_fails_where_it_is(
        file: str, key: str, value: Any, where: str,
        validators: Validators) -> None:
    """One bad key (unknown, a bad choice, a negative count, a missing or wrong unit, a missing
    required key) is refused by the loader and by the schema, which points at it."""
    kind = next(k for k, folder in FOLDERS.items() if file.startswith(folder))
    data = read_yaml(ROOT / file)
    # the grid's dotted keys are keys of the grid mapping, not nested mappings
    if key.startswith("grid.") and key.count(".") > 1:
        data["grid"][key.removeprefix("grid.")] = value
    else:
        _set(data, key, value)
    with pytest.raises(SpecError):
        _load(kind, copy.deepcopy(data), (ROOT / file).parent)
    found = list(validators[kind].iter_errors(data))
    assert found, "the schema accepts it"
    assert best_match(found).json_path == where


def test_a_job_of_a_jobs_workload_is_checked_as_its_kind(
        validators: Validators) -> None:
    """The jobs kind nests job kinds: each job is checked against the schema of its kind."""
    job = read_yaml(ROOT / "workloads/nccl-alltoall.yaml")
    good = {"name": "two", "kind": "jobs", "jobs": [job, {**job, "name": "b", "first_node": 8}]}
    assert errors(validators["workload"], good) == []
    for bad, where in (({**job, "gpus": 1}, "$.jobs[1].gpus"),
                       ({**job, "kind": "flows"}, "$.jobs[1].kind"),
                       ({**job, "phase": "decode"}, "$.jobs[1]")):
        found = list(validators["workload"].iter_errors({**good, "jobs": [job, bad]}))
        assert best_match(found).json_path == where
    assert errors(validators["workload"], {**good, "jobs": []}) == [
        "$.jobs: [] should be non-empty"]


# --- the translations the types alone do not give ---------------------------------------------

PROBES: list[Any] = [
    0, 1, 2, 3, 4, 256, 1024, 1025, 4096, 4097, 2**21, 2**21 + 1, 2**24, 2**24 + 1, 2**64 - 1,
    2**64, -1, 0.0, 0.5, 0.999, 1.0, 1.5, True, False, None, "", "x", "3:1", "1:1", "0:1", "3",
    "ecmp", "adaptive", "spray", "ecmpp", "source", "destination", "bridged", "fluid",
    "analytic", "plane=3", "plane = 3 ", "plane=x", "plnae=1", "switch=p0/spine/1", "nic=",
    "link=p0/leaf/0 - p0/spine/1", "plane=3:0.5", "plane=3:1", "plane=3: .25 ", "plane=3:1.5",
    "plane=3:", "plane=3:x", "switch=p0/spine/1:0", "nic=n0/nic1:1.0", "nic=n0/nic1:2",
    "link=p0/leaf/0 - p0/spine/1:0.5", "switch=:0.5", "a.yaml", [], ["plane=1"],
    ["plane=1", "nic=n0/nic1"],
    ["plane=x"], ["plane=1:0.5", "switch=p0/spine/1:0.25"], ["plane=1:7"], [1], {}, {"a": 1},
]


@pytest.mark.parametrize("name", list(PARAMS))
def test_a_named_parameter_takes_the_values_its_check_takes(
        name: str, validators: Validators) -> None:
    """The schema of a named sweep parameter's values accepts a value exactly when the sweep
    loader's check of that parameter does (but for 1.0 where a whole number is due: JSON tells
    no 1.0 from 1, so the schema takes both)."""
    items = validators["sweep"].schema["$defs"]["parameters"]["properties"][name]["items"]
    check = jsonschema.Draft202012Validator(items)
    for value in PROBES:
        try:
            check_value(name, value)
            takes = True
        except ValueError:
            takes = False
        if isinstance(value, float) and value.is_integer() and check.is_valid(value):
            continue
        assert check.is_valid(value) == takes, f"{name}: {value!r}"


def _example(name: str) -> str:
    """A key path matching a pattern property: an index 0, a key x."""
    return (name.strip("^$").replace(r"\d+", "0").replace(r"[^.]+(?:\.[^.]+)*", "a.b")
            .replace(r"[^.]+", "x").replace("\\", ""))


def test_every_key_path_in_the_schema_is_one_the_loader_takes(
        validators: Validators) -> None:
    """Each dotted parameter the schema lists (or a key path matching one of its patterns) is
    accepted by the sweep loader for some workload kind."""
    parameters = validators["sweep"].schema["$defs"]["parameters"]
    names = [n for n in parameters["properties"] if "." in n]
    names += [_example(p) for p in parameters["patternProperties"]]
    assert "topology.fabric.switch.radix" in names and "workload.jobs.0.a.b" in names
    kinds = ["training", "inference", "nccl-alltoall", "flows", "jobs"]
    for name in names:
        fits = []
        for kind in kinds:
            try:
                check_dotted(name, [kind])
                fits.append(kind)
            except ValueError:
                pass
        assert fits, name


@pytest.mark.parametrize("name", [
    "topology.fabric.swich.radix", "topology.fabric.switch.radix.x", "topology.nodes",
    "workload.layout.epp", "workload.jobs.x", "topology.failures.x", "fabric.nodes", "topology.",
    "workload..ep", "plane"])
def test_a_key_path_the_loader_refuses_the_schema_refuses(
        name: str, validators: Validators) -> None:
    """An unknown parameter or a key path that names no key fails in grid and zip."""
    base = read_yaml(ROOT / "sweeps/planes-16k.yaml")
    for section in ("grid", "zip"):
        assert not validators["sweep"].is_valid({**base, section: {name: [1]}}), section


# --- the command ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_schema_command_prints_the_schema(run_cli: Run, kind: SchemaKind) -> None:
    """`mpft-sim schema KIND` prints the schema text the repository keeps."""
    code, out, _ = run_cli("schema", kind)
    assert code == 0 and out == schema_text(kind)


def test_schema_command_writes_all_three(run_cli: Run, tmp_path: Path) -> None:
    """`mpft-sim schema --write DIR` writes the three files, the same bytes as schemas/."""
    code, _, err = run_cli("schema", "--write", tmp_path / "out")
    assert code == 0 and "sweep.schema.json" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "sweep.schema.json", "topology.schema.json", "workload.schema.json"]
    for path in (tmp_path / "out").iterdir():
        assert path.read_bytes() == (ROOT / "schemas" / path.name).read_bytes(), path.name


@pytest.mark.parametrize("args", [(), ("topology", "--write", "x"), ("prices",)])
def test_schema_command_needs_one_kind_or_write(run_cli: Run, args: tuple[str, ...]) -> None:
    """Neither a kind nor --write, both, or an unknown kind: a usage error."""
    code, out, err = run_cli("schema", *args)
    assert code == 2 and out == "" and "Error" in err


def test_schema_command_loads_no_engine() -> None:
    """Making the schemas imports neither numba, scipy, matplotlib nor the engine."""
    code = ("import sys, io, contextlib; from mpft_sim.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): rc = main(['schema', 'sweep'])\n"
            "heavy = [m for m in ('numba', 'scipy', 'matplotlib', 'simpy', 'mpft_sim.engine') "
            "if m in sys.modules]; print(rc, heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert done.stdout.splitlines()[-1] == "0 []"
