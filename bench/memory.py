"""Measure the memory ``mpft-sim simulate`` needs, and fit the estimate's memory model.

Run from the repository root::

    .venv/bin/python bench/memory.py --list
    .venv/bin/python bench/memory.py --case flows-1m-fluid   # one case (repeat --case)
    .venv/bin/python bench/memory.py --all                   # every case, then the fit
    .venv/bin/python bench/memory.py --fit                   # refit from bench/out/memory/

Each case runs the whole command line (``mpft_sim.cli.main``: load, build, plan, simulate,
write the run directory) in a fresh subprocess and records its peak resident memory
(``ru_maxrss``) beside what :func:`mpft_sim.estimate.estimate` counts for it (links, tasks,
flows, kept paths, routing entries) and the fluid model's timeline rows as the run logged
them. The fit is a non-negative least-squares fit of peak memory on those counts:
``docs/limits.md`` holds the latest table and constants, which ``mpft_sim/estimate.py``'s
``MEMORY_MODEL`` uses.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "memory"
TOPOLOGIES = ROOT / "topologies"


@dataclass(frozen=True)
class Case:
    """One measured run: a topology and a workload (files or mappings) and CLI options."""

    name: str
    what: str
    topology: str | dict[str, Any]
    workload: str | dict[str, Any]
    options: tuple[str, ...] = ()
    flow_rows: int = 0
    """For a flow list: rows of a generated CSV (random pairs among 256 GPUs)."""
    extra: dict[str, Any] = field(default_factory=dict)


def _fat_tree(name: str, nodes: int, radix: int, tiers: int = 2) -> dict[str, Any]:
    return {"name": name, "fabric": {"kind": "fat-tree", "nodes": nodes, "tiers": tiers,
                                      "switch": {"radix": radix, "port_bandwidth": "400Gb/s"}}}


def _nccl(gpus: int, repeat: int) -> dict[str, Any]:
    return {"name": f"a2a{gpus}x{repeat}", "kind": "nccl-alltoall", "gpus": gpus,
            "message": "64KiB", "repeat": repeat}


def _tasks(layers: int, micro_batches: int) -> dict[str, Any]:
    """A training step without expert parallelism: many tasks, few flows."""
    return {"name": f"tasks-{layers}x{micro_batches}", "kind": "training",
            "model": {"layers": layers, "dense_layers": 0},
            "layout": {"pp": 2, "dp": 1, "ep": 1}, "schedule": "1f1b",
            "batch": {"tokens": 512, "micro_batches": micro_batches, "sequence": 512},
            "optimizer": {"zero1": False}}


def _v3_step(layers: int, micro_batches: int) -> dict[str, Any]:
    """A DeepSeek-V3-shaped step, cut down (PP2, EP64)."""
    return {"name": f"v3-{layers}x{micro_batches}", "kind": "training",
            "model": {"layers": layers, "dense_layers": 1},
            "layout": {"pp": 2, "dp": 64, "ep": 64}, "schedule": "dualpipe",
            "batch": {"tokens": 4096, "micro_batches": micro_batches, "sequence": 4096},
            "expert_load": {"samples": 2}}


def _routing(tokens: int, samples: int) -> dict[str, Any]:
    """One MoE layer's dispatch and combine at EP64: a large routing pool, few flows."""
    return {"name": f"routing-{tokens}x{samples}", "kind": "inference", "phase": "prefill",
            "model": {"layers": 1, "dense_layers": 0},
            "layout": {"pp": 1, "dp": 64, "ep": 64}, "tokens_per_gpu": tokens,
            "micro_batches": 1, "expert_load": {"samples": samples},
            "compute": {"durations": {"attention_forward": "0s", "mlp_forward": "0s",
                                      "shared_forward": "0s"}}}


V3 = "deepseek-v3-2048.yaml"
TINY = "tiny-mpft.yaml"

CASES = [
    Case("base", "the smallest run: 2 GPUs, one flow each way", TINY, _nccl(2, 1)),
    Case("base-analytic", "the same, analytic", TINY, _nccl(2, 1), ("--model", "analytic")),
    Case("links-ft3-64k", "655,360 links, 2 flows", "ft3-64k.yaml", _nccl(2, 1)),
    Case("links-ft3-r96", "3-tier radix-96 tree: 2.2M links, 2 flows",
         _fat_tree("ft3-r96", 27648, 96, 3), _nccl(2, 1)),
    Case("tasks-256x128", "ep=1 1F1B step: 197k tasks, few flows", TINY, _tasks(256, 128),
         ("--model", "analytic")),
    Case("tasks-256x512", "ep=1 1F1B step: 788k tasks, few flows", TINY, _tasks(256, 512),
         ("--model", "analytic")),
    Case("tasks-512x512", "ep=1 1F1B step: 1.6M tasks, few flows", TINY, _tasks(512, 512),
         ("--model", "analytic")),
    Case("flows-261k-analytic", "NCCL all-to-all, 256 GPUs x 4", V3, _nccl(256, 4),
         ("--model", "analytic")),
    Case("flows-1m-analytic", "NCCL all-to-all, 256 GPUs x 16", V3, _nccl(256, 16),
         ("--model", "analytic")),
    Case("flows-2m-analytic", "NCCL all-to-all, 512 GPUs x 8", V3, _nccl(512, 8),
         ("--model", "analytic")),
    Case("flows-4m-analytic", "NCCL all-to-all, 512 GPUs x 16", V3, _nccl(512, 16),
         ("--model", "analytic")),
    Case("flows-261k-fluid", "NCCL all-to-all, 256 GPUs x 4, fluid, exact", V3, _nccl(256, 4)),
    Case("flows-1m-fluid", "NCCL all-to-all, 256 GPUs x 16, fluid, exact", V3,
         _nccl(256, 16)),
    Case("flows-4m-fluid", "NCCL all-to-all, 512 GPUs x 16, fluid, exact", V3,
         _nccl(512, 16)),
    Case("flows-1m-paths", "256 GPUs x 16, fluid, with --flow-paths", V3, _nccl(256, 16),
         ("--flow-paths",)),
    Case("flows-1m-ft2", "256 GPUs x 16, fluid, on ft2-2048 (3 link groups, not 17)",
         "ft2-2048.yaml", _nccl(256, 16)),
    Case("flowlist-500k", "a flow list of 500,000 random flows (paths kept), analytic", V3,
         {"name": "list500k", "kind": "flows", "flows": "list500k.csv"},
         ("--model", "analytic"), flow_rows=500_000),
    Case("v3-4x4-exact", "V3-shaped step, PP2 EP64, 4 layers, 4 micro-batches, exact", V3,
         _v3_step(4, 4)),
    Case("v3-4x4-1e-3", "the same at tolerance 1e-3", V3, _v3_step(4, 4),
         ("--tolerance", "1e-3")),
    Case("v3-8x8-1e-3", "V3-shaped, 8 layers, 8 micro-batches, tolerance 1e-3", V3,
         _v3_step(8, 8),
         ("--tolerance", "1e-3")),
    Case("v3-8x8-exact", "the same, exact", V3, _v3_step(8, 8)),
    Case("v3-8x8-1e-4", "the same at tolerance 1e-4", V3, _v3_step(8, 8),
         ("--tolerance", "1e-4")),
    Case("v3-8x8-1e-2", "the same at tolerance 1e-2", V3, _v3_step(8, 8),
         ("--tolerance", "1e-2")),
    Case("v3-8x8-analytic", "the same, analytic", V3, _v3_step(8, 8), ("--model", "analytic")),
    Case("v3-step-analytic", "workloads/deepseek-v3-train.yaml, analytic (50.4M flows)", V3,
         "deepseek-v3-train.yaml", ("--model", "analytic")),
    Case("routing-16k", "EP64, 16,384 tokens per GPU, 8 routing samples", V3,
         _routing(16384, 8), ("--model", "analytic")),
    Case("routing-16k-1", "the same with 1 sample", V3, _routing(16384, 1),
         ("--model", "analytic")),
]

_CHILD = r"""
import json, resource, sys
from mpft_sim import network
rows = []
timeline = network.FluidNetwork.timeline
def counted(self):
    rows.append(len(self._times))
    return timeline(self)
network.FluidNetwork.timeline = counted
from mpft_sim.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                  * 1024, "timeline_rows": rows[0] if rows else 0}))
"""


def _file(value: str | dict[str, Any], where: Path, name: str) -> Path:
    if isinstance(value, str):
        return TOPOLOGIES / value if name == "topology" else ROOT / "workloads" / value
    path = where / f"{name}.yaml"
    path.write_text(yaml.safe_dump(value), encoding="utf-8")
    return path


def _flow_list(path: Path, rows: int) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, rows)
    dst = (src + rng.integers(1, 256, rows)) % 256
    size = rng.integers(1 << 16, 1 << 20, rows)
    start = rng.integers(0, 100, rows) * 1e-5
    with path.open("w", encoding="utf-8") as out:
        out.write("src,dst,size,start\n")
        out.writelines(f"{s},{d},{z},{t:.5f}\n" for s, d, z, t in zip(
            src.tolist(), dst.tolist(), size.tolist(), start.tolist(), strict=True))


def _inputs(case: Case, where: Path) -> tuple[Path, Path]:
    """Write a case's topology, workload (and flow list) into ``where``; their paths."""
    topology = _file(case.topology, where, "topology")
    workload = _file(case.workload, where, "workload")
    if case.flow_rows:
        _flow_list(where / "list500k.csv", case.flow_rows)
    return topology, workload


def run_case(case: Case) -> dict[str, Any]:
    """Run one case in a fresh subprocess: its peak memory and timeline rows."""
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        topology, workload = _inputs(case, where)
        argv = ["simulate", str(topology), str(workload), "-o", str(where / "run"), "-q",
                *case.options]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", _CHILD, *argv], capture_output=True,
                              text=True, env=env, check=False)
        lines = done.stdout.strip().splitlines()
        measured = json.loads(lines[-1]) if lines else {"code": done.returncode}
        if done.returncode or measured["code"]:
            raise RuntimeError(f"{case.name} failed:\n{done.stderr}")
    row = {"case": case.name, "what": case.what, "rss_bytes": measured["rss_bytes"],
           "timeline_rows": measured["timeline_rows"]}
    (OUT / f"{case.name}.json").write_text(json.dumps(row, indent=1), encoding="utf-8")
    return row


def counts(case: Case) -> dict[str, Any]:
    """What the estimate counts for a case, with the estimate's own memory figure."""
    from mpft_sim.estimate import estimate
    from mpft_sim.spec import load_topology
    from mpft_sim.spec.run import RunOptions
    from mpft_sim.spec.workload import load_workload
    from mpft_sim.workload.counts import count_workload

    with tempfile.TemporaryDirectory() as tmp:
        topology, workload = _inputs(case, Path(tmp))
        options = case.options
        model = "analytic" if "analytic" in options else "fluid"
        tolerance = float(options[options.index("--tolerance") + 1]) \
            if "--tolerance" in options else 0.0
        spec, work = load_topology(topology), load_workload(workload)
        est = estimate(spec, work, RunOptions(model=model, tolerance=tolerance),  # type: ignore[arg-type]
                       keep_paths=True if "--flow-paths" in options else None)
        flow_rows = count_workload(work, spec.node.gpus).flow_rows
        tasks = est.tasks
        if flow_rows:  # the fit needs the real tasks: a wait and a release per start time
            starts = {line.rsplit(",", 1)[1] for line in
                      (Path(tmp) / "list500k.csv").read_text().splitlines()[1:]}
            tasks = 2 * len(starts)
    fluid = model == "fluid"
    return {"fluid": float(fluid), "links": est.links, "tasks": tasks, "flows": est.flows,
            "in_flight": est.in_flight if fluid else 0,
            "paths": est.flows if est.paths_kept else 0, "flow_rows": flow_rows,
            "routing_entries": est.routing_entries, "link_groups": est.link_groups,
            "estimate_bytes": est.memory_bytes}


# the model's terms fitted by least squares, in MemoryModel's order
COLUMNS = ("links", "tasks", "flows", "in_flight", "paths", "flow_rows")
# bytes per timeline row, whatever the link groups: a Python float in a list and a numpy
# array header (the per-group part is measured)
ROW_BYTES = 144.0


def _pinned(row: dict[str, Any], coef: dict[str, float]) -> float:
    """The terms measured directly from pairs of cases that differ in them alone."""
    per_row = ROW_BYTES + coef["timeline_group"] * row["link_groups"]
    return (coef["fluid_base"] * row["fluid"] + per_row * row["timeline_rows"]
            + coef["routing_entries"] * row["routing_entries"])


def _slope(a: dict[str, Any], b: dict[str, Any], column: str) -> float:
    return float((a["rss_bytes"] - b["rss_bytes"]) / (a[column] - b[column]))


def fit(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The model's constants: the fluid model's extra base, the timeline's bytes per row and
    group and the bytes per routing entry from pairs of cases that differ in them alone; the
    rest by non-negative least squares of peak memory on a base and the counts, each run
    weighted by the inverse of its memory (a relative fit: small runs count as much)."""
    import numpy as np
    from scipy.optimize import nnls

    by = {r["case"]: r for r in rows}
    exact, coarse = by["v3-8x8-exact"], by["v3-8x8-1e-2"]
    per_row = _slope(exact, coarse, "timeline_rows")
    coef = {"fluid_base": float(by["base"]["rss_bytes"] - by["base-analytic"]["rss_bytes"]),
            "timeline_group": (per_row - ROW_BYTES) / exact["link_groups"],
            "routing_entries": _slope(by["routing-16k"], by["routing-16k-1"],
                                      "routing_entries")}
    design = np.array([[1.0] + [float(r[c]) for c in COLUMNS] for r in rows])
    rss = np.array([float(r["rss_bytes"]) for r in rows])
    target = rss - np.array([_pinned(r, coef) for r in rows])
    weight = 1.0 / rss
    fitted, _ = nnls(design * weight[:, None], target * weight)
    coef.update(zip(("base", *COLUMNS), fitted.tolist(), strict=True))
    return coef


def rows_law(rows: list[dict[str, Any]]) -> None:
    """Timeline rows per flow of the training steps at each tolerance, against the law the
    model uses (it must not be below any of them)."""
    from mpft_sim.estimate import MEMORY_MODEL

    by_name = {c.name: c for c in CASES}
    for r in rows:
        if r["case"].startswith("v3-") and r["fluid"]:
            options = by_name[r["case"]].options
            tolerance = float(options[options.index("--tolerance") + 1]) \
                if "--tolerance" in options else 0.0
            law = MEMORY_MODEL.timeline_rows(r["flows"], tolerance) / r["flows"]
            print(f"{r['case']}: {r['timeline_rows'] / r['flows']:.3f} rows per flow "
                  f"(the model: {law:.3f})")


def _fitted(row: dict[str, Any], coef: dict[str, float]) -> float:
    return (coef["base"] + _pinned(row, coef)
            + sum(coef[c] * float(row[c]) for c in COLUMNS))


def _table(rows: list[dict[str, Any]], coef: dict[str, float]) -> None:
    print("| case | links | tasks | flows | in flight | paths | timeline rows | routing "
          "entries | peak RSS MB | fit MB | estimate MB |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['case']} | {r['links']:,} | {r['tasks']:,} | {r['flows']:,} | "
              f"{r['in_flight']:,} | {r['paths']:,} | {r['timeline_rows']:,} | "
              f"{r['routing_entries']:,} | {r['rss_bytes'] / 1e6:,.0f} | "
              f"{_fitted(r, coef) / 1e6:,.0f} | {r['estimate_bytes'] / 1e6:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--case", action="append", default=[])
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--fit", action="store_true")
    args = parser.parse_args()
    if args.list:
        for case in CASES:
            print(f"{case.name:22s} {case.what}")
        return
    names = [c.name for c in CASES] if args.all else args.case
    by_name = {c.name: c for c in CASES}
    for name in names:
        row = run_case(by_name[name])
        print(f"{name}: {row['rss_bytes'] / 1e6:,.0f} MB, {row['timeline_rows']:,} rows",
              flush=True)
    if args.all or args.fit:
        rows = [{**json.loads((OUT / f"{c.name}.json").read_text()), **counts(c)}
                for c in CASES if (OUT / f"{c.name}.json").exists()]
        coef = fit(rows)
        print(json.dumps(coef, indent=1))
        rows_law(rows)
        _table(rows, coef)


if __name__ == "__main__":
    main()
