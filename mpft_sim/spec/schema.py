"""Turn raw YAML mappings into validated, frozen spec dataclasses.

A spec class is a frozen dataclass deriving from :class:`Spec`; each field is declared with
:func:`option`, which names its YAML key, its unit and its bounds. :func:`load_spec` walks a
mapping key by key, parses units once, rejects unknown keys with a "did you mean" suggestion and
puts the file and key path in every message. Bounds and cross-field checks live on the class
(``__post_init__`` and :meth:`Spec.check`), so specs built in code are held to the same rules.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from mpft_sim.errors import SpecError
from mpft_sim.units import UnitError, UnitKind, parse_quantity

__all__ = ["Spec", "load_spec", "option", "read_yaml"]

T = TypeVar("T", bound="Spec")
Key = tuple[str | int, ...]


def option(
    *,
    key: str | None = None,
    unit: UnitKind | None = None,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    parse: Callable[[Any], Any] | None = None,
    doc: str = "",
) -> Any:
    """Declare a spec field.

    Parameters
    ----------
    key : str, optional
        The YAML key; defaults to the field name (fields carry units in their names, such as
        ``bandwidth_Bps``, while the YAML key is ``bandwidth``).
    unit : {"bandwidth", "time", "size", "flops"}, optional
        Parse the YAML value as a quantity with a unit into an SI float.
    default, default_factory
        As for :func:`dataclasses.field`; a field without either is required.
    gt, ge, le : float, optional
        Bounds checked whenever the spec is built, from YAML or in code.
    parse : callable, optional
        Custom conversion of the raw YAML value; raise ``ValueError`` with a message.
    doc : str
        One line for the reference documentation.
    """
    metadata = {"key": key, "unit": unit, "gt": gt, "ge": ge, "le": le, "parse": parse, "doc": doc}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


class Spec:
    """Base of validated input dataclasses: checks bounds, then :meth:`check`."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            _check_bounds(field, getattr(self, field.name))
        self.check()

    def check(self) -> None:
        """Cross-field validation; raise :class:`SpecError` with a key relative to ``self``."""


def _yaml_key(field: dataclasses.Field[Any]) -> str:
    return field.metadata.get("key") or field.name


def _check_bounds(field: dataclasses.Field[Any], value: Any) -> None:
    meta = field.metadata
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    key = (_yaml_key(field),)
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError("must be a finite number", key, value)
    if meta.get("gt") is not None and not value > meta["gt"]:
        what = "positive" if meta["gt"] == 0 else f"greater than {meta['gt']:g}"
        raise SpecError(f"must be {what}", key, value)
    if meta.get("ge") is not None and not value >= meta["ge"]:
        what = "non-negative" if meta["ge"] == 0 else f"at least {meta['ge']:g}"
        raise SpecError(f"must be {what}", key, value)
    if meta.get("le") is not None and not value <= meta["le"]:
        raise SpecError(f"must be at most {meta['le']:g}", key, value)


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file, turning I/O and syntax problems into :class:`SpecError`."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", file=name) from None
    except OSError as exc:
        raise SpecError(f"cannot read file ({exc.strerror})", file=name) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SpecError(f"invalid YAML{where}: {problem}", file=name) from None


def load_spec(cls: type[T], data: Any, file: str | None = None, key: Key = ()) -> T:
    """Build ``cls`` from a raw mapping, validating every key.

    Parameters
    ----------
    cls : type
        A frozen dataclass deriving from :class:`Spec`.
    data : mapping
        The parsed YAML.
    file : str, optional
        Where ``data`` came from, for messages.
    key : tuple, optional
        Key path of ``data`` inside its file, for messages.

    Raises
    ------
    SpecError
        On the first problem found, naming the file, the key path and the bad value.
    """
    try:
        return _load(cls, data, key)
    except SpecError as exc:
        raise exc.within(file) from None


def _load(cls: type[T], data: Any, key: Key) -> T:
    if not isinstance(data, Mapping):
        raise SpecError("expected a mapping of keys", key, _short(data))
    fields = {_yaml_key(f): f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for raw_key in data:
        if raw_key not in fields:
            close = difflib.get_close_matches(str(raw_key), list(fields), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(fields)})"
            raise SpecError(f"unknown key{hint}", (*key, str(raw_key)))
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in data:
            no_default = field.default is dataclasses.MISSING
            if no_default and field.default_factory is dataclasses.MISSING:
                raise SpecError("missing required key", (*key, name))
            continue
        kwargs[field.name] = _convert(hints[field.name], data[name], field.metadata, (*key, name))
    try:
        return cls(**kwargs)
    except SpecError as exc:
        if len(exc.key) == 1 and exc.key[0] in data and exc.has_value:
            # show what the user wrote ("-400Gb/s"), not the parsed SI float
            exc = SpecError(exc.message, exc.key, _short(data[exc.key[0]]))
        raise exc.within(prefix=key) from None


def _short(value: Any) -> Any:
    text = repr(value)
    return value if len(text) <= 60 else text[:57] + "..."


def _convert(tp: Any, value: Any, meta: Mapping[str, Any], key: Key) -> Any:
    parse = meta.get("parse")
    if parse is not None:
        try:
            return parse(value)
        except (ValueError, TypeError) as exc:
            raise SpecError(str(exc), key, _short(value)) from None
    unit = meta.get("unit")
    origin = get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(get_args(tp)):
            return None
        if len(args) == 1:
            return _convert(args[0], value, meta, key)
        raise TypeError(f"unsupported union {tp}")  # a bug in a spec class, not user input
    if unit is not None:
        try:
            return parse_quantity(value, unit)
        except UnitError as exc:
            raise SpecError(str(exc), key, _short(value)) from None
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            names = ", ".join(repr(c) for c in choices)
            close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SpecError(f"must be one of {names}{hint}", key, _short(value))
        return value
    if origin is tuple:
        item_type = get_args(tp)[0]
        if not isinstance(value, list):
            raise SpecError("expected a list", key, _short(value))
        return tuple(_convert(item_type, v, {}, (*key, i)) for i, v in enumerate(value))
    if origin is dict:
        key_type, item_type = get_args(tp)
        if not isinstance(value, Mapping):
            raise SpecError("expected a mapping", key, _short(value))
        return {
            _convert(key_type, k, {}, (*key, str(k))): _convert(item_type, v, {}, (*key, str(k)))
            for k, v in value.items()
        }
    if isinstance(tp, type) and issubclass(tp, Spec):
        return _load(tp, value, key)
    if tp is bool:
        if not isinstance(value, bool):
            raise SpecError("expected true or false", key, _short(value))
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError("expected a whole number", key, _short(value))
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError("expected a number", key, _short(value))
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SpecError("expected a string", key, _short(value))
        return value
    raise TypeError(f"unsupported spec field type {tp}")  # a bug in a spec class
