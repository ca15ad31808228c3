"""Workload specs: what traffic to run on a fabric."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mpft_sim.errors import SpecError
from mpft_sim.spec.schema import Spec, load_spec, option, read_yaml

__all__ = ["FlowsWorkloadSpec", "WorkloadSpec", "load_workload"]


@dataclass(frozen=True)
class FlowsWorkloadSpec(Spec):
    """Replay a list of flows from a CSV file (``src,dst,size,start[,tag]``)."""

    name: str = option(doc="short name used in reports")
    kind: Literal["flows"] = option(doc="flows")
    flows: str = option(doc="CSV file; a relative path starts at the YAML file's folder")
    description: str = option(default="", doc="free text")


WorkloadSpec = FlowsWorkloadSpec

_KINDS: dict[str, type[Spec]] = {"flows": FlowsWorkloadSpec}


def load_workload(path: str | Path) -> WorkloadSpec:
    """Load and validate a workload YAML file; relative file paths in it are resolved.

    Raises
    ------
    SpecError
        Naming the file, the key path and the bad value.
    """
    data = read_yaml(path)
    name = str(path)
    if not isinstance(data, dict):
        raise SpecError("expected a mapping of keys", file=name)
    kind = data.get("kind")
    cls = _KINDS.get(str(kind))
    if cls is None:
        choices = ", ".join(map(repr, _KINDS))
        if kind is None:
            raise SpecError("missing required key", ("kind",), file=name)
        raise SpecError(f"must be one of {choices}", ("kind",), kind, file=name)
    spec = load_spec(cls, data, file=name)
    assert isinstance(spec, FlowsWorkloadSpec)
    return dataclasses.replace(spec, flows=str(Path(path).parent / spec.flows))
