"""Quantities parse once into SI floats; bad ones say what was expected."""

from __future__ import annotations

import pytest

from mpft_sim.units import (
    UnitError,
    format_bandwidth,
    format_quantity,
    format_time,
    parse_quantity,
    unit_suffixes,
)


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("400Gb/s", "bandwidth", 50e9),
        ("50GB/s", "bandwidth", 50e9),
        ("50 GB/s", "bandwidth", 50e9),
        ("400Gbps", "bandwidth", 50e9),
        ("1.6Tb/s", "bandwidth", 200e9),
        ("600ns", "time", 600e-9),
        ("1.2us", "time", 1.2e-6),
        ("1.2µs", "time", 1.2e-6),
        ("3ms", "time", 3e-3),
        ("2s", "time", 2.0),
        ("64MiB", "size", 64 * 2**20),
        ("1MB", "size", 1e6),
        ("7472B", "size", 7472.0),
        ("989TFLOP/s", "flops", 989e12),
        (0, "time", 0.0),
        ("1e3B", "size", 1000.0),
    ],
)
def test_parse_quantity(text: str, kind: str, expected: float) -> None:
    """Each accepted spelling gives the SI value."""
    assert parse_quantity(text, kind) == pytest.approx(expected, rel=1e-12)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("400", "bandwidth", "needs a unit"),
        (400, "bandwidth", "needs a unit"),
        ("400Gbits", "bandwidth", "unknown bandwidth unit 'Gbits'"),
        ("fast", "bandwidth", "expected a bandwidth"),
        ("5 parsecs", "time", "unknown time unit 'parsecs'"),
        ("1.2us", "bandwidth", "unknown bandwidth unit 'us'"),
        (True, "size", "expected a size"),
        (None, "size", "expected a size"),
    ],
)
def test_parse_quantity_rejects(text: object, kind: str, message: str) -> None:
    """Bad quantities raise UnitError saying what is wrong."""
    with pytest.raises(UnitError, match=message):
        parse_quantity(text, kind)  # type: ignore[arg-type]


def test_format() -> None:
    """Formatting picks a readable prefix."""
    assert format_bandwidth(50e9) == "50 GB/s"
    assert format_time(3.7e-6) == "3.7 µs"
    assert format_time(0) == "0 s"


@pytest.mark.parametrize(("value", "kind", "text"), [
    (200e9, "bandwidth", "200GB/s"), (3.35e12, "bandwidth", "3.35TB/s"),
    (1e15, "bandwidth", "1PB/s"),
    (3.33e-6, "time", "3.33us"), (430e-9, "time", "430ns"), (86_400.0, "time", "86400s"),
    (2.0**40, "size", "1TiB"), (70_272.0, "size", "70272B"), (989e12, "flops", "989TFLOP/s"),
    (0.0, "time", "0"), (-5e9, "bandwidth", "-5GB/s"), (0.5, "size", "0.5B"),
])
def test_format_quantity_is_the_shortest_exact_form(value: float, kind: str, text: str) -> None:
    """format_quantity writes a quantity as an input file would, and parses back to it."""
    assert format_quantity(value, kind) == text  # type: ignore[arg-type]
    assert parse_quantity(text, kind) == pytest.approx(value, rel=1e-12)  # type: ignore[arg-type]


def test_unit_suffixes_are_what_the_parser_reads() -> None:
    """Every unit listed parses; the list has each spelling (bits, bytes, binary, micro)."""
    assert {"Gb/s", "GB/s", "Gbps", "GiB/s"} <= set(unit_suffixes("bandwidth"))
    assert {"us", "µs", "ms", "s"} <= set(unit_suffixes("time"))
    for kind in ("bandwidth", "time", "size", "flops"):
        for unit in unit_suffixes(kind):  # type: ignore[arg-type]
            assert parse_quantity(f"1{unit}", kind) > 0  # type: ignore[arg-type]
