"""The reference docs mention every key the specs accept."""

from __future__ import annotations

import dataclasses

import pytest

from mpft_sim.spec.prices import PriceBook
from mpft_sim.spec.schema import Spec
from mpft_sim.spec.topology import TopologySpec
from tests.conftest import ROOT


def yaml_keys(cls: type[Spec], prefix: str = "") -> set[str]:
    """Every dotted YAML key a spec class accepts, nested ones included."""
    import typing

    keys = set()
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = field.metadata.get("key") or field.name
        tp = hints[field.name]
        if isinstance(tp, type) and issubclass(tp, Spec) and tp is not cls:
            keys |= yaml_keys(tp, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys


@pytest.mark.parametrize(("cls", "doc"), [(TopologySpec, "docs/topology.md"),
                                          (PriceBook, "docs/topology.md")])
def test_every_key_is_documented(cls: type[Spec], doc: str) -> None:
    """Each key appears in the reference page as `key` (its last part, in its section)."""
    text = (ROOT / doc).read_text()
    missing = []
    for key in sorted(yaml_keys(cls)):
        leaf = key.split(".", 1)[-1]  # documented within its section
        if f"`{leaf}`" not in text and f"`{key}`" not in text:
            missing.append(key)
    assert not missing, f"undocumented keys: {missing}"
