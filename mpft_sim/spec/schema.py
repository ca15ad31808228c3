"""Declare spec dataclasses and hold every value to its field's rules, whoever builds the spec.

A spec class is a frozen dataclass deriving from :class:`Spec`; each field is declared with
:func:`option`, which names its YAML key, its unit, its bounds and any extra check. Every rule
runs in :meth:`Spec.__post_init__`, whoever builds the spec: the type of each field (a whole
number is not a bool, a number may be an int, a choice is one of its ``Literal`` values with a
"did you mean"), each item of a tuple and each entry of a dict, the bounds (finite, positive,
at most a ceiling) and the field's own check, then the class's cross-field :meth:`Spec.check`.
A spec built in code is therefore held to exactly the rules of one loaded from YAML
(:func:`~mpft_sim.spec.loading.load_spec`), with the same messages and key paths.

Why not pydantic: it is not a dependency, and these specs need what it would have to be bent
into (unit-carrying YAML values parsed into SI floats under another field name, the house
message format ``<file>: <key.path>: <what>, got <value>`` with did-you-mean hints, frozen
dataclasses with cross-field checks that read like the domain). The checker below is ~150 lines
the project owns.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import operator
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, get_args, get_origin

from mpft_sim.errors import SpecError, short_repr
from mpft_sim.spec.files import read_yaml
from mpft_sim.spec.limits import MAX_NAME, Limit
from mpft_sim.units import UnitKind

__all__ = ["Spec", "check_name", "field_types", "in_source", "option", "read_yaml",
           "source_field", "validate", "yaml_fields"]

Key = tuple[str | int, ...]
Bound = float | Limit | None

_UNIT_NAMES = {"bandwidth": "bytes/s", "time": "seconds", "size": "bytes", "flops": "FLOP/s"}
_UNIT_SUFFIX = {"bandwidth": " B/s", "time": " s", "size": " bytes", "flops": " FLOP/s"}


def option(
    *,
    key: str | None = None,
    unit: UnitKind | None = None,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    gt: float | None = None,
    ge: float | None = None,
    le: Bound = None,
    lt: Bound = None,
    parse: Callable[[Any], Any] | None = None,
    check: Callable[[Any], None] | None = None,
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
    gt, ge, le, lt : float or Limit, optional
        Bounds checked whenever the spec is built, from YAML or in code; on a tuple or a dict
        they bound each number in it. A :class:`~mpft_sim.spec.limits.Limit` ceiling says
        why in the message.
    parse : callable, optional
        Custom conversion of the raw YAML value (raise ``ValueError`` with a message); the
        result is then checked against the field's type like a value given in code.
    check : callable, optional
        Extra rule on the value (raise ``ValueError`` with a message), run in both cases.
    doc : str
        One line for the reference documentation.
    """
    metadata = {"key": key, "unit": unit, "gt": gt, "ge": ge, "le": le, "lt": lt,
                "parse": parse, "check": check, "doc": doc}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def source_field() -> Any:
    """Declare the ``source`` field of a top-level spec: the file it was loaded from.

    Not a YAML key, not part of equality or repr, kept by :func:`dataclasses.replace`; errors
    found later (while planning a job on a fabric) name it through :func:`in_source`.
    """
    return dataclasses.field(default=None, kw_only=True, compare=False, repr=False,
                             metadata={"yaml": False, "doc": "the file the spec came from"})


def check_name(value: str) -> None:
    """Refuse a name that cannot name a file: reports are written to ``reports/<name>``.

    Raises
    ------
    ValueError
        If the name is empty, too long, ``.``/``..`` or holds a path separator or a control
        character.
    """
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value) > MAX_NAME:
        raise ValueError(f"must be at most {MAX_NAME} characters")
    if "/" in value or "\\" in value or value.strip() in (".", ".."):
        raise ValueError("is used as a folder name: no '/', '\\', '.' or '..'")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")


def yaml_fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """The fields of a spec class by YAML key (``source`` and other non-YAML fields left out)."""
    return {_yaml_key(f): f for f in dataclasses.fields(cls)
            if f.init and f.metadata.get("yaml", True)}


def _yaml_key(field: dataclasses.Field[Any]) -> str:
    return field.metadata.get("key") or field.name


_FIELD_TYPES: dict[type, tuple[tuple[dataclasses.Field[Any], Any], ...]] = {}


def field_types(cls: type) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
    """Each field of a spec class with its resolved type (resolving is slow: done once)."""
    found = _FIELD_TYPES.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = _FIELD_TYPES[cls] = tuple((f, hints[f.name]) for f in dataclasses.fields(cls))
    return found


class Spec:
    """Base of validated input dataclasses: checks each field, then :meth:`check`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # set on the class itself, so that @dataclass (which never replaces a method a class
        # defines) keeps this short repr instead of dumping every nested field
        cls.__repr__ = Spec.__repr__  # type: ignore[method-assign]

    def __repr__(self) -> str:
        """The spec's class and the fields that differ from their defaults, nested specs
        folded, at most 200 characters: ``TopologySpec(name='ft2-2048', fabric=FabricSpec(...)
        ...)``."""
        parts = []
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            if not field.repr:
                continue
            value = getattr(self, field.name)
            default = (field.default if field.default is not dataclasses.MISSING else
                       field.default_factory() if field.default_factory is not
                       dataclasses.MISSING else dataclasses.MISSING)
            if value == default or (isinstance(value, Spec) and value == self._resolved(field)):
                continue
            text = (f"{type(value).__name__}(...)" if isinstance(value, Spec)
                    else short_repr(value, 40))
            parts.append(f"{field.name}={text}")
        text = f"{type(self).__name__}({', '.join(parts)})"
        return text if len(text) <= 200 else text[:196] + "...)"

    def _resolved(self, field: dataclasses.Field[Any]) -> object:
        """What a nested spec field holds when left to its default: a spec may fill its
        default in from a sibling (a fabric's transport from its latency preset), and that
        is no difference worth showing."""
        if field.default_factory is dataclasses.MISSING:
            return dataclasses.MISSING
        try:
            unset = dataclasses.replace(self,  # type: ignore[type-var]
                                        **{field.name: field.default_factory()})
        except (SpecError, ValueError, TypeError):
            return dataclasses.MISSING
        return getattr(unset, field.name)

    def __post_init__(self) -> None:
        for field, tp in field_types(type(self)):
            value = getattr(self, field.name)
            checked = validate(tp, value, field.metadata, (_yaml_key(field),))
            if checked is not value:
                object.__setattr__(self, field.name, checked)  # an int given for a float ...
        self.check()

    def check(self) -> None:
        """Cross-field validation; raise :class:`SpecError` with a key relative to ``self``."""


@contextmanager
def in_source(spec: object, prefix: Key = ()) -> Iterator[None]:
    """Re-raise a :class:`SpecError` of the block as one in ``spec``'s source file.

    Planning a job on a fabric finds problems (too many GPUs for the layout, two jobs sharing
    a GPU) with a key path but no file; the spec knows where it came from::

        with in_source(workload):
            program, jobs = build_program(workload, fabric)

    An error that already names a file (a rank map) is re-raised unchanged.
    """
    try:
        yield
    except SpecError as exc:
        raise exc.located(getattr(spec, "source", None), prefix) from None


# --- the rules, for a value of any field type ------------------------------------------------

def validate(tp: Any, value: Any, meta: Mapping[str, Any], key: Key) -> Any:
    """Check ``value`` against a field type and its bounds; return it normalised.

    Normalised: an int given for a float becomes a float, a list given for a tuple a tuple.

    Raises
    ------
    SpecError
        At ``key`` (or below it, for an item), with the bad value.
    """
    origin = get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None and len(args) < len(get_args(tp)):
            return None
        if len(args) == 1:
            return validate(args[0], value, meta, key)
        if all(isinstance(a, type) and issubclass(a, Spec) for a in args):
            if not isinstance(value, tuple(args)):
                names = ", ".join(a.__name__ for a in args)
                raise SpecError(f"expected one of {names}", key, value)
            return value
        raise TypeError(f"unsupported union {tp}")  # a bug in a spec class, not user input
    if tp is Any:
        return value
    if origin is Literal:
        return _choice(get_args(tp), value, key)
    if origin in (tuple, list, dict):
        return _container(tp, origin, value, meta, key)
    if isinstance(tp, type) and issubclass(tp, Spec):
        if not isinstance(value, tp):
            raise SpecError(f"expected a {tp.__name__}", key, value)
        return value
    value = _scalar(tp, value, meta, key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        _check_bounds(value, meta, key)
    extra = meta.get("check")
    if extra is not None:
        try:
            extra(value)
        except ValueError as exc:
            raise SpecError(str(exc), key, value) from None
    return value


def _choice(choices: tuple[Any, ...], value: Any, key: Key) -> Any:
    if not isinstance(value, str) or value not in choices:
        names = ", ".join(repr(c) for c in choices)
        text = value if isinstance(value, str) else ""
        close = difflib.get_close_matches(text[:100], [str(c) for c in choices], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SpecError(f"must be one of {names}{hint}", key, value)
    return value


def _scalar(tp: Any, value: Any, meta: Mapping[str, Any], key: Key) -> Any:
    if tp is bool:
        if not isinstance(value, bool):
            raise SpecError("expected true or false", key, value)
        return value
    if tp is int:
        # numbers.Integral admits numpy integers; a bool is an int to Python, not to a user
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise SpecError("expected a whole number", key, value)
        return int(value)  # the same object for an int
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            unit = meta.get("unit")
            what = (f"expected a {unit} in {_UNIT_NAMES[unit]} as a number"
                    if unit is not None and isinstance(value, str) else "expected a number")
            raise SpecError(what, key, value)
        return float(value)  # the same object for a float
    if tp is str:
        if not isinstance(value, str):
            raise SpecError("expected a string", key, value)
        return value
    raise TypeError(f"unsupported spec field type {tp}")  # a bug in a spec class


def _container(tp: Any, origin: Any, value: Any, meta: Mapping[str, Any], key: Key) -> Any:
    # always a fresh container: a list or dict given in code is copied, never shared
    args = get_args(tp)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise SpecError("expected a mapping", key, value)
        return {validate(args[0], k, {}, (*key, str(k))): validate(args[1], v, meta, (*key, str(k)))
                for k, v in value.items()}
    if not isinstance(value, list | tuple):
        raise SpecError("expected a list", key, value)
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        if len(value) != len(args):
            raise SpecError(f"expected {len(args)} values", key, value)
        return tuple(validate(t, v, meta, (*key, i))
                     for i, (t, v) in enumerate(zip(args, value, strict=True)))
    items = [validate(args[0], v, meta, (*key, i)) for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _check_bounds(value: float, meta: Mapping[str, Any], key: Key) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError("must be a finite number", key, value)
    unit = meta.get("unit")
    if meta.get("gt") is not None and not value > meta["gt"]:
        what = "positive" if meta["gt"] == 0 else f"greater than {_number(meta['gt'], unit)}"
        raise SpecError(f"must be {what}", key, value)
    if meta.get("ge") is not None and not value >= meta["ge"]:
        what = "non-negative" if meta["ge"] == 0 else f"at least {_number(meta['ge'], unit)}"
        raise SpecError(f"must be {what}", key, value)
    for name, holds in (("le", operator.le), ("lt", operator.lt)):
        bound = meta.get(name)
        if bound is None:
            continue
        limit, why = (bound.value, f" ({bound.why})") if isinstance(bound, Limit) else (bound, "")
        if not holds(value, limit):
            what = "at most" if name == "le" else "less than"
            raise SpecError(f"must be {what} {_number(limit, unit)}{why}", key, value)


def _number(x: float, unit: str | None) -> str:
    exact = isinstance(x, int) or (float(x).is_integer() and abs(x) < 1e13)
    text = f"{int(x):,}" if exact else f"{x:g}"
    return text + (_UNIT_SUFFIX[unit] if unit else "")
