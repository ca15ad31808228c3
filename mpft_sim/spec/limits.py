"""Ceilings on the numbers an input may hold, each with the reason it is where it is.

A ceiling sits where a larger value is meaningless for a cluster simulator (well beyond any
machine built or announced), so that an absurd input is refused when it loads instead of
overflowing, exhausting memory or running for ever later. Every shipped design and workload,
and a 16,384-GPU training step, sit far below them. ``docs/topology.md``, ``docs/workload.md``
and ``docs/sweep.md`` list them under "Limits".
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MAX_ALIAS_VALUES",
    "MAX_BANDWIDTH",
    "MAX_CSV_BYTES",
    "MAX_DURATION",
    "MAX_ELEMENT_BYTES",
    "MAX_EXPERTS",
    "MAX_FLOPS",
    "MAX_FLOW_ROWS",
    "MAX_GPUS",
    "MAX_GPUS_PER_NODE",
    "MAX_LATENCY",
    "MAX_LAYERS",
    "MAX_MICRO_BATCHES",
    "MAX_MODEL_WIDTH",
    "MAX_MTP",
    "MAX_MTU",
    "MAX_NAME",
    "MAX_NESTING",
    "MAX_NODES",
    "MAX_PLANES",
    "MAX_POINTS",
    "MAX_PRICE",
    "MAX_RADIX",
    "MAX_REPEAT",
    "MAX_SAMPLES",
    "MAX_SEED",
    "MAX_SEQUENCE",
    "MAX_SIZE",
    "MAX_STEPS",
    "MAX_TOKENS",
    "MAX_TOLERANCE",
    "MAX_VOCAB",
    "MAX_YAML_BYTES",
    "MAX_ZIPF",
    "Limit",
]


@dataclass(frozen=True)
class Limit:
    """A ceiling and a few words saying why it is there (shown in the error message)."""

    value: float
    why: str


# --- hardware -------------------------------------------------------------------------------
# Broadcom Tomahawk 6 (102.4 Tb/s) splits into 1,024 x 100G ports, the highest radix sold;
# InfiniBand Quantum-X800 has 144 ports, the shipped designs 64.
MAX_RADIX = Limit(1024, "the highest switch radix sold")
# NVL576 puts 576 GPUs in one NVLink domain; a "node" of more than 1,024 GPUs is no server.
MAX_GPUS_PER_NODE = Limit(1024, "more than any NVLink domain")
# The largest clusters built hold ~200k GPUs; 2**24 (16.7M) is 80 times that, and keeps every
# node index of a built fabric well inside the int32 link arrays.
MAX_GPUS = Limit(2**24, "80 times the largest cluster built")
MAX_NODES = Limit(2**21, "two million servers")  # 2**24 GPUs of 8-GPU servers
# An MPFT has a plane per NIC (or per port of a multi-plane NIC): no server has more than this.
MAX_PLANES = Limit(1024, "a plane per NIC port")
# NVLink 5 moves 1.8 TB/s per GPU, a 1.6T port 200 GB/s: 1 PB/s is 500 times the fastest link.
MAX_BANDWIDTH = Limit(1e15, "500 times the fastest link")
# B200 reaches ~9 PFLOP/s dense at FP4; 1 EFLOP/s per GPU is a hundred times that.
MAX_FLOPS = Limit(1e18, "a hundred times the fastest GPU")
# InfiniBand MTUs go up to 4,096 bytes, Ethernet jumbo frames to ~9,000: 64 KiB of payload in
# one packet is more than any link layer carries (and a header that large is a typo).
MAX_MTU = Limit(65_536, "64 KiB, more than any link layer's packet")
# Switch, cable and endpoint latencies are nanoseconds to microseconds; a second is 10**5 times
# the slowest measured.
MAX_LATENCY = Limit(1.0, "10**5 times any measured latency")

# A switch lists at ~$20k-$100k; a billion dollars for one part is a typo, and keeps the cost of
# a million-part bill of materials far from overflowing.
MAX_PRICE = Limit(1e9, "a billion dollars per part")

# --- time and size ---------------------------------------------------------------------------
# Simulated time is float64 seconds: up to a day its resolution stays below 20 ps, and a day is
# 10**4 times a training step.
MAX_DURATION = Limit(86_400.0, "a day")
# A message, flow or cache larger than a GPU's memory (288 GB on B300) cannot be sent at once.
MAX_SIZE = Limit(2.0**40, "1 TiB, more than any GPU's memory")
MAX_ELEMENT_BYTES = Limit(8, "fp64")

# --- models and jobs -------------------------------------------------------------------------
MAX_LAYERS = Limit(1024, "8 times the deepest published model")  # Llama 3.1 405B: 126
MAX_MODEL_WIDTH = Limit(2**20, "64 times the widest published model")  # hidden 16,384
MAX_VOCAB = Limit(2**24, "64 times the largest vocabulary")  # ~256k
MAX_EXPERTS = Limit(2**16, "170 times the most experts published")  # Kimi K2: 384
MAX_TOKENS = Limit(2**20, "256 times DeepSeek-V3's 4,096")  # tokens per micro-batch per GPU
MAX_SEQUENCE = Limit(2**24, "longer than any context window")  # the longest published: 10M
MAX_MICRO_BATCHES = Limit(4096, "34 times DeepSeek-V3's 120")
MAX_STEPS = Limit(1024, "consecutive steps simulated")
MAX_REPEAT = Limit(1024, "back-to-back repetitions")
MAX_SAMPLES = Limit(1024, "8 give steady statistics")
MAX_MTP = Limit(16, "DeepSeek-V3 drafts one token")
MAX_ZIPF = Limit(100, "beyond it one expert takes every token")
MAX_SEED = Limit(2**64 - 1, "seeds are 64-bit")
MAX_NAME = 100  # characters of a name used in file names

# --- files -----------------------------------------------------------------------------------
MAX_YAML_BYTES = 16 * 2**20  # a spec file is a few kilobytes; 16 MiB holds any inline list
MAX_CSV_BYTES = 2**30  # a flow list of ten million rows takes ~400 MB
MAX_FLOW_ROWS = 10_000_000
MAX_NESTING = 64  # the shipped files nest 4 levels deep
MAX_ALIAS_VALUES = 100_000  # values YAML aliases may expand to, all together ("billion laughs")

# --- sweeps ----------------------------------------------------------------------------------
# A point takes a second or more (an analytic one) to minutes (a fluid one): 100,000 points are
# days of work, and a list of them stays under ~100 MB.
MAX_POINTS = 100_000

# The fluid model's time quantum is relative to the current time: 1 or more would merge every
# event into one instant (and NaN re-armed the network at the same instant for ever).
MAX_TOLERANCE = Limit(1, "a relative time quantum")
