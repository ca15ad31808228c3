"""The fluid network's compiled state and event loop (numba), one job per module:
:mod:`.layout` (the state), :mod:`.heaps`, :mod:`.bundles`, :mod:`.links`, :mod:`.release`,
:mod:`.region`, :mod:`.batch` (tolerance mode) and :mod:`.instant` (one instant and
:func:`~.instant.run_events`).

:class:`~mpft_sim.fluid_network.FluidNetwork` keeps its state in the arrays of one
:class:`FluidState` and hands the event loop to :func:`run_events`: completions follow one
another in compiled code (due flows, the region an event can change, its re-solve, settling,
link accounting, the timeline, the next completion) until the next event SimPy knows of, or
until a transfer completes and its SimPy event must fire. Python releases flows
(:func:`add_flows`) and fires transfer events. docs/engine.md explains the algorithm and why
it is exact; in short:

Bundles. A link is *tight* when it may bind a flow (every saturated link is tight) and
*loose* otherwise. Flows with the same entries (link, fraction) on tight links form a
*bundle*: max-min fairness gives them one rate, so the re-solve sees one weighted flow per
bundle, and a bundle keeps one virtual clock (bytes each member has been served) instead of
every member's bytes left. A loose link about to saturate becomes tight (its flows move to the
bundles of their longer signature); a tight link well below capacity becomes loose (bundles
merge). Loads of loose links are kept exactly, member by member.

Region. Progressive filling is unchanged below the lowest level ``L`` an event can reach (the
smallest rate of a departing flow; for an arriving flow the smallest ``capacity / flows`` over
its links). From the saturated tight links the event touches, grow over link -> bundle
adjacency, admitting bundles at or above ``L`` (and new ones), expanding only through
saturated tight links; other tight links reached are *cut*. Re-solve the region over the
capacity the others leave (only tight links are constraints). Then check: a cut link that
would fill is expanded, a loose link that would saturate is tightened, and the region is
re-solved. Every flow of the region then has its bottleneck on an expanded link, every other
flow keeps its bottleneck untouched, and loose links are slack: the result is the max-min
allocation of the new flow set.

Layout: flows live in *slots*, their links in the arena ``Z`` (one entry per distinct link,
threaded on per-link lists); bundles' tight entries in the arena ``Y`` (threaded on per-link
lists of bundles); each bundle's members in a list and in a pairing heap by virtual finish;
bundles in an indexed binary heap by their next finish time; signatures in an
open-addressing hash table. Fields are columns of a few item-major 2-D arrays (one per entity
and dtype). :func:`run_events` and everything it calls are compiled without reference counting
(numba would otherwise incref and decref every array of the state at each call), so nothing
in that call tree allocates.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def drop_stale_cache(here: Path = Path(__file__).parent) -> None:
    """Delete this package's compiled-kernel cache if any of its sources changed.

    numba checks a cached function against its own file only, but the event loop inlines
    functions from every module here and calls :mod:`mpft_sim._kernels`: after an edit (or a
    ``git pull`` in an editable install) that leaves :mod:`.instant` alone, numba would load
    the old machine code. A digest of all those sources, kept beside the cache, catches it.
    """
    sources = [*sorted(here.glob("*.py")), here.parent / "_kernels.py"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
    cache = here / "__pycache__"
    stamp = cache / "sources.sha256"
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        for old in [*cache.glob("*.nbi"), *cache.glob("*.nbc")]:
            old.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass  # a read-only install: numba keeps its cache elsewhere, written with the install


drop_stale_cache()
