"""The flow store: a run streamed to disk gives the same flow table as one kept in memory,
as memmaps whose files go when the table does."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from mpft_sim import flowstore
from mpft_sim.engine import simulate
from mpft_sim.flowstore import FlowStore
from tests.conftest import flow_list
from tests.test_engine import small_mpft

COLUMNS = ("src", "dst", "size_bytes", "release_s", "served_s", "end_s", "latency_s", "tag",
           "alone_Bps")
PATH_COLUMNS = ("flow_ptr", "share", "link_ptr", "links")


def _flows(seed: int = 4, n: int = 300):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    src = rng.integers(0, 32, n)
    dst = rng.integers(0, 32, n)
    size = rng.choice([0.0, 1e5, 1e6, 3e6], n)  # zero bytes and a GPU to itself included
    start = np.sort(rng.choice([0.0, 2e-5, 5e-5, 1e-4], n))  # in release order: no reordering
    return flow_list(list(src), list(dst), list(size), list(start))


@pytest.mark.parametrize(("policy", "buffer"), [("ecmp", 1 << 22), ("spray", 1 << 22),
                                                ("ecmp", 64), ("spray", 1)])
def test_spilled_table_equals_in_memory(policy: str, buffer: int,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """With records streamed to disk after 50 flows, every column and every path is what
    the in-memory run gives, and the columns are memmaps; also when the columns' write
    buffers fill (and are written) many times during the run, not only when read."""
    fabric = small_mpft(policy, "source")
    flows = _flows()
    memory = simulate(fabric, flows, keep_paths=True).flow_table
    monkeypatch.setattr(flowstore, "SPILL_FLOWS", 50)
    monkeypatch.setattr(flowstore, "_BUFFER_BYTES", buffer)
    spilled = simulate(fabric, flows, keep_paths=True).flow_table
    assert isinstance(spilled.end_s, np.memmap)
    for name in COLUMNS:
        assert np.array_equal(np.asarray(getattr(spilled, name)),
                              np.asarray(getattr(memory, name))), name
    assert spilled.paths is not None and memory.paths is not None
    for name in PATH_COLUMNS:
        assert np.array_equal(np.asarray(getattr(spilled.paths, name)),
                              np.asarray(getattr(memory.paths, name))), name
    assert spilled.tags == memory.tags


def test_memmaps_and_cleanup(monkeypatch: pytest.MonkeyPatch) -> None:
    """A spilled store's table is memmapped; its directory goes with the last user."""
    monkeypatch.setattr(flowstore, "SPILL_FLOWS", 10)
    store = FlowStore(keep_paths=False)
    for k in range(5):
        first = store.add(np.arange(8), np.arange(8) + 1, np.full(8, 1e6), 0.5 * k,
                          np.full(8, 1e-6), np.zeros(8, np.int64), np.full(8, 5e9), k, None)
        store.complete(np.arange(first, first + 8), 0.5 * k + 0.1)
    assert store.spilled
    table = store.table(("x",), 8)
    assert isinstance(table.end_s, np.memmap)
    assert len(table) == 40
    assert np.allclose(table.end_s, np.repeat(0.5 * np.arange(5) + 0.1 + 1e-6, 8))
    assert table.paths is None
    folder = table.files.path
    assert folder.exists()
    del store
    gc.collect()
    assert folder.exists()  # the table still uses it
    del table
    gc.collect()
    assert not folder.exists()


def test_active_flows_stay_in_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Completed prefixes leave memory; a flow still active keeps NaN in the table."""
    monkeypatch.setattr(flowstore, "SPILL_FLOWS", 4)
    store = FlowStore(keep_paths=False)
    for k in range(6):
        store.add(np.zeros(4), np.ones(4), np.ones(4), float(k), np.zeros(4),
                  np.zeros(4, np.int64), np.ones(4), 0, None)
    store.complete(np.arange(1, 24), 9.0)  # flow 0 still active
    store.flush(min_rows=1)
    assert store.base == 0  # its prefix is not complete
    store.complete(np.array([0]), 10.0)
    store.flush(min_rows=1)
    assert store.base == 24
    table = store.table(("",), 8)
    assert table.end_s[0] == 10.0 and np.all(table.end_s[1:] == 9.0)


def test_estimate_knows_the_engine_limits() -> None:
    """The estimate's copies of the engine's limits are the engine's (estimating must not
    load the compiled engine to read them)."""
    from mpft_sim._fluid.layout import TL_ROWS
    from mpft_sim.estimate import TIMELINE_ROWS

    assert TIMELINE_ROWS == TL_ROWS
