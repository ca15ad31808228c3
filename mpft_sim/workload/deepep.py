"""DeepEP all-to-all traffic: the flows of one MoE layer's dispatch or combine.

Given one routing sample per source GPU of an EP group, build the point-to-point flows
that DeepEP V1 moves, following traffic-mechanics §2 (kernels) and §6.3-§6.4 (recipe):

* normal kernels (training, prefill), internode: a token crosses the network at most once
  per target node, to the GPU with the source's local index (same rail and plane), which
  forwards it over NVLink to every GPU of that node hosting one of its experts;
* normal kernels, intranode (the group fits in one node): one NVLink copy per destination GPU;
* low-latency kernels (decode): one message per (token, expert), straight to the expert's
  GPU, plus a 4-byte count or flag per (source, expert).

Ranks are within the EP group: rank = node * gpus_per_node + local. Flows with no bytes and
flows from a GPU to itself (local copies) are left out. Everything is vectorised over tokens.
The bytes of a token record, and DeepEP's own bandwidth figure, are in
:mod:`mpft_sim.workload.deepep_sizes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "LEG_NETWORK",
    "LEG_NVLINK",
    "SIGNAL_BYTES",
    "Flows",
    "low_latency_combine",
    "low_latency_dispatch",
    "normal_combine",
    "normal_dispatch",
]

LEG_NETWORK = 0
LEG_NVLINK = 1
# low-latency count signal / combine flag: one 4-byte int per (source, expert) [§2.4, §6.4]
SIGNAL_BYTES = 4

IntArray = NDArray[np.int64]
# (src, dst, bytes, leg) of a batch of candidate flows
Part = tuple[NDArray[Any], NDArray[Any], NDArray[Any], int]


@dataclass(frozen=True, eq=False)
class Flows:
    """Flows of one all-to-all in one EP group.

    Attributes
    ----------
    src, dst : ndarray of int64
        Ranks within the EP group.
    bytes : ndarray of float64
        Bytes per flow.
    leg : ndarray of uint8
        ``LEG_NETWORK`` (0, RDMA over the scale-out network) or ``LEG_NVLINK`` (1).
    logical_bytes : float
        The bytes of the figure DeepEP's README reports as the kernel's bottleneck bandwidth,
        summed over the group's ranks: RDMA bytes for the internode and low-latency kernels,
        NVLink bytes for the intranode ones (each generator's docstring says which bytes).
    nvl_logical_bytes : float
        The bytes of DeepEP's "GB/s (NVL)" figure, summed over the group's ranks (normal
        kernels; 0 for low-latency, whose benchmark prints no NVLink figure).
    rdma_tokens, nvl_tokens : int
        The token counts behind them (normal kernels): DeepEP's ``num_rdma_token_sent`` and
        received rows, summed over ranks.
    """

    src: IntArray
    dst: IntArray
    bytes: NDArray[np.float64]
    leg: NDArray[np.uint8]
    logical_bytes: float
    nvl_logical_bytes: float = 0.0
    rdma_tokens: int = 0
    nvl_tokens: int = 0

    def __len__(self) -> int:
        return len(self.src)

    @property
    def network_bytes(self) -> float:
        """Total bytes on the network leg."""
        return float(self.bytes[self.leg == LEG_NETWORK].sum())

    @property
    def nvlink_bytes(self) -> float:
        """Total bytes on the NVLink leg."""
        return float(self.bytes[self.leg == LEG_NVLINK].sum())


def _ranks(experts_by_rank: NDArray[np.integer], expert_rank: NDArray[np.integer],
           gpus_per_node: int) -> tuple[IntArray, int]:
    """Destination rank of every (source, token, expert), checked; and the group size."""
    ex = np.asarray(experts_by_rank)
    if ex.ndim != 3 or ex.shape[0] < 1:
        raise ValueError("experts_by_rank must have shape (ep_size, tokens, k)")
    if not np.issubdtype(ex.dtype, np.integer):
        raise ValueError("expert ids must be integers")
    table = np.asarray(expert_rank, dtype=np.int64)
    ep = ex.shape[0]
    if gpus_per_node < 1:
        raise ValueError("gpus_per_node must be positive")
    if ep > gpus_per_node and ep % gpus_per_node:
        raise ValueError(f"an EP group of {ep} ranks is not whole nodes of {gpus_per_node}")
    if ex.size and (ex.min() < 0 or ex.max() >= table.shape[0]):
        raise ValueError(f"expert ids must lie in 0..{table.shape[0] - 1}")
    if table.size and (table.min() < 0 or table.max() >= ep):
        raise ValueError(f"expert_rank must map into the {ep} ranks of the group")
    return table[ex], ep


def _first_in_row(sorted_rows: IntArray) -> NDArray[np.bool_]:
    """True at the first occurrence of each value in every sorted last-axis row."""
    first = np.ones(sorted_rows.shape, dtype=bool)
    first[..., 1:] = sorted_rows[..., 1:] != sorted_rows[..., :-1]
    return first


def _source_index(ep: int) -> IntArray:
    return np.arange(ep, dtype=np.int64)[:, None, None]


def _pair_counts(key: IntArray, mask: NDArray[np.bool_] | None, size: int) -> IntArray:
    """Occurrences of each key in ``0..size-1`` (where mask is true)."""
    k = key.reshape(-1) if mask is None else key[mask]
    return np.bincount(k, minlength=size).astype(np.int64)


def _flows(parts: list[Part], logical: float, nvl_logical: float = 0.0, rdma_tokens: int = 0,
           nvl_tokens: int = 0) -> Flows:
    """Concatenate (src, dst, bytes, leg) parts, dropping empty and self flows."""
    src = np.concatenate([p[0] for p in parts]).astype(np.int64)
    dst = np.concatenate([p[1] for p in parts]).astype(np.int64)
    size = np.concatenate([p[2] for p in parts]).astype(np.float64)
    leg = np.concatenate([np.full(len(p[0]), p[3], dtype=np.uint8) for p in parts])
    keep = (size > 0) & (src != dst)
    return Flows(src[keep], dst[keep], size[keep], leg[keep], float(logical), float(nvl_logical),
                 int(rdma_tokens), int(nvl_tokens))


def _normal_counts(experts_by_rank: NDArray[np.integer], expert_rank: NDArray[np.integer],
                   gpus_per_node: int) -> tuple[bool, IntArray, IntArray, int, int, int]:
    """Token counts of a normal dispatch.

    Returns ``(intranode, a, b, rdma_tokens, nvl_tokens, ep)``. Intranode: ``a[s, r]`` =
    tokens of source s that hit GPU r (dedup per GPU), ``b`` unused. Internode: ``a[s, n]``
    = tokens of source s that hit node n (dedup per node) and ``b[i, r]`` = tokens of all
    sources with local index i that hit GPU r (dedup per GPU): what forwarder
    (node(r), i) copies to r. ``rdma_tokens`` = (token, distinct node) pairs, own node
    included (0 intranode); ``nvl_tokens`` = (token, distinct GPU) pairs, the source's own
    GPU included: the rows the group's GPUs receive.
    """
    ranks, ep = _ranks(experts_by_rank, expert_rank, gpus_per_node)
    g = gpus_per_node
    # sort each token's destinations once: duplicates become neighbours, and since
    # rank = node*g + local the node ids of a sorted row are sorted too
    ranks = np.sort(ranks, axis=-1)
    new_gpu = _first_in_row(ranks)
    s = _source_index(ep)
    rows = int(new_gpu.sum())
    if ep <= g:
        per_gpu = _pair_counts(s * ep + ranks, new_gpu, ep * ep).reshape(ep, ep)
        return True, per_gpu, per_gpu, 0, rows, ep
    n_nodes = ep // g
    nodes = ranks // g
    new_node = _first_in_row(nodes)
    per_node = _pair_counts(s * n_nodes + nodes, new_node, ep * n_nodes).reshape(ep, n_nodes)
    per_fwd = _pair_counts((s % g) * ep + ranks, new_gpu, g * ep).reshape(g, ep)
    return False, per_node, per_fwd, int(new_node.sum()), rows, ep


def _normal(experts_by_rank: NDArray[np.integer], expert_rank: NDArray[np.integer],
            gpus_per_node: int, record: int, reverse: bool, payload: int | None) -> Flows:
    intra, a, b, rdma_tokens, nvl_tokens, ep = _normal_counts(experts_by_rank, expert_rank,
                                                              gpus_per_node)
    g = gpus_per_node
    rec = float(record)
    if intra:
        s, r = np.divmod(np.arange(ep * ep, dtype=np.int64), ep)
        parts: list[Part] = [(s, r, a.reshape(-1) * rec, LEG_NVLINK)]
    else:
        n_nodes = ep // g
        # RDMA: (a, i) -> (b, i) for every node b, own node dropped by _flows as a self flow
        s, node = np.divmod(np.arange(ep * n_nodes, dtype=np.int64), n_nodes)
        rdma: Part = (s, node * g + s % g, a.reshape(-1) * rec, LEG_NETWORK)
        # NVLink: forwarder (node(r), i) -> r; i == local(r) is the forwarder itself
        i, r = np.divmod(np.arange(g * ep, dtype=np.int64), ep)
        nvl: Part = ((r // g) * g + i, r, b.reshape(-1) * rec, LEG_NVLINK)
        parts = [rdma, nvl]
    if reverse:
        parts = [(d, s_, size, leg) for s_, d, size, leg in parts]
    counted = float(record if payload is None else payload)
    nvl_bytes = nvl_tokens * counted
    # the headline figure: NVLink for the intranode kernels, RDMA for the internode ones
    return _flows(parts, nvl_bytes if intra else rdma_tokens * counted, nvl_bytes, rdma_tokens,
                  nvl_tokens)


def normal_dispatch(experts_by_rank: NDArray[np.integer], expert_rank: NDArray[np.integer],
                    gpus_per_node: int, record: int, payload: int | None = None) -> Flows:
    """Flows of a DeepEP normal-mode dispatch in one EP group (traffic-mechanics §2.2-§2.3, §6.3).

    Internode (the group spans several nodes):

    1. RDMA leg: source (a, i) sends to (b, i), for every other node b, one record per token
       with an expert on node b (dedup per node). Tokens for its own node cost no network.
    2. NVLink leg: forwarder (b, i) copies to (b, j), j != i, one record per token from any
       source with local index i, node b's own (b, i) included, that has an expert on (b, j)
       (dedup per GPU). A copy to the forwarder itself is local and left out.

    Intranode (``ep <= gpus_per_node``, DeepEP's intranode kernels): source s sends one
    record over NVLink to each other GPU j per token with an expert on j (dedup per GPU).

    The byte counts follow DeepEP's own benchmark exactly (``tests/test_internode.py``,
    ``tests/test_intranode.py``), each times `payload` and summed over the group's ranks:

    * ``nvl_logical_bytes`` ("GB/s (NVL)"): the rows the GPUs receive, ``recv_x.numel()``:
      (token, distinct destination GPU) pairs, the source's own GPU included, and on the
      internode kernels including the rows a forwarder copies to itself;
    * internode ``logical_bytes`` ("GB/s (RDMA)", the README's bottleneck figure):
      ``num_rdma_token_sent`` = (token, distinct destination node) pairs, **the source's
      own node included**, although those tokens never reach the network;
    * intranode ``logical_bytes`` = ``nvl_logical_bytes`` (its only, and bottleneck, figure).

    Parameters
    ----------
    experts_by_rank : ndarray of int, shape (ep_size, tokens, k)
        Expert ids chosen by each source rank's tokens.
    expert_rank : ndarray of int
        Expert id -> rank in the group (``gating.default_placement``, or EPLB slots ->
        rank with slot ids in `experts_by_rank`).
    gpus_per_node : int
        GPUs per node g; rank = node * g + local.
    record : int
        Bytes per token record on both legs (``record_bytes(..., "dispatch", "normal")``).
    payload : int, optional
        Bytes per token DeepEP's benchmark counts
        (:func:`~mpft_sim.workload.deepep_sizes.payload_bytes`); default `record`.

    Returns
    -------
    Flows
        Network flows first (by source, then node), then NVLink flows; none empty.
    """
    return _normal(experts_by_rank, expert_rank, gpus_per_node, record, False, payload)


def normal_combine(experts_by_rank: NDArray[np.integer], expert_rank: NDArray[np.integer],
                   gpus_per_node: int, record: int, payload: int | None = None) -> Flows:
    """Flows of a DeepEP normal-mode combine: the transpose of ``normal_dispatch``.

    NVLink leg (b, j) -> (b, i) with the token counts of dispatch's (b, i) -> (b, j), then,
    after the forwarder's reduction, RDMA leg (b, i) -> (a, i) with the counts of dispatch's
    (a, i) -> (b, i): one reduced row per (token, node) (traffic-mechanics §2.3, §6.3 steps
    4-5). Intranode: GPU j -> source s per token. The byte counts are dispatch's (DeepEP
    sets ``combine_bf16_rdma_recv_bytes = dispatch_bf16_rdma_send_bytes`` and
    ``combine_bf16_nvl_send_bytes = dispatch_bf16_nvl_recv_bytes``), with `record` the
    combine record (``record_bytes(..., "bf16", "combine", "normal")``) and `payload`
    ``payload_bytes(H, "bf16")``.
    """
    return _normal(experts_by_rank, expert_rank, gpus_per_node, record, True, payload)


def _low_latency(experts_by_rank: NDArray[np.integer], expert_rank: NDArray[np.integer],
                 gpus_per_node: int, record: int, nvlink_local: bool, reverse: bool) -> Flows:
    ranks, ep = _ranks(experts_by_rank, expert_rank, gpus_per_node)
    table = np.asarray(expert_rank, dtype=np.int64)
    # one message per (token, expert): no dedup, a token with two experts on a GPU goes twice
    msgs = _pair_counts(_source_index(ep) * ep + ranks, None, ep * ep)
    # one 4-byte count (dispatch) or flag (combine) per (source, expert), zero tokens or not
    signals = np.bincount(table, minlength=ep).astype(np.int64) * SIGNAL_BYTES
    s, r = np.divmod(np.arange(ep * ep, dtype=np.int64), ep)
    size = msgs * float(record) + signals[r]
    same_node = (s // gpus_per_node) == (r // gpus_per_node)
    nvl = same_node if nvlink_local else np.zeros(ep * ep, dtype=bool)
    src, dst = (r, s) if reverse else (s, r)
    logical = float(ranks.size) * record
    return _flows([(src[~nvl], dst[~nvl], size[~nvl], LEG_NETWORK),
                   (src[nvl], dst[nvl], size[nvl], LEG_NVLINK)], logical)


def low_latency_dispatch(experts_by_rank: NDArray[np.integer], expert_rank: NDArray[np.integer],
                         gpus_per_node: int, record: int, nvlink_local: bool = True) -> Flows:
    """Flows of a DeepEP low-latency dispatch (traffic-mechanics §2.4, §6.4).

    Every (token, selected expert) is one message of `record` bytes from the source straight
    to the expert's rank, without dedup or forwarding; messages are aggregated per (source,
    destination) pair. After its last token the source puts one 4-byte count to every expert
    (zero-token pairs included), added to the flow to that expert's rank; so every source
    has a flow to every rank that hosts an expert.

    Same-node pairs go over NVLink when `nvlink_local` (the kernel's NVLink stores since
    DeepEP PR #173), else over the network like any pair (before #173). How a cross-rail
    network message crosses planes (policy A/B/C of §2.4) is left to the caller: these are
    end-to-end flows. A message to the source's own rank is a local copy and is left out.

    ``logical_bytes`` = messages x `record` over all sources, own rank included and count
    signals excluded: what DeepEP's ``test_low_latency.py`` divides by the time.

    Parameters
    ----------
    experts_by_rank : ndarray of int, shape (ep_size, tokens, k)
        Expert ids chosen by each source rank's tokens (k = K + 1 with the shared expert
        routed; `expert_rank` then needs an entry for it).
    expert_rank : ndarray of int
        Expert id -> rank. Every entry is an expert that receives a count signal, so with
        EPLB pass physical slot ids and ``arange(num_replicas) // slots_per_gpu``.
    gpus_per_node : int
        GPUs per node g.
    record : int
        Bytes per message (``record_bytes(..., "dispatch", "low-latency")``).
    nvlink_local : bool
        Same-node pairs over NVLink (True) or the network (False).

    Returns
    -------
    Flows
        Network flows first, then NVLink flows, each by (source, destination).
    """
    return _low_latency(experts_by_rank, expert_rank, gpus_per_node, record, nvlink_local,
                        reverse=False)


def low_latency_combine(experts_by_rank: NDArray[np.integer], expert_rank: NDArray[np.integer],
                        gpus_per_node: int, record: int, nvlink_local: bool = True) -> Flows:
    """Flows of a DeepEP low-latency combine: the transpose of ``low_latency_dispatch``.

    The expert's rank returns one `record`-byte row (2H BF16) per (token, expert) to the
    source, then one 4-byte flag per (expert, source); the source reduces. ``logical_bytes``
    = rows x `record`, as DeepEP's ``num_combine_comm_bytes``.
    """
    return _low_latency(experts_by_rank, expert_rank, gpus_per_node, record, nvlink_local,
                        reverse=True)
