"""The wire's timing in a topology file: the fabric's per-hop latency and its packets'
transport overhead (InfiniBand or RoCE), each with presets that fill in unset values.

Both are sections of a fabric (:class:`~mpft_sim.spec.topology.FabricSpec`: ``latency`` and
``transport``); ``docs/topology.md`` describes every key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mpft_sim.spec.limits import MAX_LATENCY, MAX_MTU
from mpft_sim.spec.schema import Spec, option

__all__ = ["LATENCY_PRESETS", "TRANSPORT_PRESETS", "LatencyPreset", "LatencySpec",
           "TransportPreset", "TransportSpec"]

LatencyPreset = Literal["infiniband", "roce"]
TransportPreset = Literal["infiniband", "roce", "none"]

# Per-hop figures fitted to ISCA25 Table 5 (64-byte end-to-end latency): IB 2.8 us same leaf
# and 3.7 us cross leaf; RoCE 3.6 / 5.6 us. A cross-leaf path crosses two more switches and two
# more cables than a same-leaf one, which fixes switch + link; the endpoint overhead is the rest.
LATENCY_PRESETS: dict[str, dict[str, float]] = {
    "infiniband": {"switch_s": 430e-9, "link_s": 20e-9, "endpoint_s": 2.33e-6},
    "roce": {"switch_s": 980e-9, "link_s": 20e-9, "endpoint_s": 2.58e-6},
}

# Bytes every packet adds to its payload on the wire (docs/engine.md has the arithmetic):
# - InfiniBand RC (IBTA Vol. 1): LRH 8 + BTH 12 + ICRC 4 + VCRC 2 = 26 bytes; NDR's 400 Gb/s
#   is the data rate after line coding, so nothing else takes the wire's time. A GRH (40 B)
#   only crosses subnets; a RETH (16 B) rides on a message's first packet only.
# - RoCEv2 (IBTA Annex A17): Ethernet 14 + IPv4 20 + UDP 8 + BTH 12 + ICRC 4 + FCS 4 = 62 bytes,
#   plus the 8 bytes of preamble and start delimiter and the 12-byte inter-frame gap that hold
#   the wire between frames: 82 bytes (no VLAN tag: PFC priority travels in the DSCP field).
# - none: no overhead and no acknowledgement (the fluid model's line-rate idealisation).
TRANSPORT_PRESETS: dict[str, dict[str, Any]] = {
    "infiniband": {"mtu_bytes": 4096, "header_bytes": 26, "ack": True},
    "roce": {"mtu_bytes": 4096, "header_bytes": 82, "ack": True},
    "none": {"mtu_bytes": 4096, "header_bytes": 0, "ack": False},
}


@dataclass(frozen=True)
class LatencySpec(Spec):
    """Latency of the switched fabric; unset values come from the preset."""

    preset: LatencyPreset = option(default="infiniband", doc="infiniband or roce")
    switch_s: float | None = option(key="switch", unit="time", default=None, ge=0,
                                    le=MAX_LATENCY, doc="per switch traversed")
    link_s: float | None = option(key="link", unit="time", default=None, ge=0, le=MAX_LATENCY,
                                  doc="propagation per cable")
    endpoint_s: float | None = option(key="endpoint", unit="time", default=None, ge=0,
                                      le=MAX_LATENCY,
                                      doc="sender + receiver overhead of one transfer")

    def __post_init__(self) -> None:
        super().__post_init__()  # the preset is a known one before it is looked up
        for name, value in LATENCY_PRESETS[self.preset].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    @property
    def switch(self) -> float:
        """Seconds per switch traversed."""
        assert self.switch_s is not None
        return self.switch_s

    @property
    def link(self) -> float:
        """Seconds of propagation per cable."""
        assert self.link_s is not None
        return self.link_s

    @property
    def endpoint(self) -> float:
        """Seconds of endpoint overhead per transfer."""
        assert self.endpoint_s is not None
        return self.endpoint_s


@dataclass(frozen=True)
class TransportSpec(Spec):
    """Packet overhead of the switched fabric's links (InfiniBand or RoCE); unset values come
    from the preset.

    A link carrying packets of ``mtu_bytes`` payload and ``header_bytes`` of overhead moves
    payload at ``goodput`` = mtu / (mtu + header) of its line rate; with ``ack`` a transfer
    completes when the acknowledgement of its last packet is back at the sender, one more
    one-way latency of its switched path later. NVLink and PCIe are not affected (NVLink has
    its own efficiency).
    """

    preset: TransportPreset | None = option(
        default=None, doc="infiniband, roce or none (line rate, no acknowledgement); default: "
                          "the fabric's latency preset")
    mtu_bytes: int | None = option(default=None, ge=1, le=MAX_MTU,
                                   doc="payload bytes per packet (InfiniBand, RoCE: 4,096)")
    header_bytes: int | None = option(
        default=None, ge=0, le=MAX_MTU,
        doc="bytes each packet adds on the wire: headers, CRCs, framing (IB 26, RoCE 82)")
    ack: bool | None = option(
        default=None, doc="a transfer completes when its last acknowledgement is back: one "
                          "more one-way latency of its switched path")

    def __post_init__(self) -> None:
        super().__post_init__()  # the preset is a known one before it is looked up
        if self.preset is not None:
            for name, value in TRANSPORT_PRESETS[self.preset].items():
                if getattr(self, name) is None:
                    object.__setattr__(self, name, value)

    @property
    def goodput(self) -> float:
        """Payload over wire bytes of a full packet: the fraction of the line rate a transfer
        gets (1 without overhead)."""
        mtu, header = self.mtu_bytes, self.header_bytes
        assert mtu is not None and header is not None, "resolved by the fabric's preset"
        return mtu / (mtu + header) if header else 1.0
