"""Rank placement: which GPU each rank of a job runs on, and the groups that talk.

Ranks are numbered ``rank = pp * dp + d`` with ``d = edp * ep + e`` (Megatron-like, rail
friendly): an expert-parallel group is ``ep`` consecutive ranks, so ``ep / gpus_per_node``
whole servers at one pipeline stage; pipeline neighbours share a local GPU index, so pipeline
traffic stays on one rail (one plane of a multi-plane fabric). Rank r runs on GPU
``first_node * gpus_per_node + r`` unless a rank map file says otherwise.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mpft_sim.errors import SpecError
from mpft_sim.spec.files import read_text
from mpft_sim.spec.limits import MAX_CSV_BYTES
from mpft_sim.spec.workload import LayoutSpec
from mpft_sim.topology.fabric import Fabric, NodeKind, parse_node_name

__all__ = ["RankLayout", "place_ranks"]

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class RankLayout:
    """A job's ranks on the fabric's GPUs.

    Attributes
    ----------
    pp, dp, ep : int
        Pipeline ranks, data-parallel replicas, expert-parallel group size.
    gpu : ndarray of int, shape (pp * dp,)
        Global GPU rank of each job rank.
    """

    pp: int
    dp: int
    ep: int
    gpu: IntArray

    @property
    def edp(self) -> int:
        """Expert-parallel groups per pipeline stage (dp / ep)."""
        return self.dp // self.ep

    def rank(self, pp: int, d: int) -> int:
        """Job rank of pipeline rank ``pp``, data-parallel index ``d``."""
        return pp * self.dp + d

    def ep_group(self, pp: int, edp: int) -> IntArray:
        """GPUs of expert-parallel group ``edp`` at pipeline rank ``pp``, in EP-rank order."""
        first = self.rank(pp, edp * self.ep)
        return self.gpu[first:first + self.ep]

    def stage_ranks(self, pp: int) -> IntArray:
        """GPUs of every data-parallel replica at pipeline rank ``pp``."""
        return self.gpu[pp * self.dp:(pp + 1) * self.dp]

    def expert_dp_group(self, pp: int, e: int) -> IntArray:
        """GPUs holding the same experts at pipeline rank ``pp``: EP index ``e`` of each EP
        group."""
        return self.gpu[pp * self.dp + e + self.ep * np.arange(self.edp)]


def place_ranks(spec: LayoutSpec, fabric: Fabric, where: tuple[str | int, ...] = ()) -> RankLayout:
    """Put a job's ranks on GPUs, checking they exist.

    Raises
    ------
    SpecError
        If the job does not fit on the fabric, or a rank map row is bad.
    """
    ranks = spec.ranks
    g = fabric.gpus_per_node
    if spec.rank_map is None:
        first = spec.first_node * g
        if first >= fabric.n_gpus:
            raise SpecError(f"the fabric has {fabric.n_gpus // g:,} servers",
                            (*where, "layout", "first_node"), spec.first_node)
        if first + ranks > fabric.n_gpus:
            raise SpecError(
                f"the job needs {ranks:,} GPUs from server {spec.first_node} on, but the "
                f"fabric has {fabric.n_gpus:,} GPUs ({fabric.n_gpus // g} servers)",
                (*where, "layout"), f"pp={spec.pp} dp={spec.dp}")
        return RankLayout(spec.pp, spec.dp, spec.ep, first + np.arange(ranks, dtype=np.int64))
    return RankLayout(spec.pp, spec.dp, spec.ep, _read_rank_map(spec.rank_map, ranks, fabric))


def _read_rank_map(path: str, ranks: int, fabric: Fabric) -> IntArray:
    rows = list(csv.reader(read_text(path, MAX_CSV_BYTES, "rank map").splitlines()))
    if not rows or [c.strip() for c in rows[0]] != ["rank", "gpu"]:
        raise SpecError("the header must be rank,gpu", ("row 1",), file=path)
    gpu = np.full(ranks, -1, dtype=np.int64)
    for no, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        key = (f"row {no}",)
        try:
            rank = int(row[0])
            text = row[1].strip()
            if text.isdigit():
                g = int(text)
            else:
                node = parse_node_name(text)
                if node.kind != NodeKind.GPU:
                    raise ValueError("not a GPU")
                g = fabric.node_index(node)
        except (ValueError, IndexError) as exc:
            raise SpecError(f"expected rank,gpu ({exc})", key, ",".join(row), path) from None
        if not 0 <= rank < ranks:
            raise SpecError(f"rank: the job has {ranks} ranks", key, rank, path)
        if not 0 <= g < fabric.n_gpus:
            raise SpecError(f"gpu: the fabric has {fabric.n_gpus} GPUs", key, g, path)
        if gpu[rank] >= 0:
            raise SpecError("rank: listed twice", key, rank, path)
        gpu[rank] = g
    if (gpu < 0).any():
        raise SpecError(f"rank {int(np.argmax(gpu < 0))} has no GPU", file=path)
    if len(np.unique(gpu)) != ranks:
        raise SpecError("two ranks share a GPU", file=path)
    return gpu
