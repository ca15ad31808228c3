"""Bill of materials and cost of a design."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mpft_sim.spec.prices import PriceBook, default_prices
from mpft_sim.spec.topology import TopologySpec
from mpft_sim.topology.fabric import Fabric
from mpft_sim.topology.sizing import size_fabric

__all__ = ["BillOfMaterials", "BomItemRecord", "bill_of_materials"]


@dataclass(frozen=True)
class BomItemRecord:
    """One line of a bill of materials."""

    item: str
    count: int
    unit_usd: float
    total_usd: float


@dataclass(frozen=True)
class BillOfMaterials:
    """What a design is made of and what it costs.

    ``links`` counts switch-to-switch cables only, as the published cost table does; NIC-to-leaf
    cables are ``endpoint_links``.
    """

    name: str
    kind: str
    endpoints: int
    switches: int
    switches_by_tier: dict[str, int]
    links: int
    endpoint_links: int
    nics: int
    items: tuple[BomItemRecord, ...]
    cost_usd: float
    cost_per_endpoint_usd: float

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


def bill_of_materials(
    design: TopologySpec | Fabric, prices: PriceBook | None = None
) -> BillOfMaterials:
    """Count and price a design's switches, cables and NICs.

    Parameters
    ----------
    design : TopologySpec or Fabric
        The design; a spec is enough (no graph is built), so huge designs price instantly.
    prices : PriceBook, optional
        Unit prices; the shipped default reproduces ISCA25 Table 3.

    Returns
    -------
    BillOfMaterials
    """
    spec = design.spec if isinstance(design, Fabric) else design
    size = design.size if isinstance(design, Fabric) else size_fabric(spec)
    book = prices or default_prices()
    lines: list[tuple[str, int, float]] = []
    for tier, count in size.switches_by_tier.items():
        label = "switch" if tier == "switch" else f"switch ({tier})"
        lines.append((label, count, book.switch_usd))
    for tiers, count in size.links_by_tier.items():
        lines.append((f"cable ({tiers})", count, book.switch_link_usd))
    lines.append(("cable (NIC-leaf)", size.endpoint_links, book.endpoint_link_usd))
    lines.append(("NIC", size.nics, book.nic_usd))
    items = tuple(BomItemRecord(label, count, unit, count * unit) for label, count, unit in lines)
    cost = sum(i.total_usd for i in items)
    return BillOfMaterials(
        name=spec.name,
        kind=spec.fabric.kind,
        endpoints=size.endpoints,
        switches=size.switches,
        switches_by_tier=dict(size.switches_by_tier),
        links=size.links,
        endpoint_links=size.endpoint_links,
        nics=size.nics,
        items=items,
        cost_usd=cost,
        cost_per_endpoint_usd=cost / size.endpoints,
    )
