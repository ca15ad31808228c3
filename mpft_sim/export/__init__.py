"""Cross-checks: a run's flows as input to packet-level simulators, htsim and m4.

:func:`export_run` reads a run directory (or a :class:`~mpft_sim.results.Run` in memory) and
writes, for ``htsim`` (the UCL/Broadcom packet simulator):

- ``plane<p>.cm``: a connection matrix per plane: ``Nodes N``, ``Connections C``, then one line
  per flow that crosses the plane, ``src->dst id K start PS size B`` (hosts numbered within the
  plane's tree, ids from 1 across planes, start in picoseconds);
- ``plane<p>.topo``: the plane's fat-tree in htsim's ``-topo`` format (``Nodes``, ``Tiers``,
  ``Podsize`` and per tier the down link speed, radixes, bundles, latencies);
- ``map.csv``: each connection's flow, NICs, GPUs and NVLink legs; ``nvlink.csv``: the NVLink
  legs htsim does not model (forwards of cross-plane flows, transfers inside a server);

and for ``m4`` (the learned flow-level simulator, which takes each flow's path):

- ``topology.txt``: the whole fabric, GPUs as hosts, in the ns-3 format m4's data uses;
- ``flows.txt``: ``id src dst 3 100 size start_s`` per flow (per path of a split flow);
- ``path_1.txt``: each flow's path as node pairs; ``map.csv``: m4 flow ids to ours.

A run records what export needs when asked: its flows with their links (``mpft-sim simulate
--flow-paths``) and the shape of its fabric (summary.json). docs/validation.md says how to run
both simulators on the files and compare their completion times with the run's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from mpft_sim.errors import ExportError
from mpft_sim.export.htsim import HTSIM_MAX_BYTES, htsim_files
from mpft_sim.export.m4 import m4_files
from mpft_sim.report.files import staged_dir
from mpft_sim.results.result import Run

__all__ = ["EXPORT_FORMATS", "HTSIM_MAX_BYTES", "ExportFormat", "export_run", "htsim_files",
           "m4_files"]

ExportFormat = Literal["htsim", "m4"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)


def export_run(run: Run | str | Path, out_dir: str | Path, fmt: ExportFormat) -> list[str]:
    """Write a run's flows (and fabric) as input to a packet-level simulator.

    Parameters
    ----------
    run : Run or path
        A run, or its directory (read with :func:`~mpft_sim.results.load_run`).
    out_dir : str or Path
        Where to write (created if needed); the files appear together or not at all.
    fmt : {"htsim", "m4"}
        htsim's connection matrices and fat-tree files, one per plane; or m4's topology,
        flows and paths.

    Returns
    -------
    list of str
        The names of the files written.

    Raises
    ------
    ExportError
        If the run kept no flows or no flow paths (rerun ``mpft-sim simulate --flow-paths``),
        or its fabric has no equivalent in htsim's fat-tree (the message says why).
    SpecError
        If ``run`` is a directory that is not a readable run.
    """
    if not isinstance(run, Run):
        from mpft_sim.results.rundir import load_run

        run = load_run(run)
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"no export format {fmt!r}: choose {' or '.join(EXPORT_FORMATS)}")
    files = htsim_files(run) if fmt == "htsim" else m4_files(run)
    with staged_dir(out_dir) as tmp:
        for name, lines in files.items():
            with (tmp / name).open("w", encoding="utf-8", newline="\n") as handle:
                for line in lines:
                    handle.write(line + "\n")
    return list(files)
