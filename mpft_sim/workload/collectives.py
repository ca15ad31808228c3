"""NCCL-style collectives as flows: ring all-reduce / reduce-scatter / all-gather, all-to-all.

Rings are bandwidth-equivalent fluid rings: each ring edge carries, as one flow, everything it
carries over the collective's ``N - 1`` (or ``2(N - 1)``) pipelined steps, and the collective
also pays one path latency per step. With ``m`` ranks on every server the collective runs ``m``
channels (rings) of ``1/m`` of the data each. Channel c visits server k's ranks starting at
index ``(c - k) mod m``, so it leaves each server from the rank it enters the next one with:
every server-to-server hop stays on one rail (one plane of a multi-plane fabric), and each rail
carries one channel per hop.

An all-to-all is every (source, destination) pair at once (NCCL's grouped send/recv, its
round order simplified away); PXN forwarding is the router's job.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["RingKind", "alltoall_flows", "ring_flows", "ring_steps"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
RingKind = Literal["allreduce", "reduce_scatter", "allgather"]


def ring_steps(kind: RingKind, n: int) -> int:
    """Pipelined steps of a ring collective over ``n`` ranks."""
    return (2 if kind == "allreduce" else 1) * max(n - 1, 0)


def ring_flows(gpus: IntArray, gpus_per_node: int, bytes_per_rank: float,
               kind: RingKind) -> tuple[IntArray, IntArray, FloatArray]:
    """The flows of a ring collective among ``gpus`` over ``bytes_per_rank`` per rank.

    Returns
    -------
    (src, dst, size)
        One flow per ring edge per channel.
    """
    gpus = np.unique(np.asarray(gpus, dtype=np.int64))
    n = len(gpus)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    node = gpus // gpus_per_node
    nodes, counts = np.unique(node, return_counts=True)
    m = int(counts[0]) if np.all(counts == counts[0]) else 1
    per_node = gpus.reshape(len(nodes), m) if m > 1 else gpus[:, None]
    volume = (2.0 if kind == "allreduce" else 1.0) * (n - 1) / n * bytes_per_rank / m
    src_parts, dst_parts = [], []
    for c in range(m):
        start = (c - np.arange(len(per_node))) % m
        cols = (start[:, None] + np.arange(m)[None, :]) % m
        order = np.take_along_axis(per_node, cols, axis=1).ravel()
        src_parts.append(order)
        dst_parts.append(np.roll(order, -1))
    src, dst = np.concatenate(src_parts), np.concatenate(dst_parts)
    return src, dst, np.full(len(src), volume)


def alltoall_flows(gpus: IntArray, message_bytes: float) -> tuple[IntArray, IntArray, FloatArray]:
    """Every ordered pair of distinct ``gpus`` exchanging ``message_bytes``."""
    gpus = np.asarray(gpus, dtype=np.int64)
    s, d = np.meshgrid(gpus, gpus, indexing="ij")
    keep = s != d
    return s[keep], d[keep], np.full(int(keep.sum()), float(message_bytes))
