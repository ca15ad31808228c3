"""Every shipped topology loads, and the fat-tree ones build."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpft_sim.spec.topology import load_topology
from mpft_sim.topology.build import build_fabric
from tests.conftest import TOPOLOGIES

SHIPPED = sorted(TOPOLOGIES.glob("*.yaml"))


def test_the_expected_designs_are_shipped() -> None:
    """The designs the docs promise are all there."""
    names = {p.stem for p in SHIPPED}
    assert {"deepseek-v3-2048", "mpft-16k", "ft2-2048", "mrft-2048", "ft3-64k",
            "slimfly-32k", "dragonfly-261k", "tiny-mpft"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_topology_loads(path: Path) -> None:
    """The file validates and its name matches the file name."""
    spec = load_topology(path)
    assert spec.name == path.stem
    if spec.fabric.is_tree:
        fabric = build_fabric(spec)
        assert fabric.n_gpus == spec.fabric.nodes * spec.node.gpus  # type: ignore[operator]
