"""How many bytes DeepEP moves per token, and the bandwidth figure its tests report.

The record sizes follow DeepEP V1's kernels (traffic-mechanics §2.3, §2.4, §6.3): the record
a normal or low-latency kernel moves per token, the payload DeepEP's benchmark counts, and
its per-GPU bandwidth over calls. :mod:`mpft_sim.workload.deepep` builds the flows.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["payload_bytes", "per_gpu_bandwidth", "record_bytes"]


def _align16(n: int) -> int:
    return (n + 15) // 16 * 16


def record_bytes(hidden: int, top_k: int, dtype: Literal["fp8", "bf16"],
                 kind: Literal["dispatch", "combine"],
                 mode: Literal["normal", "low-latency"]) -> int:
    """Bytes DeepEP moves per token record (traffic-mechanics §2.3, §2.4, §6.3).

    * normal dispatch: ``align16(H*x + 8 + f*(H/128)*4 + 8K)``, x = 1, f = 1 for FP8 and
      x = 2, f = 0 for BF16 (hidden, 8-byte SourceMeta, FP8 scales, top-k indices and
      weights; ``get_num_bytes_per_token``): 7,472 B FP8 and 14,416 B BF16 for V3.
    * normal combine: ``align16(2H + 8 + 4K)`` = 14,384 B (BF16 only; no top-k indices).
    * low-latency dispatch: ``16 + H + (H/128)*4`` = 7,408 B FP8, ``16 + 2H`` = 14,352 B BF16.
    * low-latency combine: ``2H`` = 14,336 B (BF16 only; LogFMT is not modelled).

    The §2.3 BF16 dispatch figure (14,416 B) is this formula; §6.3's intranode shorthand
    ``H*x + scales + 8K`` (and ``2H + 4K`` for combine) omits the 8-byte SourceMeta and the
    16-byte rounding. The intranode kernels use a different buffer layout whose exact
    per-token size the references do not give, so the internode record is used for both.

    Parameters
    ----------
    hidden : int
        Hidden size H (a multiple of 128 for FP8, whose scales cover 128 values each).
    top_k : int
        Routed experts per token K.
    dtype : {"fp8", "bf16"}
        Dispatch payload type. Combine is BF16 in DeepEP V1; ``"fp8"`` combine is an error.
    kind : {"dispatch", "combine"}
    mode : {"normal", "low-latency"}

    Returns
    -------
    int
        Bytes per record (normal) or per message (low-latency).
    """
    if hidden < 1 or top_k < 1:
        raise ValueError("hidden and top_k must be positive")
    if dtype not in ("fp8", "bf16"):
        raise ValueError(f"dtype must be 'fp8' or 'bf16', got {dtype!r}")
    if kind not in ("dispatch", "combine"):
        raise ValueError(f"kind must be 'dispatch' or 'combine', got {kind!r}")
    if mode not in ("normal", "low-latency"):
        raise ValueError(f"mode must be 'normal' or 'low-latency', got {mode!r}")
    if dtype == "fp8" and hidden % 128:
        raise ValueError(f"FP8 needs hidden to be a multiple of 128, got {hidden}")
    if kind == "combine":
        if dtype != "bf16":
            raise ValueError("DeepEP V1 combines in BF16; there is no FP8 combine record")
        return _align16(2 * hidden + 8 + 4 * top_k) if mode == "normal" else 2 * hidden
    fp8 = dtype == "fp8"
    payload = hidden + hidden // 128 * 4 if fp8 else 2 * hidden
    if mode == "normal":
        return _align16(payload + 8 + 8 * top_k)
    return 16 + payload


def payload_bytes(hidden: int, dtype: Literal["fp8", "bf16"]) -> int:
    """Bytes per token that DeepEP's own benchmark counts (``tests/test_internode.py``).

    The test counts the hidden payload only: ``hidden * 2`` for BF16, and for FP8 the BF16
    figure times ``fp8_factor = (1 + 4/128) / 2``, i.e. ``hidden + hidden/32`` (one byte
    per value plus one 4-byte scale per 128 values). The record a kernel moves
    (:func:`record_bytes`) also carries the 8-byte SourceMeta and the top-k indices and
    weights: 7,472 B against 7,392 B here for V3's FP8 dispatch, 14,384 B against 14,336 B
    for its combine.

    Parameters
    ----------
    hidden : int
        Hidden size H (a multiple of 128 for FP8).
    dtype : {"fp8", "bf16"}

    Returns
    -------
    int
    """
    if dtype not in ("fp8", "bf16"):
        raise ValueError(f"dtype must be 'fp8' or 'bf16', got {dtype!r}")
    if hidden < 1 or (dtype == "fp8" and hidden % 128):
        raise ValueError(f"hidden must be positive (a multiple of 128 for FP8), got {hidden}")
    return 2 * hidden if dtype == "bf16" else hidden + hidden // 32


def per_gpu_bandwidth(bytes_per_call: NDArray[np.floating], gpus_per_call: NDArray[np.integer],
                      seconds_per_call: NDArray[np.floating]) -> float:
    """DeepEP's per-GPU bandwidth of a kernel over calls: the mean of bytes / GPUs / seconds.

    DeepEP's test prints, on each rank, its own byte count (``Flows.logical_bytes`` or
    ``Flows.nvl_logical_bytes`` divided among the group's GPUs) over one call of the kernel.
    Ranks of a group run in lockstep here, so a call's figure is the group's bytes over its
    GPUs and the call's duration; calls of zero duration are left out. 0.0 if none is left.
    """
    b = np.asarray(bytes_per_call, dtype=np.float64)
    g = np.asarray(gpus_per_call, dtype=np.float64)
    t = np.asarray(seconds_per_call, dtype=np.float64)
    ok = t > 0
    return float(np.mean(b[ok] / g[ok] / t[ok])) if ok.any() else 0.0
