"""The reference docs mention every key the specs accept."""

from __future__ import annotations

import pytest

from mpft_sim.spec.prices import PriceBook
from mpft_sim.spec.schema import Spec, yaml_fields
from mpft_sim.spec.topology import TopologySpec
from mpft_sim.spec.workload import (
    FlowsWorkloadSpec,
    InferenceWorkloadSpec,
    JobsWorkloadSpec,
    NcclAllToAllSpec,
    TrainingWorkloadSpec,
)
from tests.conftest import ROOT


def yaml_keys(cls: type[Spec], prefix: str = "") -> set[str]:
    """Every dotted YAML key a spec class accepts, nested ones included."""
    import typing

    keys = set()
    hints = typing.get_type_hints(cls)
    for key, field in yaml_fields(cls).items():
        tp = hints[field.name]
        inner = [a for a in typing.get_args(tp) if isinstance(a, type)] or [tp]
        spec_type = next((t for t in inner if isinstance(t, type) and issubclass(t, Spec)), None)
        if spec_type is not None and spec_type is not cls:
            keys |= yaml_keys(spec_type, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys


@pytest.mark.parametrize(("cls", "doc"), [
    (TopologySpec, "docs/topology.md"), (PriceBook, "docs/topology.md"),
    (TrainingWorkloadSpec, "docs/workload.md"), (InferenceWorkloadSpec, "docs/workload.md"),
    (NcclAllToAllSpec, "docs/workload.md"), (FlowsWorkloadSpec, "docs/workload.md"),
    (JobsWorkloadSpec, "docs/workload.md")])
def test_every_key_is_documented(cls: type[Spec], doc: str) -> None:
    """Each key appears in the reference page as `key` (its last part, in its section)."""
    text = (ROOT / doc).read_text()
    missing = []
    for key in sorted(yaml_keys(cls)):
        # documented within its section: the key's tail, one or two parts long, will do
        parts = key.split(".")
        tails = {key, ".".join(parts[-2:]), parts[-1]}
        if not any(f"`{tail}`" in text for tail in tails):
            missing.append(key)
    assert not missing, f"undocumented keys: {missing}"
