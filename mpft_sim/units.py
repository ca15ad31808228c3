"""Parse and format physical quantities.

Inputs carry units (``"400Gb/s"``, ``"1.2us"``, ``"64MiB"``); they are parsed once, at load
time, into SI floats: bytes per second, seconds, bytes. Nothing after loading handles strings.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal, get_args

__all__ = [
    "UnitKind",
    "format_bandwidth",
    "format_bytes",
    "format_time",
    "format_value",
    "parse_quantity",
]

UnitKind = Literal["bandwidth", "time", "size", "flops"]
UNIT_KINDS: tuple[str, ...] = get_args(UnitKind)

_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}

# unit suffix -> factor to the SI base of its kind (bytes/s, s, bytes, FLOP/s)
_UNITS: dict[str, dict[str, float]] = {"bandwidth": {}, "time": {}, "size": {}, "flops": {}}
for _p, _f in {**_DECIMAL, **_BINARY}.items():
    _UNITS["bandwidth"][f"{_p}B/s"] = _f
    _UNITS["bandwidth"][f"{_p}b/s"] = _f / 8
    _UNITS["bandwidth"][f"{_p}bps"] = _f / 8
    _UNITS["size"][f"{_p}B"] = _f
    _UNITS["flops"][f"{_p}FLOP/s"] = _f
    _UNITS["flops"][f"{_p}FLOPS"] = _f
_UNITS["time"].update(
    {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9, "ps": 1e-12}
)

_EXAMPLES = {"bandwidth": "400Gb/s", "time": "1.2us", "size": "64MiB", "flops": "989TFLOP/s"}
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\s\d].*?)?\s*$")


class UnitError(ValueError):
    """A quantity string that cannot be parsed; the message says what was expected."""


def parse_quantity(text: object, kind: UnitKind) -> float:
    """Parse ``text`` as a quantity of ``kind`` and return it in SI units.

    Parameters
    ----------
    text : str or number
        For example ``"400Gb/s"``, ``"50 GB/s"``, ``"600ns"``, ``"64MiB"``. A bare number is
        accepted only when it is zero (zero needs no unit).
    kind : {"bandwidth", "time", "size", "flops"}
        What the quantity measures.

    Returns
    -------
    float
        Bytes per second, seconds, bytes or FLOP/s.

    Raises
    ------
    UnitError
        If the text is not a number followed by a unit of the right kind.
    """
    if isinstance(text, bool):
        raise UnitError(f"expected a {kind} such as {_EXAMPLES[kind]!r}")
    if isinstance(text, int | float):
        if text == 0:
            return 0.0
        raise UnitError(f"a {kind} needs a unit, such as {_EXAMPLES[kind]!r}")
    if not isinstance(text, str) or len(text) > 64:  # no quantity is longer; keeps the regex fast
        raise UnitError(f"expected a {kind} such as {_EXAMPLES[kind]!r}")
    match = _NUMBER.match(text)
    if not match:
        raise UnitError(f"expected a {kind} such as {_EXAMPLES[kind]!r}")
    number, unit = float(match.group(1)), (match.group(2) or "").strip()
    if not unit:
        if number == 0:
            return 0.0
        raise UnitError(f"a {kind} needs a unit, such as {_EXAMPLES[kind]!r}")
    factor = _UNITS[kind].get(unit)
    if factor is None:
        raise UnitError(f"unknown {kind} unit {unit!r} (try {_EXAMPLES[kind]!r})")
    value = number * factor
    if not math.isfinite(value):  # "1e400s": float() overflows to infinity
        raise UnitError("must be a finite number")
    return value


def _format(value: float, steps: list[tuple[float, str]], digits: int) -> str:
    for factor, suffix in steps:
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g}{suffix}"
    factor, suffix = steps[-1]
    return f"{value / factor:.{digits}g}{suffix}"


def format_bandwidth(bytes_per_s: float, digits: int = 4) -> str:
    """Format bytes per second as ``"50GB/s"``."""
    return _format(
        bytes_per_s, [(1e12, "TB/s"), (1e9, "GB/s"), (1e6, "MB/s"), (1e3, "kB/s"), (1, "B/s")],
        digits,
    )


def format_time(seconds: float, digits: int = 4) -> str:
    """Format seconds as ``"1.2us"``, ``"3.4ms"`` or ``"2s"``."""
    if seconds == 0:
        return "0s"
    return _format(seconds, [(1, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")], digits)


def format_bytes(size: float, digits: int = 4) -> str:
    """Format bytes as ``"58.72MB"``."""
    return _format(size, [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1, "B")], digits)


def format_value(value: Any, key: str = "") -> str:
    """Any plain value for people: thousands separators, ``_Bps`` keys as bandwidths, lists
    and mappings inline (``a=1, b=2``), ``-`` for an empty one."""
    if key.endswith("_Bps") and isinstance(value, int | float) and not isinstance(value, bool):
        return format_bandwidth(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v, str(k))}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value) or "-"
    return str(value)
