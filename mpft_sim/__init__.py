"""mpft-sim: flow-level simulation of multi-plane fat-tree GPU cluster networks.

The public API::

    import mpft_sim
    spec = mpft_sim.load_topology("topologies/deepseek-v3-2048.yaml")
    fabric = mpft_sim.build_fabric(spec)
    bom = mpft_sim.bill_of_materials(spec)
"""

from mpft_sim.errors import MpftError, RoutingError, SimulationError, SpecError
from mpft_sim.spec.prices import PriceBook, default_prices, load_prices
from mpft_sim.spec.topology import TopologySpec, load_topology
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.cost import BillOfMaterials, bill_of_materials
from mpft_sim.topology.describe import describe_topology
from mpft_sim.topology.fabric import Fabric, NodeId

__all__ = [
    "BillOfMaterials",
    "Fabric",
    "MpftError",
    "NodeId",
    "PriceBook",
    "RoutingError",
    "SimulationError",
    "SpecError",
    "TopologySpec",
    "bill_of_materials",
    "build_fabric",
    "default_prices",
    "describe_topology",
    "load_prices",
    "load_topology",
]

__version__ = "0.1.0"
