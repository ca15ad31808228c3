"""The report of one run: report.md, a self-contained report.html and the PNGs, drawn from
a :class:`~mpft_sim.results.Run` -- a run in memory, or one read back from its directory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mpft_sim.report.document import (
    Block,
    Figure,
    Heading,
    Paragraph,
    Table,
    to_html,
    to_markdown,
)
from mpft_sim.report.run_figures import draw_figures
from mpft_sim.results import JobSummary, Run, RunSummary
from mpft_sim.results.summary import FabricInfo
from mpft_sim.topology.fabric import SWITCHED_TIERS, Tier
from mpft_sim.units import (
    format_bandwidth,
    format_bytes,
    format_rate,
    format_time,
    format_usd,
    format_value,
)

__all__ = ["report_blocks", "write_report"]


def write_report(run: Run, folder: str | Path) -> list[str]:
    """Write the report of a run into ``folder``.

    Parameters
    ----------
    run : Run
        A run in memory (a :class:`~mpft_sim.results.Result`) or read back with
        :func:`~mpft_sim.results.load_run`.
    folder : str or Path
        An existing folder; ``write_run`` stages one so that all files appear together.

    Returns
    -------
    list of str
        The names of the files written: report.md, report.html, then the PNGs.
    """
    out = Path(folder)
    title = _title(run.summary)
    figures = draw_figures(run, out)
    blocks = report_blocks(run, figures)
    (out / "report.md").write_text(to_markdown(title, blocks), encoding="utf-8")
    (out / "report.html").write_text(to_html(title, blocks, out), encoding="utf-8")
    return ["report.md", "report.html", *(f.file for f in figures)]


def _title(summary: RunSummary) -> str:
    return f"Simulation report: {summary.info.workload} on {summary.info.topology}"



# ------------------------------------------------------------------------------- content


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%} of the step" if whole > 0 else ""


_BREAKDOWN = (("forward_s", "forward"),
              ("backward_input_s", "backward (input gradients)"),
              ("backward_weight_s", "backward (weight gradients)"),
              ("overlapped_s", "overlapped forward & backward chunks"),
              ("bubble_s", "pipeline bubble (idle)"),
              ("optimizer_s", "optimizer (gradient sync and update)"))


def _step_rows(job: JobSummary) -> list[list[str]]:
    """Rows of the step part of a summary table."""
    t = job.step_time_s
    rows: list[list[str]] = [["step time", format_time(t), ""]]
    if job.breakdown is not None:
        for key, label in _BREAKDOWN:
            value = float(getattr(job.breakdown, key))
            rows.append([f"breakdown: {label}", format_time(value), _share(value, t)])
    rows.append(["exposed communication", format_time(job.exposed_comm_s),
                 (_share(job.exposed_comm_s, t) + "; mean over lanes of the time a transfer "
                  "is in flight and nothing computes").lstrip("; ")])
    if job.tokens_per_s is not None:
        rows.append(["throughput", format_rate(job.tokens_per_s, "tokens/s"), ""])
    if job.tpot_s is not None:
        rows.append(["time per output token (TPOT)", format_time(job.tpot_s), ""])
    if job.nccl is not None:
        rows.append(["NCCL all-to-all time (mean)", format_time(job.nccl.mean_s),
                     f"max {format_time(job.nccl.max_s)}"])
        rows.append(["NCCL all-to-all bandwidth per GPU",
                     format_bandwidth(job.nccl.algbw_Bps_per_gpu), "algorithm bandwidth"])
    for kernel, a in job.alltoall.items():
        rows.append([f"all-to-all {kernel}: mean time", format_time(a.mean_s),
                     f"p99 {format_time(a.p99_s)} over {a.count:,} calls"])
        rows.append([f"all-to-all {kernel}: network bandwidth per GPU",
                     format_bandwidth(a.network_Bps_per_gpu),
                     f"as DeepEP's test counts it: {format_bandwidth(a.logical_Bps_per_gpu)} "
                     f"(its headline figure), {format_bandwidth(a.logical_nvl_Bps_per_gpu)} "
                     "NVLink"])
    return rows


def _alltoall_table(job: JobSummary) -> list[Block]:
    if not job.alltoall:
        return []
    rows = [[k, f"{a.count:,}", format_time(a.mean_s), format_time(a.p99_s),
             format_bandwidth(a.network_Bps_per_gpu), format_bandwidth(a.logical_Bps_per_gpu),
             format_bandwidth(a.logical_nvl_Bps_per_gpu), format_bytes(a.network_bytes_per_gpu)]
            for k, a in job.alltoall.items()]
    return [Table(["kernel", "calls", "mean time", "p99 time", "network bandwidth per GPU",
                   "DeepEP's figure per GPU", "DeepEP's NVLink figure per GPU",
                   "network bytes per GPU per call"], rows),
            Paragraph("Network bandwidth counts the bytes each GPU's transfers put on the "
                      "network. DeepEP's figures are the ones its tests print (docs/workload.md): "
                      "RDMA bytes counted once per node a token reaches (its own node "
                      "included) and NVLink bytes as the rows each GPU receives, over the "
                      "kernel's time; so they differ from the network's by design. Backward "
                      "all-to-alls are counted with the kernel they run.", note=True)]


_INPUT_LABELS = {"workload": "workload", "workload_kind": "workload kind",
                 "topology": "topology", "model": "engine model", "seed": "seed",
                 "tolerance": "fluid time quantum (relative)", "routing": "routing",
                 "cross_plane": "cross-plane forwarding",
                 "failures": "failed and degraded (:factor) components",
                 "topology_file": "topology file", "workload_file": "workload file",
                 "gpus_per_node": "GPUs per server"}


def _transport(f: FabricInfo) -> str:
    if not f.header_bytes and not f.ack:
        return f"{f.transport}: payload at line rate, no acknowledgement"
    ack = ("; a transfer ends when its last acknowledgement is back" if f.ack
           else "; no acknowledgement")
    return (f"{f.transport}: {f.mtu_bytes:,}-byte packets carrying {f.header_bytes} bytes "
            f"of overhead, goodput {f.goodput:.2%} of the line rate{ack}")


def _inputs(s: RunSummary) -> list[Block]:
    info = s.info
    rows = [[label, format_value(getattr(info, key))] for key, label in _INPUT_LABELS.items()
            if getattr(info, key) is not None]
    c = s.cost
    rows.append(["fabric", f"{c.kind}: {c.endpoints:,} GPUs, {c.switches:,} switches, "
                           f"{c.links:,} switch-switch cables, {c.nics:,} NICs"])
    if info.fabric is not None:
        rows.append(["transport", _transport(info.fabric)])
    if len(s.jobs) == 1:
        rows += [[f"job: {k.replace('_', ' ')}", format_value(v)]
                 for k, v in s.jobs[0].info.items() if isinstance(v, str | int | float | bool)]
    # the version, not the wall time or memory: a rerun draws the same bytes
    rows.append(["simulated by", f"mpft-sim {s.provenance.mpft_sim}"])
    return [Heading("Inputs"), Table(["input", "value"], rows)]


def _summary(run: Run) -> list[Block]:
    s = run.summary
    span = s.makespan_s
    rows = _step_rows(s.jobs[0]) if len(s.jobs) == 1 else []
    rows += [
        ["makespan", format_time(span), "release of the first flow to the end of the last"],
        ["flows", f"{s.flows:,}", f"{format_bytes(s.bytes)} moved"],
    ]
    for q in ("p50", "p99", "max"):
        rows.append([f"flow completion time {q}", format_time(getattr(s.fct_s, q)), ""])
    for q in ("p50", "p99", "max"):
        rows.append([f"slowdown vs idle network {q}", f"{getattr(s.slowdown, q):.3g}×", ""])
    if s.hottest_links:
        h = s.hottest_links[0]
        where = f"plane {h.plane}" if h.plane is not None else "inside a server"
        rows.append(["hottest link", h.link,
                     f"{h.tier}, {where}: saturated {format_time(h.saturated_s)}"
                     + (f" ({h.saturated_s / span:.0%} of the run)" if span > 0 else "")])
    c = s.cost
    rows.append(["network cost", format_usd(c.cost_usd), f"{c.endpoints:,} GPUs"])
    rows.append(["network cost per GPU", format_usd(c.cost_per_endpoint_usd), ""])
    blocks: list[Block] = [Heading("Summary"), Table(["metric", "value", "note"], rows)]
    if len(s.jobs) == 1:
        blocks += _alltoall_section(s.jobs[0], 2)
    return blocks


def _alltoall_section(job: JobSummary, level: int) -> list[Block]:
    table = _alltoall_table(job)
    return [Heading("Expert-parallel all-to-all", level), *table] if table else []


def _jobs(s: RunSummary) -> list[Block]:
    if len(s.jobs) < 2:
        return []
    overview = [[j.name, j.kind, f"{j.gpus:,}", format_time(j.step_time_s),
                 format_time(j.exposed_comm_s),
                 format_rate(j.tokens_per_s, "tokens/s") if j.tokens_per_s is not None else "-"]
                for j in s.jobs]
    blocks: list[Block] = [Heading("Jobs"),
                           Table(["job", "kind", "GPUs", "step time", "exposed communication",
                                  "throughput"], overview)]
    for j in s.jobs:
        blocks.append(Heading(f"Job {j.name} ({j.kind}, {j.gpus:,} GPUs)", 3))
        blocks.append(Table(["metric", "value", "note"], _step_rows(j)))
        scalars = [[k.replace("_", " "), format_value(v)] for k, v in j.info.items()
                   if isinstance(v, str | int | float | bool)]
        if scalars:
            blocks.append(Table(["setting", "value"], scalars))
        blocks += _alltoall_table(j)
    return blocks


def _utilisation(run: Run) -> list[Block]:
    s, lk = run.summary, run.link_table
    span = s.makespan_s
    rows = []
    for tier in (*SWITCHED_TIERS, Tier.NODE):
        u = s.by_tier.get(tier.label)
        if u is None:
            continue
        mine = lk.tier == tier
        used = mine & (lk.bytes > 0)
        used_cap = float(lk.capacity_Bps[used].sum()) * span
        rows.append([tier.label, f"{int(used.sum()):,} of {int(mine.sum()):,}",
                     f"{u.mean:.1%}",
                     f"{float(lk.bytes[used].sum()) / used_cap:.1%}" if used_cap > 0 else "-",
                     f"{u.hot:.0%}", f"{u.p99_mean:.0%}", f"{u.peak:.0%}",
                     format_bytes(u.bytes),
                     format_time(float(lk.saturated_s[mine].max())) if mine.any() else "-"])
    blocks: list[Block] = [
        Heading("Link utilisation"),
        Table(["tier", "links used", "mean utilisation", "mean over used links",
               "time at >= 90%", "p99 link mean", "peak", "bytes",
               "longest saturation of a link"], rows)]
    if len(s.by_plane) > 1:
        prow = []
        for p in sorted(s.by_plane, key=int):
            u = s.by_plane[p]
            mine = lk.plane == int(p)
            down = int((~lk.alive[mine]).sum())
            slow = int(lk.degraded[mine].sum())
            prow.append([p, f"{u.mean:.1%}", f"{u.peak:.0%}", format_bytes(u.bytes),
                         f"{down:,}", f"{slow:,}"])
        blocks.append(Table(["plane", "mean utilisation", "peak utilisation", "bytes",
                             "links down", "links degraded"], prow))
    blocks.append(Paragraph("Mean utilisation: bytes carried over (capacity × makespan), over "
                            "all the links of the group; over used links: only those that "
                            "carried traffic. Time at >= 90%: the share of the run the used "
                            "links spent at or above 90% of their capacity (their mean); p99 "
                            "link mean: the 99th percentile of the used links' mean "
                            "utilisation. Peak: the highest any link of the group reached.",
                            note=True))
    return blocks


def _hottest(s: RunSummary) -> list[Block]:
    if not s.hottest_links:
        return [Heading("Hottest links"), Paragraph("No link carried traffic.")]
    span = s.makespan_s
    rows = [[str(i + 1), h.link, h.tier, str(h.plane) if h.plane is not None else "-",
             format_time(h.saturated_s),
             f"{h.saturated_s / span:.0%}" if span > 0 else "-",
             f"{h.mean_util:.1%}", format_bytes(h.bytes)]
            for i, h in enumerate(s.hottest_links)]
    return [Heading("Hottest links"),
            Table(["#", "link", "tier", "plane", "saturated for", "of the run",
                   "mean utilisation", "bytes"], rows),
            Paragraph("Ranked by the time spent at full capacity, then by bytes carried.",
                      note=True)]


def _cost(s: RunSummary) -> list[Block]:
    c = s.cost
    total = c.cost_usd
    rows = [[i.item, f"{i.count:,}", format_usd(i.unit_usd), format_usd(i.total_usd),
             f"{i.total_usd / total:.1%}" if total > 0 else "-"]
            for i in c.items if i.total_usd > 0]
    rows.append(["total", "", "", format_usd(total), "100.0%" if total > 0 else "-"])
    rows.append(["per GPU", f"{c.endpoints:,} GPUs", "", format_usd(c.cost_per_endpoint_usd),
                 ""])
    return [Heading("Cost"), Table(["item", "count", "unit price", "total", "share"], rows)]


def report_blocks(run: Run, figures: Sequence[Figure]) -> list[Block]:
    """The content of a run report, in order: inputs, summary, jobs, utilisation, hottest
    links, cost, figures.

    Parameters
    ----------
    run : Run
        The run.
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
    if run.op_table is None and run.summary.jobs:
        blocks.append(Paragraph("ops.csv is not in the run directory, so there is no step "
                                "timeline.", note=True))
    blocks += figures
    return blocks
