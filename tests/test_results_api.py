"""A Result's tables as a planning script sees them: DataFrames, or records without pandas."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np
import pytest

import mpft_sim
from mpft_sim.results import Result
from tests.conftest import ROOT, TOPOLOGIES


@pytest.fixture(scope="module")
def result() -> Result:
    spec = mpft_sim.load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml")
    return mpft_sim.simulate(spec, mpft_sim.load_workload(ROOT / "workloads" / "ep-alltoall.yaml"))


def test_dataframes(result: Result) -> None:
    """flows, links and ops are DataFrames with the documented columns, one row per item."""
    flows, links, ops = result.flows, result.links, result.ops
    assert list(flows.columns) == ["id", "src", "dst", "size_bytes", "start_s", "served_s",
                                   "end_s", "latency_s", "fct_s", "alone_Bps", "tag"]
    assert len(flows) == len(result.flow_table)
    assert np.allclose(flows.fct_s, flows.end_s - flows.start_s)
    assert set(flows.tag.unique()) == {"dispatch", "combine"}
    assert len(links) == result.fabric.n_links
    assert links.bytes.sum() == pytest.approx(result.link_bytes.sum())
    assert links.loc[0, "src"] == "n0/gpu0" and links.loc[0, "tier"] == "node"
    kinds = set(ops.kind)
    assert {"dispatch", "combine"} <= kinds
    assert (ops.end_s >= ops.start_s).all()
    busy = flows.groupby("tag", observed=True).size()
    assert busy["dispatch"] + busy["combine"] == len(flows)


def test_records_without_pandas(result: Result, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pandas the same tables are numpy record arrays."""
    real_import = builtins.__import__

    def no_pandas(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("no pandas here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    flows = result.flows
    assert isinstance(flows, np.recarray)
    assert flows.dtype.names == ("id", "src", "dst", "size_bytes", "start_s", "served_s",
                                 "end_s", "latency_s", "fct_s", "alone_Bps", "tag")
    assert np.array_equal(flows.end_s, result.flow_table.end_s)
    assert isinstance(result.links, np.recarray) and isinstance(result.ops, np.recarray)


def test_public_api() -> None:
    """import mpft_sim gives the planning functions."""
    for name in ("load_topology", "load_workload", "build_fabric", "simulate", "compare",
                 "bill_of_materials", "Result", "MpftError", "write_run", "load_run"):
        assert name in mpft_sim.__all__ and hasattr(mpft_sim, name)


def test_public_names_are_never_shadowed_by_modules() -> None:
    """However many submodules are imported (which binds them as package attributes), every
    public name is still the function or class, not a module of the same name."""
    import importlib
    import pkgutil
    import types

    for info in pkgutil.walk_packages(mpft_sim.__path__, "mpft_sim."):
        if info.name != "mpft_sim.__main__":
            importlib.import_module(info.name)
    for name in mpft_sim.__all__:
        assert not isinstance(getattr(mpft_sim, name), types.ModuleType), name
