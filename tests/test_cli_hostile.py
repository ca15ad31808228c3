"""Property-based: the command line, given hostile options, either runs or refuses cleanly --
exit 1 with one ``Error:`` line (bad input) or 2 with a usage message (a bad command line),
never a traceback, and never a half-written output folder.

The inputs are valid (a tiny design and flow list: the YAML files themselves are mutated in
tests/spec/test_hostile.py); what varies is every option a user can type. Deterministic
(``derandomize``); no assertion is timed, but a hang would stop the suite.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpft_sim.cli import main
from tests.conftest import DATA, ROOT, TOPOLOGIES

NUMBERS = ["0", "1", "-1", "0.5", "1e-3", "1", "1e400", "inf", "-inf", "nan", "", "x",
           "18446744073709551616", "0x10", "1_000", " 3 "]
FAILURES = ["plane=0", "plane=9", "plane=-1", "plane=x", "switch=p0/spine/0", "switch=nope",
            "nic=n0/nic0", "nic=n99/nic0", "link=p0/leaf/0 - p0/spine/0", "link=a-b", "=",
            "plane", "", "gpu=n0/gpu0", "plane=1e400"]
CHOICES = {"--routing": ["ecmp", "adaptive", "spray", "ecmpp", ""],
           "--cross-plane": ["source", "destination", "bridged", "SOURCE"],
           "--model": ["fluid", "analytic", "analytc", ""],
           "--table-format": ["csv", "parquet", "json"]}
TOPOLOGY = TOPOLOGIES / "tiny-mpft.yaml"
FLOWS = DATA / "flows" / "cross_leaf.yaml"

option = st.one_of(
    st.tuples(st.sampled_from(["--tolerance", "--seed"]), st.sampled_from(NUMBERS)),
    st.tuples(st.just("--fail"), st.sampled_from(FAILURES)),
    st.sampled_from(list(CHOICES)).flatmap(
        lambda name: st.tuples(st.just(name), st.sampled_from(CHOICES[name]))),
    st.tuples(st.sampled_from(["--flow-paths", "--no-flows", "-v", "--bogus", "--json"])),
)
HYPOTHESIS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(options=st.lists(option, max_size=4))
@HYPOTHESIS
def test_simulate_options(options: list[tuple[str, ...]], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    shutil.rmtree(out, ignore_errors=True)
    args = ["simulate", str(TOPOLOGY), str(FLOWS), "-o", str(out), "-q"]
    for opt in options:
        args += list(opt)
    code = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err, args
    if code == 0:
        assert (out / "summary.json").is_file()
        return
    assert code in (1, 2), (args, code)
    if code == 1:
        assert err.startswith("Error: ") and err.count("\n") == 1, (args, err)
    else:
        assert "Usage: mpft-sim simulate" in err and "Error: " in err, (args, err)
    # nothing half-written: no output folder (or an empty one) and no staging folder left
    assert not out.exists() or not any(out.iterdir()), args
    assert not list(tmp_path.glob(".out.staging.*")), args


@given(name=st.sampled_from(["validate", "describe", "cost", "report", "sweep"]),
       path=st.sampled_from(["", ".", "/", "/dev/null", "/proc/self/mem", "nowhere.yaml",
                             "\x00", "a" * 5000, str(ROOT / "README.md"),
                             str(ROOT / "workloads" / "ep-alltoall.yaml"),
                             str(ROOT / "reports")]))
@HYPOTHESIS
def test_commands_given_odd_paths(name: str, path: str, capsys: pytest.CaptureFixture[str],
                                  tmp_path: Path) -> None:
    """Every command given a path that is no input of its kind refuses cleanly."""
    args = [name, path] + (["-o", str(tmp_path / "o")] if name == "sweep" else [])
    code = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err, args
    assert code in (0, 1, 2), (args, code)
    if code == 1:
        assert err.startswith("Error: "), (args, err)
