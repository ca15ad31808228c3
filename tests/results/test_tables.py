"""Record tables: one column definition serves the file, the frame and the loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mpft_sim.errors import SpecError
from mpft_sim.results.columns import (
    Column,
    float_text,
    read_csv,
    text_codes,
    to_frame,
    write_csv,
)
from mpft_sim.results.flows import FlowTable, Paths
from mpft_sim.results.tables import LinkGroup, OpTable, TimelineTable
from mpft_sim.topology.fabric import Tier


def flows(paths: bool = True) -> FlowTable:
    """Three flows on 4-GPU servers; flow 1 split over two paths."""
    return FlowTable(
        src=np.array([0, 5, 7]), dst=np.array([4, 2, 6]),
        size_bytes=np.array([1048576.0, 0.1, 0.0]), release_s=np.array([0.0, 1e-3, 2e-3]),
        served_s=np.array([0.25, 0.5, 2e-3]), end_s=np.array([0.250001, 0.5000012, 2.1e-3]),
        latency_s=np.array([1e-6, 1.2e-6, 1e-4]), alone_Bps=np.array([50e9, 25e9, np.inf]),
        tag=np.array([1, 0, 1]), tags=("combine", "dispatch"), gpus_per_node=4,
        paths=Paths(np.array([0, 1, 3, 3]), np.array([1.0, 0.5, 0.5]), np.array([0, 2, 4, 5]),
                    np.array([10, 11, 20, 21, 30])) if paths else None)


def test_float_text_reads_back() -> None:
    """Floats are written in the shortest text that reads back to the same float; whole
    numbers without '.0'."""
    values = np.array([1048576.0, 0.1, 1 / 3, 1e-300, -2.5, 0.0])
    texts = float_text(values)
    assert texts[:2] == ["1048576", "0.1"] and texts[-1] == "0"
    assert np.array_equal(np.array(texts, dtype=float), values)


def test_flow_rows_name_gpus_and_paths() -> None:
    """Files show GPUs by name (n<server>/gpu<local>), tags as text, a split flow's paths as
    share:ids|share:ids."""
    rows = flows().rows(0, 3)
    assert rows["src"].tolist() == ["n0/gpu0", "n1/gpu1", "n1/gpu3"]
    assert rows["dst"].tolist() == ["n1/gpu0", "n0/gpu2", "n1/gpu2"]
    assert rows["tag"].tolist() == ["dispatch", "combine", "dispatch"]
    assert rows["links"].tolist() == ["10 11", "0.5:20 21|0.5:30", ""]
    assert rows["fct_s"] == pytest.approx([0.250001, 0.4990012, 1e-4])


@pytest.mark.parametrize("paths", [True, False])
def test_flow_table_round_trip(paths: bool, tmp_path: Path) -> None:
    """write_csv then FlowTable.read gives the same table (the links column only when paths
    were kept)."""
    table = flows(paths)
    write_csv(table, tmp_path / "flows.csv")
    header = (tmp_path / "flows.csv").read_text().splitlines()[0].split(",")
    assert header == [c.name for c in table.columns()]
    assert ("links" in header) == paths
    back = FlowTable.read(tmp_path / "flows.csv", gpus_per_node=4)
    for name in ("src", "dst", "size_bytes", "release_s", "served_s", "end_s", "latency_s",
                 "alone_Bps", "gpus_per_node"):
        assert np.array_equal(getattr(back, name), getattr(table, name)), name
    assert [back.tags[t] for t in back.tag] == [table.tags[t] for t in table.tag]
    if paths:
        assert back.paths is not None and table.paths is not None
        assert np.array_equal(back.paths.links, table.paths.links)
        assert np.array_equal(back.paths.share, table.paths.share)
        assert np.array_equal(back.paths.flow_ptr, table.paths.flow_ptr)


def test_take_keeps_paths_with_their_flows() -> None:
    """Reordering flows moves each flow's paths with it."""
    table = flows().take(np.array([2, 1, 0]))
    assert table.rows(0, 3)["links"].tolist() == ["", "0.5:20 21|0.5:30", "10 11"]
    assert table.link_bytes(40)[[10, 20, 30]] == pytest.approx([1048576.0, 0.05, 0.05])


def test_frame_columns_match_the_file() -> None:
    """The frame has the file's columns in order; repeated text is categorical."""
    frame = to_frame(flows())
    assert list(frame.columns) == [c.name for c in FlowTable.COLUMNS]
    assert str(frame["tag"].dtype) == "category"
    assert frame["size_bytes"].tolist() == [1048576.0, 0.1, 0.0]


def test_optional_int_is_missing_not_a_sentinel(tmp_path: Path) -> None:
    """A link inside a server has no plane: an empty cell in the file, <NA> in the frame."""
    column = Column("plane", "optional_int", "plane")

    class One:
        COLUMNS = (column,)

        def __len__(self) -> int:
            return 2

        def columns(self) -> tuple[Column, ...]:
            return self.COLUMNS

        def rows(self, start: int, stop: int) -> dict[str, np.ndarray]:
            return {"plane": np.array([-1, 3])[start:stop]}

    write_csv(One(), tmp_path / "t.csv")
    # a lone empty cell is quoted, as CSV must, so the row is not a blank line
    assert (tmp_path / "t.csv").read_text() == 'plane\n""\n3\n'
    frame = to_frame(One())
    assert frame["plane"].isna().tolist() == [True, False]
    assert read_csv(tmp_path / "t.csv", (column,))["plane"].tolist() == [-1, 3]


@pytest.mark.parametrize(("text", "message"), [
    ("id,src\n", "expected the columns id, src, dst"),
    ("id,src,dst,size_bytes,start_s,served_s,end_s,latency_s,fct_s,alone_Bps,tag\n"
     "0,n0/gpu0,n0/gpu1,x,0,1,1,0,1,1,a\n", "line 2, column 'size_bytes': expected a number"),
    ("id,src,dst,size_bytes,start_s,served_s,end_s,latency_s,fct_s,alone_Bps,tag\n"
     "0,n0/gpu0,n0/gpu1,1,nan,1,1,0,1,1,a\n", "line 2, column 'start_s': expected a finite"),
    ("id,src,dst,size_bytes,start_s,served_s,end_s,latency_s,fct_s,alone_Bps,tag\n"
     "0,n0/gpu0,n0/gpu9,1,0,1,1,0,1,1,a\n", "column 'dst': expected a GPU"),
    ("id,src,dst,size_bytes,start_s,served_s,end_s,latency_s,fct_s,alone_Bps,tag\n"
     "0,n0/gpu0,n0/gpu1,1,0,1\n", "line 2: expected 11 cells, found 6"),
])
def test_bad_flow_files(text: str, message: str, tmp_path: Path) -> None:
    """A malformed flows file is a SpecError naming the file, the line and the column."""
    path = tmp_path / "flows.csv"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        FlowTable.read(path, gpus_per_node=4)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_timeline_wide_and_long(tmp_path: Path) -> None:
    """timeline.csv has a column per group and reads back exactly; the long form has one row
    per bin and group."""
    groups = (LinkGroup(None, Tier.NODE), LinkGroup(0, Tier.ENDPOINT),
              LinkGroup(1, Tier.LEAF_SPINE))
    table = TimelineTable(np.array([0.0, 0.5, 1.0]), groups,
                          np.array([[0.1, 1.0, 0.0], [1 / 3, 0.25, 0.5]]))
    table.write_wide(tmp_path / "wide.csv")
    table.write_long(tmp_path / "long.csv")
    assert (tmp_path / "wide.csv").read_text().splitlines()[0] == \
        "start_s,end_s,node/node,p0/endpoint,p1/leaf-spine"
    back = TimelineTable.read(tmp_path / "wide.csv")
    assert back.groups == groups
    assert np.array_equal(back.util, table.util) and np.array_equal(back.edges_s, table.edges_s)
    long = (tmp_path / "long.csv").read_text().splitlines()
    assert long[0] == "start_s,end_s,plane,tier,utilisation"
    assert long[1:4] == ["0,0.5,,node,0.1", "0,0.5,0,endpoint,1", "0,0.5,1,leaf-spine,0"]
    assert len(long) == 1 + 2 * 3


def test_link_group_names() -> None:
    """Group names parse back; a bad one is refused."""
    for group in (LinkGroup(None, Tier.NODE), LinkGroup(12, Tier.SPINE_CORE)):
        assert LinkGroup.parse(group.name) == group
    with pytest.raises(ValueError, match="not a link group"):
        LinkGroup.parse("plane3/endpoint")


def test_op_table_round_trip(tmp_path: Path) -> None:
    """ops.csv reads back into the same OpTable."""
    obj = lambda *v: np.array(v, dtype=object)  # noqa: E731
    table = OpTable(job=obj("t", "t"), lane=obj("t:pp0", "t:pp0"), ranks=obj("0-7", "0-7"),
                    stream=obj("compute", "comm"), kind=obj("attn_f", "dispatch"),
                    category=obj("forward", "forward"), label=obj("L0.mb0", "L0.mb0"),
                    chunk=np.array([0, -1]), start_s=np.array([0.0, 1e-3]),
                    end_s=np.array([1e-3, 1.5e-3]), flows=np.array([0, 56]))
    write_csv(table, tmp_path / "ops.csv")
    back = OpTable.read(tmp_path / "ops.csv")
    for name in table.__dataclass_fields__:
        if not name.isupper():
            assert np.array_equal(getattr(back, name), getattr(table, name)), name


def test_text_codes_is_numpys_unique() -> None:
    """The hashing factorisation gives what np.unique(astype(str), return_inverse=True)
    gives: sorted distinct texts (code-point order) and each row's index among them."""
    rng = np.random.default_rng(3)
    words = np.array(["n10/gpu1", "n2/gpu7", "dispatch", "Zeta", "é", "", "n2/gpu10"],
                     dtype=object)
    values = words[rng.integers(0, len(words), 500)]
    values[::7] = 12  # not text: compared by its str, as astype(str) does
    labels, codes = text_codes(values)
    want, inverse = np.unique(values.astype(str), return_inverse=True)
    assert labels == want.tolist()
    assert np.array_equal(codes, inverse)
    assert text_codes(np.zeros(0, dtype=object))[0] == []
