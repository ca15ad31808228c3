"""Property-based: the shipped inputs, mutated as a hostile user would, either load or are
refused with a SpecError naming the file, never another exception, a hang or a traceback.

Each example takes one shipped YAML file (a topology, workload, sweep or price book), applies
one to three mutations to its data (a hostile value, a deleted, unknown or near-miss key, deep
nesting, a scaled or negated number, a unit changed) and maybe one to its text (a duplicated
line, a bad byte, another encoding, a truncation, an alias bomb, deep brackets), writes it
next to copies of the other shipped files (sweeps name them) and loads it. Runs are
deterministic (``derandomize``) and small enough for CI; no assertion is timed, but a hang
would stop the suite.
"""

from __future__ import annotations

import contextlib
import copy
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpft_sim.cli import main
from mpft_sim.errors import SpecError
from mpft_sim.spec import load_input
from mpft_sim.sweep.spec import load_sweep
from tests.conftest import ROOT

SHIPPED = sorted([*(p.relative_to(ROOT) for p in (ROOT / "topologies").glob("*.yaml")),
                  *(p.relative_to(ROOT) for p in (ROOT / "workloads").glob("*.yaml")),
                  *(p.relative_to(ROOT) for p in (ROOT / "sweeps").glob("*.yaml")),
                  Path("prices") / "prices.yaml"])
SOURCE = {Path("prices") / "prices.yaml": ROOT / "mpft_sim" / "data" / "prices.yaml"}

HOSTILE: list[Any] = [
    -1, 0, 1, 3, 2**31, 2**63, 2**64, 10**12, 10**30, -(10**30), 1e308, 1e-320, 0.5,
    float("inf"), float("-inf"), float("nan"), True, False, None,
    "", " ", "../../x", "a/b", "..", "x" * 300, "9" * 5000, "1e400", "400Gb/s", "-400Gb/s",
    "1e400Gb/s", "-5ms", "1e400s", "172800s", "64MiB", "1024TiB", "0", "3:1", "0:1", "ecmpp",
    "plane=1", "p0/spine/0", "n1/gpu0", "\u202e", "é", "\t",
    [], {}, [1, 2, 3], [[[]]], {"a": 1}, {"kind": "fat-tree"}, ["x"] * 50,
]
UNITS = ["Gb/s", "GB/s", "Zb/s", "s", "ms", "us", "parsecs", "MiB", "B", "TFLOP/s", ""]
NUMBERS = ["-1", "0", "1e400", "1e-400", "nan", "1.5", "18446744073709551616", "1e15", "9" * 60]
BAD_BYTES = [b"\x00", b"\xff", b"\xc3", b"\x1b", b"\x7f", b"\xe2\x80\xa8", b"\xef\xbb\xbf",
             b"\t", b"\r", b"&a", b"*a", b"!!python/object:os.system", b"{", b"]", b": :", b"'"]
# copies: a mutation may edit a value it put in place (a list, a mapping) in a later step
HOSTILE_VALUES = st.sampled_from(HOSTILE).map(copy.deepcopy)
HYPOTHESIS = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copies of the shipped inputs (a mutated sweep names the other files by relative path)."""
    root = tmp_path_factory.mktemp("shipped")
    for folder in ("topologies", "workloads", "sweeps"):
        shutil.copytree(ROOT / folder, root / folder)
    (root / "prices").mkdir()
    shutil.copy(SOURCE[Path("prices") / "prices.yaml"], root / "prices" / "prices.yaml")
    return root


def _original(relative: Path) -> Any:
    return yaml.safe_load((SOURCE.get(relative, ROOT / relative)).read_text(encoding="utf-8"))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def _get(root: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        root = root[part]
    return root


def _put(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(root, path[:-1])[path[-1]] = value
    return root


def _nest(value: Any, levels: int, as_list: bool) -> Any:
    for _ in range(levels):
        value = [value] if as_list else {"x": value}
    return value


def _scaled(value: Any, draw: st.DataObject) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return draw.draw(st.sampled_from([-value, value * 10**9, value * 10**300 if
                                          isinstance(value, int) else value * 1e300,
                                          value + 0.5, 0, -1]))
    if isinstance(value, str):
        number = draw.draw(st.sampled_from(NUMBERS))
        unit = draw.draw(st.sampled_from(UNITS))
        return f"{number}{unit}"
    return value


def _mutate_data(data: Any, draw: st.DataObject) -> Any:
    """One mutation of the parsed YAML."""
    paths = list(_paths(data))
    path = draw.draw(st.sampled_from(paths))
    op = draw.draw(st.sampled_from(["hostile", "hostile", "delete", "unknown", "near-miss",
                                    "nest", "scale", "retype"]))
    here = _get(data, path)
    if op == "hostile":
        return _put(data, path, draw.draw(HOSTILE_VALUES))
    if op == "delete" and path:
        parent = _get(data, path[:-1])
        del parent[path[-1]]
        return data
    if op in ("unknown", "near-miss") and isinstance(here, dict):
        if op == "near-miss" and here:
            key = str(draw.draw(st.sampled_from(list(here))))
            key = draw.draw(st.sampled_from([key[:-1], key + "s", key.upper(), key[1:],
                                             key.replace("_", "-")])) or "k"
        else:
            key = draw.draw(st.sampled_from(["x", "source", "kind", "fabric", "switch_link",
                                             "1", "<<", "name"]))
        here[key] = draw.draw(HOSTILE_VALUES)
        return data
    if op == "nest":
        levels = draw.draw(st.integers(1, 100))
        return _put(data, path, _nest(here, levels, draw.draw(st.booleans())))
    if op == "scale":
        return _put(data, path, _scaled(here, draw))
    if op == "retype":
        if isinstance(here, str):
            return _put(data, path, draw.draw(st.sampled_from([1, [here], {"v": here}])))
        if isinstance(here, int | float):
            return _put(data, path, str(here))
        return _put(data, path, draw.draw(st.sampled_from(["text", 7])))
    return data


def _mutate_text(text: str, draw: st.DataObject) -> bytes:
    """Maybe one mutation of the YAML text; the file's bytes."""
    op = draw.draw(st.sampled_from(["none", "none", "duplicate", "bytes", "encoding",
                                    "truncate", "bomb", "deep"]))
    lines = text.splitlines(keepends=True) or ["\n"]
    if op == "duplicate":
        i = draw.draw(st.integers(0, len(lines) - 1))
        lines.insert(i, lines[i])
        return "".join(lines).encode()
    if op == "bytes":
        raw = text.encode()
        at = draw.draw(st.integers(0, len(raw)))
        return raw[:at] + draw.draw(st.sampled_from(BAD_BYTES)) + raw[at:]
    if op == "encoding":
        codec = draw.draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1",
                                           "utf-8-sig", "cp1252"]))
        return text.encode(codec, errors="replace")
    if op == "truncate":
        return text.encode()[:draw.draw(st.integers(0, len(text)))]
    if op == "bomb":
        levels = draw.draw(st.integers(2, 9))
        bomb = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10 if i else ["lol"] * 10)
                       + "]\n" for i in range(levels))
        return (text + bomb).encode()
    if op == "deep":
        depth = draw.draw(st.sampled_from([1, 10, 64, 65, 500, 2000]))
        return (text + "deep: " + "[" * depth + "]" * depth + "\n").encode()
    return text.encode()


def _mutated_file(tree: Path, draw: st.DataObject) -> Path:
    relative = draw.draw(st.sampled_from(SHIPPED), label="file")
    data = _original(relative)
    for _ in range(draw.draw(st.integers(1, 3))):
        data = _mutate_data(data, draw)
    if draw.draw(st.integers(0, 5)) == 0:
        # an alias bomb in a value's place: shared lists, which the dumper writes as anchors
        # and aliases. Last, because walking it (as _paths would) never ends.
        bomb: Any = ["lol"] * 10
        for _ in range(draw.draw(st.integers(1, 8))):
            bomb = [bomb] * 10
        data = _put(data, draw.draw(st.sampled_from(list(_paths(data)))), bomb)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    path = tree / relative.parent / f"mutated-{relative.name}"
    path.write_bytes(_mutate_text(text, draw))
    return path


def _load(path: Path) -> None:
    if path.parent.name == "sweeps":
        load_sweep(path)
    else:
        load_input(path)


@HYPOTHESIS
@given(draw=st.data())
def test_mutated_inputs_load_or_name_the_file(tree: Path, draw: st.DataObject) -> None:
    """Loading a mutated shipped file succeeds or raises a SpecError naming that file."""
    path = _mutated_file(tree, draw)
    try:
        _load(path)
    except SpecError as exc:
        assert str(exc).startswith(f"{path}: "), str(exc)


@settings(HYPOTHESIS, max_examples=100)
@given(draw=st.data())
def test_mutated_inputs_through_validate(tree: Path, draw: st.DataObject) -> None:
    """``mpft-sim validate`` on a mutated file prints ok, or one Error line naming the file and
    exits 1; never a traceback."""
    path = _mutated_file(tree, draw)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", str(path)])
    if code == 0:
        assert out.getvalue().startswith(f"ok: {path} (") and err.getvalue() == ""
    else:
        assert code == 1
        assert out.getvalue() == ""
        assert err.getvalue().startswith(f"Error: {path}: ")
        assert err.getvalue().count("\n") == 1 and "Traceback" not in err.getvalue()


def test_the_mutations_reach_every_input_kind() -> None:
    """The files mutated cover topologies, workloads, sweeps and the price book."""
    assert {p.parts[0] for p in SHIPPED} == {"topologies", "workloads", "sweeps", "prices"}
