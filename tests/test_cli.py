"""The CLI as a user runs it: output, exit codes, files, no partial output on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import DATA, ROOT, TOPOLOGIES, run_file_bytes

Run = Callable[..., tuple[int, str, str]]

DESCRIBE_KEYS = {"name", "kind", "nodes", "gpus", "planes", "switches", "switches_by_tier",
                 "links", "endpoint_links", "max_gpus", "bisection_Bps", "oversubscription"}
COST_KEYS = {"name", "endpoints", "switches", "links", "cost_usd", "cost_per_endpoint_usd",
             "items"}


def test_validate_ok(run_cli: Run) -> None:
    """Valid files print one ok line each."""
    code, out, err = run_cli("validate", *sorted(TOPOLOGIES.glob("*.yaml")))
    assert code == 0, err
    assert out.count("ok: ") == len(list(TOPOLOGIES.glob("*.yaml")))


def test_validate_prices(run_cli: Run) -> None:
    """Price books validate too, with their own messages."""
    code, _, err = run_cli("validate", DATA / "bad" / "prices_unknown_key.yaml")
    assert code == 1
    assert err.endswith("prices_unknown_key.yaml: nics: unknown key (did you mean 'nic'?)\n")
    code, _, err = run_cli("validate", DATA / "bad" / "not_a_mapping.yaml")
    assert code == 1 and "cannot tell what this file is" in err


def test_describe_json(run_cli: Run) -> None:
    """describe --json has the documented keys and the deployed cluster's counts."""
    code, out, _ = run_cli("describe", TOPOLOGIES / "deepseek-v3-2048.yaml", "--json")
    assert code == 0
    info = json.loads(out)
    assert set(info) >= DESCRIBE_KEYS
    assert (info["gpus"], info["planes"], info["switches"], info["links"]) == (2048, 8, 96, 2048)
    assert info["switches_by_tier"] == {"leaf": 64, "spine": 32}
    assert info["max_gpus"] == 16_384
    assert info["bisection_Bps"] == 2048 * 50e9 / 2
    assert info["oversubscription"] == "1:1"


def test_describe_text(run_cli: Run) -> None:
    """describe prints aligned key/value lines with readable units."""
    code, out, _ = run_cli("describe", TOPOLOGIES / "ft3-64k.yaml")
    assert code == 0
    assert "switches              5,120: 2,048 leaves, 2,048 spines, 1,024 cores" in out
    assert "bisection bandwidth   13.11 Pb/s (1638 TB/s) per direction" in out


def test_cost_table_rows(run_cli: Run) -> None:
    """The cost table prints the published rows."""
    names = ["ft2-2048", "mpft-16k", "ft3-64k", "slimfly-32k", "dragonfly-261k"]
    code, out, _ = run_cli("cost", *(TOPOLOGIES / f"{n}.yaml" for n in names))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["design", "kind", "endpoints", "switches", "links"]
    row = {line.split()[0]: line.split() for line in lines[1:]}
    assert row["ft2-2048"][2:] == ["2,048", "96", "2,048", "$9.00M", "$4,394"]
    assert row["mpft-16k"][2:] == ["16,384", "768", "16,384", "$71.99M", "$4,394"]
    assert row["ft3-64k"][2:] == ["65,536", "5,120", "131,072", "$490.95M", "$7,491"]


def test_cost_json_and_files(run_cli: Run, tmp_path: Path) -> None:
    """cost --json -o DIR prints the list and writes cost.json, cost.txt and a PNG chart."""
    out_dir = tmp_path / "cost"
    code, out, _ = run_cli("cost", TOPOLOGIES / "ft2-2048.yaml", TOPOLOGIES / "mpft-16k.yaml",
                           "--json", "-o", out_dir)
    assert code == 0
    data = json.loads(out)
    assert [d["name"] for d in data] == ["ft2-2048", "mpft-16k"]
    assert all(set(d) >= COST_KEYS for d in data)
    assert json.loads((out_dir / "cost.json").read_text()) == data
    png = (out_dir / "cost_per_endpoint.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_cost_is_deterministic(run_cli: Run, tmp_path: Path) -> None:
    """Two runs write byte-identical files."""
    for name in ("a", "b"):
        assert run_cli("cost", TOPOLOGIES / "ft2-2048.yaml", "-o", tmp_path / name)[0] == 0
    for file in ("cost.json", "cost.txt", "cost_per_endpoint.png"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()


def test_failed_run_writes_nothing(run_cli: Run, tmp_path: Path) -> None:
    """One bad input: exit 1, an Error line, and no output folder content."""
    out_dir = tmp_path / "out"
    code, out, err = run_cli("cost", TOPOLOGIES / "ft2-2048.yaml",
                             DATA / "bad" / "zero_nodes.yaml", "-o", out_dir)
    assert code == 1 and out == ""
    assert err.startswith("Error: ") and "fabric.nodes: must be at least 1, got 0" in err
    assert not out_dir.exists() or not any(out_dir.iterdir())
    assert not list(tmp_path.glob(".out.staging.*"))


def test_bad_prices_file(run_cli: Run) -> None:
    """A bad --prices file is reported like any input."""
    code, _, err = run_cli("cost", TOPOLOGIES / "ft2-2048.yaml", "--prices",
                           DATA / "bad" / "prices_negative.yaml")
    assert code == 1
    assert "prices_negative.yaml: switch_link: must be non-negative, got -5" in err


def test_console_script_and_module() -> None:
    """`python -m mpft_sim` runs the same CLI and exits 1 on a bad file without a traceback."""
    result = subprocess.run([sys.executable, "-m", "mpft_sim", "validate",
                             str(DATA / "bad" / "unknown_key.yaml")],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "fabric.switch.radx: unknown key (did you mean 'radix'?)" in result.stderr


def test_simulate_is_identical_across_processes(tmp_path: Path) -> None:
    """A program run gives the same bytes in processes with different string hashing (ECMP
    hashes connections with a hash of its own, not Python's randomised hash())."""
    import os

    outs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-m", "mpft_sim", "simulate",
                               str(TOPOLOGIES / "deepseek-v3-2048.yaml"),
                               str(ROOT / "workloads" / "nccl-alltoall.yaml"), "-o", str(out),
                               "-q"], capture_output=True, text=True, env=env, cwd=ROOT,
                              check=False)
        assert done.returncode == 0, done.stderr
        outs.append(out)
    for name in ("summary.json", "flows.csv", "ops.csv", "links.csv", "report.html"):
        assert run_file_bytes(outs[0], name) == run_file_bytes(outs[1], name), name


def test_help_does_not_load_the_engine() -> None:
    """`mpft-sim --help` imports neither numba, scipy, matplotlib nor the engine."""
    code = ("import sys; from mpft_sim.cli import main; code = main(['--help']); "
            "heavy = [m for m in ('numba', 'scipy', 'matplotlib', 'simpy', 'mpft_sim.engine') "
            "if m in sys.modules]; print(code, heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert done.stdout.splitlines()[-1] == "0 []"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script(run_cli: Run, shell: str) -> None:
    """`mpft-sim completion SHELL` prints the script that hooks mpft-sim into the shell."""
    code, out, _ = run_cli("completion", shell)
    assert code == 0 and "_MPFT_SIM_COMPLETE" in out


def test_completion_offers_commands_and_files() -> None:
    """The completion protocol completes command names, and asks the shell for file names
    where a file is expected."""
    import os

    def complete(*words: str) -> str:
        env = {**os.environ, "_MPFT_SIM_COMPLETE": "bash_complete",
               "COMP_WORDS": " ".join(["mpft-sim", *words]), "COMP_CWORD": str(len(words))}
        return subprocess.run([sys.executable, "-m", "mpft_sim"], env=env, cwd=ROOT,
                              capture_output=True, text=True, check=False).stdout

    assert "plain,simulate" in complete("sim")
    assert complete("simulate", "topologies/deep").startswith("file,")
    assert "plain,--routing" in complete("simulate", "a", "b", "--rout")


EXAMPLE_FLOWS = ROOT / "workloads" / "example-flows.yaml"


def test_output_folder_is_checked_before_any_work(run_cli: Run, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """-o naming a file is a usage error; a folder that cannot be made is an Error line; both
    before the simulation starts (which would fail the test if it ran)."""
    import mpft_sim.engine

    def no_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("simulated before checking the output folder")

    monkeypatch.setattr(mpft_sim.engine, "simulate", no_run)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    code, out, err = run_cli("simulate", TOPOLOGIES / "deepseek-v3-2048.yaml", EXAMPLE_FLOWS,
                             "-o", a_file)
    assert code == 2 and "is a file" in err and "Traceback" not in err
    code, out, err = run_cli("simulate", TOPOLOGIES / "deepseek-v3-2048.yaml", EXAMPLE_FLOWS,
                             "-o", a_file / "out")
    assert code == 1 and out == ""
    assert err == f"Error: {a_file / 'out'}: cannot be created: {a_file} is a file, not a " \
                  "folder\n"


@pytest.mark.parametrize(("error", "message"), [
    (OSError(28, "No space left on device", "/data/run/flows.csv"),
     "Error: /data/run/flows.csv: No space left on device\n"),
    (MemoryError(), "Error: out of memory: the run needs more than this machine has"),
])
def test_system_errors_are_error_lines(run_cli: Run, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, error: BaseException,
                                       message: str) -> None:
    """A full disk or an exhausted memory is one Error line and exit 1, not a traceback."""
    import mpft_sim.engine

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(mpft_sim.engine, "simulate", fail)
    code, out, err = run_cli("simulate", TOPOLOGIES / "deepseek-v3-2048.yaml", EXAMPLE_FLOWS,
                             "-o", tmp_path / "out", "-q")
    assert code == 1 and out == "" and err.startswith(message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "file", "found", "wanted"), [
    (["simulate", "workloads/ep-alltoall.yaml", "topologies/ft2-2048.yaml"],
     "workloads/ep-alltoall.yaml", "workload", "topology"),
    (["describe", "workloads/ep-alltoall.yaml"], "workloads/ep-alltoall.yaml", "workload",
     "topology"),
    (["sweep", "topologies/ft2-2048.yaml"], "topologies/ft2-2048.yaml", "topology", "sweep"),
    (["cost", "topologies/ft2-2048.yaml", "--prices", "sweeps/planes-16k.yaml"],
     "sweeps/planes-16k.yaml", "sweep", "price book"),
])
def test_a_file_of_the_wrong_kind_says_so(run_cli: Run, args: list[str], file: str, found: str,
                                          wanted: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A workload given where a topology is expected (and the like) is named for what it is,
    not reported key by key."""
    monkeypatch.chdir(ROOT)
    code, out, err = run_cli(*args)
    assert code == 1 and out == ""
    assert err == f"Error: {file}: this is a {found} file, not a {wanted} file (arguments " \
                  "swapped?)\n"
