"""Price books: unit prices for the bill of materials."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mpft_sim.spec.files import expect_kind
from mpft_sim.spec.limits import MAX_PRICE
from mpft_sim.spec.loading import load_spec
from mpft_sim.spec.schema import Spec, option, read_yaml, source_field

__all__ = ["PriceBook", "default_prices", "load_prices"]


@dataclass(frozen=True)
class PriceBook(Spec):
    """Unit prices in US dollars."""

    switch_usd: float = option(key="switch", ge=0, le=MAX_PRICE, doc="one fabric switch")
    switch_link_usd: float = option(key="switch_link", ge=0, le=MAX_PRICE,
                                    doc="one switch-to-switch cable")
    endpoint_link_usd: float = option(key="endpoint_link", default=0.0, ge=0, le=MAX_PRICE,
                                      doc="one NIC-to-leaf cable")
    nic_usd: float = option(key="nic", default=0.0, ge=0, le=MAX_PRICE, doc="one NIC")
    source: str | None = source_field()


def load_prices(path: str | Path) -> PriceBook:
    """Load a price book YAML file.

    Raises
    ------
    SpecError
        Naming the file, the key and the bad value.
    """
    data = read_yaml(path)
    expect_kind(data, "price book", str(path))
    return load_spec(PriceBook, data, file=str(path))


def default_prices() -> PriceBook:
    """The shipped price book, which reproduces the published cost table."""
    ref = resources.files("mpft_sim") / "data" / "prices.yaml"
    with resources.as_file(ref) as path:
        return load_prices(path)
