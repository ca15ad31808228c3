"""The key-by-key loader: unknown keys with a "did you mean", and values shown as written."""

from __future__ import annotations

import pytest

from mpft_sim.errors import SpecError
from mpft_sim.spec.loading import load_spec
from mpft_sim.spec.topology import FabricSpec, RoutingSpec, SwitchSpec


def test_unknown_key_with_did_you_mean() -> None:
    """An unknown key names the closest known one, or lists them."""
    with pytest.raises(SpecError) as info:
        load_spec(SwitchSpec, {"radx": 4})
    assert str(info.value) == "radx: unknown key (did you mean 'radix'?)"
    with pytest.raises(SpecError) as info:
        load_spec(RoutingSpec, {"zzz": 1})
    assert str(info.value) == "zzz: unknown key (known: policy, cross_plane)"


def test_an_unknown_key_that_is_not_a_string() -> None:
    """YAML keys may be numbers or lists' text: the message still reads."""
    with pytest.raises(SpecError) as info:
        load_spec(SwitchSpec, {1: 4})
    assert str(info.value) == "1: unknown key (known: radix, port_bandwidth)"


def test_the_value_shown_is_what_the_file_says() -> None:
    """A unit value out of bounds shows the text written, not the parsed SI float."""
    with pytest.raises(SpecError) as info:
        load_spec(FabricSpec, {"kind": "fat-tree", "nodes": 4,
                               "switch": {"port_bandwidth": "-1Gb/s"}})
    assert str(info.value) == "switch.port_bandwidth: must be positive, got '-1Gb/s'"
