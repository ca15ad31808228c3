"""MoE token routing: DeepSeek-V3's group-limited gate.

A routing sample is an ``(tokens, k)`` array of expert ids, one row per token. It is drawn
with the V3 gate (traffic-mechanics §6.2, ``DeepSeek-V3/inference/model.py``) from random
affinities whose per-expert tilt sets the load shape, or built deterministically for the
"absolutely balanced" routing of DeepSeek's published profile. Expert ids become GPU ranks
through a placement (:mod:`mpft_sim.workload.placement`).

Everything is vectorised over tokens; every random choice comes from the
``numpy.random.Generator`` the caller passes in, so a seed fixes the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ExpertLoad",
    "GateConfig",
    "expert_bias",
    "fanout_stats",
    "route_group",
    "route_tokens",
]

ExpertLoad = Literal["uniform", "balanced", "zipf", "file"]
LOADS: tuple[str, ...] = ("uniform", "balanced", "zipf", "file")

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class GateConfig:
    """Shape of a group-limited top-k gate (DeepSeek-V3: 256, 8, 8, 4).

    Attributes
    ----------
    experts : int
        Routed experts E.
    top_k : int
        Experts per token K.
    groups : int
        Expert groups G; group g holds the contiguous experts ``g*E/G .. (g+1)*E/G - 1``.
    top_groups : int
        Groups a token may use, M. A group's score is the sum of its top ``top_k // top_groups``
        affinities (top-2 for V3).
    shared_as_routed : bool
        Decode EP320 style (cluster-facts §5): the shared expert is one more routed destination,
        so every token also gets the id ``experts`` in an extra last column.
    """

    experts: int
    top_k: int
    groups: int
    top_groups: int
    shared_as_routed: bool = False

    def __post_init__(self) -> None:
        if min(self.experts, self.top_k, self.groups, self.top_groups) < 1:
            raise ValueError("experts, top_k, groups and top_groups must be positive")
        if self.experts % self.groups:
            raise ValueError(f"experts ({self.experts}) must be a multiple of groups "
                             f"({self.groups})")
        if self.top_groups > self.groups:
            raise ValueError(f"top_groups ({self.top_groups}) exceeds groups ({self.groups})")
        if self.top_k > self.top_groups * self.group_size:
            raise ValueError(f"top_k ({self.top_k}) exceeds the experts of {self.top_groups} "
                             f"groups ({self.top_groups * self.group_size})")

    @property
    def group_size(self) -> int:
        """Experts per group, E/G."""
        return self.experts // self.groups

    @property
    def group_top(self) -> int:
        """Affinities summed into a group score: K/M, at least 1 (V3 hard-codes 2 = 8/4)."""
        return max(1, self.top_k // self.top_groups)

    @property
    def destinations(self) -> int:
        """Columns of a routing sample: K, or K + 1 with the shared expert routed."""
        return self.top_k + int(self.shared_as_routed)


def expert_bias(load: str, experts: int, rng: np.random.Generator, zipf_exponent: float = 1.0,
                weights: NDArray[np.floating] | None = None) -> FloatArray:
    """Per-expert logit tilt that gives the requested load shape.

    The gate's random affinities are ``sigmoid(gumbel + tilt[e])`` with i.i.d. standard
    Gumbel noise per (token, expert) (see ``route_tokens``). Sigmoid is monotone, so without
    the group limit a token's top-K experts are the top-K of ``gumbel + tilt``: by the
    Gumbel-top-k property that is a draw of K experts without replacement with probabilities
    proportional to ``w[e] = exp(tilt[e])`` (Plackett-Luce): the first pick is expert e with
    probability ``w[e] / sum(w)``. The group step of the V3 gate bends these odds a little
    (a token's groups are chosen first), but the order of popularity is kept.

    The tilt acts on the logit, not as V3's additive ``e_score_correction_bias`` on the
    affinity: that bias is tuned during training to *remove* imbalance and has no closed-form
    relation to selection odds, whereas a logit tilt does.

    Parameters
    ----------
    load : {"uniform", "balanced", "zipf", "file"}
        ``uniform`` and ``balanced``: all zeros (i.i.d. scores; "balanced" routing does not
        use scores at all). ``zipf``: the expert of popularity rank r (1 = most popular) gets
        ``w ∝ r ** -zipf_exponent``; which expert has which rank is a uniformly random
        permutation drawn from `rng`, so hot experts are scattered over groups and nodes
        instead of all sitting in group 0. ``file``: ``w = weights`` (relative loads).
    experts : int
        Number of routed experts E.
    rng : numpy.random.Generator
        Source of the zipf permutation (the other shapes draw nothing).
    zipf_exponent : float
        Exponent a >= 0 of the zipf shape (0 = uniform).
    weights : ndarray of shape (experts,), optional
        Non-negative relative loads for ``file``. A zero weight becomes a tilt of
        ``log(1e-12)`` relative to the mean load: the expert is picked only when a token has
        no other choice.

    Returns
    -------
    ndarray of float64, shape (experts,)
        The tilt ``log w`` minus its mean (only differences matter).
    """
    if load in ("uniform", "balanced"):
        return np.zeros(experts)
    if load == "zipf":
        if not np.isfinite(zipf_exponent) or zipf_exponent < 0:
            raise ValueError(f"zipf_exponent must be a finite number >= 0, got {zipf_exponent}")
        popularity = rng.permutation(experts)  # popularity[e] = 0-based rank of expert e
        log_w = -zipf_exponent * np.log1p(popularity.astype(np.float64))
    elif load == "file":
        if weights is None:
            raise ValueError("load 'file' needs a per-expert weight vector")
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (experts,):
            raise ValueError(f"weights must have shape ({experts},), got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
            raise ValueError("weights must be finite, non-negative and not all zero")
        # floor zero loads so the tilt stays finite (an infinite tilt would make affinities
        # exactly 0 and let ties decide)
        w = np.maximum(w / w.mean(), 1e-12)
        log_w = np.log(w)
    else:
        raise ValueError(f"unknown expert load {load!r}; expected one of {', '.join(LOADS)}")
    return np.asarray(log_w - log_w.mean(), dtype=np.float64)


def _spread_order(n: int) -> IntArray:
    """``0..n-1`` in bit-reversed order (van der Corput): consecutive entries lie far apart.

    For n a power of two, any 2**j consecutive entries starting at a multiple of 2**j fall
    in 2**j different aligned blocks of size n / 2**j; for other n the bit-reversal of the
    next power of two is filtered, which keeps most of that spread.
    """
    bits = max(1, int(n - 1).bit_length())
    p = np.arange(1 << bits, dtype=np.int64)
    rev = np.zeros_like(p)
    for b in range(bits):  # a loop over bits, not tokens
        rev |= ((p >> b) & 1) << (bits - 1 - b)
    return rev[rev < n]


def _balanced(cfg: GateConfig, tokens: int) -> IntArray:
    """'Absolutely balanced' routing: a deterministic round-robin respecting the group limit.

    The experts are laid out in a cycle of blocks of c = K/M experts: block b belongs to
    group ``spread_G[b % G]`` and holds that group's experts at positions
    ``(b // G) * c .. + c - 1`` of the group's spread order. Token t takes the M blocks
    ``t*M .. t*M + M - 1`` (mod the cycle): M distinct groups, c experts in each. Over one
    cycle every expert appears exactly once, so each expert receives exactly tokens*K/E
    tokens when that is an integer (otherwise the counts differ by at most one).

    The spread orders scatter a token's groups and a group's picked experts as far apart as
    possible, so at one group per node (V3 EP64) every token reaches M nodes and K GPUs: the
    maximal fan-out. DeepSeek did not publish the pattern behind its balanced profile.
    """
    c = cfg.top_k // cfg.top_groups
    if c * cfg.top_groups != cfg.top_k or cfg.group_size % c:
        raise ValueError("balanced routing needs top_k to be a multiple of top_groups and "
                         "experts per group a multiple of top_k // top_groups")
    n_blocks = cfg.experts // c  # a multiple of G, since group_size is a multiple of c
    group_of = _spread_order(cfg.groups)
    offset_of = _spread_order(cfg.group_size)
    block = (np.arange(tokens, dtype=np.int64)[:, None] * cfg.top_groups
             + np.arange(cfg.top_groups, dtype=np.int64)[None, :]) % n_blocks
    group = group_of[block % cfg.groups]
    pos = (block // cfg.groups)[:, :, None] * c + np.arange(c, dtype=np.int64)
    experts = group[:, :, None] * cfg.group_size + offset_of[pos]
    return np.asarray(experts.reshape(tokens, cfg.top_k), dtype=np.int64)


def _v3_gate(cfg: GateConfig, tokens: int, rng: np.random.Generator,
             tilt: FloatArray) -> IntArray:
    """The V3 gate on fresh random affinities; returns (tokens, K) ids, best first."""
    e, g, gs, k, m = cfg.experts, cfg.groups, cfg.group_size, cfg.top_k, cfg.top_groups
    # sigmoid(gumbel + tilt) = 1 / (1 + exp(-tilt) * X) with X = exp(-gumbel) ~ Exp(1):
    # one float32 exponential draw and no transcendental per (token, expert)
    scale = np.exp(-tilt).astype(np.float32)
    x = rng.standard_exponential((tokens, e), dtype=np.float32)
    x *= scale
    x += np.float32(1.0)
    aff = np.reciprocal(x, out=x).reshape(tokens, g, gs)
    top = cfg.group_top
    if m < g:
        # group score = sum of the group's top K/M affinities; keep the best M groups
        score = np.partition(aff, gs - top, axis=-1)[..., gs - top:].sum(axis=-1)
        kept = np.sort(np.argpartition(score, g - m, axis=1)[:, g - m:], axis=1)
    else:
        kept = np.broadcast_to(np.arange(g, dtype=np.int64), (tokens, g))
    # top-K over the kept groups only (the others are -inf in the reference code)
    sub = np.take_along_axis(aff, kept[:, :, None], axis=1).reshape(tokens, m * gs)
    idx = np.argpartition(sub, m * gs - k, axis=1)[:, m * gs - k:]
    # order a token's experts by affinity, best first, like torch.topk(sorted=True)
    order = np.argsort(-np.take_along_axis(sub, idx, axis=1), axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=1)
    group = np.take_along_axis(kept, idx // gs, axis=1)
    return (group * gs + idx % gs).astype(np.int64)


def route_tokens(cfg: GateConfig, tokens: int, rng: np.random.Generator, load: str = "uniform",
                 zipf_exponent: float = 1.0, weights: NDArray[np.floating] | None = None, *,
                 bias: NDArray[np.floating] | None = None) -> IntArray:
    """Expert ids chosen by each of `tokens` tokens with DeepSeek-V3's gate.

    Gate (traffic-mechanics §6.2, ``Gate.forward`` of ``DeepSeek-V3/inference/model.py``):
    affinities ``s = sigmoid(logit)`` with i.i.d. standard Gumbel logits plus the per-expert
    tilt of ``expert_bias``; experts form G contiguous groups; a group's score is the sum of
    its top K/M affinities (top-2 for V3); the M best groups are kept; the token takes the
    K experts of highest affinity inside them. The fan-out of uniform routing does not
    depend on the noise distribution in any measurable way (Gumbel, normal and uniform
    logits agree within 0.5% on every row of the §6.2 table); Gumbel gives the tilt its
    exact meaning. Combine weights are not produced: they do not change the traffic.

    Parameters
    ----------
    cfg : GateConfig
        Gate shape.
    tokens : int
        Tokens to route.
    rng : numpy.random.Generator
        Source of all randomness.
    load : {"uniform", "balanced", "zipf", "file"}
        Load shape (see ``expert_bias``). ``balanced`` is DeepSeek's "absolutely balanced"
        profile routing: deterministic, every expert receives exactly tokens*K/E tokens
        (when integral) and every token uses exactly M groups with K/M experts in each;
        nothing is drawn from `rng`.
    zipf_exponent : float
        Exponent of the zipf shape.
    weights : ndarray of shape (experts,), optional
        Relative per-expert loads for ``file``.
    bias : ndarray of shape (experts,), optional
        A tilt from ``expert_bias`` to use instead of computing one. Pass it to route the
        source GPUs of one layer with the *same* popular experts: without it, ``zipf`` draws
        a new popularity order on every call. ``route_group`` does this for a whole EP group.

    Returns
    -------
    ndarray of int64, shape (tokens, K) or (tokens, K + 1)
        Distinct expert ids per row, by decreasing affinity (for ``balanced``: in
        round-robin order); with ``cfg.shared_as_routed`` the last column is ``cfg.experts``.
    """
    if tokens < 0:
        raise ValueError(f"tokens must be >= 0, got {tokens}")
    if load not in LOADS:
        raise ValueError(f"unknown expert load {load!r}; expected one of {', '.join(LOADS)}")
    if load == "balanced":
        ids = _balanced(cfg, tokens)
    else:
        if bias is None:
            tilt = expert_bias(load, cfg.experts, rng, zipf_exponent, weights)
        else:
            tilt = np.asarray(bias, dtype=np.float64)
            if tilt.shape != (cfg.experts,) or not np.all(np.isfinite(tilt)):
                raise ValueError(f"bias must be {cfg.experts} finite numbers")
        ids = _v3_gate(cfg, tokens, rng, tilt)
    if cfg.shared_as_routed:
        ids = np.concatenate([ids, np.full((tokens, 1), cfg.experts, dtype=np.int64)], axis=1)
    return ids


def route_group(cfg: GateConfig, ep: int, tokens: int, rng: np.random.Generator,
                load: str = "uniform", zipf_exponent: float = 1.0,
                weights: NDArray[np.floating] | None = None) -> IntArray:
    """One routing sample per source GPU of an EP group, sharing one load shape.

    The tilt is drawn once (so under ``zipf`` every source favours the same experts, as
    the tokens of one layer do), then each source's tokens are routed independently.

    Returns
    -------
    ndarray of int64, shape (ep, tokens, K) or (ep, tokens, K + 1)
        ``experts_by_rank`` as the ``deepep`` generators take it.
    """
    if ep < 1:
        raise ValueError(f"ep must be >= 1, got {ep}")
    tilt = None if load == "balanced" else expert_bias(load, cfg.experts, rng,
                                                       zipf_exponent, weights)
    # a loop over source GPUs (tens), each vectorised over its tokens; it bounds the
    # affinity matrix to one source's (tokens, E)
    return np.stack([route_tokens(cfg, tokens, rng, load, bias=tilt) for _ in range(ep)])


def fanout_stats(experts: NDArray[np.integer], expert_rank: NDArray[np.integer],
                 gpus_per_node: int, source_node: NDArray[np.integer] | int,
                 source_local: NDArray[np.integer] | int | None = None) -> dict[str, float]:
    """Per-token fan-out of a routing sample (the quantities of the §6.2 table).

    Parameters
    ----------
    experts : ndarray of int, shape (tokens, k)
        Expert ids per token.
    expert_rank : ndarray of int
        Expert id -> rank in the EP group, rank = node * gpus_per_node + local.
    gpus_per_node : int
        GPUs per node g.
    source_node : int or ndarray of int, shape (tokens,)
        Node of each token's source GPU.
    source_local : int or ndarray of int, shape (tokens,), optional
        Local index of each token's source GPU, which is also the local index of the
        forwarder on every node (DeepEP normal mode). If omitted, NVLink forwards are the
        expectation over a uniformly random source index: each hit GPU is the forwarder's
        own with probability 1/g, giving ``gpus_per_token * (g - 1) / g``.

    Returns
    -------
    dict of str to float
        ``nodes_per_token`` (distinct nodes hit), ``gpus_per_token`` (distinct GPUs),
        ``ib_copies_per_token`` (distinct nodes other than the source's: DeepEP's RDMA
        copies), ``nvlink_forwards_per_token`` (over the hit nodes, the GPUs hit other than
        the one with the forwarder's local index), each averaged over tokens.
    """
    ex = np.asarray(experts, dtype=np.int64)
    if ex.ndim != 2 or ex.shape[0] == 0:
        raise ValueError("experts must be a non-empty (tokens, k) array")
    g = gpus_per_node
    ranks = np.sort(np.asarray(expert_rank, dtype=np.int64)[ex], axis=1)
    nodes = ranks // g  # still sorted, since ranks are node-major
    new_gpu = np.ones(ranks.shape, dtype=bool)
    new_gpu[:, 1:] = ranks[:, 1:] != ranks[:, :-1]
    new_node = np.ones(nodes.shape, dtype=bool)
    new_node[:, 1:] = nodes[:, 1:] != nodes[:, :-1]
    src_node = np.broadcast_to(np.asarray(source_node, dtype=np.int64), (ex.shape[0],))
    own_node_hit = np.any(nodes == src_node[:, None], axis=1)
    n_nodes = new_node.sum(axis=1)
    n_gpus = new_gpu.sum(axis=1)
    if source_local is None:
        forwards = n_gpus.mean() * (g - 1) / g
    else:
        loc = np.broadcast_to(np.asarray(source_local, dtype=np.int64), (ex.shape[0],))
        forwards = (new_gpu & (ranks % g != loc[:, None])).sum(axis=1).mean()
    return {
        "nodes_per_token": float(n_nodes.mean()),
        "gpus_per_token": float(n_gpus.mean()),
        "ib_copies_per_token": float((n_nodes - own_node_hit).mean()),
        "nvlink_forwards_per_token": float(forwards),
    }
