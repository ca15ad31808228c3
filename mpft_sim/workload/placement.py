"""Where experts live: expert ids to GPU ranks, as contiguous blocks (``default_placement``,
DeepEP's ``layout.cu``) or by EPLB's redundant-expert placement (``eplb_placement``,
traffic-mechanics §4), and the replica a token's expert copy is served by."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["default_placement", "eplb_placement", "replica_rank", "replica_slots"]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def default_placement(experts: int, ep: int) -> IntArray:
    """Expert -> rank without EPLB: ``e // (E/EP)``, contiguous blocks (DeepEP ``layout.cu``).

    Returns
    -------
    ndarray of int64, shape (experts,)
    """
    if ep < 1 or experts % ep:
        raise ValueError(f"experts ({experts}) must be a positive multiple of ep ({ep})")
    return np.arange(experts, dtype=np.int64) // (experts // ep)


def _balanced_packing(weight: FloatArray, packs: int) -> tuple[IntArray, IntArray]:
    """Greedy balanced packing: heaviest item first into the lightest pack with room.

    Every pack gets exactly ``len(weight) / packs`` items. Returns each item's pack and its
    position in the pack. Ties go to the lower index (stable sort, first minimum).
    """
    n = weight.shape[0]
    per_pack = n // packs
    if per_pack == 1:
        return np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    pack = np.empty(n, dtype=np.int64)
    slot = np.empty(n, dtype=np.int64)
    load = np.zeros(packs)
    count = np.zeros(packs, dtype=np.int64)
    for item in np.argsort(-weight, kind="stable"):  # a loop over groups or expert slots
        p = int(np.argmin(np.where(count < per_pack, load, np.inf)))
        pack[item], slot[item] = p, count[p]
        load[p] += weight[item]
        count[p] += 1
    return pack, slot


def _replicate(weight: FloatArray, slots: int) -> tuple[IntArray, IntArray, IntArray]:
    """Give each redundant slot to the expert with the highest load per replica.

    Returns (slot -> expert, slot -> replica index of its expert, replicas per expert);
    the first ``len(weight)`` slots hold one replica of each expert in order.
    """
    n = weight.shape[0]
    phy2log = np.concatenate([np.arange(n, dtype=np.int64), np.zeros(slots - n, np.int64)])
    rank = np.zeros(slots, dtype=np.int64)
    cnt = np.ones(n, dtype=np.int64)
    for s in range(n, slots):  # a loop over redundant slots
        e = int(np.argmax(weight / cnt))
        phy2log[s], rank[s] = e, cnt[e]
        cnt[e] += 1
    return phy2log, rank, cnt


def _inverse(perm: IntArray) -> IntArray:
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.shape[0], dtype=np.int64)
    return inv


def _hierarchical(weight: FloatArray, num_replicas: int, num_groups: int, num_nodes: int,
                  num_gpus: int) -> tuple[IntArray, IntArray, IntArray]:
    """EPLB's hierarchical policy for one layer; returns (phy2log, phyrank, logcnt)."""
    n_log = weight.shape[0]
    group_size = n_log // num_groups
    groups_per_node = num_groups // num_nodes
    log_per_node = n_log // num_nodes
    phy_per_node = num_replicas // num_nodes
    slots_per_gpu = num_replicas // num_gpus

    # 1. groups -> nodes; "mlog" numbers the experts node by node, group by group
    gpack, gslot = _balanced_packing(weight.reshape(num_groups, group_size).sum(axis=1),
                                     num_nodes)
    log2mlog = (((gpack * groups_per_node + gslot) * group_size)[:, None]
                + np.arange(group_size, dtype=np.int64)).reshape(-1)
    mlog2log = _inverse(log2mlog)
    node_w = weight[mlog2log].reshape(num_nodes, log_per_node)

    phy2log = np.empty(num_replicas, dtype=np.int64)
    phyrank = np.empty(num_replicas, dtype=np.int64)
    mlogcnt = np.empty(n_log, dtype=np.int64)
    for n in range(num_nodes):
        # 2. redundant replicas inside the node
        p2m, prank, cnt = _replicate(node_w[n], phy_per_node)
        # 3. the node's replicas -> its GPUs, each weighted by its share of the expert's load
        pack, slot = _balanced_packing((node_w[n] / cnt)[p2m], num_gpus // num_nodes)
        pphy2phy = _inverse(pack * slots_per_gpu + slot)
        out = slice(n * phy_per_node, (n + 1) * phy_per_node)
        phy2log[out] = mlog2log[p2m[pphy2phy] + n * log_per_node]
        phyrank[out] = prank[pphy2phy]
        mlogcnt[n * log_per_node:(n + 1) * log_per_node] = cnt
    return phy2log, phyrank, mlogcnt[log2mlog]


def eplb_placement(weight: NDArray[np.floating], num_replicas: int, num_groups: int,
                   num_nodes: int, num_gpus: int) -> tuple[IntArray, IntArray, IntArray]:
    """EPLB redundant-expert placement for one MoE layer (traffic-mechanics §4).

    Hierarchical when ``num_groups % num_nodes == 0``: (1) pack the expert groups onto nodes
    by greedy balanced packing (heaviest group first, into the lightest node with room;
    ``num_groups / num_nodes`` groups each), (2) inside each node, add replicas one at a time
    to the expert with the largest load per replica until the node's
    ``num_replicas / num_nodes`` slots are full, (3) pack the node's replicas, each weighing
    its expert's load over its replica count, onto the node's GPUs with the same greedy rule.
    Otherwise global: the same with one group and one node. Mirrors ``deepseek-ai/EPLB``;
    ties are broken towards the lower index.

    Parameters
    ----------
    weight : ndarray, shape (E,)
        Estimated load per logical expert.
    num_replicas : int
        Physical expert slots, a multiple of `num_gpus` and at least E.
    num_groups, num_nodes, num_gpus : int
        Expert groups, nodes and GPUs of the EP group.

    Returns
    -------
    phy2log : ndarray of int64, shape (num_replicas,)
        Logical expert of each slot; slot s lives on GPU ``s // (num_replicas // num_gpus)``.
    log2phy : ndarray of int64, shape (E, max(logcnt))
        Slots of each expert, padded with -1.
    logcnt : ndarray of int64, shape (E,)
        Replicas per expert (at least 1).
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] == 0 or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weight must be a non-empty vector of finite non-negative loads")
    n_log = w.shape[0]
    if min(num_groups, num_nodes, num_gpus) < 1:
        raise ValueError("num_groups, num_nodes and num_gpus must be positive")
    if n_log % num_groups:
        raise ValueError(f"{n_log} experts do not split into {num_groups} groups")
    if num_gpus % num_nodes:
        raise ValueError(f"num_gpus ({num_gpus}) must be a multiple of num_nodes ({num_nodes})")
    if num_replicas % num_gpus or num_replicas < n_log:
        raise ValueError(f"num_replicas ({num_replicas}) must be a multiple of num_gpus "
                         f"({num_gpus}) and at least the {n_log} experts")
    if num_groups % num_nodes == 0:
        phy2log, phyrank, logcnt = _hierarchical(w, num_replicas, num_groups, num_nodes,
                                                 num_gpus)
    else:
        phy2log, phyrank, logcnt = _hierarchical(w, num_replicas, 1, 1, num_gpus)
    log2phy = np.full((n_log, int(logcnt.max())), -1, dtype=np.int64)
    log2phy[phy2log, phyrank] = np.arange(num_replicas, dtype=np.int64)
    return phy2log, log2phy, logcnt


def replica_slots(experts: NDArray[np.integer], log2phy: NDArray[np.integer],
                  logcnt: NDArray[np.integer], rng: np.random.Generator) -> IntArray:
    """Physical slot serving each (token, expert): one of the expert's replicas, at random.

    How DeepSeek splits an expert's tokens among its replicas is unpublished
    (traffic-mechanics §4, §7); each (token, expert) independently picks a replica uniformly,
    which splits the load evenly in expectation.

    Returns
    -------
    ndarray of int64, same shape as `experts`
    """
    ex = np.asarray(experts, dtype=np.int64)
    cnt = np.asarray(logcnt, dtype=np.int64)[ex]
    pick = np.floor(rng.random(ex.shape) * cnt).astype(np.int64)
    return np.asarray(log2phy, dtype=np.int64)[ex, np.minimum(pick, cnt - 1)]


def replica_rank(experts: NDArray[np.integer], log2phy: NDArray[np.integer],
                 logcnt: NDArray[np.integer], slots_per_gpu: int,
                 rng: np.random.Generator) -> IntArray:
    """GPU rank serving each (token, expert) under EPLB: ``replica_slots // slots_per_gpu``.

    Replicas are chosen uniformly at random (the real split is unpublished). For the
    ``deepep`` generators prefer the slots themselves with ``expert_rank =
    arange(num_replicas) // slots_per_gpu``: low-latency mode signals every physical expert.

    Returns
    -------
    ndarray of int64, same shape as `experts`
    """
    return replica_slots(experts, log2phy, logcnt, rng) // slots_per_gpu
