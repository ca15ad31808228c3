"""Tables and figures of a design comparison (``mpft-sim compare``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.lines import Line2D

from mpft_sim.comparison import Comparison, DesignRow
from mpft_sim.report.document import Block, Figure, Heading, Paragraph, Table, to_html, to_markdown
from mpft_sim.report.files import write_json
from mpft_sim.report.style import new_figure, save_figure
from mpft_sim.topology.fabric import SWITCHED_TIERS
from mpft_sim.units import format_rate, format_ratio, format_time, format_usd

TIERS = tuple(t.label for t in SWITCHED_TIERS)

__all__ = ["compare_table", "plot_comparison", "text_table", "write_comparison"]

_BREAKDOWN = [("forward_s", "forward", "#4c78a8"), ("backward_input_s", "backward (input)",
                                                     "#f58518"),
              ("backward_weight_s", "backward (weight)", "#e45756"),
              ("overlapped_s", "overlapped F&B", "#72b7b2"), ("bubble_s", "bubble", "#bab0ac"),
              ("optimizer_s", "optimizer", "#b279a2")]
_METRIC = {"step_time_s": "step time", "tpot_s": "time per output token",
           "makespan_s": "makespan"}


def _t(x: Any) -> str:
    return "-" if x is None else format_time(float(x), 4)


def _util(r: DesignRow, kind: str, tier: str) -> float:
    """A tier's figure: kind "peak", "mean" or "p99" utilisation, or "hot" (time share)."""
    key = tier.replace("-", "_")
    value = getattr(r.metrics, f"hot_{key}" if kind == "hot" else f"{kind}_util_{key}")
    return float(value) if value is not None else 0.0


def _money(value: float | None) -> str:
    return "-" if value is None else format_usd(value)


def _impaired(names: Sequence[str]) -> str:
    """A design's failed and degraded components, as the summary records them
    (``plane=3``, ``plane=4:0.5``): ``"plane=3 failed; plane=4:0.5 degraded"``."""
    # kind=name:factor is degraded unless the factor is 0 (failed), as parse_failure reads it
    slow = [n for n in names if ":" in n and not n.endswith(":0")]
    failed = [n for n in names if n not in slow]
    parts = ([", ".join(failed) + " failed"] if failed else []) + (
        [", ".join(slow) + " degraded"] if slow else [])
    return "; ".join(parts)


def compare_table(comparison: Comparison) -> list[list[str]]:
    """The comparison as rows of text: a header row, then one row per design."""
    metric = _METRIC[comparison.metric]
    head = ["design", metric, "vs first", "dispatch", "combine", "p99 FCT", "exposed comm",
            "time >= 90% (endpoint / leaf-spine)", "p99 link util (endpoint / leaf-spine)",
            "cost", "cost/GPU", "perf per $M"]
    rows = [head]
    for r in comparison.rows:
        m = r.metrics
        hot = " / ".join(f"{_util(r, 'hot', t):.0%}" for t in TIERS[:2])
        p99 = " / ".join(f"{_util(r, 'p99', t):.0%}" for t in TIERS[:2])
        perf = m.perf_per_musd
        unit = m.perf_unit or ""
        rows.append([
            r.design + (f" ({_impaired(r.failures)})" if r.failures else ""),
            _t(m.time_s),
            format_ratio(r.time_vs_first) if r.time_vs_first else "-",
            _t(m.dispatch_s), _t(m.combine_s), _t(m.fct_p99_s),
            _t(m.exposed_comm_s), hot, p99, _money(m.cost_usd), _money(m.cost_per_gpu_usd),
            format_rate(perf, unit) if perf is not None else "-",
        ])
    return rows


def turned_table(comparison: Comparison) -> Table:
    """The side-by-side table turned for a page: a row per figure, a column per design, so
    that four or five designs fit a laptop's width however many figures there are."""
    rows = compare_table(comparison)
    head, designs = rows[0], rows[1:]
    return Table(["", *(d[0] for d in designs)],
                 [[head[k], *(d[k] for d in designs)] for k in range(1, len(head))])


def text_table(rows: list[list[str]]) -> str:
    """Fixed-width text of rows (first column left-aligned, the rest right-aligned)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [c.ljust(w) if i == 0 else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def _labels(comparison: Comparison) -> list[str]:
    return [r.design + ("\n(" + _impaired(r.failures) + ")" if r.failures else "")
            for r in comparison.rows]


def _time(r: DesignRow) -> float:
    return r.metrics.time_s or 0.0


def _scale(values: list[float]) -> tuple[float, str]:
    top = max(values) if values else 1.0
    return (1e3, "ms") if top < 1 else (1.0, "s")


def plot_time(comparison: Comparison, path: Path) -> None:
    """Each design's time: for training the step's breakdown stacked (its rows add up to the
    step), and beside it, as its own bar, the exposed communication -- the time the network
    holds the GPUs up, which is what a network comparison is about."""
    rows = comparison.rows
    labels = _labels(comparison)
    factor, unit = _scale([_time(r) for r in rows])
    stacked = all(r.breakdown is not None for r in rows)
    exposed = [r.metrics.exposed_comm_s for r in rows]
    show_exposed = all(e is not None for e in exposed)
    fig, ax = new_figure(9, 1.2 + 0.9 * len(rows) + (0.5 if stacked else 0.0))
    y = np.arange(len(rows))[::-1].astype(float)
    main_y = y + (0.17 if show_exposed else 0.0)
    height = 0.34 if show_exposed else 0.6
    if stacked:
        left = np.zeros(len(rows))
        for key, name, colour in _BREAKDOWN:
            width = np.array([getattr(r.breakdown, key) for r in rows]) * factor
            if width.any():  # a row no design has gets no legend entry
                ax.barh(main_y, width, left=left, color=colour, label=name, height=height)
            left += width
    else:
        ax.barh(main_y, [_time(r) * factor for r in rows], color="#4c78a8", height=height,
                label=_METRIC[comparison.metric])
    if show_exposed:
        ax.barh(y - 0.19, [float(e or 0.0) * factor for e in exposed], color="#d62728",
                height=0.3, label="exposed communication (GPUs wait for the network)")
        for yi, e, r in zip(y, exposed, rows, strict=True):
            share = f" ({float(e or 0.0) / _time(r):.0%})" if _time(r) > 0 else ""
            ax.annotate(f"{format_time(float(e or 0.0))}{share}", (float(e or 0.0) * factor,
                        yi - 0.19), xytext=(4, 0), textcoords="offset points", va="center",
                        fontsize=8, color="#8b1a1a")
    for yi, r in zip(main_y, rows, strict=True):
        ratio = format_ratio(r.time_vs_first) if r.time_vs_first else "-"
        ax.annotate(f"{format_time(_time(r))}  ({ratio})", (_time(r) * factor, yi),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.set_xlabel(f"{_METRIC[comparison.metric]} [{unit}]")
    ax.set_xlim(0, max(_time(r) for r in rows) * factor * 1.3)
    ax.set_title(f"{comparison.workload}: {_METRIC[comparison.metric]} per design "
                 f"({comparison.model} model)")
    # below the axis, where it cannot cover a bar or its label
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16 - 0.12 / len(rows)),
              fontsize=8, ncols=3, frameon=False)
    ax.grid(False, axis="y")
    save_figure(fig, path)


def plot_value(comparison: Comparison, path: Path) -> None:
    """Network cost per GPU and performance per dollar, side by side."""
    rows = comparison.rows
    labels = _labels(comparison)
    fig, (a, b) = new_figure(11, 1.2 + 0.7 * len(rows), ncols=2)
    y = np.arange(len(rows))[::-1]
    cost = np.array([r.metrics.cost_per_gpu_usd or 0.0 for r in rows])
    a.barh(y, cost, color="#3b6ea8", height=0.6)
    for yi, c in zip(y, cost, strict=True):
        a.annotate(_plain(f"{format_usd(c)} per GPU"), (c, yi), xytext=(4, 0),
                   textcoords="offset points", va="center", fontsize=8)
    a.set_xlim(0, max(cost.max(initial=0.0), 1.0) * 1.45)
    a.xaxis.set_major_formatter(lambda v, _: _plain(format_usd(v)))
    a.set_yticks(y, labels)
    a.set_xlabel("network cost per GPU")
    a.set_title("What each design costs")
    perf = np.array([r.metrics.perf_per_musd or 0.0 for r in rows])
    unit = (rows[0].metrics.perf_unit or "") if rows else ""
    b.barh(y, perf, color="#54a24b", height=0.6)
    for yi, p in zip(y, perf, strict=True):
        b.annotate(_plain(format_rate(p, unit)), (p, yi), xytext=(4, 0),
                   textcoords="offset points", va="center", fontsize=8)
    b.set_xlim(0, max(perf.max(initial=0.0), 1e-300) * 1.6)
    b.xaxis.set_major_formatter(lambda v, _: format_rate(v, "").strip())
    b.set_yticks(y, [""] * len(rows))
    b.set_xlabel(_plain(unit))
    b.set_title("Performance per million dollars of network")
    for ax in (a, b):
        ax.grid(False, axis="y")
    save_figure(fig, path)


def _plain(text: str) -> str:
    """Text with ``$`` escaped, so matplotlib does not read dollar amounts as mathtext."""
    return text.replace("$", r"\$")


def plot_utilisation(comparison: Comparison, path: Path) -> None:
    """How hard each tier of switched links works, per design: the share of the run its
    links spend at or above 90% of capacity, and the 99th percentile of per-link mean
    utilisation (bars); the highest load any of its links reached (markers)."""
    rows = comparison.rows
    tiers = [t for t in TIERS
             if any(getattr(r.metrics, f"peak_util_{t.replace('-', '_')}") is not None
                    for r in rows)]
    fig, (hot_ax, p99_ax) = new_figure(10, 5.2 + 0.25 * ((n := len(rows)) // 3), ncols=2)
    width = 0.8 / max(n, 1)
    x = np.arange(len(tiers))
    colours = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"]
    handles = []
    for i, (r, label) in enumerate(zip(rows, _labels(comparison), strict=True)):
        colour = colours[i % len(colours)]
        at = x + i * width
        handles.append(hot_ax.bar(at, [_util(r, "hot", t) * 100 for t in tiers], width,
                                  color=colour, label=label.replace("\n", " ")))
        p99_ax.bar(at, [_util(r, "p99", t) * 100 for t in tiers], width, color=colour)
        p99_ax.scatter(at, [_util(r, "peak", t) * 100 for t in tiers], marker="_", s=160,
                       color="black", zorder=3)
    handles.append(Line2D([], [], marker="_", markersize=12, color="black", linestyle="None",
                          label="highest load of any link (right)"))
    for ax, what in ((hot_ax, "time at or above 90% of capacity [% of the run]"),
                     (p99_ax, "p99 of per-link mean utilisation [%]")):
        ax.set_xticks(x + width * (n - 1) / 2, tiers)
        ax.set_ylabel(what)
        ax.set_ylim(0, 105)
        ax.grid(False, axis="x")
    hot_ax.set_title("How long the links run hot")
    p99_ax.set_title("How hard the busiest links work")
    # designs under the plots, where the legend cannot cover a bar
    fig.legend(handles=handles, loc="lower center", ncols=min(n + 1, 3), fontsize=8,
               frameon=False)
    save_figure(fig, path, bottom=0.06 + 0.045 * ((n + 3) // 3))


def plot_alltoall(comparison: Comparison, path: Path) -> None:
    """Mean dispatch and combine time per design."""
    rows = comparison.rows
    fig, ax = new_figure(9, 1.2 + 0.7 * len(rows))
    y = np.arange(len(rows))[::-1]
    d = np.array([r.metrics.dispatch_s or 0.0 for r in rows]) * 1e3
    c = np.array([r.metrics.combine_s or 0.0 for r in rows]) * 1e3
    ax.barh(y + 0.18, d, height=0.35, color="#4c78a8", label="dispatch (FP8)")
    ax.barh(y - 0.18, c, height=0.35, color="#f58518", label="combine (BF16)")
    ax.set_yticks(y, _labels(comparison))
    ax.set_xlabel("mean all-to-all time [ms]")
    ax.set_title("Expert-parallel all-to-all time per design")
    ax.legend(fontsize=8)
    ax.grid(False, axis="y")
    save_figure(fig, path)


def plot_comparison(comparison: Comparison, out_dir: Path) -> list[str]:
    """Write the comparison's PNGs into ``out_dir``; return their names."""
    names = ["compare_time.png", "compare_value.png", "compare_utilisation.png"]
    plot_time(comparison, out_dir / names[0])
    plot_value(comparison, out_dir / names[1])
    plot_utilisation(comparison, out_dir / names[2])
    if any(r.metrics.dispatch_s for r in comparison.rows):
        plot_alltoall(comparison, out_dir / "compare_alltoall.png")
        names.append("compare_alltoall.png")
    return names


_CAPTIONS = {
    "compare_time.png": ("Time per design", "Each design's {metric}, with the ratio to the "
                         "first design; training steps are split into their breakdown (forward, "
                         "backward, overlapped F&B, bubble, optimizer). The red bar is the "
                         "exposed communication: the time the GPUs wait for the network."),
    "compare_value.png": ("Cost and performance per dollar", "Left: network cost per GPU "
                          "(switches, cables, NICs at the price book's prices). Right: what "
                          "each million dollars of network buys ({unit})."),
    "compare_utilisation.png": ("Utilisation per tier", "Left: the share of the run the "
                                "tier's links (those that carried traffic) spend at or above "
                                "90% of their capacity. Right: the 99th percentile of their "
                                "mean utilisation, with the highest load any link reached as "
                                "a black mark."),
    "compare_alltoall.png": ("All-to-all times", "Mean time of the expert-parallel dispatch "
                             "(FP8) and combine (BF16) all-to-alls on each design."),
}


def _blocks(comparison: Comparison, figures: list[str]) -> list[Block]:
    metric = _METRIC[comparison.metric]
    first = comparison.rows[0]
    best = min(comparison.rows, key=_time)
    value = max(comparison.rows, key=lambda r: r.metrics.perf_per_musd or 0.0)
    blocks: list[Block] = [
        Paragraph(f"Workload {comparison.workload!r} on {len(comparison.rows)} designs "
                  f"({comparison.model} model). The {metric} is compared with the first "
                  f"design, {first.design}. Fastest: {best.design} "
                  f"({_t(best.metrics.time_s)}); best performance per dollar: {value.design}."),
        Heading("Side by side"),
        turned_table(comparison),
    ]
    breakdowns = [r for r in comparison.rows if r.breakdown is not None]
    if breakdowns:
        blocks += [Heading("Step breakdown"),
                   Table(["design", *(name for _, name, _ in _BREAKDOWN)],
                         [[r.design, *(_t(getattr(r.breakdown, key)) for key, _, _ in _BREAKDOWN)]
                          for r in breakdowns]),
                   Paragraph("Mean over the job's lanes; the rows add up to the step time.",
                             note=True)]
    failed = [r for r in comparison.rows if r.failures]
    for r in failed:
        ratio = format_ratio(r.time_vs_first) if r.time_vs_first else "-"
        blocks.append(Paragraph(f"{r.design} runs with {_impaired(r.failures)}: "
                                f"{ratio} the first design's {metric}.", note=True))
    blocks.append(Heading("Figures"))
    unit = (comparison.rows[0].metrics.perf_unit or "") if comparison.rows else ""
    for name in figures:
        title, caption = _CAPTIONS[name]
        blocks.append(Figure(name, title, caption.format(metric=metric, unit=unit)))
    return blocks


def write_comparison(comparison: Comparison, out_dir: str | Path) -> list[str]:
    """Write compare.json, compare.txt, compare.md, compare.html and the figures into
    ``out_dir`` (which must exist); return the names written."""
    out = Path(out_dir)
    write_json(out / "compare.json", comparison.to_dict())
    (out / "compare.txt").write_text(text_table(compare_table(comparison)) + "\n",
                                     encoding="utf-8")
    figures = plot_comparison(comparison, out)
    title = f"Design comparison: {comparison.workload}"
    blocks = _blocks(comparison, figures)
    (out / "compare.md").write_text(to_markdown(title, blocks), encoding="utf-8")
    (out / "compare.html").write_text(to_html(title, blocks, out), encoding="utf-8")
    return ["compare.json", "compare.txt", "compare.md", "compare.html", *figures]
