"""The run options ``simulate``, ``compare`` and ``sweep`` share: every option checked when
built in code, ``--fail`` texts parsed with the text in the message, and the library entry
points refusing an unknown model."""

from __future__ import annotations

import math
from typing import Any

import pytest

from mpft_sim import compare, simulate
from mpft_sim.errors import SpecError
from mpft_sim.spec.run import MODELS, RunOptions
from mpft_sim.spec.topology import FailureSpec
from tests.conftest import DATA, TOPOLOGIES


def test_defaults() -> None:
    """By default: the fluid model, seed 0, the topology's own routing, no failures, exact."""
    options = RunOptions()
    assert (options.model, options.seed, options.routing, options.cross_plane,
            options.failures, options.tolerance) == ("fluid", 0, None, None, (), 0.0)
    assert MODELS == ("fluid", "analytic")


@pytest.mark.parametrize("options", [
    {"model": "analytic"}, {"seed": 2**31}, {"routing": "spray"}, {"routing": "adaptive"},
    {"cross_plane": "source"}, {"tolerance": 0.999}, {"tolerance": 0},
    {"failures": (FailureSpec(plane=3), FailureSpec(switch="p0/spine/1"))},
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_good_options_are_kept(options: dict[str, Any]) -> None:
    """Valid options are stored as given."""
    built = RunOptions(**options)
    for key, value in options.items():
        assert getattr(built, key) == value


BAD: list[tuple[dict[str, Any], str]] = [
    ({"model": "analytc"},
     "model: must be one of 'fluid', 'analytic' (did you mean 'analytic'?), got 'analytc'"),
    ({"routing": "ecmpp"},
     "routing: must be one of 'ecmp', 'adaptive', 'spray' (did you mean 'ecmp'?), "
     "got 'ecmpp'"),
    ({"cross_plane": "sorce"},
     "cross_plane: must be one of 'source', 'destination' (did you mean 'source'?), "
     "got 'sorce'"),
    ({"seed": -1}, "seed: must be non-negative, got -1"),
    ({"seed": 1.5}, "seed: expected a whole number, got 1.5"),
    ({"seed": True}, "seed: expected a whole number, got True"),
    ({"tolerance": math.nan}, "tolerance: must be a finite number, got nan"),
    ({"tolerance": math.inf}, "tolerance: must be a finite number, got inf"),
    ({"tolerance": 1.0}, "tolerance: must be below 1 (a relative time quantum), got 1.0"),
    ({"tolerance": -0.1}, "tolerance: must be non-negative, got -0.1"),
    ({"failures": ("plane=1",)}, "failures[0]: expected a FailureSpec, got 'plane=1'"),
]


@pytest.mark.parametrize(("options", "message"), BAD, ids=[next(iter(b[0])) + "=" +
                                                            str(next(iter(b[0].values())))
                                                            for b in BAD])
def test_bad_options_are_spec_errors(options: dict[str, Any], message: str) -> None:
    """Each bad option built in code is a SpecError naming the option and the value."""
    with pytest.raises(SpecError) as err:
        RunOptions(**options)
    assert str(err.value) == message
    assert err.value.key[0] == next(iter(options))


def test_parse_failures() -> None:
    """``kind=name`` texts become failure specs, in order; a plane is a number."""
    assert RunOptions.parse_failures(["plane=1", "switch=p0/spine/0", "nic=n4/nic2",
                                      "link=p0/leaf/0 - p0/spine/1"]) == (
        FailureSpec(plane=1), FailureSpec(switch="p0/spine/0"), FailureSpec(nic="n4/nic2"),
        FailureSpec(link="p0/leaf/0 - p0/spine/1"))
    assert RunOptions.parse_failures(()) == ()


@pytest.mark.parametrize(("text", "message"), [
    ("plane=x", "--fail plane=x: a plane is a number, such as plane=3"),
    ("bogus", "--fail bogus: expected kind=name, such as plane=3 or switch=p0/spine/1"),
    ("pane=1", "--fail pane=1: the kind must be one of plane, switch, nic, link "
               "(did you mean 'plane'?)"),
    ("nic=", "--fail nic=: name the nic, such as nic=..."),
])
def test_parse_failures_names_the_text(text: str, message: str) -> None:
    """A bad failure text is a SpecError whose file is ``--fail <text>``, whichever of several
    texts it is."""
    with pytest.raises(SpecError) as err:
        RunOptions.parse_failures(["plane=0", text])
    assert str(err.value) == message
    assert err.value.file == f"--fail {text}"


def test_simulate_rejects_an_unknown_model() -> None:
    """``simulate`` refuses a misspelt model before it builds or runs anything."""
    with pytest.raises(SpecError, match=r"^model: must be one of 'fluid', 'analytic' \(did "
                                        r"you mean 'analytic'\?\), got 'analytc'$"):
        simulate(TOPOLOGIES / "tiny-mpft.yaml", DATA / "flows" / "cross_leaf.yaml",
                 "analytc")  # type: ignore[arg-type]


def test_compare_rejects_an_unknown_model() -> None:
    """``compare`` refuses a misspelt model once, before any design is built (it is no
    design's fault), with the closest model named."""
    with pytest.raises(SpecError, match=r"^model: must be one of 'fluid', 'analytic' \(did "
                                        r"you mean 'analytic'\?\), got 'analytc'$"):
        compare([TOPOLOGIES / "tiny-mpft.yaml"], DATA / "flows" / "cross_leaf.yaml",
                "analytc")  # type: ignore[arg-type]
