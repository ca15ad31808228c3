"""The wire's timing specs: latency presets fill in what a file leaves out."""

from __future__ import annotations

from mpft_sim.spec.transport import LatencySpec


def test_latency_presets_fill_unset_values() -> None:
    """A preset fills what the file leaves out; explicit values win."""
    ib = LatencySpec()
    assert (ib.switch, ib.link, ib.endpoint) == (430e-9, 20e-9, 2.33e-6)
    roce = LatencySpec(preset="roce", link_s=50e-9)
    assert (roce.switch, roce.link, roce.endpoint) == (980e-9, 50e-9, 2.58e-6)
