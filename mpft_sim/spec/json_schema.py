"""JSON Schemas of the input files, generated from the spec classes, for editors.

An editor that speaks the YAML language server (VS Code's YAML extension, Neovim, Helix, ...)
completes and checks a topology, workload or sweep file against its schema, named in the
file's first line::

    # yaml-language-server: $schema=../schemas/topology.schema.json

The schemas are never written by hand: :func:`json_schema` walks (with
:class:`~mpft_sim.spec.json_builder.SchemaBuilder`) the same dataclass fields
and :func:`~mpft_sim.spec.schema.option` metadata the loader checks with. Each spec class
becomes a closed object (``additionalProperties: false``: an unknown key is an error here
too) with its required keys, each field's doc as its ``description`` and its plain default;
``Literal`` choices become ``enum``; bounds and ceilings become ``minimum``, ``maximum`` and
their exclusive forms; a quantity with a unit is a string matching "number + unit" (or zero);
workloads are told apart by ``kind``, the ``jobs`` kind nesting the job kinds. A sweep's
``grid`` and ``zip`` list the named parameters with the values they take, and every dotted
key path below ``topology.`` and ``workload.``.

A schema never refuses what the loader accepts (an editor must not flag a good file); it
catches what one key can show -- an unknown key, a bad choice, a negative count, a missing
unit -- and leaves rules between keys (``ep`` divides ``dp``, keys that apply to one fabric
kind) to the loader, which names them when the file is used.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from mpft_sim.spec.json_builder import (
    Schema,
    SchemaBuilder,
    class_doc,
    json_number,
    non_null,
    ratio_schema,
)
from mpft_sim.spec.limits import Limit
from mpft_sim.spec.schema import Spec, yaml_fields
from mpft_sim.spec.topology import TopologySpec
from mpft_sim.spec.workload import WorkloadSpec

__all__ = ["SCHEMA_KINDS", "SchemaKind", "json_schema", "schema_file", "schema_text",
           "write_schemas"]

SchemaKind = Literal["topology", "workload", "sweep"]
SCHEMA_KINDS: tuple[SchemaKind, ...] = get_args(SchemaKind)


def schema_file(kind: SchemaKind) -> str:
    """The file name of a kind's schema: ``topology.schema.json``."""
    return f"{kind}.schema.json"


def json_schema(kind: SchemaKind) -> Schema:
    """The JSON Schema (draft 2020-12) of a kind of input file.

    Parameters
    ----------
    kind : {"topology", "workload", "sweep"}

    Returns
    -------
    dict
        The schema, plain JSON data.

    Raises
    ------
    ValueError
        For another kind.
    """
    if kind == "topology":
        return SchemaBuilder().root(TopologySpec, "topology")
    if kind == "workload":
        builder = SchemaBuilder()
        schema = builder.kinds(get_args(WorkloadSpec))
        return builder.finish(schema, "workload", "A workload file: what traffic runs on a "
                              "fabric, one of several kinds told apart by `kind`.")
    if kind == "sweep":
        return _sweep_schema()
    raise ValueError(f"no schema for {kind!r}: one of {', '.join(SCHEMA_KINDS)}")


def schema_text(kind: SchemaKind) -> str:
    """:func:`json_schema` as the repository keeps it: sorted keys, indent 2, final newline,
    so that regenerating an unchanged schema changes no byte."""
    return json.dumps(json_schema(kind), indent=2, sort_keys=True) + "\n"


def write_schemas(folder: str | Path) -> list[Path]:
    """Write the three schemas into ``folder`` (created if missing).

    Returns
    -------
    list of Path
        ``topology.schema.json``, ``workload.schema.json``, ``sweep.schema.json`` in ``folder``.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in SCHEMA_KINDS:
        path = out / schema_file(kind)
        path.write_text(schema_text(kind), encoding="utf-8")
        written.append(path)
    return written


# --- sweep files ------------------------------------------------------------------------------

def _sweep_schema() -> Schema:
    from mpft_sim.sweep.spec import SweepFileSpec

    file = {"type": "string", "minLength": 1}
    files = {"anyOf": [file, {"type": "array", "minItems": 1, "items": file}]}
    parameters = {"$ref": "#/$defs/parameters"}
    builder = SchemaBuilder({(SweepFileSpec, "topology"): lambda builder, meta: files,
                        (SweepFileSpec, "grid"): lambda builder, meta: parameters,
                        (SweepFileSpec, "zip"): lambda builder, meta: parameters})
    schema = builder.object(SweepFileSpec)
    builder.defs["parameters"] = _parameters_schema()
    builder.defs["values"] = {"type": "array", "minItems": 1,
                              "description": "the values, one per point"}
    return builder.finish(schema, "sweep", "A sweep file: a topology (or several), a workload "
                          "and a grid of parameters whose product gives the points; files "
                          "are relative to the sweep file.")


def _parameters_schema() -> Schema:
    """The parameters a grid may vary: the named ones with their values, and every dotted key
    path of a topology or a workload (checked when the sweep loads; values when a point is
    built, so any value is allowed here)."""
    from mpft_sim.sweep.params import PARAMS

    values = _param_values()
    missing = set(PARAMS) - set(values)
    if missing:  # a new parameter: say what values it takes in _param_values
        raise TypeError(f"no JSON Schema for the sweep parameters {sorted(missing)}")
    properties: Schema = {
        name: {"type": "array", "minItems": 1, "items": values[name],
               "description": f"{param.doc} (a list: one value per point)"}
        for name, param in PARAMS.items()}
    patterns: Schema = {}
    paths = list(_key_paths(TopologySpec, ("topology",)))
    for cls in get_args(WorkloadSpec):
        paths += _key_paths(cls, ("workload",))
    for parts, doc in paths:
        ref = {"$ref": "#/$defs/values", **({"description": doc} if doc else {})}
        keys = [p for p in parts if isinstance(p, str)]
        if len(keys) == len(parts):
            properties.setdefault(".".join(keys), ref)
        else:
            regex = r"\.".join(re.escape(p) if isinstance(p, str) else p.regex for p in parts)
            patterns.setdefault(f"^{regex}$", ref)
    # null too: "grid:" with nothing below it is no parameter, as the loader reads it
    return {"type": ["object", "null"], "properties": properties, "patternProperties": patterns,
            "additionalProperties": False,
            "description": "parameter: [values]. A named parameter, or a key path such as "
                           "topology.fabric.switch.radix or workload.layout.ep"}


@dataclasses.dataclass(frozen=True)
class _Part:
    """A part of a key path that is a pattern, not a key: a list index, any mapping key, or
    anything further below (a job of any kind)."""

    regex: str


def _key_paths(tp: Any, prefix: tuple[str | _Part, ...], doc: str = ""
               ) -> Iterator[tuple[tuple[str | _Part, ...], str]]:
    """Every key path a sweep parameter may name below ``tp``, with its doc: what
    :func:`~mpft_sim.sweep.params.check_path` accepts."""
    args, _ = non_null(tp)
    tp = args[0] if len(args) == 1 else tp
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, Spec):
        hints = typing.get_type_hints(tp)
        for key, field in yaml_fields(tp).items():
            sub = hints[field.name]
            inner, _ = non_null(sub)
            words = field.metadata.get("doc", "") or (
                class_doc(inner[0]) if isinstance(inner[0], type) and issubclass(inner[0], Spec)
                else "")
            yield (*prefix, key), words
            yield from _key_paths(sub, (*prefix, key), words)
    elif origin is tuple:
        yield (*prefix, _Part(r"\d+")), f"one item (from 0) of: {doc}"
        yield from _key_paths(get_args(tp)[0], (*prefix, _Part(r"\d+")), doc)
    elif origin is dict:
        yield (*prefix, _Part(r"[^.]+")), f"one entry of: {doc}"
        yield from _key_paths(get_args(tp)[1], (*prefix, _Part(r"[^.]+")), doc)
    elif tp is Any or len(args) > 1:
        yield (*prefix, _Part(r"[^.]+(?:\.[^.]+)*")), doc  # a job: its kind is the file's


def _param_values() -> dict[str, Schema]:
    """The values each named sweep parameter takes, as its check in
    :data:`~mpft_sim.sweep.params.PARAMS` accepts them (a test holds them to it)."""
    from mpft_sim.spec.limits import (
        MAX_GPUS,
        MAX_MICRO_BATCHES,
        MAX_NODES,
        MAX_PLANES,
        MAX_RADIX,
        MAX_SEED,
        MAX_TOKENS,
        MAX_TOLERANCE,
    )
    from mpft_sim.spec.run import MODELS
    from mpft_sim.spec.topology import CROSS_PLANE_POLICIES, FAILURE_KINDS, ROUTING_POLICIES

    def count(most: Limit) -> Schema:
        return {"type": "integer", "minimum": 1, "maximum": json_number(most.value)}

    others = "|".join(k for k in FAILURE_KINDS if k != "plane")
    # a degraded component ends in ':factor', a number in [0, 1] (no node name holds a colon)
    factor = r"(?::\s*\+?(?:0*\.\d+|0+(?:\.\d*)?|0*1(?:\.0*)?)\s*)?"
    failure = {"type": "string", "examples": ["plane=3", "switch=p0/spine/1", "plane=3:0.5"],
               "pattern": rf"^\s*(?:plane\s*=\s*\d+\s*|(?:{others})\s*=[^:]*[^:\s][^:]*){factor}$"}
    return {
        "nodes": count(MAX_NODES), "planes": count(MAX_PLANES),
        "oversubscription": ratio_schema(None), "radix": count(MAX_RADIX),
        "routing": {"type": "string", "enum": list(ROUTING_POLICIES)},
        "cross_plane": {"type": "string", "enum": list(CROSS_PLANE_POLICIES)},
        "failures": {"anyOf": [failure, {"type": "array", "items": failure}]},
        "degrade_factor": {"type": "number", "minimum": 0, "maximum": 1},
        "tokens": count(MAX_TOKENS), "micro_batches": count(MAX_MICRO_BATCHES),
        "ep": count(MAX_GPUS),
        "topology": {"type": "string", "minLength": 1},
        "workload": {"type": "string", "minLength": 1},
        "model": {"type": "string", "enum": list(MODELS)},
        "seed": {"type": "integer", "minimum": 0, "maximum": json_number(MAX_SEED.value)},
        "tolerance": {"type": "number", "minimum": 0,
                      "exclusiveMaximum": json_number(MAX_TOLERANCE.value)},
    }
