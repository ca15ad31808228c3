"""Benchmarks of the flow-level network engine (:func:`mpft_sim.simulate` on a flow list).

Run from the repository root::

    .venv/bin/python bench/engine.py --list             # the cases
    .venv/bin/python bench/engine.py --case a2a128-ft2  # one case (repeat --case for more)
    .venv/bin/python bench/engine.py --all              # every case, each in a fresh process
    .venv/bin/python bench/engine.py --summary          # re-print tables from bench/out/
    .venv/bin/python bench/engine.py --case err256-random-exact --baseline ../old-checkout

Each case prints one markdown table row: case, topology, flows, tolerance, wall time of the
simulation call, peak RSS of the process, re-solves, makespan, target and pass/fail.
``--baseline DIR`` also runs each case on the code of another checkout (the engine before a
change: ``PYTHONPATH=DIR``, the same flows, the same entry point) in a subprocess right after,
and adds its wall time and the ratio to the row's notes.
``--all`` runs every case in its own subprocess (so peak RSS is per case), then prints the
tolerance-error table, fits the scaling slope and draws ``docs/benchmarks-scaling.png``.
Each case also writes its figures as JSON to ``bench/out/<case>.json``.

Flow sets are built by the functions below from seeded ``numpy.random.Generator`` s, so every
case is reproducible. The naive baseline (:func:`naive_replay`) is an independent event loop
that re-solves every active flow with the pure-numpy solver at every event.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import mpft_sim
from mpft_sim import build_fabric, load_topology
from mpft_sim.routing import Router
from mpft_sim.sharing import Incidence, max_min_rates_numpy
from mpft_sim.topology.fabric import Fabric
from mpft_sim.workload.flows import FlowList

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(os.environ.get("MPFT_BENCH_OUT", ROOT / "bench" / "out"))
PLOT = ROOT / "docs" / "benchmarks-scaling.png"
CODE = Path(mpft_sim.__file__).resolve().parent.parent  # the checkout mpft_sim is imported from
KiB = 2**10
MiB = 2**20
TOPOLOGIES = {"ft2": "topologies/ft2-2048.yaml", "mpft": "topologies/deepseek-v3-2048.yaml"}
SEED = 0  # flow generation and ECMP hashing
SAME_TIME = 1e-9  # the engine's batching quantum at tolerance 0 (fluid_network._SAME_TIME)


# -- flow sets -------------------------------------------------------------------------------

def _flow_list(src: np.ndarray, dst: np.ndarray, size: np.ndarray,
               start: np.ndarray) -> FlowList:
    return FlowList(src=src.astype(np.int64), dst=dst.astype(np.int64),
                    size_bytes=size.astype(np.float64), start_s=start.astype(np.float64),
                    tag=tuple("" for _ in range(len(src))))


def all_to_all(n_gpus: int, sizes: str = "equal", seed: int = SEED) -> FlowList:
    """Every ordered pair of the first ``n_gpus`` GPUs (src != dst), released together at 0.

    ``sizes``: ``"equal"`` (1 MiB each) or ``"random"`` (uniform 0.5-1.5 MiB, seeded).
    """
    src, dst = np.meshgrid(np.arange(n_gpus), np.arange(n_gpus), indexing="ij")
    pair = src != dst
    src, dst = src[pair], dst[pair]
    if sizes == "equal":
        size = np.full(len(src), float(MiB))
    elif sizes == "random":
        size = np.random.default_rng(seed).uniform(0.5 * MiB, 1.5 * MiB, len(src))
    else:
        raise ValueError(f"sizes must be 'equal' or 'random', got {sizes!r}")
    return _flow_list(src, dst, size, np.zeros(len(src)))


def moe_like(n_gpus: int = 256, n_flows: int = 2048, seed: int = SEED) -> FlowList:
    """MoE-like dispatch: random src != dst among the first ``n_gpus`` GPUs, sizes uniform in
    64 KiB-8 MiB, each flow released at one of 0, 50 us, 100 us (uniformly at random)."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n_gpus, n_flows)
    dst = (src + rng.integers(1, n_gpus, n_flows)) % n_gpus  # uniform over the other GPUs
    size = rng.uniform(64 * KiB, 8 * MiB, n_flows)
    start = rng.choice(np.array([0.0, 50e-6, 100e-6]), n_flows)
    return _flow_list(src, dst, size, start)


# -- the naive reference ---------------------------------------------------------------------

def naive_replay(fabric: Fabric, flows: FlowList, seed: int = SEED) -> dict[str, Any]:
    """Fluid max-min replay that re-solves ALL active flows at every event (pure numpy).

    Independent of :mod:`mpft_sim.network`: routes with :class:`mpft_sim.routing.Router`
    (flow ids in release order are the ECMP keys, as the engine uses them), then loops: solve
    :func:`~mpft_sim.sharing.max_min_rates_numpy` over every active flow, advance to the next
    completion or release, complete every flow whose remaining time is within ``SAME_TIME``
    of its elapsed time (the engine's rule at tolerance 0). Returns the end times (in the
    order of ``flows``) and the number of events.
    """
    order = np.argsort(flows.start_s, kind="stable")
    src, dst = flows.src[order], flows.dst[order]
    size, release = flows.size_bytes[order], flows.start_s[order]
    n = len(src)
    routes = Router(fabric, seed=seed).route(src, dst, np.arange(n))
    e_flow, e_link, e_frac = routes.incidence()
    cap = fabric.capacity_Bps
    rem = size.copy()
    served = np.full(n, np.nan)
    has_link = np.bincount(e_flow, minlength=n) > 0
    idle = ~has_link | (size <= 0)
    served[idle] = release[idle]
    done = idle.copy()
    now, events = 0.0, 0
    next_release = np.unique(release)
    while not done.all():
        active = ~done & (release <= now)
        upcoming = next_release[next_release > now]
        t_release = float(upcoming[0]) if upcoming.size else np.inf
        ids = np.flatnonzero(active)
        if ids.size == 0:
            now = t_release
            continue
        position = np.full(n, -1)
        position[ids] = np.arange(ids.size)
        keep = active[e_flow]
        rate = max_min_rates_numpy(
            Incidence(e_link[keep], position[e_flow[keep]], e_frac[keep], fabric.n_links,
                      ids.size), cap)
        events += 1
        with np.errstate(divide="ignore"):
            fin = np.where(rate > 0, now + rem[ids] / rate, np.inf)
        t_next = min(float(fin.min()), t_release)
        rem[ids] = np.maximum(rem[ids] - rate * (t_next - now), 0.0)
        now = t_next
        finished = fin - now <= SAME_TIME * np.maximum(fin - release[ids], 0.0)
        served[ids[finished]] = now
        done[ids[finished]] = True
    end = np.empty(n)
    end[order] = served + routes.latency_s
    return {"end_s": end, "events": events}


# -- cases -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One benchmark: a flow set on a topology at a tolerance, with optional targets."""

    name: str
    group: str  # "target", "error", "scaling", "scaling-random", "naive"
    topology: str  # key of TOPOLOGIES
    make: Callable[[], FlowList]
    tolerance: float
    about: str
    wall_target_s: float | None = None
    rss_target_mb: float | None = None
    reference: str | None = None  # error cases: the exact case to compare with


def _cases() -> list[Case]:
    cases = [
        Case("a2a128-ft2", "target", "ft2", lambda: all_to_all(128), 0.0,
             "128-GPU all-to-all, 1 MiB per pair, single-plane FT2", wall_target_s=10),
        Case("a2a128-mpft", "target", "mpft", lambda: all_to_all(128), 0.0,
             "128-GPU all-to-all, 1 MiB per pair, 8-plane MPFT", wall_target_s=10),
        Case("moe256-mpft", "target", "mpft", moe_like, 0.0,
             "MoE-like: 2,048 random flows (64 KiB-8 MiB) among 256 GPUs, 3 releases, MPFT",
             wall_target_s=2),
        Case("moe256-ft2", "target", "ft2", moe_like, 0.0,
             "MoE-like: 2,048 random flows (64 KiB-8 MiB) among 256 GPUs, 3 releases, FT2",
             wall_target_s=2),
        Case("a2a1024-tol", "target", "mpft", lambda: all_to_all(1024), 1e-3,
             "1,024-GPU all-to-all, 1 MiB per pair, every pair concurrent, MPFT",
             wall_target_s=300, rss_target_mb=4096),
        Case("err256-random-exact-target", "target", "mpft",
             lambda: all_to_all(256, "random"), 0.0,
             "256-GPU all-to-all, uniform 0.5-1.5 MiB, MPFT, exact: every flow ends at its "
             "own time", wall_target_s=15),
        Case("rand1024-exact", "target", "mpft", lambda: all_to_all(1024, "random"), 0.0,
             "1,024-GPU all-to-all, uniform 0.5-1.5 MiB, MPFT, exact", wall_target_s=300),
        Case("rand1024-tol", "target", "mpft", lambda: all_to_all(1024, "random"), 1e-3,
             "1,024-GPU all-to-all, uniform 0.5-1.5 MiB, MPFT, tolerance 1e-3",
             wall_target_s=30),
    ]
    for sizes in ("equal", "random"):
        ref = f"err256-{sizes}-exact"
        what = "1 MiB" if sizes == "equal" else "uniform 0.5-1.5 MiB"
        cases.append(Case(ref, "error", "mpft", lambda s=sizes: all_to_all(256, s), 0.0,
                          f"256-GPU all-to-all, {what}, MPFT: exact reference"))
        for tol in (1e-4, 1e-3, 1e-2):
            cases.append(Case(f"err256-{sizes}-{tol:.0e}", "error", "mpft",
                              lambda s=sizes: all_to_all(256, s), tol,
                              f"256-GPU all-to-all, {what}, MPFT, vs exact", reference=ref))
    for n in (32, 64, 128, 256, 512, 1024):
        tol = 0.0 if n <= 256 else 1e-3
        cases.append(Case(f"scale-{n}", "scaling", "mpft", lambda n=n: all_to_all(n), tol,
                          f"{n}-GPU all-to-all, 1 MiB per pair, MPFT"))
    for n in (32, 64, 128, 256, 512, 1024):
        cases.append(Case(f"scale-rand-{n}", "scaling-random", "mpft",
                          lambda n=n: all_to_all(n, "random"), 1e-3,
                          f"{n}-GPU all-to-all, uniform 0.5-1.5 MiB, MPFT"))
    cases.append(Case("naive64", "naive", "mpft", lambda: all_to_all(64, "random"), 0.0,
                      "64-GPU all-to-all, uniform 0.5-1.5 MiB, MPFT: engine vs naive "
                      "re-solve-everything loop"))
    return cases


CASES = {c.name: c for c in _cases()}


# -- running ---------------------------------------------------------------------------------

def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _fingerprint(flows: FlowList) -> list[float]:
    return [float(len(flows)), float(flows.size_bytes.sum()), float(flows.src @ flows.dst)]


def _ensure_reference(name: str) -> Path:
    path = OUT / f"{name}.npz"
    if not path.exists():
        print(f"(running the reference case {name} first)", file=sys.stderr)
        subprocess.run([sys.executable, __file__, "--case", name, "--no-header"], check=True,
                       stdout=subprocess.DEVNULL)
    return path


@dataclass
class Replayed:
    """What one simulation of a flow list gave: its per-flow table (``end_s``,
    ``release_s``, ``size_bytes``...), re-solves, flows re-solved, makespan."""

    table: Any
    solves: int
    flows_resolved: int
    makespan_s: float


def replay(fabric: Fabric, flows: FlowList, tolerance: float = 0.0, **kw: Any) -> Replayed:
    """Simulate a flow list on the code this process imported: :func:`mpft_sim.simulate`, or
    ``replay_flows`` on an older checkout (``--baseline``) that has it."""
    try:
        from mpft_sim.engine import replay_flows  # type: ignore[attr-defined]
    except ImportError:
        result = mpft_sim.simulate(fabric, flows, seed=SEED, tolerance=tolerance, **kw)
        s = result.summary
        return Replayed(result.flow_table, s.engine.solves, s.engine.flows_resolved,
                        s.makespan_s)
    old = replay_flows(fabric, flows, seed=SEED, tolerance=tolerance, **kw)
    table = getattr(old, "flow_table", None)
    return Replayed(old.flows if table is None else table, int(old.stats["solves"]),
                    int(old.stats["flows_resolved"]), old.makespan_s)


def _baseline(name: str, checkout: Path) -> dict[str, Any]:
    """Run case ``name`` on another checkout's code, in a subprocess; its figures."""
    out = OUT / "baseline"
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve()), "MPFT_BENCH_OUT": str(out)}
    subprocess.run([sys.executable, __file__, "--case", name, "--no-header"], check=True,
                   env=env, stdout=subprocess.DEVNULL)
    return dict(json.loads((out / f"{name}.json").read_text()))


def run_case(case: Case) -> dict[str, Any]:
    """Run one case in this process and return its figures."""
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    fabric = build_fabric(load_topology(ROOT / TOPOLOGIES[case.topology]))
    flows = case.make()
    setup_s = time.perf_counter() - t
    # load the compiled solver (numba cache) outside the timed call
    t = time.perf_counter()
    replay(fabric, all_to_all(16))
    warmup_s = time.perf_counter() - t
    t = time.perf_counter()
    result = replay(fabric, flows, case.tolerance)
    wall = time.perf_counter() - t
    rec: dict[str, Any] = {
        "case": case.name, "group": case.group, "about": case.about,
        "topology": fabric.name, "flows": len(flows), "tolerance": case.tolerance,
        "wall_s": wall, "setup_s": setup_s, "warmup_s": warmup_s,
        "solves": result.solves, "flows_resolved": result.flows_resolved,
        "makespan_s": result.makespan_s, "wall_target_s": case.wall_target_s,
        "rss_target_mb": case.rss_target_mb, "notes": "", "code": code_revision(),
    }
    table = result.table
    fct = table.end_s - table.release_s
    if case.group == "error" and case.reference is None:
        OUT.mkdir(parents=True, exist_ok=True)
        np.savez(OUT / f"{case.name}.npz", fct=fct, makespan=result.makespan_s,
                 fingerprint=_fingerprint(flows), wall_s=wall)
    if case.reference is not None:
        ref = np.load(_ensure_reference(case.reference))
        if list(ref["fingerprint"]) != _fingerprint(flows):
            raise RuntimeError(f"{case.reference}.npz is for other flows: re-run it")
        rel = np.abs(fct - ref["fct"]) / ref["fct"]
        rec.update(makespan_err=abs(result.makespan_s - float(ref["makespan"]))
                   / float(ref["makespan"]), fct_err_max=float(rel.max()),
                   fct_err_p99=float(np.percentile(rel, 99)), exact_wall_s=float(ref["wall_s"]))
        rec["notes"] = (f"makespan err {rec['makespan_err']:.2e}; FCT err max "
                        f"{rec['fct_err_max']:.2e}, p99 {rec['fct_err_p99']:.2e}")
    if case.group == "naive":
        t = time.perf_counter()
        naive = naive_replay(fabric, flows, seed=SEED)
        naive_s = time.perf_counter() - t
        t = time.perf_counter()
        replay(fabric, flows, case.tolerance, solver=max_min_rates_numpy)
        engine_numpy_s = time.perf_counter() - t
        naive_end = naive["end_s"]
        if not np.array_equal(table.size_bytes, flows.size_bytes):
            # an engine that keeps its flow table in release order
            naive_end = naive_end[np.argsort(flows.start_s, kind="stable")]
        diff = np.abs(naive_end - table.end_s) / table.end_s
        rec.update(naive_s=naive_s, naive_events=naive["events"], engine_numpy_s=engine_numpy_s,
                   ratio=naive_s / wall, ratio_numpy=naive_s / engine_numpy_s,
                   end_rel_diff_max=float(diff.max()))
        rec["notes"] = (f"naive {naive_s:.1f} s / {naive['events']} events: {rec['ratio']:.0f}x "
                        f"slower (engine with numpy solver {engine_numpy_s:.2f} s: "
                        f"{rec['ratio_numpy']:.0f}x); end times max rel diff "
                        f"{rec['end_rel_diff_max']:.1e}")
    rec["peak_rss_mb"] = _rss_mb()
    # 1-minute load average before and after: > 1 means something else shared the 2 cores
    rec["load_before"], rec["load_after"] = load_before, os.getloadavg()[0]
    rec["pass"] = _verdict(rec)
    return rec


def _verdict(rec: dict[str, Any]) -> bool | None:
    checks = []
    if rec["wall_target_s"] is not None:
        checks.append(rec["wall_s"] < rec["wall_target_s"])
    if rec["rss_target_mb"] is not None:
        checks.append(rec["peak_rss_mb"] < rec["rss_target_mb"])
    if rec["group"] == "naive":
        checks.append(rec["end_rel_diff_max"] <= 1e-9)
    return all(checks) if checks else None


# -- output ----------------------------------------------------------------------------------

HEADER = ("| case | topology | flows | tolerance | wall s | peak RSS MB | solves | makespan ms "
          "| target | pass | notes |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|")


def _target_text(rec: dict[str, Any]) -> str:
    parts = []
    if rec["wall_target_s"] is not None:
        parts.append(f"< {rec['wall_target_s']:g} s")
    if rec["rss_target_mb"] is not None:
        parts.append(f"< {rec['rss_target_mb'] / 1024:g} GB")
    if rec["group"] == "naive":
        parts.append("same end times (1e-9)")
    return ", ".join(parts) or "-"


def row(rec: dict[str, Any]) -> str:
    """One markdown table row."""
    verdict = {True: "PASS", False: "FAIL", None: "-"}[rec["pass"]]
    tol = "exact" if rec["tolerance"] == 0 else f"{rec['tolerance']:.0e}"
    return (f"| {rec['case']} | {rec['topology']} | {rec['flows']:,} | {tol} | "
            f"{rec['wall_s']:.3f} | {rec['peak_rss_mb']:.0f} | {rec['solves']:,} | "
            f"{rec['makespan_s'] * 1e3:.6f} | {_target_text(rec)} | {verdict} | "
            f"{rec['notes']} |")


def error_table(recs: dict[str, dict[str, Any]]) -> str:
    """Tolerance vs exact on the 256-GPU all-to-all."""
    lines = ["| sizes | tolerance | wall s | exact wall s | speed-up | solves | makespan rel err "
             "| FCT rel err max | FCT rel err p99 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for sizes in ("equal", "random"):
        exact = recs.get(f"err256-{sizes}-exact")
        for tol in (1e-4, 1e-3, 1e-2):
            r = recs.get(f"err256-{sizes}-{tol:.0e}")
            if r is None:
                continue
            ex_wall = exact["wall_s"] if exact else r["exact_wall_s"]
            lines.append(f"| {sizes} | {tol:.0e} | {r['wall_s']:.3f} | {ex_wall:.3f} | "
                         f"{ex_wall / r['wall_s']:.1f}x | {r['solves']:,} | "
                         f"{r['makespan_err']:.2e} | {r['fct_err_max']:.2e} | "
                         f"{r['fct_err_p99']:.2e} |")
    return "\n".join(lines)


def scaling(recs: dict[str, dict[str, Any]], plot: Path | None) -> str:
    """Fitted log-log slopes of wall time vs flows, and the plot."""
    lines = []
    series = {}
    for group, label in (("scaling", "1 MiB per pair (exact up to 256 GPUs, 1e-3 above)"),
                         ("scaling-random", "uniform 0.5-1.5 MiB, tolerance 1e-3")):
        pts = sorted((r["flows"], r["wall_s"]) for r in recs.values() if r["group"] == group)
        if len(pts) < 2:
            continue
        x, y = np.log10(np.array(pts, dtype=float)).T
        slope = float(np.polyfit(x, y, 1)[0])
        top = float(np.polyfit(x[-3:], y[-3:], 1)[0]) if len(pts) >= 3 else slope
        series[label] = (np.array(pts, dtype=float), slope)
        lines.append(f"- {label}: fitted slope {slope:.2f} over {len(pts)} points "
                     f"({pts[0][0]:,}-{pts[-1][0]:,} flows); {top:.2f} over the largest 3")
    if plot is not None and series:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for (label, (pts, slope)), marker in zip(series.items(), "os", strict=False):
            ax.loglog(pts[:, 0], pts[:, 1], marker=marker, label=f"{label}: slope {slope:.2f}")
        first = next(iter(series.values()))[0]
        xs = np.array([first[0, 0], first[-1, 0]])
        ax.loglog(xs, first[-1, 1] * xs / xs[-1], "k--", lw=1, label="slope 1 (reference)")
        ax.set_xlabel("flows (all-to-all of 32 ... 1,024 GPUs, deepseek-v3-2048)")
        ax.set_ylabel("simulation wall time [s]")
        ax.set_title("mpft-sim fluid engine: wall time vs flows")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=120)
        shown = plot.resolve()
        lines.append(f"- plot: {shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown}")
    return "\n".join(lines)


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=CODE, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def code_revision() -> str:
    """HEAD of the checkout mpft_sim is imported from, ``+dirty`` if its mpft_sim/ has
    uncommitted changes."""
    dirty = _git("status", "--porcelain", "mpft_sim")
    return _git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")


def environment() -> dict[str, str]:
    """What ran: versions, machine, code revision."""
    import numba
    import scipy
    import simpy

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "scipy": scipy.__version__, "simpy": simpy.__version__,
            "cpu": cpu, "cores": str(os.cpu_count()), "code": code_revision(),
            "code_path": str(CODE)}


def summary(names: list[str], plot: Path | None) -> None:
    """Print the tables from bench/out/*.json."""
    recs = {}
    for name in names:
        path = OUT / f"{name}.json"
        if path.exists():
            recs[name] = json.loads(path.read_text())
    print(HEADER)
    for rec in recs.values():
        print(row(rec))
    print("\nTolerance vs exact (256-GPU all-to-all, deepseek-v3-2048):\n")
    print(error_table(recs))
    print("\nScaling:\n")
    print(scaling(recs, plot))
    codes = sorted({r.get("code", "?") for r in recs.values()})
    if len(codes) > 1:
        print(f"\nWARNING: the cases ran on different code revisions: {codes}")
    env = OUT / "environment.json"
    if env.exists():
        print("\nEnvironment:", json.loads(env.read_text()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", default=[], choices=sorted(CASES),
                        metavar="NAME", help="run this case (repeatable); see --list")
    parser.add_argument("--all", action="store_true",
                        help="run every case, each in a fresh subprocess, then the summary")
    parser.add_argument("--group", help="with --all: only the cases of this group")
    parser.add_argument("--summary", action="store_true",
                        help="print the tables and draw the plot from bench/out/")
    parser.add_argument("--list", action="store_true", help="list the cases")
    parser.add_argument("--no-header", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="with --case: also run each case on the checkout in DIR (the "
                             "engine before a change) and print the ratio")
    parser.add_argument("--plot", type=Path, default=PLOT, help="scaling plot path")
    args = parser.parse_args()

    if args.list:
        for c in CASES.values():
            print(f"{c.name:20s} {c.group:15s} {c.about}")
        return 0
    if args.all:
        names = [n for n, c in CASES.items() if args.group in (None, c.group)]
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "environment.json").write_text(json.dumps(environment(), indent=1))
        print(HEADER, flush=True)
        failed = []
        for name in names:
            proc = subprocess.run([sys.executable, __file__, "--case", name, "--no-header"],
                                  check=False)
            if proc.returncode != 0:
                failed.append(name)
                print(f"| {name} | crashed (exit {proc.returncode}) |", flush=True)
        print()
        summary(names, args.plot)
        return 1 if failed else 0
    if args.summary:
        summary(list(CASES), args.plot)
        return 0
    if not args.case:
        parser.error("give --case NAME, --all, --summary or --list")
    if not args.no_header:
        print(HEADER, flush=True)
    for name in args.case:
        rec = run_case(CASES[name])
        if args.baseline is not None:
            base = _baseline(name, args.baseline)
            rec.update(baseline_wall_s=base["wall_s"], baseline_code=base["code"],
                       baseline_peak_rss_mb=base["peak_rss_mb"],
                       speedup=base["wall_s"] / rec["wall_s"])
            rec["notes"] = (f"{rec['notes']}; " if rec["notes"] else "") + (
                f"baseline {base['code']}: {base['wall_s']:.3f} s, {base['peak_rss_mb']:.0f} MB "
                f"-> {rec['speedup']:.1f}x faster")
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"{name}.json").write_text(json.dumps(rec, indent=1))
        print(row(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
