"""Input files are read as UTF-8 YAML, refusing what would crash, hang or mislead later."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mpft_sim.errors import SpecError
from mpft_sim.spec import load_input
from mpft_sim.spec.files import read_text, read_yaml
from mpft_sim.spec.limits import MAX_YAML_BYTES
from mpft_sim.spec.topology import load_topology
from tests.conftest import DATA

Run = Callable[..., tuple[int, str, str]]
LOADING = DATA / "loading"

# One fixture per failure class, with the whole message after "<file>: ".
CASES = {
    "not_utf8": "line 2, column 17: not UTF-8: byte 0xe9 cannot be decoded (save the file as "
    "UTF-8)",
    "utf16": "line 1: not UTF-8: the file starts with a UTF-16 byte-order mark (save it as "
    "UTF-8)",
    "nul_byte": "line 2, column 9: character U+0000 (NUL) is not allowed in a text file",
    "control_character": "line 4, column 9: character U+001B (ESC) is not allowed in a text "
    "file",
    "duplicate_key": "line 7, column 3: duplicate key 'nodes' (first at line 6)",
    "alias_bomb": "line 13, column 45: aliases expand to more than 100,000 values",
    "recursive_alias": "line 9, column 15: the alias *f refers to a value that contains it",
    "deep_nesting": "line 9, column 74: nested deeper than 64 levels",
    "deep_through_aliases": "line 10, column 22: nested deeper than 64 levels (through "
    "aliases)",
    "huge_integer": "line 6, column 10: an integer with too many digits",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_message(case: str) -> None:
    """Each class of unreadable file is a SpecError naming the file, the line and the column."""
    path = LOADING / f"{case}.yaml"
    with pytest.raises(SpecError) as info:
        load_topology(path)
    assert str(info.value) == f"{path}: {CASES[case]}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_cli(case: str, run_cli: Run) -> None:
    """``mpft-sim validate`` prints one Error line for it, no traceback, and exits 1."""
    path = LOADING / f"{case}.yaml"
    code, out, err = run_cli("validate", path)
    assert (code, out) == (1, "")
    assert err == f"Error: {path}: {CASES[case]}\n"


def test_every_fixture_is_covered() -> None:
    """No fixture under tests/data/loading is left without an asserted message."""
    assert {p.stem for p in LOADING.iterdir()} == set(CASES)


def test_alias_bomb_is_refused_quickly() -> None:
    """The alias bomb (10**9 values once expanded) is refused while it is composed.

    Not a timed assertion: without the budget this test would not end.
    """
    with pytest.raises(SpecError, match="aliases expand"):
        read_yaml(LOADING / "alias_bomb.yaml")


def test_small_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    """Ordinary anchors, aliases and ``<<`` merge keys (which may be overridden) load."""
    path = tmp_path / "t.yaml"
    path.write_text("base: &base {kind: fat-tree, nodes: 4, switch: {radix: 8}}\n"
                    "name: merged\nfabric:\n  <<: *base\n  nodes: 8\n", encoding="utf-8")
    data = read_yaml(path)
    assert data["fabric"] == {"kind": "fat-tree", "nodes": 8, "switch": {"radix": 8}}


def test_nesting_at_the_limit_loads(tmp_path: Path) -> None:
    """64 levels of nesting are accepted; the 65th is refused."""
    path = tmp_path / "n.yaml"
    path.write_text("[" * 64 + "]" * 64, encoding="utf-8")
    value = read_yaml(path)
    for _ in range(63):
        value = value[0]
    assert value == []
    path.write_text("[" * 65 + "]" * 65, encoding="utf-8")
    with pytest.raises(SpecError, match="nested deeper than 64 levels"):
        read_yaml(path)


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark (some editors write one) is not an error."""
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (LOADING.parent / "sweep" / "tiny-mpft.yaml").read_bytes())
    assert load_input(path)[0] == "topology"


def test_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    """A file larger than the YAML limit is refused without being read whole."""
    path = tmp_path / "big.yaml"
    with path.open("wb") as stream:
        stream.truncate(MAX_YAML_BYTES + 1)  # sparse: no disk space used
    with pytest.raises(SpecError) as info:
        read_yaml(path)
    assert str(info.value) == (f"{path}: larger than 16 MiB: not an input file this program "
                               "reads")


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    """Reading a folder is a SpecError, not an IsADirectoryError."""
    with pytest.raises(SpecError) as info:
        read_yaml(tmp_path)
    assert str(info.value) == f"{tmp_path}: cannot read file (Is a directory)"


def test_read_text_names_what_it_reads(tmp_path: Path) -> None:
    """A missing file is 'file not found', or 'cannot read <what>' when the caller says what."""
    path = tmp_path / "nope.csv"
    with pytest.raises(SpecError) as info:
        read_text(path, 100)
    assert str(info.value) == f"{path}: file not found"
    with pytest.raises(SpecError) as info:
        read_text(path, 100, "rank map")
    assert str(info.value) == f"{path}: cannot read rank map (No such file or directory)"
    with pytest.raises(SpecError, match="embedded null byte"):
        read_text(str(tmp_path / "a\0b"), 100)


@pytest.mark.parametrize(("text", "message"), [
    ("a: [1, 2\n", "line 2, column 1: invalid YAML: expected ',' or ']', but got "
                   "'<stream end>'"),
    ("a: 1\n---\nb: 2\n", "line 2, column 1: invalid YAML: expected a single document in the "
                          "stream, but found another document"),
    ("a: !!python/object:os.system x\n", "line 1, column 4: invalid YAML: could not determine "
                                         "a constructor for the tag "
                                         "'tag:yaml.org,2002:python/object:os.system'"),
    ("{[1]: 2}\n", "line 1, column 2: invalid YAML: found unhashable key"),
    ("a: *nope\n", "line 1, column 4: invalid YAML: found undefined alias 'nope'"),
])
def test_syntax_errors_name_the_place(tmp_path: Path, text: str, message: str) -> None:
    """PyYAML's own errors keep their position and read as one line."""
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        read_yaml(path)
    assert str(info.value) == f"{path}: {message}"


def test_a_long_bad_value_is_shortened(tmp_path: Path) -> None:
    """A huge bad value is shown shortened, and shortening it costs no more than showing it."""
    path = tmp_path / "x.yaml"
    path.write_text("name: x\nfabric:\n  kind: [" + ", ".join(["fat-tree"] * 5_000) + "]\n",
                    encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_topology(path)
    assert str(info.value) == (f"{path}: fabric.kind: must be one of 'fat-tree', "
                               "'multi-plane-fat-tree', 'multi-rail-fat-tree', 'slim-fly', "
                               "'dragonfly', got ['fat-tree', 'fat-tree', 'fat-tree', "
                               "'fat-tree', 'fat-tre...")
