"""Parse physical quantities, and format every figure people read.

Inputs carry units (``"400Gb/s"``, ``"1.2us"``, ``"64MiB"``); they are parsed once, at load
time, into SI floats: bytes per second, seconds, bytes. Nothing after loading handles strings.

Going out, this is the one place that turns numbers into text for people -- the CLI, the
Markdown and HTML reports and the plots all use it, so a time, a price or a rate reads the same
everywhere: ``475.3 ms``, ``50 GB/s``, ``$9.00M``, ``$4,394``, ``378.8k tokens/s``, ``1.114x``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal, get_args

__all__ = [
    "UnitKind",
    "bytes_unit",
    "example_quantity",
    "format_bandwidth",
    "format_bitrate",
    "format_bytes",
    "format_parameter",
    "format_quantity",
    "format_rate",
    "format_ratio",
    "format_time",
    "format_usd",
    "format_value",
    "parse_quantity",
    "time_unit",
    "unit_suffixes",
    "usd_unit",
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


def unit_suffixes(kind: UnitKind) -> tuple[str, ...]:
    """Every unit :func:`parse_quantity` accepts for ``kind``: ``"Gb/s"``, ``"GiB/s"``, ``"us"``."""
    return tuple(_UNITS[kind])


def example_quantity(kind: UnitKind) -> str:
    """A quantity of ``kind`` as an input file writes it, for help texts: ``"400Gb/s"``."""
    return _EXAMPLES[kind]


# the units format_quantity writes: bytes (not bits) and ASCII "us", as the shipped files do
_CANONICAL = {"bandwidth": "B/s", "time": "s", "size": "B", "flops": "FLOP/s"}


def format_quantity(value: float, kind: UnitKind) -> str:
    """A quantity in SI units as input files write it, read back exactly by
    :func:`parse_quantity`: the shortest form, such as ``"50GB/s"``, ``"3.33us"``, ``"1TiB"``.

    Parameters
    ----------
    value : float
        Bytes per second, seconds, bytes or FLOP/s.
    kind : {"bandwidth", "time", "size", "flops"}

    Returns
    -------
    str
        ``"0"`` for zero (zero needs no unit).
    """
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    suffix = _CANONICAL[kind]
    forms = []  # (length, -factor, text): the shortest, and of equals the larger unit
    for unit, factor in _UNITS[kind].items():
        if not (unit.endswith(suffix) and unit.isascii()) or abs(value) < factor:
            continue
        text = f"{sign}{abs(value) / factor:.12g}{unit}"
        if math.isclose(parse_quantity(text, kind), value, rel_tol=1e-12):
            forms.append((len(text), -factor, text))
    if not forms:  # below every unit: a fraction of the base unit
        return f"{value:.12g}{suffix}"
    return min(forms)[2]


def _sig(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits, without exponent or trailing zeros."""
    text = f"{value:.{digits}g}"
    if "e" in text:  # 4 digits of 12345 -> 1.234e+04: show 12,345 instead
        text = f"{value:,.0f}"
    return text


def time_unit(span_s: float) -> tuple[float, str]:
    """The factor and unit that show times up to ``span_s`` with readable numbers.

    Parameters
    ----------
    span_s : float
        The largest time to show, in seconds.

    Returns
    -------
    tuple of (float, str)
        Multiply seconds by the factor to get the unit: ``(1e3, "ms")`` for 0.475 s.
    """
    for factor, unit in ((1.0, "s"), (1e3, "ms"), (1e6, "µs")):
        if span_s * factor >= 1:
            return factor, unit
    return 1e9, "ns"


def bytes_unit(largest: float) -> tuple[float, str]:
    """The factor and unit (decimal: kB, MB, GB, TB) that show byte counts up to ``largest``.

    Parameters
    ----------
    largest : float
        The largest byte count to show.

    Returns
    -------
    tuple of (float, str)
        Multiply bytes by the factor to get the unit: ``(1e-9, "GB")`` for 4.3e11.
    """
    for factor, unit in ((1e-12, "TB"), (1e-9, "GB"), (1e-6, "MB"), (1e-3, "kB")):
        if largest * factor >= 1:
            return factor, unit
    return 1.0, "B"


def usd_unit(largest: float) -> tuple[float, str]:
    """The factor and unit (``$``, ``k$``, ``M$``) that show prices up to ``largest``.

    Parameters
    ----------
    largest : float
        The largest amount to show, in US dollars.

    Returns
    -------
    tuple of (float, str)
        Multiply dollars by the factor to get the unit: ``(1e-6, "M$")`` for 4.05e6.
    """
    for factor, unit in ((1e-6, "M$"), (1e-3, "k$")):
        if largest * factor >= 1:
            return factor, unit
    return 1.0, "$"


def format_time(seconds: float, digits: int = 4) -> str:
    """A duration for reading: ``"475.3 ms"``, ``"292.8 µs"``, ``"1.2 s"``, ``"0 s"``.

    Parameters
    ----------
    seconds : float
        The duration.
    digits : int, default 4
        Significant digits.

    Returns
    -------
    str
    """
    if seconds == 0:
        return "0 s"
    factor, unit = time_unit(abs(seconds))
    return f"{_sig(seconds * factor, digits)} {unit}"


def format_bytes(size: float, digits: int = 4) -> str:
    """A byte count for reading (decimal units): ``"2.476 TB"``, ``"58.72 MB"``.

    Parameters
    ----------
    size : float
        Bytes.
    digits : int, default 4
        Significant digits.

    Returns
    -------
    str
    """
    factor, unit = bytes_unit(abs(size))
    return f"{_sig(size * factor, digits)} {unit}"


def format_bandwidth(bytes_per_s: float, digits: int = 4) -> str:
    """A bandwidth in bytes per second for reading: ``"29.75 GB/s"``.

    Parameters
    ----------
    bytes_per_s : float
        Bytes per second.
    digits : int, default 4
        Significant digits.

    Returns
    -------
    str
    """
    factor, unit = bytes_unit(abs(bytes_per_s))
    return f"{_sig(bytes_per_s * factor, digits)} {unit}/s"


def format_bitrate(bytes_per_s: float, digits: int = 4) -> str:
    """A bandwidth in bits per second, as links are sold: ``"400 Gb/s"`` for 50e9 B/s.

    Parameters
    ----------
    bytes_per_s : float
        Bytes per second.
    digits : int, default 4
        Significant digits.

    Returns
    -------
    str
    """
    bits = 8 * bytes_per_s
    for factor, unit in ((1e15, "Pb/s"), (1e12, "Tb/s"), (1e9, "Gb/s"), (1e6, "Mb/s"),
                         (1e3, "kb/s")):
        if abs(bits) >= factor:
            return f"{_sig(bits / factor, digits)} {unit}"
    return f"{_sig(bits, digits)} b/s"


def format_usd(usd: float) -> str:
    """An amount in US dollars for reading: millions with two decimals (``"$9.00M"``,
    ``"$490.95M"``, ``"$1,550.70M"``: designs compare to the published table's digits), less
    in whole dollars with separators (``"$4,394"``), and cents only under ten dollars
    (``"$3.50"``).

    Parameters
    ----------
    usd : float
        Dollars.

    Returns
    -------
    str
    """
    size = abs(usd)
    sign = "-" if usd < 0 else ""
    if size >= 1e6:
        return f"{sign}${size / 1e6:,.2f}M"
    if size >= 10 or size == 0:
        return f"{sign}${size:,.0f}"
    return f"{sign}${size:.2f}"


def format_rate(value: float, unit: str, digits: int = 4) -> str:
    """A rate with a metric prefix: ``format_rate(378_800, "tokens/s") == "378.8k tokens/s"``.

    Parameters
    ----------
    value : float
        The rate.
    unit : str
        What is counted per time, such as ``"tokens/s"``; may carry a suffix such as
        ``"tokens/s per $M"``.
    digits : int, default 4
        Significant digits.

    Returns
    -------
    str
    """
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{_sig(value / factor, digits)}{prefix} {unit}"
    return f"{_sig(value, digits)} {unit}"


def format_ratio(value: float) -> str:
    """A ratio to a reference, with three decimals: ``"1.114x"``, ``"6.900x"``, ``"1.000x"``."""
    return f"{value:,.3f}x"


def format_value(value: Any, key: str = "") -> str:
    """Any plain value for people: thousands separators, ``_Bps`` keys as bandwidths, ``_s``
    keys as times, ``_usd`` keys as money, lists and mappings inline (``a=1, b=2``), ``-`` for
    an empty one."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if key.endswith("_Bps"):
            return format_bandwidth(value)
        if key.endswith("_s"):
            return format_time(value)
        if key.endswith("_usd"):
            return format_usd(value)
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


def format_parameter(value: Any) -> str:
    """A parameter value as text for labels and CSV cells: ``4``, ``spray``,
    ``plane=3;plane=5`` (a list), ``none`` (an empty list)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(format_parameter(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return ";".join(f"{k}={format_parameter(v)}" for k, v in value.items())
    if isinstance(value, float):
        return repr(value)
    return str(value)
