"""Flow-list replay: reading ``src,dst,size,start[,tag]`` rows (names or ranks, units, tags,
each error naming the file and row), and the program that releases each batch of flows at its
start time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mpft_sim.engine import simulate
from mpft_sim.errors import SpecError
from mpft_sim.spec.topology import load_topology
from mpft_sim.topology.build import build_fabric
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.flows import FlowList, flow_program, read_flow_csv
from mpft_sim.workload.program import Stream, TaskKind
from tests.conftest import TOPOLOGIES


@pytest.fixture(scope="module")
def tiny() -> Fabric:
    """4 servers of 2 GPUs (ranks 0-7) on 2 planes."""
    return build_fabric(load_topology(TOPOLOGIES / "tiny-mpft.yaml"))


def write(tmp_path: Path, text: str) -> Path:
    """A flow list file holding ``text``."""
    path = tmp_path / "flows.csv"
    path.write_text(text, encoding="utf-8")
    return path


# -- reading --------------------------------------------------------------------------------------

def test_read_names_ranks_units_and_tags(tiny: Fabric, tmp_path: Path) -> None:
    """Endpoints are GPU names or global ranks, sizes and starts plain numbers or quantities
    with units; tags are kept, blank rows skipped, cells stripped."""
    path = write(tmp_path, "src,dst,size,start,tag\n"
                           "n0/gpu0, n3/gpu1 ,1MiB,10us,a\n\n"
                           "1,2,100,0,b\n , , , , \n"
                           "7,0,2.5e3,1e-6,\n")
    flows = read_flow_csv(path, tiny)
    assert flows.src.tolist() == [0, 1, 7]
    assert flows.dst.tolist() == [7, 2, 0]
    assert flows.size_bytes.tolist() == [2.0**20, 100.0, 2500.0]
    assert flows.start_s.tolist() == pytest.approx([10e-6, 0.0, 1e-6], rel=1e-15)
    assert flows.tag == ("a", "b", "")
    assert len(flows) == 3


def test_read_without_tags(tiny: Fabric, tmp_path: Path) -> None:
    """Without a tag column every flow's tag is empty."""
    flows = read_flow_csv(write(tmp_path, "src,dst,size,start\n0,1,1,0\n2,3,4,5\n"), tiny)
    assert flows.tag == ("", "")
    assert flows.start_s.tolist() == [0.0, 5.0]


BAD = [
    ("src,dst,bytes,start\n0,1,1,0\n", "row 1: the header must be src,dst,size,start or "
     "src,dst,size,start,tag, got 'src,dst,bytes,start'"),
    ("src,dst,size,start,tag,x\n0,1,1,0,a,b\n", "row 1: the header must be src,dst,size,start "
     "or src,dst,size,start,tag, got 'src,dst,size,start,tag,x'"),
    ("", "row 1: the header must be src,dst,size,start or src,dst,size,start,tag, got ''"),
    ("src,dst,size,start\n", "no flows in the file"),
    ("src,dst,size,start\n0,1,1\n", "row 2: expected 4 columns (src,dst,size,start), "
     "got '0,1,1'"),
    ("src,dst,size,start\n0,8,1,0\n", "row 2: dst: no GPU rank 8: the fabric has 8, got '8'"),
    ("src,dst,size,start\n-1,1,1,0\n", "row 2: src: no GPU rank -1: the fabric has 8, "
     "got '-1'"),
    ("src,dst,size,start\nn0/nic0,1,1,0\n", "row 2: src: an endpoint must be a GPU such as "
     "'n12/gpu3' or a global rank, got 'n0/nic0'"),
    ("src,dst,size,start\nn9/gpu0,1,1,0\n", "row 2: src: no server 9: the fabric has 4, "
     "got 'n9/gpu0'"),
    ("src,dst,size,start\nn0/gpu1,1,1,0\n", "row 2: src and dst are the same GPU, "
     "got 'n0/gpu1'"),
    ("src,dst,size,start\n0,1,-1,0\n", "row 2: size: must be a non-negative number, got '-1'"),
    ("src,dst,size,start\n0,1,1,nan\n", "row 2: start: must be a finite number, got 'nan'"),
    ("src,dst,size,start\n0,1,1furlong,0\n", "row 2: size: unknown size unit 'furlong' "
     "(try '64MiB'), got '1furlong'"),
    ("src,dst,size,start\n0,1,1,3MB\n", "row 2: start: unknown time unit 'MB' (try '1.2us'), "
     "got '3MB'"),
    ("src,dst,size,start\n0,1,1,0\n\n0,1,x,0\n", "row 4: size: expected a size such as "
     "'64MiB', got 'x'"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_rows_name_the_file_and_row(tiny: Fabric, tmp_path: Path, text: str,
                                        message: str) -> None:
    """Each bad file is a SpecError naming the file, the row (header = row 1, blank rows
    counted) and the bad cell."""
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        read_flow_csv(path, tiny)
    assert str(err.value) == f"{path}: {message}"


# -- the replay program ---------------------------------------------------------------------------

def flows_at(starts: list[float]) -> FlowList:
    """Flows k -> k + 1 of k + 1 bytes, released at ``starts``, tagged f0, f1, ..."""
    n = len(starts)
    return FlowList(np.arange(n), np.arange(1, n + 1), np.arange(1, n + 1, dtype=float),
                    np.array(starts, dtype=float), tuple(f"f{k}" for k in range(n)))


def test_one_wait_and_one_release_per_start_time() -> None:
    """Four flows at three start times: per time, a wait of that length on the compute stream
    and one release of its flows on the comm stream that depends on it, in time order."""
    program, order = flow_program(flows_at([10e-6, 0.0, 1e-6, 0.0]))
    assert order.tolist() == [1, 3, 2, 0]
    assert len(program) == 6
    kinds = [program.kinds[k] for k in program.kind]
    assert kinds == [TaskKind.RELEASE, TaskKind.FLOWS] * 3
    assert program.stream.tolist() == [Stream.COMPUTE, Stream.COMM] * 3
    assert program.duration_s.tolist() == [0.0, 0.0, 1e-6, 0.0, 10e-6, 0.0]
    assert program.chunk.tolist() == [0, 0, 1, 1, 2, 2]
    assert program.label == ["t=0.0", "t=0.0", "t=1e-06", "t=1e-06", "t=1e-05", "t=1e-05"]
    # each release waits for its own wait and nothing else; waits start at once
    assert program.n_deps.tolist() == [0, 1, 0, 1, 0, 1]
    assert program.succ_ptr.tolist() == [0, 1, 1, 2, 2, 3, 3]
    assert program.succ.tolist() == [1, 3, 5]
    assert program.comm[0] is None


def test_release_batches_carry_their_flows_in_release_order() -> None:
    """A release's flows are its batch's, in input order within the batch, with their tags;
    the lane holds every GPU that sends or receives."""
    program, _ = flow_program(flows_at([10e-6, 0.0, 1e-6, 0.0]))
    batches = [program.comm[t] for t in (1, 3, 5)]
    assert [c.flows[0].tolist() for c in batches if c] == [[1, 3], [2], [0]]
    assert [c.flows[1].tolist() for c in batches if c] == [[2, 4], [3], [1]]
    assert [c.flows[2].tolist() for c in batches if c] == [[2.0, 4.0], [3.0], [1.0]]
    assert [c.tags for c in batches if c] == [("f1", "f3"), ("f2",), ("f0",)]
    assert all(c is not None and c.tag == TaskKind.FLOWS for c in batches)
    assert program.lanes[0].gpus.tolist() == [0, 1, 2, 3, 4]


def test_an_empty_list_is_an_empty_program() -> None:
    """No flows: no tasks, nothing released."""
    program, order = flow_program(flows_at([]))
    assert (len(program), order.tolist()) == (0, [])


def test_flows_are_released_at_their_start_times(tiny: Fabric) -> None:
    """Replayed, each flow is released at its start time, and the records come back in input
    order."""
    flows = FlowList(np.array([0, 2, 4]), np.array([1, 3, 5]), np.array([1e3, 2e3, 3e3]),
                     np.array([5e-6, 0.0, 5e-6]), ("a", "b", "c"))
    table = simulate(tiny, flows).flow_table
    assert table is not None
    assert table.release_s.tolist() == [5e-6, 0.0, 5e-6]
    assert table.src.tolist() == [0, 2, 4]
    assert [table.tags[t] for t in table.tag] == ["a", "b", "c"]
