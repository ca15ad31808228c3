"""Writing output files: all of a run's files appear together, or none do."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["check_output_dir", "staged_dir", "write_json"]


def check_output_dir(out_dir: str | Path, inside: str | Path | None = None) -> Path:
    """Check, before any work, that an output folder can be written: it is a folder or can be
    made one, and the nearest folder that exists is writable.

    Parameters
    ----------
    out_dir : str or Path
        The folder a command will write.
    inside : str or Path, optional
        A folder ``out_dir`` must stay inside (a folder derived from a name stays in
        ``reports/``).

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    SpecError
        Naming the folder and what is wrong with it.
    """
    from mpft_sim.errors import SpecError

    out = Path(out_dir)
    if inside is not None and not out.resolve().is_relative_to(Path(inside).resolve()):
        raise SpecError(f"the output folder must stay inside {inside}/", file=str(out))
    if out.exists() and not out.is_dir():
        raise SpecError("exists and is not a folder: choose another output folder (-o)",
                        file=str(out))
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise SpecError(f"cannot be created: {parent} is a file, not a folder", file=str(out))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SpecError(f"cannot be written: {parent} is not writable", file=str(out))
    return out


@contextmanager
def staged_dir(out_dir: str | Path) -> Iterator[Path]:
    """Yield a scratch folder whose files move into ``out_dir`` only if the block succeeds.

    A run that fails part-way leaves ``out_dir`` as it was: no partial output.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging.", dir=out.parent))
    try:
        yield tmp
        out.mkdir(exist_ok=True)
        for item in sorted(tmp.iterdir()):
            target = out / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON with a final newline (stable for diffs)."""
    Path(path).write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
