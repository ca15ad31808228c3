"""Quantities parse once into SI floats; bad ones say what was expected."""

from __future__ import annotations

import pytest

from mpft_sim.units import UnitError, format_bandwidth, format_time, parse_quantity


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
