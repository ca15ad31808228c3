"""DeepEP's record sizes: the V3 figures of the references."""

from __future__ import annotations

import pytest

from mpft_sim.workload.deepep_sizes import record_bytes
from tests.workload.test_deepep import (
    V3_COMBINE,
    V3_DISPATCH_BF16,
    V3_DISPATCH_FP8,
    V3_HIDDEN,
    V3_LL_COMBINE,
    V3_LL_DISPATCH_BF16,
    V3_LL_DISPATCH_FP8,
    V3_TOP_K,
)


def test_v3_record_sizes() -> None:
    """record_bytes reproduces the V3 record sizes of the references."""
    assert record_bytes(V3_HIDDEN, V3_TOP_K, "fp8", "dispatch", "normal") == V3_DISPATCH_FP8
    assert record_bytes(V3_HIDDEN, V3_TOP_K, "bf16", "dispatch", "normal") == V3_DISPATCH_BF16
    assert record_bytes(V3_HIDDEN, V3_TOP_K, "bf16", "combine", "normal") == V3_COMBINE
    assert record_bytes(V3_HIDDEN, V3_TOP_K, "fp8", "dispatch",
                        "low-latency") == V3_LL_DISPATCH_FP8
    assert record_bytes(V3_HIDDEN, V3_TOP_K, "bf16", "dispatch",
                        "low-latency") == V3_LL_DISPATCH_BF16
    assert record_bytes(V3_HIDDEN, V3_TOP_K, "bf16", "combine", "low-latency") == V3_LL_COMBINE
    with pytest.raises(ValueError):
        record_bytes(V3_HIDDEN, V3_TOP_K, "fp8", "combine", "normal")
    with pytest.raises(ValueError):
        record_bytes(7000, V3_TOP_K, "fp8", "dispatch", "normal")
