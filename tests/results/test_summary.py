"""Typed summaries and the metrics row: plain data and back, checked key by key, and the
figures a comparison and a sweep list."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mpft_sim.errors import SpecError
from mpft_sim.results.metrics import METRICS, metrics_row
from mpft_sim.results.summary import (
    AllToAllStats,
    Breakdown,
    EngineStats,
    FctCdf,
    JobSummary,
    LinkUse,
    NcclStats,
    Provenance,
    Quantiles,
    RunInfo,
    RunSummary,
    from_plain,
    to_plain,
)
from mpft_sim.spec.topology import load_topology
from mpft_sim.topology.cost import bill_of_materials
from tests.conftest import TOPOLOGIES

A2A = AllToAllStats(count=4, mean_s=2e-3, p99_s=3e-3, network_Bps_per_gpu=40e9,
                    logical_Bps_per_gpu=45e9, network_bytes_per_gpu=80e6)


def summary(jobs: tuple[JobSummary, ...] = ()) -> RunSummary:
    """A run of 100 flows on the deployed cluster, with the given jobs."""
    bom = bill_of_materials(load_topology(TOPOLOGIES / "deepseek-v3-2048.yaml"))
    use = LinkUse(mean=0.25, peak=1.0, bytes=1e9)
    return RunSummary(
        info=RunInfo(topology="t", workload="w", workload_kind="training", model="fluid",
                     seed=0, tolerance=0.0, routing="ecmp", cross_plane="destination",
                     failures=("plane=1",), gpus_per_node=8),
        makespan_s=2.0, flows=100, bytes=1e10, fct_s=Quantiles(1e-3, 2e-3, 3e-3, 1.2e-3),
        slowdown=Quantiles(1.0, 2.0, 3.0, 1.1),
        fct_cdf=FctCdf.of(np.linspace(1e-3, 3e-3, 100), np.linspace(1, 3, 100)),
        by_plane={"0": use, "1": LinkUse(0.0, 0.0, 0.0)},
        by_tier={"endpoint": use, "leaf-spine": LinkUse(0.5, 0.9, 2e9), "node": use},
        hottest_links=(), engine=EngineStats(3, 300), cost=bom, jobs=jobs,
        provenance=Provenance("0.2.0", "3.11.7", 1.5, 2**30))


def training(name: str, step: float, tokens: float) -> JobSummary:
    return JobSummary(name=name, kind="training", gpus=1024, step_time_s=step,
                      exposed_comm_s=0.1, alltoall={"dispatch": A2A, "combine": A2A},
                      breakdown=Breakdown(1.0, 0.2, 0.3, 0.1, 0.3, 0.1), tokens_per_s=tokens)


def test_plain_round_trip() -> None:
    """to_plain then from_plain gives an equal summary."""
    s = summary((training("a", 2.0, 1e5), dataclasses.replace(
        training("b", 1.0, 2e5), kind="nccl-alltoall", breakdown=None, tokens_per_s=None,
        nccl=NcclStats(0.5, 0.6, 40e9))))
    assert RunSummary.from_dict(to_plain(s)) == s


@pytest.mark.parametrize(("path", "value", "message"), [
    (("makespan_s",), "2s", "makespan_s: expected a finite number, got '2s'"),
    (("flows",), 1.5, "flows: expected a whole number, got 1.5"),
    (("info", "failures"), "plane=1", "info.failures: expected a list, got 'plane=1'"),
    (("by_tier", "endpoint", "peak"), None, "by_tier.endpoint.peak: expected a finite number"),
    (("fct_cdf", "q"), [0.0], "fct_cdf: expected q, fct_s and slowdown of one length"),
])
def test_bad_plain_data_names_the_key(path: tuple[str, ...], value: object,
                                      message: str) -> None:
    data = to_plain(summary())
    here = data
    for part in path[:-1]:
        here = here[part]
    here[path[-1]] = value
    with pytest.raises(SpecError) as info:
        RunSummary.from_dict(data, "run/summary.json")
    assert str(info.value).startswith("run/summary.json: ") and message in str(info.value)


def test_missing_key() -> None:
    data = to_plain(summary())
    del data["info"]["seed"]
    with pytest.raises(SpecError, match=r"^x\.info\.seed: missing required key$"):
        from_plain(RunSummary, data, ("x",))


def test_quantiles_and_cdf() -> None:
    """Quantiles are numpy's percentiles; an empty run has zeros and a flat CDF."""
    q = Quantiles.of(np.arange(101.0))
    assert (q.p50, q.p99, q.max, q.mean) == (50.0, 99.0, 100.0, 50.0)
    assert Quantiles.of(np.zeros(0)) == Quantiles(0.0, 0.0, 0.0, 0.0)
    cdf = FctCdf.of(np.zeros(0), np.zeros(0), points=5)
    assert cdf.q == (0.0, 0.25, 0.5, 0.75, 1.0) and set(cdf.slowdown) == {1.0}


def test_job_property() -> None:
    """.job is the only job; a flow list has none, several jobs are ambiguous."""
    one = summary((training("a", 2.0, 1e5),))
    assert one.job.name == "a"
    for jobs in ((), (training("a", 2.0, 1e5), training("b", 1.0, 1e5))):
        with pytest.raises(ValueError, match=f"{len(jobs)} jobs"):
            summary(jobs).job  # noqa: B018


def test_metrics_of_a_training_step() -> None:
    """The row: step time, all-to-all means, utilisation per switched tier, cost per GPU,
    tokens per second per million dollars."""
    m = metrics_row(summary((training("a", 2.0, 1e5),)), cost_usd=9e6, gpus=2048)
    assert (m.metric, m.time_s, m.step_time_s, m.tpot_s) == ("step_time_s", 2.0, 2.0, None)
    assert (m.dispatch_s, m.combine_s, m.exposed_comm_s) == (2e-3, 2e-3, 0.1)
    assert (m.peak_util_endpoint, m.mean_util_leaf_spine, m.peak_util_spine_core) == (
        1.0, 0.5, None)
    assert m.cost_per_gpu_usd == 9e6 / 2048
    assert m.perf_per_musd == pytest.approx(1e5 / 9) and m.perf_unit == "tokens/s per $M"
    assert m.fct_p99_s == 2e-3 and m.job_gpus == 1024
    assert tuple(m.to_dict()) == METRICS


def test_metrics_of_several_jobs_and_of_a_flow_list() -> None:
    """Several jobs: the slowest job's times, every job's tokens and GPUs. A flow list: the
    makespan, and steps per second per million dollars."""
    m = metrics_row(summary((training("a", 2.0, 1e5), training("b", 3.0, 2e5))), 9e6, 2048)
    assert m.step_time_s == 3.0 and m.tokens_per_s == 3e5 and m.job_gpus == 2048
    flows = metrics_row(summary(), 9e6, 2048)
    assert (flows.metric, flows.time_s, flows.step_time_s) == ("makespan_s", 2.0, None)
    assert flows.perf_per_musd == pytest.approx(0.5 / 9) and flows.perf_unit == \
        "1/makespan per $M"
