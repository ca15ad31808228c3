"""Rank placement: rank arithmetic, groups, jobs that do not fit, rank map files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mpft_sim.errors import SpecError
from mpft_sim.spec.topology import FabricSpec, SwitchSpec, TopologySpec, load_topology
from mpft_sim.spec.workload import InferenceWorkloadSpec, LayoutSpec, TrainingWorkloadSpec
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.jobs import build_program
from mpft_sim.workload.layout import place_ranks
from tests.conftest import DATA, TOPOLOGIES

BAD = DATA / "bad_workload"


@pytest.fixture(scope="module")
def fabric() -> Fabric:
    """16 servers of 8 GPUs, 8 planes of radix-8 switches."""
    return build_fabric(TopologySpec(name="mpft16", fabric=FabricSpec(
        kind="multi-plane-fat-tree", planes=8, nodes=16,
        switch=SwitchSpec(radix=8, port_bandwidth_Bps=50e9))))


@pytest.fixture(scope="module")
def tiny() -> Fabric:
    """tiny-mpft: 4 servers of 2 GPUs."""
    return build_fabric(load_topology(TOPOLOGIES / "tiny-mpft.yaml"))


def test_rank_arithmetic(fabric: Fabric) -> None:
    """rank = pp * dp + edp * ep + e and GPU = first_node * 8 + rank."""
    lay = place_ranks(LayoutSpec(pp=2, dp=16, ep=8, first_node=4), fabric)
    assert (lay.pp, lay.dp, lay.ep, lay.edp) == (2, 16, 8, 2)
    assert lay.gpu.tolist() == list(range(32, 64))
    assert lay.rank(1, 5) == 21
    assert lay.ep_group(0, 0).tolist() == list(range(32, 40))
    assert lay.ep_group(1, 1).tolist() == list(range(56, 64))
    assert lay.stage_ranks(0).tolist() == list(range(32, 48))
    assert lay.stage_ranks(1).tolist() == list(range(48, 64))
    assert lay.expert_dp_group(1, 3).tolist() == [51, 59]
    assert lay.expert_dp_group(0, 7).tolist() == [39, 47]


def test_groups_partition_a_stage(fabric: Fabric) -> None:
    """The EP groups of a stage, and its expert-DP groups, each partition the stage's GPUs."""
    lay = place_ranks(LayoutSpec(pp=2, dp=32, ep=16, first_node=0), fabric)
    for pp in range(lay.pp):
        stage = sorted(lay.stage_ranks(pp).tolist())
        by_ep = sorted(np.concatenate([lay.ep_group(pp, e) for e in range(lay.edp)]).tolist())
        by_edp = sorted(np.concatenate([lay.expert_dp_group(pp, e)
                                        for e in range(lay.ep)]).tolist())
        assert by_ep == stage == by_edp
        # an EP group is whole servers; the expert-DP group of EP index e is e's GPU in each
        for e in range(lay.ep):
            group = lay.expert_dp_group(pp, e)
            assert len(group) == lay.edp
            assert np.all(group % 8 == e % 8)


def test_pipeline_neighbours_share_a_rail(fabric: Fabric) -> None:
    """With dp a multiple of the node size, rank d of every stage has the same local index."""
    lay = place_ranks(LayoutSpec(pp=4, dp=8, ep=8, first_node=8), fabric)
    locals_ = np.stack([lay.stage_ranks(pp) % 8 for pp in range(lay.pp)])
    assert np.all(locals_ == locals_[0])
    servers = np.stack([lay.stage_ranks(pp) // 8 for pp in range(lay.pp)])
    assert servers[:, 0].tolist() == [8, 9, 10, 11]


def test_job_that_fills_the_fabric_fits(fabric: Fabric) -> None:
    """A job of exactly the fabric's GPUs is placed on all of them."""
    lay = place_ranks(LayoutSpec(pp=2, dp=64, ep=64), fabric)
    assert lay.gpu.tolist() == list(range(128))


def test_job_larger_than_the_fabric(fabric: Fabric) -> None:
    """A job that runs past the last server is a SpecError naming the layout."""
    with pytest.raises(SpecError) as info:
        place_ranks(LayoutSpec(pp=2, dp=32, ep=16, first_node=13), fabric)
    assert str(info.value) == ("layout: the job needs 64 GPUs from server 13 on, but the "
                               "fabric has 128 GPUs (16 servers), got 'pp=2 dp=32'")


def test_job_larger_than_the_fabric_in_a_workload(fabric: Fabric) -> None:
    """Through build_program the key path is the workload's own ``layout`` key."""
    spec = InferenceWorkloadSpec(name="big", kind="inference", phase="prefill",
                                 layout=LayoutSpec(dp=144, ep=16))
    with pytest.raises(SpecError) as info:
        build_program(spec, fabric)
    assert str(info.value) == ("layout: the job needs 144 GPUs from server 0 on, but the "
                               "fabric has 128 GPUs (16 servers), got 'pp=1 dp=144'")
    train = TrainingWorkloadSpec(name="t", kind="training", schedule="1f1b",
                                 layout=LayoutSpec(pp=2, dp=8, ep=8, first_node=15))
    with pytest.raises(SpecError) as info:
        build_program(train, fabric)
    assert str(info.value) == ("layout: the job needs 16 GPUs from server 15 on, but the "
                               "fabric has 128 GPUs (16 servers), got 'pp=2 dp=8'")


def _write_map(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ranks.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_rank_map_happy_path(tiny: Fabric, tmp_path: Path) -> None:
    """A rank map places ranks on the GPUs it names, by global rank or by n<i>/gpu<j>."""
    path = _write_map(tmp_path, "rank,gpu\n0,n3/gpu1\n1,n3/gpu0\n2,5\n3, 4\n\n")
    lay = place_ranks(LayoutSpec(pp=2, dp=2, ep=2, rank_map=path), tiny)
    assert lay.gpu.tolist() == [7, 6, 5, 4]
    assert lay.ep_group(0, 0).tolist() == [7, 6]
    assert lay.stage_ranks(1).tolist() == [5, 4]
    assert lay.expert_dp_group(1, 1).tolist() == [4]


def test_rank_map_ignores_first_node(tiny: Fabric, tmp_path: Path) -> None:
    """With a rank map, first_node plays no part (and the map may use any servers)."""
    path = _write_map(tmp_path, "rank,gpu\n0,0\n1,7\n")
    lay = place_ranks(LayoutSpec(dp=2, ep=2, first_node=3, rank_map=path), tiny)
    assert lay.gpu.tolist() == [0, 7]


def test_rank_map_drives_the_program(tiny: Fabric, tmp_path: Path) -> None:
    """A job's lanes run on the GPUs its rank map gives."""
    path = _write_map(tmp_path, "rank,gpu\n" + "".join(f"{r},{7 - r}\n" for r in range(8)))
    spec = InferenceWorkloadSpec(name="inf", kind="inference", phase="prefill",
                                 tokens_per_gpu=8,
                                 layout=LayoutSpec(dp=8, ep=4, rank_map=path))
    program, jobs = build_program(spec, tiny)
    assert [program.lanes[lane].gpus.tolist() for lane in jobs[0].lanes] == [
        [7, 6, 5, 4], [3, 2, 1, 0]]


RANK_MAP_CASES = {
    "rank_map_bad_header": "row 1: the header must be rank,gpu",
    "rank_map_rank_out_of_range": "row 3: rank: the job has 4 ranks, got 4",
    "rank_map_gpu_out_of_range": "row 4: gpu: the fabric has 8 GPUs, got 8",
    "rank_map_unknown_server": "row 3: expected rank,gpu (no server 9: the fabric has 4), "
    "got '1,n9/gpu0'",
    "rank_map_not_a_gpu": "row 3: expected rank,gpu (not a GPU), got '1,p0/leaf/0'",
    "rank_map_malformed_row": "row 3: expected rank,gpu (not a node name such as 'n12/gpu3', "
    "'n12/nic3' or 'p3/spine/0'), got '1,one'",
    "rank_map_duplicate_gpu": "two ranks share a GPU",
    "rank_map_missing_rank": "rank 2 has no GPU",
}


@pytest.mark.parametrize("case", sorted(RANK_MAP_CASES))
def test_bad_rank_map(case: str, tiny: Fabric) -> None:
    """Each bad rank map row is a SpecError naming the file, the row and the bad value."""
    path = BAD / f"{case}.csv"
    with pytest.raises(SpecError) as info:
        place_ranks(LayoutSpec(pp=2, dp=2, ep=2, rank_map=str(path)), tiny)
    assert str(info.value) == f"{path}: {RANK_MAP_CASES[case]}"


def test_rank_map_rank_listed_twice(tiny: Fabric) -> None:
    """A rank listed on two rows is an error naming the second row, not a silent override."""
    path = BAD / "rank_map_duplicate_rank.csv"
    with pytest.raises(SpecError) as info:
        place_ranks(LayoutSpec(pp=2, dp=2, ep=2, rank_map=str(path)), tiny)
    assert str(info.value).startswith(f"{path}: row 3: ")


def test_every_rank_map_fixture_is_covered() -> None:
    """No CSV fixture under tests/data/bad_workload is left untested."""
    assert {p.stem for p in BAD.glob("*.csv")} == set(RANK_MAP_CASES) | {
        "rank_map_duplicate_rank"}


def test_rank_map_file_missing(tiny: Fabric, tmp_path: Path) -> None:
    """A rank map that does not exist is a SpecError naming it."""
    path = tmp_path / "nope.csv"
    with pytest.raises(SpecError) as info:
        place_ranks(LayoutSpec(dp=2, ep=2, rank_map=str(path)), tiny)
    assert str(info.value).startswith(f"{path}: cannot read rank map")
