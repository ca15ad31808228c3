"""Several jobs on one fabric: each reported apart, no shared GPUs, interference only through
shared links."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from mpft_sim.engine import simulate
from mpft_sim.errors import SpecError
from mpft_sim.spec.model import ExpertLoadSpec, ModelSpec
from mpft_sim.spec.topology import FabricSpec, SwitchSpec, TopologySpec
from mpft_sim.spec.workload import (
    BatchSpec,
    InferenceWorkloadSpec,
    JobsWorkloadSpec,
    LayoutSpec,
    NcclAllToAllSpec,
    TrainingWorkloadSpec,
)
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.jobs import build_program


@pytest.fixture(scope="module")
def mpft() -> Fabric:
    """16 servers of 8 GPUs, 8 planes of radix-8 switches."""
    return build_fabric(TopologySpec(name="mpft16", fabric=FabricSpec(
        kind="multi-plane-fat-tree", planes=8, nodes=16,
        switch=SwitchSpec(radix=8, port_bandwidth_Bps=50e9))))


@pytest.fixture(scope="module")
def oversubscribed() -> Fabric:
    """18 servers, 8 planes, 3:1 leaves of 6 servers (2 uplinks each): servers 0-5, 6-11 and
    12-17 share a leaf in every plane."""
    return build_fabric(TopologySpec(name="os18", fabric=FabricSpec(
        kind="multi-plane-fat-tree", planes=8, nodes=18, oversubscription=(3, 1),
        switch=SwitchSpec(radix=8, port_bandwidth_Bps=50e9))))


def nccl(name: str, first_node: int, gpus: int = 32, message: float = 256 * 1024
         ) -> NcclAllToAllSpec:
    """An NCCL all-to-all over ``gpus`` GPUs from ``first_node`` on."""
    return NcclAllToAllSpec(name=name, kind="nccl-alltoall", gpus=gpus, message_bytes=message,
                            first_node=first_node)


def small_training(first_node: int) -> TrainingWorkloadSpec:
    """A 4-layer V3-like model, PP2 x EP16 (32 GPUs), two micro-batches of 512 tokens."""
    return TrainingWorkloadSpec(
        name="train", kind="training", schedule="1f1b",
        model=ModelSpec(layers=4, dense_layers=1),
        layout=LayoutSpec(pp=2, dp=16, ep=16, first_node=first_node),
        batch=BatchSpec(tokens=512, micro_batches=2, sequence=512),
        expert_load=ExpertLoadSpec(samples=1))


def jobs(*specs: Any) -> JobsWorkloadSpec:
    return JobsWorkloadSpec(name="mix", kind="jobs", jobs=tuple(specs))


def test_two_jobs_both_run(mpft: Fabric) -> None:
    """An all-to-all on servers 0-3 and a training step on 4-7 each get their own summary."""
    summary = simulate(mpft, jobs(nccl("a2a", 0), small_training(4))).summary
    assert [(j.name, j.kind, j.gpus) for j in summary.jobs] == [
        ("a2a", "nccl-alltoall", 32), ("train", "training", 32)]
    a2a, train = summary.jobs
    assert a2a.nccl is not None and a2a.nccl.mean_s > 0 and a2a.step_time_s > 0
    assert train.step_time_s > 0
    assert train.breakdown is not None
    assert train.breakdown.total_s() == pytest.approx(train.step_time_s, rel=1e-9)
    assert train.tokens_per_s == pytest.approx(512 * 2 * 16 / train.step_time_s, rel=1e-12)
    # several jobs: no one job's figures for the run
    with pytest.raises(ValueError, match="2 jobs"):
        summary.job  # noqa: B018


def test_jobs_lanes_stay_on_their_servers(mpft: Fabric) -> None:
    """Every lane of a job runs on that job's GPUs only."""
    program, infos = build_program(jobs(nccl("a2a", 0), small_training(4)), mpft)
    owned = {"a2a": set(range(32)), "train": set(range(32, 64))}
    for info in infos:
        for lane in info.lanes + info.step_lanes:
            assert program.lanes[lane].job == info.name
            assert set(program.lanes[lane].gpus.tolist()) <= owned[info.name]


def test_overlapping_jobs_are_refused(mpft: Fabric) -> None:
    """Two jobs on one GPU is a SpecError naming both jobs and the first shared GPU."""
    with pytest.raises(SpecError) as info:
        build_program(jobs(nccl("a2a", 0), small_training(3)), mpft)
    assert str(info.value) == "jobs: jobs 'a2a' and 'train' both use GPU n3/gpu0"


def test_duplicate_job_names_are_refused(mpft: Fabric) -> None:
    """Two jobs with one name is a SpecError listing the names."""
    with pytest.raises(SpecError) as info:
        build_program(jobs(nccl("x", 0), nccl("x", 4)), mpft)
    assert str(info.value) == "jobs: two jobs share a name, got ['x', 'x']"


def test_job_beyond_the_fabric_names_its_index(mpft: Fabric) -> None:
    """A job of a jobs list that does not fit names its place in the list and its layout."""
    big = InferenceWorkloadSpec(name="big", kind="inference", phase="prefill",
                                layout=LayoutSpec(dp=16, ep=16, first_node=15))
    with pytest.raises(SpecError) as info:
        build_program(jobs(nccl("a2a", 0), big), mpft)
    assert str(info.value) == ("jobs[1].layout: the job needs 16 GPUs from server 15 on, but "
                               "the fabric has 128 GPUs (16 servers), got 'pp=1 dp=16'")


def test_nccl_job_beyond_the_fabric(mpft: Fabric) -> None:
    """An NCCL job past the last GPU names its index and its gpus key."""
    with pytest.raises(SpecError) as info:
        build_program(jobs(nccl("a", 0, gpus=16), nccl("b", 14, gpus=24)), mpft)
    assert str(info.value) == "jobs[1].gpus: the fabric has 128 GPUs, got 24"


def _alone_and_together(fabric: Fabric, a: NcclAllToAllSpec, b: NcclAllToAllSpec
                        ) -> tuple[float, float, float, float]:
    ta = simulate(fabric, a).summary.job.step_time_s
    tb = simulate(fabric, b).summary.job.step_time_s
    both = {j.name: j.step_time_s for j in simulate(fabric, jobs(a, b)).summary.jobs}
    return ta, tb, both[a.name], both[b.name]


def test_disjoint_links_do_not_interfere(oversubscribed: Fabric) -> None:
    """Jobs under different leaves (servers 0-3 and 6-9) share no link: each takes exactly the
    time it takes alone."""
    a, b = nccl("a", 0), nccl("b", 6)
    ta, tb, ta2, tb2 = _alone_and_together(oversubscribed, a, b)
    assert ta2 == pytest.approx(ta, rel=1e-9)
    assert tb2 == pytest.approx(tb, rel=1e-9)


def test_shared_links_slow_both_jobs(oversubscribed: Fabric) -> None:
    """Jobs on servers 4-7 and 10-13 both cross the 2 uplinks of the middle leaf: together each
    takes at least as long as alone, here strictly longer (the uplinks saturate)."""
    a, b = nccl("a", 4), nccl("b", 10)
    ta, tb, ta2, tb2 = _alone_and_together(oversubscribed, a, b)
    assert ta2 >= ta * (1 - 1e-12) and tb2 >= tb * (1 - 1e-12)
    assert ta2 > 1.2 * ta and tb2 > 1.2 * tb


def test_shared_links_are_really_shared(oversubscribed: Fabric) -> None:
    """In the shared case some leaf-spine link carries bytes of both jobs."""
    a, b = nccl("a", 4), nccl("b", 10)
    only_a = simulate(oversubscribed, a).link_bytes > 0
    only_b = simulate(oversubscribed, b).link_bytes > 0
    tier = oversubscribed.link_tier
    assert np.any(only_a & only_b & (tier > 0))
    # and in the disjoint case no link at all
    c, d = nccl("c", 0), nccl("d", 6)
    assert not np.any((simulate(oversubscribed, c).link_bytes > 0)
                      & (simulate(oversubscribed, d).link_bytes > 0))


def test_training_job_unchanged_by_a_disjoint_neighbour(mpft: Fabric) -> None:
    """A training step under leaf 1 takes the same time with an all-to-all under leaf 0."""
    train = small_training(4)
    alone = simulate(mpft, train).summary.job.step_time_s
    together = simulate(mpft, jobs(nccl("a2a", 0), train)).summary.jobs[1]
    assert together.step_time_s == pytest.approx(alone, rel=1e-9)


def test_single_job_list_reports_at_top_level(mpft: Fabric) -> None:
    """A jobs list of one job is summarised like the job alone."""
    a = nccl("a", 0, gpus=16)
    alone = simulate(mpft, a).summary
    listed = simulate(mpft, dataclasses.replace(jobs(a), jobs=(a,))).summary
    assert listed.job.step_time_s == alone.job.step_time_s
    assert listed.job.nccl == alone.job.nccl
    assert [j.name for j in listed.jobs] == ["a"]
