"""Shared fixtures: paths to the shipped inputs and a CLI runner."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mpft_sim.cli import main
from mpft_sim.spec.topology import TopologySpec
from mpft_sim.spec.transport import TransportSpec
from mpft_sim.workload.flows import FlowList
from tests.browser import browser  # noqa: F401  (a session fixture: headless Chromium)

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGIES = ROOT / "topologies"
DATA = Path(__file__).resolve().parent / "data"
SWEEPS = DATA / "sweep"


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``mpft-sim ARGS`` in-process; return (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


NO_OVERHEAD = TransportSpec(preset="none")
"""Line rate and no acknowledgement: the idealised fluid model that closed forms written before
the transport overhead assume (``transport: {preset: none}``)."""


def no_overhead(spec: TopologySpec) -> TopologySpec:
    """``spec`` with its transport overhead pinned off (:data:`NO_OVERHEAD`)."""
    return dataclasses.replace(spec, fabric=dataclasses.replace(spec.fabric,
                                                                transport=NO_OVERHEAD))


def no_overhead_file(path: Path, folder: Path) -> Path:
    """A copy of the topology file ``path`` in ``folder`` with its transport overhead pinned
    off, for command-line tests of closed forms at line rate."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["fabric"]["transport"] = {"preset": "none"}
    out = folder / path.name
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


def run_file_bytes(folder: Path, name: str) -> bytes:
    """A run directory file's bytes, summary.json without its ``provenance`` (the wall time
    and peak memory of the process: the one part of a run's output that varies run to run)."""
    data = (folder / name).read_bytes()
    if name != "summary.json":
        return data
    summary = json.loads(data)
    summary.pop("provenance")
    return json.dumps(summary, indent=2).encode()


def flow_list(src: list[int], dst: list[int], size: list[float], start: list[float]) -> FlowList:
    """A flow list built in code: GPU ranks, bytes and release times, no tags."""
    return FlowList(np.array(src), np.array(dst), np.array(size, float), np.array(start, float),
                    tuple("" for _ in src))


def write_sweep(folder: Path, grid: dict[str, Any], **top: Any) -> Path:
    """A sweep file in ``folder`` over the shared tiny fixtures (absolute paths)."""
    data = {"name": "t", "topology": str(SWEEPS / "tiny-mpft.yaml"),
            "workload": str(SWEEPS / "ep-small.yaml"), "model": "analytic", "grid": grid,
            **top}
    path = folder / "sweep.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    return path
