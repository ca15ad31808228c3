"""JSON Schemas of the input files, generated from the spec classes, for editors.

An editor that speaks the YAML language server (VS Code's YAML extension, Neovim, Helix, ...)
completes and checks a topology, workload or sweep file against its schema, named in the
file's first line::

    # yaml-language-server: $schema=../schemas/topology.schema.json

The schemas are never written by hand: :func:`json_schema` walks the same dataclass fields
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
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from mpft_sim.spec.limits import MAX_DURATION, MAX_NAME, Limit
from mpft_sim.spec.model import DURATION_COMPONENTS, OPERATORS, PASSES, ComputeSpec
from mpft_sim.spec.schema import Spec, check_name, yaml_fields
from mpft_sim.spec.topology import TopologySpec, parse_ratio
from mpft_sim.spec.workload import JobsWorkloadSpec, WorkloadSpec
from mpft_sim.units import (
    UnitKind,
    example_quantity,
    format_quantity,
    unit_suffixes,
)

__all__ = ["SCHEMA_KINDS", "SchemaKind", "json_schema", "schema_file", "schema_text",
           "write_schemas"]

SchemaKind = Literal["topology", "workload", "sweep"]
SCHEMA_KINDS: tuple[SchemaKind, ...] = get_args(SchemaKind)

Schema = dict[str, Any]
# the schema of a field its type does not describe, given the builder and the field's metadata
FieldSchema = Callable[["_Builder", Mapping[str, Any]], Schema]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_UNIT_WORDS = {"bandwidth": "bandwidth", "time": "time", "size": "size", "flops": "FLOP rate"}
_DOCS = {"topology": "docs/topology.md", "workload": "docs/workload.md",
         "sweep": "docs/sweep.md"}


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
        return _Builder().root(TopologySpec, "topology")
    if kind == "workload":
        builder = _Builder()
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


# --- values the types alone do not describe ---------------------------------------------------

def _number(value: float) -> int | float:
    """A bound as JSON writes it best: 1e15 as 1000000000000000, not 1e+15."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _name_schema() -> Schema:
    # check_name: not blank, not "." or "..", no path separator or control character
    return {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
            "pattern": r"^(?!\s*\.{0,2}\s*$)[^/\\\x00-\x1f\x7f]+$",
            "patternErrorMessage": "a name is used as a folder name: no '/', '\\', '.' or '..'"}


def _ratio_schema(most: Limit | float | None) -> Schema:
    """What :func:`~mpft_sim.spec.topology.parse_ratio` reads: ``"3:1"`` or a number ``3``."""
    number: Schema = {"type": "integer", "minimum": 1}
    if most is not None:
        number["maximum"] = _number(most.value if isinstance(most, Limit) else most)
    return {"anyOf": [number, {"type": "string",
                               "pattern": r"^\s*0*[1-9]\d*\s*:\s*0*[1-9]\d*\s*$"}],
            "examples": ["1:1", "3:1"]}


def _positive(meta: Mapping[str, Any]) -> bool:
    return meta.get("gt") is not None and meta["gt"] >= 0


def _non_negative(meta: Mapping[str, Any]) -> bool:
    return _positive(meta) or (meta.get("ge") is not None and meta["ge"] >= 0)


def _quantity_schema(unit: UnitKind, meta: Mapping[str, Any], number_zero: bool = True
                     ) -> Schema:
    """A quantity such as ``400Gb/s`` (what :func:`~mpft_sim.units.parse_quantity` reads),
    with the field's lower bound in the pattern: no sign when it must not be negative, no zero
    when it must be positive. Zero needs no unit, as a string or (``number_zero``) a number."""
    units = "|".join(re.escape(u) for u in sorted(unit_suffixes(unit), key=lambda u: (-len(u), u)))
    mantissa = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
    sign = r"\+?" if _non_negative(meta) else "[-+]?"
    nonzero = rf"{sign}(?=[0.]*[1-9]){mantissa}\s*(?:{units})"
    zero = rf"[-+]?(?:0+\.?0*|\.0+)(?:[eE][-+]?\d+)?\s*(?:{units})?"
    positive = _positive(meta)
    forms = nonzero if positive else f"{nonzero}|{zero}"
    example = example_quantity(unit)
    text: Schema = {"type": "string", "maxLength": 64, "pattern": rf"^\s*(?:{forms})\s*$",
                    "patternErrorMessage": f"expected a {_UNIT_WORDS[unit]} with a unit, such as "
                                           f"{example}",
                    "examples": [example]}
    if positive or not number_zero:
        return text
    return {"anyOf": [text, {"const": 0}]}


def _quantity_words(unit: UnitKind, meta: Mapping[str, Any]) -> str:
    """The unit, an example and the ceiling in words, for a quantity's description."""
    words = f"a {_UNIT_WORDS[unit]} with its unit, such as {example_quantity(unit)}"
    most = meta.get("le")
    if isinstance(most, Limit):
        words += f"; at most {format_quantity(most.value, unit)} ({most.why})"
    return words


# Fields whose parse or check function or cross-field rule says more than their type, by the
# function (or by class and YAML key): kept here, beside the other translations into schema.
_PARSED: dict[Callable[..., Any], Callable[[Mapping[str, Any]], Schema]] = {
    parse_ratio: lambda meta: _ratio_schema(meta.get("le")),
}
_CHECKED: dict[Callable[..., Any], Callable[[], Schema]] = {check_name: _name_schema}


def _durations_schema(builder: _Builder, meta: Mapping[str, Any]) -> Schema:
    # ComputeSpec.check: each a time string from 0 to MAX_DURATION, of a known component
    ceiling = {"le": MAX_DURATION, "ge": 0}
    time = {**builder.quantity("time", ceiling, number_zero=False),
            "description": _quantity_words("time", ceiling)}
    return {"type": "object", "additionalProperties": False,
            "properties": {name: time for name in (
                *DURATION_COMPONENTS, *(f"{op}_{p}" for op in OPERATORS for p in PASSES))}}


def _jobs_schema(builder: _Builder, meta: Mapping[str, Any]) -> Schema:
    # JobsWorkloadSpec.check: at least one job
    jobs = typing.get_type_hints(JobsWorkloadSpec)["jobs"]
    return {**builder.value(jobs, meta), "minItems": 1}


_FIELDS: dict[tuple[type, str], FieldSchema] = {
    (ComputeSpec, "durations"): _durations_schema,
    (JobsWorkloadSpec, "jobs"): _jobs_schema,
}


# --- the walk over the spec classes -----------------------------------------------------------

def _doc(cls: type) -> str:
    """A class's docstring, first paragraph, on one line."""
    text = (cls.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(text.split()).replace("``", "`")  # reST literals as Markdown


def _non_null(tp: Any) -> tuple[list[Any], bool]:
    """The members of a union other than None, and whether None was one."""
    if get_origin(tp) in (types.UnionType, typing.Union):
        args = [a for a in get_args(tp) if a is not type(None)]
        return args, len(args) < len(get_args(tp))
    return [tp], False


def _nullable(schema: Schema) -> Schema:
    """``schema`` or YAML's null (an optional key written ``key: null``, or ``key:``)."""
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema and "anyOf" not in schema:
        out = {**schema, "type": [kind, "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def _kind_of(cls: type) -> str:
    """The one value of a workload class's ``kind: Literal[...]`` field."""
    (kind,) = get_args(typing.get_type_hints(cls)["kind"])
    return str(kind)


class _Builder:
    """Schemas of spec classes, each class once under ``$defs``; ``fields`` gives the schema
    of a field its type does not describe, by class and YAML key."""

    def __init__(self, fields: Mapping[tuple[type, str], FieldSchema] | None = None) -> None:
        self.defs: dict[str, Schema] = {}
        self.fields = {**_FIELDS, **(fields or {})}

    def root(self, cls: type[Spec], kind: str) -> Schema:
        return self.finish(self.object(cls), kind, _doc(cls))

    def finish(self, schema: Schema, kind: str, doc: str) -> Schema:
        return {"$schema": _DRAFT, "title": f"mpft-sim {kind} file",
                **schema,
                "description": f"{doc} Generated from the specs by `mpft-sim schema {kind}`; "
                               f"every key: {_DOCS[kind]}.",
                **({"$defs": self.defs} if self.defs else {})}

    def ref(self, cls: type[Spec]) -> Schema:
        name = cls.__name__
        if name not in self.defs:
            self.defs[name] = {}  # taken before the walk, so that a cycle ends here
            self.defs[name] = self.object(cls)
        return {"$ref": f"#/$defs/{name}"}

    def object(self, cls: type[Spec]) -> Schema:
        hints = typing.get_type_hints(cls)
        properties = {}
        required = []
        for key, field in yaml_fields(cls).items():
            properties[key] = self.field(cls, key, field, hints[field.name])
            if (field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING):
                required.append(key)
        schema: Schema = {"type": "object", "properties": properties,
                          "additionalProperties": False}
        if _doc(cls):
            schema["description"] = _doc(cls)
        if required:
            schema["required"] = required
        return schema

    def field(self, cls: type, key: str, field: dataclasses.Field[Any], tp: Any) -> Schema:
        meta = field.metadata
        parse = meta.get("parse")
        if (cls, key) in self.fields:
            schema = self.fields[cls, key](self, meta)
        elif parse is not None:
            if parse not in _PARSED:  # a new parse function: say what it reads, above
                raise TypeError(f"no JSON Schema for {cls.__name__}.{key}, read by {parse}")
            schema = _PARSED[parse](meta)
        else:
            schema = self.value(tp, meta)
        words = [meta.get("doc", "")]
        args, _ = _non_null(tp)
        nested = args[0] if len(args) == 1 else None
        if isinstance(nested, type) and issubclass(nested, Spec) and not words[0]:
            words = [_doc(nested)]
        unit = meta.get("unit")
        most = meta.get("le")
        if unit is not None:
            words.append(_quantity_words(unit, meta))
        elif isinstance(most, Limit) and parse is None:
            words.append(f"at most {_number(most.value):,} ({most.why})")
        description = "; ".join(w for w in words if w)
        if description:
            schema = {**schema, "description": description}
        default = _plain_default(field, unit)
        if default is not None:
            schema = {**schema, "default": default}
        return schema

    def value(self, tp: Any, meta: Mapping[str, Any]) -> Schema:
        """The schema of a value of type ``tp`` with the field's bounds and unit."""
        args, nullable = _non_null(tp)
        if nullable or len(args) > 1:
            inner = self.value(args[0], meta) if len(args) == 1 else self.kinds(args)
            return _nullable(inner) if nullable else inner
        origin = get_origin(tp)
        if tp is Any:
            return {}
        if origin is Literal:
            choices = list(get_args(tp))
            if len(choices) == 1:
                return {"const": choices[0]}
            strings = all(isinstance(c, str) for c in choices)
            return {**({"type": "string"} if strings else {}), "enum": choices}
        if origin in (tuple, list):
            items = get_args(tp)
            if origin is tuple and not (len(items) == 2 and items[1] is Ellipsis):
                return {"type": "array", "minItems": len(items), "maxItems": len(items),
                        "prefixItems": [self.value(t, meta) for t in items]}
            return {"type": "array", "items": self.value(items[0], meta)}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.value(get_args(tp)[1], meta)}
        if isinstance(tp, type) and issubclass(tp, Spec):
            return self.ref(tp)
        unit = meta.get("unit")
        if unit is not None:
            return self.quantity(unit, meta)
        check = meta.get("check")
        if check in _CHECKED:
            return _CHECKED[check]()
        return self.scalar(tp, meta)

    def quantity(self, unit: UnitKind, meta: Mapping[str, Any], number_zero: bool = True
                 ) -> Schema:
        """A reference to the schema of a quantity (one per unit and lower bound)."""
        schema = _quantity_schema(unit, meta, number_zero)
        sign = "positive_" if _positive(meta) else "" if _non_negative(meta) else "signed_"
        name = f"{sign}{unit}{'' if number_zero else '_string'}"
        self.defs[name] = {**schema, "description": _quantity_words(unit, {})}
        return {"$ref": f"#/$defs/{name}"}

    def scalar(self, tp: Any, meta: Mapping[str, Any]) -> Schema:
        names = {bool: "boolean", int: "integer", float: "number", str: "string"}
        if tp not in names:
            raise TypeError(f"no JSON Schema for the type {tp}")  # a new type in a spec class
        schema: Schema = {"type": names[tp]}
        if tp in (int, float):
            for name, keyword in (("ge", "minimum"), ("gt", "exclusiveMinimum"),
                                  ("le", "maximum"), ("lt", "exclusiveMaximum")):
                bound = meta.get(name)
                if bound is not None:
                    schema[keyword] = _number(bound.value if isinstance(bound, Limit) else bound)
        return schema

    def kinds(self, classes: typing.Sequence[Any]) -> Schema:
        """Spec classes told apart by their ``kind``: the kind picks the class's schema."""
        kinds = [_kind_of(cls) for cls in classes]
        words = "\n".join(f"{k}: {_doc(cls)}" for k, cls in zip(kinds, classes, strict=True))
        return {
            "type": "object", "required": ["kind"],
            "properties": {"kind": {"enum": kinds, "description": words}},
            # if/then, not oneOf: a mistake is reported against the kind written, not all five
            "allOf": [{"if": {"properties": {"kind": {"const": k}}, "required": ["kind"]},
                       "then": self.ref(cls)} for k, cls in zip(kinds, classes, strict=True)],
        }


def _plain_default(field: dataclasses.Field[Any], unit: UnitKind | None) -> Any:
    """The default as the YAML would write it, when it is plain: a number, a string, a
    choice, an empty list, a quantity such as ``200GB/s``; else None."""
    value = field.default
    if value is dataclasses.MISSING or value is None or field.metadata.get("parse"):
        return None
    if unit is not None:
        return format_quantity(value, unit)
    if value == ():
        return []
    if isinstance(value, bool | int | float | str):
        return value
    return None


# --- sweep files ------------------------------------------------------------------------------

def _sweep_schema() -> Schema:
    from mpft_sim.sweep.spec import SweepFileSpec

    file = {"type": "string", "minLength": 1}
    files = {"anyOf": [file, {"type": "array", "minItems": 1, "items": file}]}
    parameters = {"$ref": "#/$defs/parameters"}
    builder = _Builder({(SweepFileSpec, "topology"): lambda builder, meta: files,
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
    args, _ = _non_null(tp)
    tp = args[0] if len(args) == 1 else tp
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, Spec):
        hints = typing.get_type_hints(tp)
        for key, field in yaml_fields(tp).items():
            sub = hints[field.name]
            inner, _ = _non_null(sub)
            words = field.metadata.get("doc", "") or (
                _doc(inner[0]) if isinstance(inner[0], type) and issubclass(inner[0], Spec)
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
        return {"type": "integer", "minimum": 1, "maximum": _number(most.value)}

    others = "|".join(k for k in FAILURE_KINDS if k != "plane")
    # a degraded component ends in ':factor', a number in [0, 1] (no node name holds a colon)
    factor = r"(?::\s*\+?(?:0*\.\d+|0+(?:\.\d*)?|0*1(?:\.0*)?)\s*)?"
    failure = {"type": "string", "examples": ["plane=3", "switch=p0/spine/1", "plane=3:0.5"],
               "pattern": rf"^\s*(?:plane\s*=\s*\d+\s*|(?:{others})\s*=[^:]*[^:\s][^:]*){factor}$"}
    return {
        "nodes": count(MAX_NODES), "planes": count(MAX_PLANES),
        "oversubscription": _ratio_schema(None), "radix": count(MAX_RADIX),
        "routing": {"type": "string", "enum": list(ROUTING_POLICIES)},
        "cross_plane": {"type": "string", "enum": list(CROSS_PLANE_POLICIES)},
        "failures": {"anyOf": [failure, {"type": "array", "items": failure}]},
        "degrade_factor": {"type": "number", "minimum": 0, "maximum": 1},
        "tokens": count(MAX_TOKENS), "micro_batches": count(MAX_MICRO_BATCHES),
        "ep": count(MAX_GPUS),
        "topology": {"type": "string", "minLength": 1},
        "workload": {"type": "string", "minLength": 1},
        "model": {"type": "string", "enum": list(MODELS)},
        "seed": {"type": "integer", "minimum": 0, "maximum": _number(MAX_SEED.value)},
        "tolerance": {"type": "number", "minimum": 0,
                      "exclusiveMaximum": _number(MAX_TOLERANCE.value)},
    }
