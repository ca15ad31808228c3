"""The planning scripts in examples/ run and print what their docstrings promise."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT


def run(script: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / script)], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_planes_for_4096_gpus() -> None:
    """Four designs for 4,096 GPUs: FT3 needs three tiers and more switches; the MPFTs fit two
    tiers, the 8-plane one with the fewest cables and the lowest cost per GPU."""
    rows = {}
    for line in run("planes_for_4096_gpus.py").splitlines()[1:]:
        m = re.match(r"(.+?)\s+(\d)\s+([\d,]+)\s+([\d,]+)\s+\$\s*([\d,]+)\s+([\d.]+) ms", line)
        assert m, line
        rows[m.group(1)] = (int(m.group(2)), int(m.group(3).replace(",", "")),
                            int(m.group(4).replace(",", "")), int(m.group(5).replace(",", "")),
                            float(m.group(6)))
    assert rows["FT3, 1 plane"][:2] == (3, 320)
    assert all(rows[f"MPFT, {p} planes"][0] == 2 for p in (2, 4, 8))
    cheapest = min(rows, key=lambda k: rows[k][3])
    assert cheapest == "MPFT, 8 planes"
    assert rows["MPFT, 8 planes"][2] < rows["MPFT, 2 planes"][2] < rows["MPFT, 4 planes"][2]
    assert rows["FT3, 1 plane"][4] > rows["MPFT, 8 planes"][4]


def test_losing_a_plane() -> None:
    """A failed plane slows the reduced V3 step by more than 10% but less than 2x."""
    out = run("losing_a_plane.py")
    ratios = [float(x) for x in re.findall(r"\(([\d.]+)x\)", out)]
    assert len(ratios) == 2
    assert all(1.1 < r < 2.0 for r in ratios)
