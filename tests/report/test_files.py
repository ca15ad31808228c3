"""Writing output files: an output folder checked before any work, a run's files appearing
all together or not at all, and stable JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mpft_sim.errors import SpecError
from mpft_sim.report.files import check_output_dir, staged_dir, write_json


def test_check_output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder derived from a name stays inside reports/; an unwritable parent is refused."""
    assert check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    with pytest.raises(SpecError, match=r"must stay inside .*reports/"):
        check_output_dir(tmp_path / "reports" / ".." / "x", inside=tmp_path / "reports")
    monkeypatch.setattr("os.access", lambda path, mode: False)
    with pytest.raises(SpecError, match=f"cannot be written: {tmp_path} is not writable"):
        check_output_dir(tmp_path / "new")


def test_check_output_dir_accepts_folders(tmp_path: Path) -> None:
    """An existing folder, a new one under it and one inside the allowed folder are fine."""
    (tmp_path / "reports").mkdir()
    assert check_output_dir(tmp_path) == tmp_path
    assert check_output_dir(str(tmp_path / "x")) == tmp_path / "x"
    assert check_output_dir(tmp_path / "reports" / "run",
                            inside=tmp_path / "reports") == tmp_path / "reports" / "run"


def test_check_output_dir_refuses_files(tmp_path: Path) -> None:
    """A file where the folder should be, or where a parent should be, is refused by name."""
    (tmp_path / "f").write_text("x")
    with pytest.raises(SpecError) as err:
        check_output_dir(tmp_path / "f")
    assert str(err.value) == (f"{tmp_path / 'f'}: exists and is not a folder: choose another "
                              "output folder (-o)")
    with pytest.raises(SpecError) as err:
        check_output_dir(tmp_path / "f" / "out")
    assert str(err.value) == (f"{tmp_path / 'f' / 'out'}: cannot be created: {tmp_path / 'f'} "
                              "is a file, not a folder")


def leftovers(parent: Path) -> list[str]:
    """Staging folders left in ``parent``."""
    return [p.name for p in parent.iterdir() if ".staging." in p.name]


def test_staged_files_appear_together(tmp_path: Path) -> None:
    """Files written in the scratch folder move into the new output folder (and its missing
    parents) when the block ends, and the scratch folder is gone."""
    out = tmp_path / "deep" / "run"
    with staged_dir(out) as scratch:
        assert scratch.parent == out.parent and scratch != out
        (scratch / "a.txt").write_text("a")
        (scratch / "sub").mkdir()
        (scratch / "sub" / "b.txt").write_text("b")
        assert not out.exists()
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "sub"]
    assert (out / "sub" / "b.txt").read_text() == "b"
    assert leftovers(out.parent) == []


def test_staged_files_replace_their_namesakes_only(tmp_path: Path) -> None:
    """Into an existing folder, files and folders of the same names are replaced and the others
    kept."""
    out = tmp_path / "run"
    (out / "sub").mkdir(parents=True)
    (out / "sub" / "old.txt").write_text("old")
    (out / "a.txt").write_text("old")
    (out / "keep.txt").write_text("keep")
    with staged_dir(out) as scratch:
        (scratch / "a.txt").write_text("new")
        (scratch / "sub").mkdir()
        (scratch / "sub" / "new.txt").write_text("new")
    assert (out / "a.txt").read_text() == "new"
    assert (out / "keep.txt").read_text() == "keep"
    assert [p.name for p in (out / "sub").iterdir()] == ["new.txt"]


@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_block_writes_nothing(tmp_path: Path, existing: bool) -> None:
    """When the block raises, the output folder is as it was (absent, or with its old files)
    and the scratch folder is removed; the error goes on."""
    out = tmp_path / "run"
    if existing:
        out.mkdir()
        (out / "a.txt").write_text("old")
    with pytest.raises(RuntimeError, match="boom"), staged_dir(out) as scratch:
        (scratch / "a.txt").write_text("new")
        (scratch / "b.txt").write_text("new")
        raise RuntimeError("boom")
    if existing:
        assert [p.name for p in out.iterdir()] == ["a.txt"]
        assert (out / "a.txt").read_text() == "old"
    else:
        assert not out.exists()
    assert leftovers(tmp_path) == []


def test_write_json(tmp_path: Path) -> None:
    """Indented JSON with a final newline; NaN, which JSON lacks, is refused."""
    path = tmp_path / "x.json"
    write_json(path, {"a": [1, 2], "b": None})
    assert path.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": null\n}\n'
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": None}
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_json(path, {"x": math.nan})
