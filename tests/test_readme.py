"""The README's library example runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT


def test_library_section_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """The python block of the Library section runs from the repository root (its outputs
    redirected into a scratch folder) and prints what it says."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Library"):text.index("## Performance")]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    source = code.group(1).replace('"reports/', f'"{tmp_path}/')
    monkeypatch.chdir(ROOT)
    exec(compile(source, "README.md", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert "$9.00M, $4,394 per GPU" in out
    assert "deepseek-v3-2048" in out and "ft2-2048" in out
    assert (tmp_path / "ep64" / "report.html").is_file()
    assert (tmp_path / "planes-16k" / "sweep.csv").is_file()
    assert not os.path.exists(ROOT / "reports" / "ep64")
