"""The translations into JSON Schema that the types alone do not give: a quantity's pattern
accepts exactly what the loader reads."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mpft_sim.spec.json_builder import quantity_schema
from mpft_sim.units import UnitError, parse_quantity, unit_suffixes


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(kind=st.sampled_from(["bandwidth", "time", "size", "flops"]),
       bound=st.sampled_from([{"gt": 0}, {"ge": 0}]),
       number=st.sampled_from(["0", "1", "1.5", ".5", "5.", "00", "0.0", "1e3", "2E-2", "-1",
                               "+1", "-0", "+0", "0e5", ".0", "", "1.", "e3", "1..2"]),
       space=st.sampled_from(["", " ", "  "]),
       unit=st.sampled_from(["", "x", "Gbit", "B", "b", "s", "S", "Ms", "ms", "µs", "μs", "us",
                             "GB/s", "Gb/s", "Gbps", "GiB/s", "KB", "kB", "MiB", "TFLOP/s",
                             "PFLOPS", "FLOP", "TFLOPs"]))
def test_a_quantity_matches_the_pattern_exactly_when_the_loader_reads_it(
        kind: Any, bound: dict[str, float], number: str, space: str, unit: str) -> None:
    """A quantity string passes its schema exactly when parse_quantity reads it and the value
    keeps the field's lower bound (positive, or non-negative)."""
    text = f"{number}{space}{unit}"
    try:
        value = parse_quantity(text, kind)
        loads = value > 0 if "gt" in bound else value >= 0
    except UnitError:
        loads = False
    schema = quantity_schema(kind, bound, number_zero=False)
    assert bool(re.search(schema["pattern"], text)) == loads, text


def test_every_unit_is_in_the_pattern() -> None:
    """Each unit the parser knows passes, after a number."""
    for kind in ("bandwidth", "time", "size", "flops"):
        pattern = quantity_schema(kind, {"gt": 0})["pattern"]
        for unit in unit_suffixes(kind):
            assert re.search(pattern, f"2.5 {unit}"), unit
