"""The report of one simulation run: report.md, a self-contained report.html and the PNGs,
written next to the files ``mpft-sim simulate`` left in the run directory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mpft_sim.report import plots, timeline
from mpft_sim.report.document import (
    Block,
    Figure,
    Heading,
    Paragraph,
    Table,
    to_html,
    to_markdown,
)
from mpft_sim.report.files import staged_dir
from mpft_sim.report.rundir import RunData, load_run
from mpft_sim.report.style import TIER_ORDER, fmt_bandwidth, fmt_bytes, fmt_time, fmt_usd
from mpft_sim.units import format_value

__all__ = ["report_blocks", "write_report"]

def write_report(run_dir: str | Path) -> list[str]:
    """Write the report of a run next to its files.

    Parameters
    ----------
    run_dir : str or Path
        A folder written by ``mpft-sim simulate`` (summary.json, links.csv, timeline.csv, and
        ops.csv for programs; flows.csv is not needed).

    Returns
    -------
    list of str
        The names of the files written: report.md, report.html, then the PNGs.

    Raises
    ------
    SpecError
        If a required file is missing or malformed (the error names it). Nothing is written
        then: all the report's files appear together or none do.
    """
    run = load_run(run_dir)
    title = _title(run.summary)
    with staged_dir(run.folder) as tmp:
        figures = _draw(run, tmp)
        blocks = report_blocks(run, figures)
        (tmp / "report.md").write_text(to_markdown(title, blocks), encoding="utf-8")
        (tmp / "report.html").write_text(to_html(title, blocks, tmp), encoding="utf-8")
    return ["report.md", "report.html", *(f.file for f in figures)]


def _title(summary: Mapping[str, Any]) -> str:
    inputs = summary["inputs"]
    workload = inputs.get("workload", "workload")
    topology = inputs.get("topology", summary["cost"]["name"])
    return f"Simulation report: {workload} on {topology}"


# ------------------------------------------------------------------------------- figures


def _draw(run: RunData, folder: Path) -> list[Figure]:
    """Draw every figure the run has data for; return them in report order: what happened
    over time, where in the network, how evenly, what flows saw, what it cost."""
    s, links, tl = run.summary, run.links, run.timeline
    figures = []
    if run.ops is not None:
        g = timeline.gantt(run.ops)
        if g.labels:
            timeline.draw(g, folder / "timeline.png")
            figures.append(Figure(
                "timeline.png", "Step timeline per lane",
                "Step timeline per lane (a lane is the GPUs that run in lockstep): compute on "
                "the upper bar, communication below it. Gaps in the compute bar are time the "
                "GPUs wait: pipeline bubbles or exposed communication."))
    plots.utilisation_heatmap(np.r_[tl.start_s[:1], tl.end_s], tl.groups,
                              tl.util * _used_scale(run)[None, :],
                              folder / "utilisation_heatmap.png", failed=_failed_groups(run),
                              idle=_idle_groups(run),
                              label="mean utilisation of the group's used links")
    figures.append(Figure(
        "utilisation_heatmap.png", "Link utilisation over time per plane and tier",
        "Link utilisation over time: one row per plane and tier; colour = mean utilisation, in "
        "each time bin, of the group's links that carried traffic during the run (yellow = at "
        "capacity). A dark row in an otherwise busy tier is an idle or dead plane."))
    plots.plane_balance(links.plane, links.tier, links.bytes, links.alive,
                        folder / "plane_balance.png")
    figures.append(Figure(
        "plane_balance.png", "Bytes carried per plane and tier",
        "Bytes each plane carried, per tier, with the mean of the live planes dashed: a "
        "balanced multi-plane fabric has bars of equal height."))
    plots.utilisation_cdf(links.mean_util, links.tier, links.bytes,
                          folder / "utilisation_cdf.png")
    figures.append(Figure(
        "utilisation_cdf.png", "CDF of per-link mean utilisation by tier",
        "Distribution of per-link mean utilisation over the run, per tier (links that carried "
        "traffic). A curve far to the right is a tier that limits the run; a wide spread "
        "within a tier is load imbalance."))
    cdf = s["fct_cdf"]
    plots.fct_cdf(cdf["q"], cdf["fct_s"], cdf["slowdown"], folder / "fct_cdf.png",
                  flows=int(s["flows"]))
    figures.append(Figure(
        "fct_cdf.png", "Flow completion time and slowdown CDFs",
        "Flow completion time (left) and slowdown: the completion time over the time the flow "
        "would take alone on an idle network (right)."))
    cost = s["cost"]
    plots.cost_breakdown(cost["items"], int(cost["endpoints"]), folder / "cost_breakdown.png",
                         name=str(cost["name"]))
    figures.append(Figure(
        "cost_breakdown.png", "Network cost by component",
        "Network cost by component, from the bill of materials and the price book."))
    return figures


def _group_masks(run: RunData) -> dict[str, NDArray[np.bool_]]:
    """The links of each timeline group: ``p<plane>/<tier>`` or ``node/<tier>`` (plane -1)."""
    lk = run.links
    tiers, code = np.unique(lk.tier.astype(str), return_inverse=True)
    out = {}
    for group in run.timeline.groups:
        where, _, tier = group.partition("/")
        plane = -1 if where == "node" else int(where[1:]) if where[1:].isdigit() else None
        known = tier in tiers and plane is not None
        out[group] = ((code == int(np.searchsorted(tiers, tier))) & (lk.plane == plane) if known
                      else np.zeros(len(code), dtype=bool))
    return out


def _used_scale(run: RunData) -> NDArray[np.float64]:
    """Per timeline group, its capacity over the capacity of its links that carried traffic.

    timeline.csv divides each group's load by the capacity of all its links; links that never
    carried a byte add no load, so multiplying by this factor gives exactly the utilisation of
    the links the run used. A job on 64 of 2,048 GPUs then shows its real load instead of 3%.
    """
    lk = run.links
    out = np.ones(len(run.timeline.groups))
    for g, mine in enumerate(_group_masks(run).values()):
        used = float(lk.capacity_Bps[mine & (lk.bytes > 0)].sum())
        if used > 0:
            out[g] = float(lk.capacity_Bps[mine].sum()) / used
    return out


def _idle_groups(run: RunData) -> set[str]:
    """Timeline groups none of whose links carried a byte."""
    carried = run.links.bytes > 0
    return {g for g, mine in _group_masks(run).items() if not carried[mine].any()}


def _failed_groups(run: RunData) -> set[str]:
    """Timeline groups whose links all failed."""
    alive = run.links.alive
    return {g for g, mine in _group_masks(run).items() if mine.any() and not alive[mine].any()}


# ------------------------------------------------------------------------------- content


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%} of the step" if whole > 0 else ""


_BREAKDOWN = (("forward_s", "forward"),
              ("backward_input_s", "backward (input gradients)"),
              ("backward_weight_s", "backward (weight gradients)"),
              ("overlapped_s", "overlapped forward & backward chunks"),
              ("bubble_s", "pipeline bubble (idle)"),
              ("optimizer_s", "optimizer (gradient sync and update)"))


def _step_rows(step: Mapping[str, Any]) -> list[list[str]]:
    """Rows of the step part of a summary table (a job's, or the run's when it has one)."""
    rows: list[list[str]] = []
    if "step_time_s" not in step:
        return rows
    t = float(step["step_time_s"])
    rows.append(["step time", fmt_time(t), ""])
    for key, label in _BREAKDOWN:
        if key in step.get("breakdown", {}):
            value = float(step["breakdown"][key])
            rows.append([f"breakdown: {label}", fmt_time(value), _share(value, t)])
    exposed = float(step["exposed_comm_s"])
    rows.append(["exposed communication", fmt_time(exposed),
                 (_share(exposed, t) + "; mean over lanes of the time a transfer is in "
                  "flight and nothing computes").lstrip("; ")])
    if "tokens_per_s" in step:
        rows.append(["throughput", f"{float(step['tokens_per_s']):,.0f} tokens/s", ""])
    if "tpot_s" in step:
        rows.append(["time per output token (TPOT)", fmt_time(float(step["tpot_s"])), ""])
    if "alltoall_s" in step:
        a = step["alltoall_s"]
        rows.append(["NCCL all-to-all time (mean)", fmt_time(float(a["mean"])),
                     f"max {fmt_time(float(a['max']))}"])
    if "algbw_Bps_per_gpu" in step:
        rows.append(["NCCL all-to-all bandwidth per GPU",
                     fmt_bandwidth(float(step["algbw_Bps_per_gpu"])), "algorithm bandwidth"])
    for kernel, a in step.get("alltoall", {}).items():
        rows.append([f"all-to-all {kernel}: mean time", fmt_time(float(a["mean_s"])),
                     f"p99 {fmt_time(float(a['p99_s']))} over {int(a['count']):,} calls"])
        rows.append([f"all-to-all {kernel}: network bandwidth per GPU",
                     fmt_bandwidth(float(a["network_Bps_per_gpu"])),
                     f"{fmt_bandwidth(float(a['logical_Bps_per_gpu']))} as DeepEP counts it"])
    return rows


def _alltoall_table(step: Mapping[str, Any]) -> list[Block]:
    a2a = step.get("alltoall") or {}
    if not a2a:
        return []
    rows = [[k, f"{int(a['count']):,}", fmt_time(float(a["mean_s"])),
             fmt_time(float(a["p99_s"])), fmt_bandwidth(float(a["network_Bps_per_gpu"])),
             fmt_bandwidth(float(a["logical_Bps_per_gpu"])),
             fmt_bytes(float(a["network_bytes_per_gpu"]))] for k, a in a2a.items()]
    return [Table(["kernel", "calls", "mean time", "p99 time", "network bandwidth per GPU",
                   "DeepEP-counted bandwidth per GPU", "network bytes per GPU per call"],
                  rows),
            Paragraph("Network bandwidth counts the bytes each GPU's transfers put on the "
                      "network; DeepEP's own figure counts the bytes its benchmark reports "
                      "(NVLink-forwarded copies excluded), so the two differ by design. "
                      "Backward all-to-alls are counted with the kernel they run.", note=True)]


_INPUT_LABELS = {"workload": "workload", "workload_kind": "workload kind",
                 "topology": "topology", "model": "engine model", "seed": "seed",
                 "tolerance": "fluid time quantum (relative)", "routing": "routing",
                 "cross_plane": "cross-plane forwarding", "failures": "failed components",
                 "topology_file": "topology file", "workload_file": "workload file"}


def _inputs(s: Mapping[str, Any]) -> list[Block]:
    rows = [[_INPUT_LABELS.get(k, k.replace("_", " ")), format_value(v)]
            for k, v in s["inputs"].items()]
    c = s["cost"]
    rows.append(["fabric", f"{c['kind']}: {int(c['endpoints']):,} GPUs, "
                           f"{int(c['switches']):,} switches, {int(c['links']):,} switch-switch "
                           f"cables, {int(c['nics']):,} NICs"])
    info = s.get("info")
    if isinstance(info, dict):
        rows += [[f"job: {k.replace('_', ' ')}", format_value(v)] for k, v in info.items()
                 if isinstance(v, str | int | float | bool)]
    return [Heading("Inputs"), Table(["input", "value"], rows)]


def _summary(run: RunData) -> list[Block]:
    s = run.summary
    span = float(s["makespan_s"])
    rows = _step_rows(s)
    rows += [
        ["makespan", fmt_time(span), "release of the first flow to the end of the last"],
        ["flows", f"{int(s['flows']):,}", f"{fmt_bytes(float(s['bytes']))} moved"],
    ]
    fct, slow = s["fct_s"], s["slowdown"]
    for q in ("p50", "p99", "max"):
        rows.append([f"flow completion time {q}", fmt_time(float(fct[q])), ""])
    for q in ("p50", "p99", "max"):
        rows.append([f"slowdown vs idle network {q}", f"{float(slow[q]):.3g}×", ""])
    hot = s["hottest_links"]
    if hot:
        h = hot[0]
        where = f"plane {h['plane']}" if int(h["plane"]) >= 0 else "inside a server"
        rows.append(["hottest link", str(h["link"]),
                     f"{h['tier']}, {where}: saturated "
                     f"{fmt_time(float(h['saturated_s']))}"
                     + (f" ({float(h['saturated_s']) / span:.0%} of the run)" if span > 0
                        else "")])
    c = s["cost"]
    rows.append(["network cost", fmt_usd(float(c["cost_usd"])),
                 f"{int(c['endpoints']):,} GPUs"])
    rows.append(["network cost per GPU", fmt_usd(float(c["cost_per_endpoint_usd"])), ""])
    blocks: list[Block] = [Heading("Summary"), Table(["metric", "value", "note"], rows)]
    blocks += _alltoall_section(s, 2)
    return blocks


def _alltoall_section(step: Mapping[str, Any], level: int) -> list[Block]:
    table = _alltoall_table(step)
    return [Heading("Expert-parallel all-to-all", level), *table] if table else []


def _jobs(s: Mapping[str, Any]) -> list[Block]:
    jobs = s.get("jobs") or []
    if len(jobs) < 2:
        return []
    overview = []
    for j in jobs:
        overview.append([str(j["name"]), str(j["kind"]), f"{int(j['gpus']):,}",
                         fmt_time(float(j["step_time_s"])),
                         fmt_time(float(j["exposed_comm_s"])),
                         f"{float(j['tokens_per_s']):,.0f}" if "tokens_per_s" in j else "-"])
    blocks: list[Block] = [Heading("Jobs"),
                           Table(["job", "kind", "GPUs", "step time", "exposed communication",
                                  "tokens/s"], overview)]
    for j in jobs:
        blocks.append(Heading(f"Job {j['name']} ({j['kind']}, {int(j['gpus']):,} GPUs)", 3))
        blocks.append(Table(["metric", "value", "note"], _step_rows(j)))
        info = j.get("info")
        if isinstance(info, dict):
            scalars = [[k.replace("_", " "), format_value(v)] for k, v in info.items()
                       if isinstance(v, str | int | float | bool)]
            if scalars:
                blocks.append(Table(["setting", "value"], scalars))
        blocks += _alltoall_table(j)
    return blocks


def _utilisation(run: RunData) -> list[Block]:
    s, lk = run.summary, run.links
    span = float(s["makespan_s"])
    by_tier = s["utilisation"]["by_tier"]
    rows = []
    for tier in [*[t for t in TIER_ORDER if t in by_tier],
                 *sorted(set(by_tier) - set(TIER_ORDER))]:
        u = by_tier[tier]
        mine = lk.tier == tier
        used = mine & (lk.bytes > 0)
        used_cap = float(lk.capacity_Bps[used].sum()) * span
        rows.append([tier, f"{int(used.sum()):,} of {int(mine.sum()):,}",
                     f"{float(u['mean']):.1%}",
                     f"{float(lk.bytes[used].sum()) / used_cap:.1%}" if used_cap > 0 else "-",
                     f"{float(u['peak']):.0%}", fmt_bytes(float(u["bytes"])),
                     fmt_time(float(lk.saturated_s[mine].max())) if mine.any() else "-"])
    blocks: list[Block] = [
        Heading("Link utilisation"),
        Table(["tier", "links used", "mean utilisation", "mean over used links",
               "peak utilisation", "bytes", "longest saturation of a link"], rows)]
    by_plane = s["utilisation"]["by_plane"]
    if len(by_plane) > 1:
        prow = []
        for p in sorted(by_plane, key=lambda k: (not k.lstrip("-").isdigit(), int(k)
                                                 if k.lstrip("-").isdigit() else 0, k)):
            u = by_plane[p]
            mine = lk.plane == int(p) if p.lstrip("-").isdigit() else np.zeros(0, bool)
            down = int((~lk.alive[mine]).sum()) if len(mine) else 0
            prow.append([p, f"{float(u['mean']):.1%}", f"{float(u['peak']):.0%}",
                         fmt_bytes(float(u["bytes"])), f"{down:,}"])
        blocks.append(Table(["plane", "mean utilisation", "peak utilisation", "bytes",
                             "links down"], prow))
    blocks.append(Paragraph("Mean utilisation: bytes carried over (capacity × makespan), over "
                            "all the links of the group; over used links: only those that "
                            "carried traffic. Peak: the highest any link of the group reached.",
                            note=True))
    return blocks


def _hottest(s: Mapping[str, Any]) -> list[Block]:
    hot = s["hottest_links"]
    if not hot:
        return [Heading("Hottest links"), Paragraph("No link carried traffic.")]
    span = float(s["makespan_s"])
    rows = [[str(i + 1), str(h["link"]), str(h["tier"]),
             str(h["plane"]) if int(h["plane"]) >= 0 else "-",
             fmt_time(float(h["saturated_s"])),
             f"{float(h['saturated_s']) / span:.0%}" if span > 0 else "-",
             f"{float(h['mean_util']):.1%}", fmt_bytes(float(h["bytes"]))]
            for i, h in enumerate(hot)]
    return [Heading("Hottest links"),
            Table(["#", "link", "tier", "plane", "saturated for", "of the run",
                   "mean utilisation", "bytes"], rows),
            Paragraph("Ranked by the time spent at full capacity, then by bytes carried.",
                      note=True)]


def _cost(s: Mapping[str, Any]) -> list[Block]:
    c = s["cost"]
    total = float(c["cost_usd"])
    rows = [[str(i["item"]), f"{int(i['count']):,}",
             fmt_usd(float(i["unit_usd"])),
             fmt_usd(float(i["total_usd"])),
             f"{float(i['total_usd']) / total:.1%}" if total > 0 else "-"]
            for i in c["items"]]
    rows.append(["total", "", "", fmt_usd(total), "100.0%" if total > 0 else "-"])
    rows.append(["per GPU", f"{int(c['endpoints']):,} GPUs", "",
                 fmt_usd(float(c["cost_per_endpoint_usd"])), ""])
    return [Heading("Cost"), Table(["item", "count", "unit price", "total", "share"], rows)]


def report_blocks(run: RunData, figures: Sequence[Figure]) -> list[Block]:
    """The content of a run report, in order: inputs, summary, jobs, utilisation, hottest
    links, cost, figures.

    Parameters
    ----------
    run : RunData
        The run directory's data.
    figures : sequence of Figure
        The figures drawn for it.

    Returns
    -------
    list of Block
    """
    blocks: list[Block] = []
    blocks += _inputs(run.summary)
    blocks += _summary(run)
    blocks += _jobs(run.summary)
    blocks += _utilisation(run)
    blocks += _hottest(run.summary)
    blocks += _cost(run.summary)
    blocks.append(Heading("Figures"))
    if run.ops is None and "jobs" in run.summary:
        blocks.append(Paragraph("ops.csv is not in the run directory, so there is no step "
                                "timeline.", note=True))
    blocks += figures
    return blocks
