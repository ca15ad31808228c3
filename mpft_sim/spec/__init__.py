"""Validated input: YAML files become frozen spec dataclasses, checked once at load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mpft_sim.errors import SpecError
from mpft_sim.spec.loading import load_spec
from mpft_sim.spec.prices import PriceBook, load_prices
from mpft_sim.spec.schema import in_source, read_yaml
from mpft_sim.spec.topology import TopologySpec, load_topology

__all__ = ["PriceBook", "TopologySpec", "in_source", "load_input", "load_prices",
           "load_topology"]


def load_input(path: str | Path) -> tuple[str, Any]:
    """Load any mpft-sim input file, telling its type from its keys.

    Returns
    -------
    (str, spec)
        ``"topology"``, ``"workload"`` or ``"prices"``, and the validated spec.
    """
    from mpft_sim.spec.workload import load_workload

    data = read_yaml(path)
    name = str(path)
    if isinstance(data, dict) and "fabric" in data:
        return "topology", load_spec(TopologySpec, data, file=name)
    if isinstance(data, dict) and "kind" in data:
        return "workload", load_workload(path)
    if isinstance(data, dict) and "switch_link" in data:
        return "prices", load_spec(PriceBook, data, file=name)
    raise SpecError("cannot tell what this file is: a topology has a 'fabric' key, a workload "
                    "a 'kind' key, a price book a 'switch_link' key", file=name)
