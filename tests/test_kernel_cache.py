"""The compiled event loop's cache is dropped when any source it is built from changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import mpft_sim
from mpft_sim._fluid import drop_stale_cache

PACKAGE = Path(mpft_sim.__file__).parent


def test_cache_follows_every_source(tmp_path: Path) -> None:
    """numba would check run_events' cache against instant.py alone; an edit of heaps.py
    (inlined into it) or of _kernels.py (called by it) must drop the cache too, and an
    unchanged tree must keep it."""
    here = tmp_path / "_fluid"
    shutil.copytree(PACKAGE / "_fluid", here, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PACKAGE / "_kernels.py", tmp_path / "_kernels.py")
    cache = here / "__pycache__"
    cache.mkdir()

    def cached() -> Path:
        entry = cache / "instant.run_events-1.py311.nbi"
        entry.write_bytes(b"x")
        (cache / "instant.run_events-1.py311.1.nbc").write_bytes(b"x")
        return entry

    entry = cached()
    drop_stale_cache(here)  # no digest yet: dropped, digest written
    assert not entry.exists() and (cache / "sources.sha256").is_file()
    entry = cached()
    drop_stale_cache(here)  # nothing changed: kept
    assert entry.exists()
    for source in (here / "heaps.py", tmp_path / "_kernels.py"):
        source.write_text(source.read_text() + "\n# edited\n")
        drop_stale_cache(here)
        assert not entry.exists() and not list(cache.glob("*.nbc"))
        entry = cached()
