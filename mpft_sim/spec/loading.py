"""Load a raw YAML mapping into a spec: every key known, units parsed once, nested specs built.

:func:`load_spec` walks a mapping key by key against the fields a spec class declares with
:func:`~mpft_sim.spec.schema.option`, rejects an unknown key with a "did you mean"
suggestion, turns a quantity such as ``400Gb/s`` into its SI float and builds each nested
spec; the spec's own ``__post_init__`` (:class:`~mpft_sim.spec.schema.Spec`) then checks
every rule, so a loaded spec and one built in code are held to the same rules. An error
names the file, the key path and the value as the user wrote it.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, get_args, get_origin

from mpft_sim.errors import SpecError
from mpft_sim.spec.schema import Key, Spec, field_types, yaml_fields
from mpft_sim.units import UnitError, parse_quantity

__all__ = ["load_spec"]

T = TypeVar("T", bound=Spec)


def load_spec(cls: type[T], data: Any, file: str | None = None, key: Key = ()) -> T:
    """Build ``cls`` from a raw mapping, validating every key.

    Parameters
    ----------
    cls : type
        A frozen dataclass deriving from :class:`Spec`.
    data : mapping
        The parsed YAML.
    file : str, optional
        Where ``data`` came from, for messages; also the ``source`` of a top-level spec.
    key : tuple, optional
        Key path of ``data`` inside its file, for messages.

    Raises
    ------
    SpecError
        On the first problem found, naming the file, the key path and the bad value.
    """
    try:
        return _load(cls, data, key, file)
    except SpecError as exc:
        raise exc.within(file) from None


def _load(cls: type[T], data: Any, key: Key, source: str | None = None) -> T:
    if not isinstance(data, Mapping):
        raise SpecError("expected a mapping of keys", key, data)
    fields = yaml_fields(cls)
    for raw_key in data:
        if raw_key not in fields:
            text = str(raw_key)[:100]
            close = difflib.get_close_matches(text, list(fields), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(fields)})"
            raise SpecError(f"unknown key{hint}", (*key, text))
    types_of = dict((f.name, tp) for f, tp in field_types(cls))
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in data:
            no_default = field.default is dataclasses.MISSING
            if no_default and field.default_factory is dataclasses.MISSING:
                raise SpecError("missing required key", (*key, name))
            continue
        kwargs[field.name] = _convert(types_of[field.name], data[name], field.metadata,
                                      (*key, name))
    if source is not None and "source" in types_of:
        kwargs["source"] = source
    try:
        return cls(**kwargs)
    except SpecError as exc:
        raw = data.get(exc.key[0]) if len(exc.key) == 1 else None
        if exc.has_value and isinstance(raw, str | int | float):
            # show what the user wrote ("-400Gb/s"), not the parsed SI float
            exc = SpecError(exc.message, exc.key, raw)
        raise exc.within(prefix=key) from None


def _convert(tp: Any, value: Any, meta: Mapping[str, Any], key: Key) -> Any:
    """Turn a raw YAML value into what the field holds: units parsed, nested specs built.

    Scalars pass through unchanged; their types are checked by the spec's ``__post_init__``.
    """
    parse = meta.get("parse")
    if parse is not None:
        try:
            return parse(value)
        except (ValueError, TypeError) as exc:
            raise SpecError(str(exc), key, value) from None
    origin = get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(get_args(tp)):
            return None
        if len(args) == 1:
            return _convert(args[0], value, meta, key)
        return value  # a union of spec classes: built by the caller (the jobs of a workload)
    unit = meta.get("unit")
    if unit is not None:
        try:
            return parse_quantity(value, unit)
        except UnitError as exc:
            raise SpecError(str(exc), key, value) from None
    if origin is tuple or origin is list:
        if not isinstance(value, list):
            raise SpecError("expected a list", key, value)
        items = get_args(tp)
        if origin is tuple and not (len(items) == 2 and items[1] is Ellipsis):
            return value  # a fixed-length tuple: __post_init__ checks its length and items
        return [_convert(items[0], v, {}, (*key, i)) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise SpecError("expected a mapping", key, value)
        item_type = get_args(tp)[1]
        return {k: _convert(item_type, v, {}, (*key, str(k))) for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, Spec):
        return _load(tp, value, key)
    return value
