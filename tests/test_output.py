"""A run's directory on disk: the tables' format chosen before any work (CSV, Parquet above
the limit, a clear error without pyarrow), the files written all together or not at all, and
the report redrawn from a run directory."""

from __future__ import annotations

from pathlib import Path

import pytest

import mpft_sim.output
from mpft_sim.engine import simulate
from mpft_sim.errors import MpftError, SpecError
from mpft_sim.output import redraw_report, table_format_for, write_run
from mpft_sim.results import FLOWS_CSV_LIMIT, Result
from tests.conftest import DATA, TOPOLOGIES

LIMIT = FLOWS_CSV_LIMIT


@pytest.fixture(scope="module")
def replay() -> Result:
    """Two flows replayed on the tiny design."""
    return simulate(TOPOLOGIES / "tiny-mpft.yaml", DATA / "flows" / "cross_leaf.yaml")


@pytest.mark.parametrize(("flows", "asked", "chosen"), [
    (0, None, "csv"), (LIMIT, None, "csv"), (LIMIT + 1, None, "parquet"),
    (LIMIT + 1, "csv", "csv"), (0, "parquet", "parquet"),
])
def test_table_format(flows: int, asked: str | None, chosen: str) -> None:
    """As asked, else CSV up to the limit and Parquet above it."""
    assert table_format_for(flows, asked) == chosen  # type: ignore[arg-type]


@pytest.mark.parametrize(("flows", "asked", "why"), [
    (0, "parquet", "you asked for Parquet tables"),
    (LIMIT + 1, None, f"a run of {LIMIT + 1:,} flows is written as Parquet (more than "
                      f"{LIMIT:,} rows of CSV is gigabytes of text)"),
])
def test_parquet_without_pyarrow(monkeypatch: pytest.MonkeyPatch, flows: int,
                                 asked: str | None, why: str) -> None:
    """Without pyarrow, a run that needs Parquet is refused with the reason and the extra to
    install; one that may be CSV is not."""
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(MpftError) as err:
        table_format_for(flows, asked)  # type: ignore[arg-type]
    assert str(err.value) == f"{why}, which needs pyarrow: pip install 'mpft-sim[parquet]'"
    assert table_format_for(LIMIT + 1, "csv") == "csv"


def test_write_run_without_report_or_flows(replay: Result, tmp_path: Path) -> None:
    """The tables and summary alone; without the flows table, no flows file."""
    names = write_run(replay, tmp_path / "run", report=False)
    assert "summary.json" in names and "flows.csv" in names and "report.md" not in names
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(names)
    names = write_run(replay, tmp_path / "lean", flows=False, report=False)
    assert not any(n.startswith("flows") for n in names)


def test_a_failed_write_leaves_nothing(replay: Result, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """If the report fails after the tables are written, the run directory is not created and
    no scratch folder is left."""
    def fail(*args: object) -> list[str]:
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(mpft_sim.output, "write_report", fail)
    with pytest.raises(RuntimeError, match="plotting failed"):
        write_run(replay, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_redraw_report(replay: Result, tmp_path: Path) -> None:
    """A run directory written without its report gets report.md, report.html and the
    figures; the tables are left as they were."""
    folder = tmp_path / "run"
    tables = write_run(replay, folder, report=False)
    before = {n: (folder / n).read_bytes() for n in tables}
    names = redraw_report(folder)
    assert names[:2] == ["report.md", "report.html"]
    assert all(n.endswith(".png") for n in names[2:])
    assert sorted(p.name for p in folder.iterdir()) == sorted(tables + names)
    assert {n: (folder / n).read_bytes() for n in tables} == before


def test_redraw_report_of_no_run(tmp_path: Path) -> None:
    """A folder that is not a run directory is a SpecError, and nothing is written."""
    (tmp_path / "x").mkdir()
    with pytest.raises(SpecError):
        redraw_report(tmp_path / "x")
    assert list((tmp_path / "x").iterdir()) == []
