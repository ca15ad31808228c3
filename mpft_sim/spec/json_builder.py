"""The walk that turns spec classes into JSON Schema: one class, field or value at a time.

:class:`SchemaBuilder` reads the same dataclass fields and :func:`~mpft_sim.spec.schema.option`
metadata the loader checks with, and gives each spec class a closed object under ``$defs``;
the functions beside it translate what a type alone does not say (a quantity with its unit,
a ratio, a name, a field with a rule of its own) into patterns, bounds and descriptions.
:mod:`mpft_sim.spec.json_schema` puts the pieces together into the schema of each file.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args, get_origin

from mpft_sim.spec.limits import MAX_DURATION, MAX_NAME, Limit
from mpft_sim.spec.model import DURATION_COMPONENTS, OPERATORS, PASSES, ComputeSpec
from mpft_sim.spec.schema import Spec, check_name, yaml_fields
from mpft_sim.spec.topology import parse_ratio
from mpft_sim.spec.workload import JobsWorkloadSpec
from mpft_sim.units import (
    UnitKind,
    example_quantity,
    format_quantity,
    unit_suffixes,
)

__all__ = ["FieldSchema", "Schema", "SchemaBuilder", "class_doc", "json_number", "non_null",
           "quantity_schema", "ratio_schema"]

Schema = dict[str, Any]
# the schema of a field its type does not describe, given the builder and the field's metadata
FieldSchema = Callable[["SchemaBuilder", Mapping[str, Any]], Schema]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_DOCS = {"topology": "docs/topology.md", "workload": "docs/workload.md",
         "sweep": "docs/sweep.md"}


# --- values the types alone do not describe ---------------------------------------------------

_UNIT_WORDS = {"bandwidth": "bandwidth", "time": "time", "size": "size", "flops": "FLOP rate"}


def json_number(value: float) -> int | float:
    """A bound as JSON writes it best: 1e15 as 1000000000000000, not 1e+15."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _name_schema() -> Schema:
    # check_name: not blank, not "." or "..", no path separator or control character
    return {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
            "pattern": r"^(?!\s*\.{0,2}\s*$)[^/\\\x00-\x1f\x7f]+$",
            "patternErrorMessage": "a name is used as a folder name: no '/', '\\', '.' or '..'"}


def ratio_schema(most: Limit | float | None) -> Schema:
    """What :func:`~mpft_sim.spec.topology.parse_ratio` reads: ``"3:1"`` or a number ``3``."""
    number: Schema = {"type": "integer", "minimum": 1}
    if most is not None:
        number["maximum"] = json_number(most.value if isinstance(most, Limit) else most)
    return {"anyOf": [number, {"type": "string",
                               "pattern": r"^\s*0*[1-9]\d*\s*:\s*0*[1-9]\d*\s*$"}],
            "examples": ["1:1", "3:1"]}


def _positive(meta: Mapping[str, Any]) -> bool:
    return meta.get("gt") is not None and meta["gt"] >= 0


def _non_negative(meta: Mapping[str, Any]) -> bool:
    return _positive(meta) or (meta.get("ge") is not None and meta["ge"] >= 0)


def quantity_schema(unit: UnitKind, meta: Mapping[str, Any], number_zero: bool = True
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
    parse_ratio: lambda meta: ratio_schema(meta.get("le")),
}


_CHECKED: dict[Callable[..., Any], Callable[[], Schema]] = {check_name: _name_schema}


def _durations_schema(builder: SchemaBuilder, meta: Mapping[str, Any]) -> Schema:
    # ComputeSpec.check: each a time string from 0 to MAX_DURATION, of a known component
    ceiling = {"le": MAX_DURATION, "ge": 0}
    time = {**builder.quantity("time", ceiling, number_zero=False),
            "description": _quantity_words("time", ceiling)}
    return {"type": "object", "additionalProperties": False,
            "properties": {name: time for name in (
                *DURATION_COMPONENTS, *(f"{op}_{p}" for op in OPERATORS for p in PASSES))}}


def _jobs_schema(builder: SchemaBuilder, meta: Mapping[str, Any]) -> Schema:
    # JobsWorkloadSpec.check: at least one job
    jobs = typing.get_type_hints(JobsWorkloadSpec)["jobs"]
    return {**builder.value(jobs, meta), "minItems": 1}


_FIELDS: dict[tuple[type, str], FieldSchema] = {
    (ComputeSpec, "durations"): _durations_schema,
    (JobsWorkloadSpec, "jobs"): _jobs_schema,
}


# --- the walk over the spec classes -----------------------------------------------------------

def class_doc(cls: type) -> str:
    """A class's docstring, first paragraph, on one line."""
    text = (cls.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(text.split()).replace("``", "`")  # reST literals as Markdown


def non_null(tp: Any) -> tuple[list[Any], bool]:
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


class SchemaBuilder:
    """Schemas of spec classes, each class once under ``$defs``; ``fields`` gives the schema
    of a field its type does not describe, by class and YAML key."""

    def __init__(self, fields: Mapping[tuple[type, str], FieldSchema] | None = None) -> None:
        self.defs: dict[str, Schema] = {}
        self.fields = {**_FIELDS, **(fields or {})}

    def root(self, cls: type[Spec], kind: str) -> Schema:
        return self.finish(self.object(cls), kind, class_doc(cls))

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
        if class_doc(cls):
            schema["description"] = class_doc(cls)
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
        args, _ = non_null(tp)
        nested = args[0] if len(args) == 1 else None
        if isinstance(nested, type) and issubclass(nested, Spec) and not words[0]:
            words = [class_doc(nested)]
        unit = meta.get("unit")
        most = meta.get("le")
        if unit is not None:
            words.append(_quantity_words(unit, meta))
        elif isinstance(most, Limit) and parse is None:
            words.append(f"at most {json_number(most.value):,} ({most.why})")
        description = "; ".join(w for w in words if w)
        if description:
            schema = {**schema, "description": description}
        default = _plain_default(field, unit)
        if default is not None:
            schema = {**schema, "default": default}
        return schema

    def value(self, tp: Any, meta: Mapping[str, Any]) -> Schema:
        """The schema of a value of type ``tp`` with the field's bounds and unit."""
        args, nullable = non_null(tp)
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
        schema = quantity_schema(unit, meta, number_zero)
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
                    limit = bound.value if isinstance(bound, Limit) else bound
                    schema[keyword] = json_number(limit)
        return schema

    def kinds(self, classes: typing.Sequence[Any]) -> Schema:
        """Spec classes told apart by their ``kind``: the kind picks the class's schema."""
        kinds = [_kind_of(cls) for cls in classes]
        words = "\n".join(f"{k}: {class_doc(cls)}" for k, cls in zip(kinds, classes, strict=True))
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
