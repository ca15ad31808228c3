"""mpft-sim: flow-level simulation of multi-plane fat-tree GPU cluster networks.

The public API::

    import mpft_sim
    spec = mpft_sim.load_topology("topologies/deepseek-v3-2048.yaml")
    work = mpft_sim.load_workload("workloads/ep-alltoall.yaml")
    result = mpft_sim.simulate(spec, work)          # result.summary, result.flows ...
    mpft_sim.write_run(result, "reports/my-run")    # what `mpft-sim simulate` writes
    table = mpft_sim.compare([spec, "topologies/ft2-2048.yaml"], work)
    bom = mpft_sim.bill_of_materials(spec)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mpft_sim._version import __version__

if TYPE_CHECKING:
    from mpft_sim.comparison import Comparison, compare
    from mpft_sim.engine import simulate
    from mpft_sim.errors import (
        ExportError,
        JobTooLargeError,
        MpftError,
        RoutingError,
        SimulationError,
        SpecError,
    )
    from mpft_sim.export import export_run
    from mpft_sim.output import write_run
    from mpft_sim.results import Metrics, Result, Run, RunSummary, load_run
    from mpft_sim.spec.prices import PriceBook, default_prices, load_prices
    from mpft_sim.spec.run import RunOptions
    from mpft_sim.spec.topology import TopologySpec, load_topology
    from mpft_sim.spec.workload import WorkloadSpec, load_workload
    from mpft_sim.topology.build import build_fabric
    from mpft_sim.topology.cost import BillOfMaterials, bill_of_materials
    from mpft_sim.topology.describe import describe_topology
    from mpft_sim.topology.fabric import Fabric, NodeId

# Where each public name lives. The package imports them on first use, so that the command line
# (``mpft-sim --help``, ``validate``) starts without loading numba, scipy or matplotlib.
_HOME = {
    "Comparison": "comparison", "compare": "comparison", "simulate": "engine",
    "ExportError": "errors", "JobTooLargeError": "errors", "MpftError": "errors",
    "RoutingError": "errors", "SimulationError": "errors", "export_run": "export",
    "SpecError": "errors", "write_run": "output", "Metrics": "results", "Result": "results",
    "Run": "results", "RunSummary": "results", "load_run": "results",
    "PriceBook": "spec.prices", "default_prices": "spec.prices", "load_prices": "spec.prices",
    "RunOptions": "spec.run", "TopologySpec": "spec.topology", "load_topology": "spec.topology",
    "WorkloadSpec": "spec.workload", "load_workload": "spec.workload",
    "build_fabric": "topology.build", "BillOfMaterials": "topology.cost",
    "bill_of_materials": "topology.cost", "describe_topology": "topology.describe",
    "Fabric": "topology.fabric", "NodeId": "topology.fabric",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'mpft_sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mpft_sim.{home}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "BillOfMaterials",
    "Comparison",
    "ExportError",
    "Fabric",
    "JobTooLargeError",
    "Metrics",
    "MpftError",
    "NodeId",
    "PriceBook",
    "Result",
    "RoutingError",
    "Run",
    "RunOptions",
    "RunSummary",
    "SimulationError",
    "SpecError",
    "TopologySpec",
    "WorkloadSpec",
    "__version__",
    "bill_of_materials",
    "build_fabric",
    "compare",
    "default_prices",
    "describe_topology",
    "export_run",
    "load_prices",
    "load_run",
    "load_topology",
    "load_workload",
    "simulate",
    "write_run",
]
