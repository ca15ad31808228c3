"""The default price book reproduces the published cost table (ISCA25 Table 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpft_sim.spec.prices import PriceBook, default_prices, load_prices
from mpft_sim.spec.topology import load_topology
from mpft_sim.topology.cost import bill_of_materials
from tests.conftest import TOPOLOGIES

# column: endpoints, switches, links, cost [M$], cost per endpoint [k$], cost tolerance
PUBLISHED = {
    "ft2-2048": (2_048, 96, 2_048, 9, 4.39, 0.01),
    "mpft-16k": (16_384, 768, 16_384, 72, 4.39, 0.01),
    "ft3-64k": (65_536, 5_120, 131_072, 491, 7.5, 0.01),
    "slimfly-32k": (32_928, 1_568, 32_928, 146, 4.4, 0.03),
    "dragonfly-261k": (261_632, 16_352, 384_272, 1_522, 5.8, 0.03),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_cost_table(name: str) -> None:
    """Counts match exactly; cost within 1% (FT2, MPFT, FT3) or 3% (SF, DF)."""
    endpoints, switches, links, cost_m, per_k, tol = PUBLISHED[name]
    bom = bill_of_materials(load_topology(TOPOLOGIES / f"{name}.yaml"))
    assert (bom.endpoints, bom.switches, bom.links) == (endpoints, switches, links)
    assert bom.cost_usd / 1e6 == pytest.approx(cost_m, rel=tol)
    # same tolerance, plus the rounding of the printed figure
    assert bom.cost_per_endpoint_usd / 1e3 == pytest.approx(per_k, rel=tol, abs=0.005)


def test_items_add_up() -> None:
    """The items' totals sum to the cost; counts are switches by tier, cables, NICs."""
    prices = PriceBook(switch_usd=1000.0, switch_link_usd=10.0, endpoint_link_usd=5.0,
                       nic_usd=100.0)
    bom = bill_of_materials(load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml"), prices)
    items = {i.item: i for i in bom.items}
    assert items["switch (leaf)"].count == 64
    assert items["switch (spine)"].count == 32
    assert items["cable (leaf-spine)"].count == 2048
    assert items["cable (NIC-leaf)"].count == 2048
    assert items["NIC"].count == 2048
    assert bom.cost_usd == 96 * 1000 + 2048 * 10 + 2048 * 5 + 2048 * 100
    assert bom.cost_usd == sum(i.total_usd for i in bom.items)
    assert bom.cost_per_endpoint_usd == bom.cost_usd / 2048


def test_price_file(tmp_path: Path) -> None:
    """A price book file overrides the default."""
    path = tmp_path / "p.yaml"
    path.write_text("switch: 100000\nswitch_link: 1000\nnic: 1500\n")
    book = load_prices(path)
    assert book.nic_usd == 1500 and book.endpoint_link_usd == 0
    assert default_prices().switch_usd == 83_000


def test_mpft_and_ft2_cost_the_same_per_endpoint() -> None:
    """The paper's claim: eight planes reach 8x the endpoints at FT2's cost per endpoint."""
    ft2 = bill_of_materials(load_topology(TOPOLOGIES / "ft2-2048.yaml"))
    mpft = bill_of_materials(load_topology(TOPOLOGIES / "mpft-16k.yaml"))
    assert mpft.endpoints == 8 * ft2.endpoints
    assert mpft.cost_per_endpoint_usd == pytest.approx(ft2.cost_per_endpoint_usd)
