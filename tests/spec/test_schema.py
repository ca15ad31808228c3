"""The schema's building blocks: bounded value display, names and the repr of specs."""

from __future__ import annotations

from typing import Any

import pytest

from mpft_sim.errors import SpecError, short_repr
from mpft_sim.spec.schema import check_name


@pytest.mark.parametrize("value", [
    "ecmpp", 400, -1.5, None, True, [], {}, (1,), (1, 2), {"a": [1, {"b": None}]},
    "quote ' and \" both", float("inf"), 10**30,
])
def test_short_repr_is_repr_for_short_values(value: Any) -> None:
    """A value whose repr fits is shown exactly as repr shows it."""
    assert short_repr(value) == repr(value)


def test_short_repr_cuts_long_values() -> None:
    """A long value is cut to 60 characters ending in '...'."""
    assert short_repr("x" * 1000) == "'" + "x" * 56 + "..."
    assert short_repr(list(range(100))) == repr(list(range(100)))[:57] + "..."
    assert len(short_repr({str(i): i for i in range(100)})) == 60


def test_short_repr_of_an_alias_bomb() -> None:
    """Ten levels of ten shared lists (10**10 items if walked) are shown at once."""
    value: Any = ["lol"] * 10
    for _ in range(10):
        value = [value] * 10
    text = short_repr(value)
    assert text.startswith("[[[[[[[[[...") and len(text) <= 60


def test_short_repr_of_a_huge_integer() -> None:
    """An integer of 5,000 digits (which repr refuses to write) is described."""
    assert short_repr(10**5000) == "<a 5,001-digit integer>"
    assert short_repr(-(10**50)) == "<a 51-digit integer>"
    assert short_repr(10**50 - 1) == "<a 50-digit integer>"


def test_short_repr_of_a_recursive_list() -> None:
    """A list that contains itself is shown, not walked for ever."""
    loop: list[Any] = []
    loop.append(loop)
    assert short_repr(loop).startswith("[[[[[[[[[...]]")


def test_short_repr_survives_a_broken_repr() -> None:
    """An object whose repr raises is shown by its type name."""
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert short_repr(Broken()) == "<Broken>"


def test_spec_error_shows_the_value_shortened() -> None:
    """SpecError formats its value through short_repr, at bounded cost."""
    error = SpecError("must be short", ("a", 2, "b"), "y" * 500, file="f.yaml")
    assert str(error) == "f.yaml: a[2].b: must be short, got '" + "y" * 56 + "..."


def test_located_fills_only_a_missing_file() -> None:
    """located() adds the file and prefix only to an error that names no file."""
    planning = SpecError("too big", ("layout",), 3)
    assert str(planning.located("w.yaml", ("jobs", 0))) == "w.yaml: jobs[0].layout: too big, got 3"
    other = SpecError("bad row", ("row 2",), file="r.csv")
    assert other.located("w.yaml", ("jobs", 0)) is other


@pytest.mark.parametrize(("name", "message"), [
    ("", "must not be empty"),
    ("   ", "must not be empty"),
    ("x" * 101, "must be at most 100 characters"),
    ("a/b", "is used as a folder name: no '/', '\\', '.' or '..'"),
    ("a\\b", "is used as a folder name: no '/', '\\', '.' or '..'"),
    ("..", "is used as a folder name: no '/', '\\', '.' or '..'"),
    (".", "is used as a folder name: no '/', '\\', '.' or '..'"),
    ("tab\there", "must not contain control characters"),
])
def test_bad_names(name: str, message: str) -> None:
    """A name that cannot be a folder name is refused with the reason."""
    with pytest.raises(ValueError, match="^" + message.replace("\\", "\\\\")
                       .replace(".", "\\.").replace("(", "\\(")):
        check_name(name)


@pytest.mark.parametrize("name", ["mpft-16k", "deepseek-v3 (decode)", "a.b", "x" * 100,
                                  "..hidden-but-fine", "plan_4k@8"])
def test_good_names(name: str) -> None:
    """Ordinary names, dots inside included, pass."""
    check_name(name)


def test_short_repr_of_specs() -> None:
    """A spec's repr names its class and the fields that differ from their defaults, nested
    specs folded: a line, not the whole tree."""
    from mpft_sim.spec.run import RunOptions
    from mpft_sim.spec.topology import load_topology
    from tests.conftest import TOPOLOGIES

    spec = load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml")
    text = repr(spec)
    assert text.startswith("TopologySpec(name='deepseek-v3-2048', fabric=FabricSpec(...)")
    assert len(text) <= 200 and "\n" not in text
    assert repr(spec.fabric) == "FabricSpec(kind='multi-plane-fat-tree', nodes=256, planes=8)"
    assert repr(RunOptions()) == "RunOptions()"
