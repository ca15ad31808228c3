"""The cost table and the cost-per-endpoint chart, from bills of materials priced with a
hand-made price book."""

from __future__ import annotations

from pathlib import Path

import pytest

from mpft_sim.report.cost import cost_table, plot_cost_per_endpoint
from mpft_sim.report.html import png_size
from mpft_sim.report.style import REPORT_WIDTH_IN, size_px, snap_in
from mpft_sim.spec.prices import PriceBook
from mpft_sim.topology.cost import BillOfMaterials, bill_of_materials
from tests.topology.conftest import tree_spec

# round prices: a switch $1,000, a switch cable $10, a NIC cable $5, a NIC $100
PRICES = PriceBook(switch_usd=1000.0, switch_link_usd=10.0, endpoint_link_usd=5.0,
                   nic_usd=100.0)


@pytest.fixture(scope="module")
def boms() -> list[BillOfMaterials]:
    """A radix-8 tree of 32 GPUs (12 switches, 32 cables) and 4 radix-4 planes of 32 GPUs
    (24 switches, 32 cables), both with 32 NICs and 32 NIC cables."""
    return [bill_of_materials(tree_spec(nodes=32, radix=8), PRICES),
            bill_of_materials(tree_spec("multi-plane-fat-tree", nodes=8, radix=4, planes=4,
                                        gpus=4, nics=4), PRICES)]


def test_cost_table(boms: list[BillOfMaterials]) -> None:
    """A row per design: name and kind left-aligned, counts with separators and dollars
    right-aligned; cost = switches x $1,000 + 32 x ($10 + $5 + $100)."""
    assert cost_table(boms) == (
        "design                  kind                  endpoints  switches  links     cost"
        "  cost per GPU\n"
        "fat-tree-32             fat-tree                     32        12     32  $15,680"
        "          $490\n"
        "multi-plane-fat-tree-8  multi-plane-fat-tree         32        24     32  $27,680"
        "          $865")


def test_cost_table_of_no_design() -> None:
    """Without designs the table is its header."""
    assert cost_table([]) == "design  kind  endpoints  switches  links  cost  cost per GPU"


@pytest.mark.parametrize("count", [1, 2])
def test_chart_size(boms: list[BillOfMaterials], tmp_path: Path, count: int) -> None:
    """The chart is a PNG of the report width and 1.4 + 0.55 inches per design."""
    path = tmp_path / "cost.png"
    plot_cost_per_endpoint(boms[:count], path)
    assert png_size(path.read_bytes()) == size_px(REPORT_WIDTH_IN, snap_in(1.4 + 0.55 * count))
