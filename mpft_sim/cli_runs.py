"""The commands that run simulations: ``simulate`` one design, ``compare`` several on one
workload, ``sweep`` a grid. Each loads its inputs, checks the estimated cost, then loads the
engine (numba takes a second), runs with a live display and writes its output folder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from mpft_sim.cli_options import (
    DIR,
    FILE,
    display_options,
    limit_options,
    model_options,
    preflight,
    run_options,
)
from mpft_sim.spec.run import RunOptions, run_failures
from mpft_sim.units import format_rate, format_time

__all__ = ["compare", "simulate", "sweep"]


@click.command()
@click.argument("topology", type=FILE)
@click.argument("workload", type=FILE)
@click.option("-o", "--out", "out_dir", metavar="DIR", type=DIR,
              help="Output folder (default: reports/<topology>--<workload>).")
@model_options
@run_options
@click.option("--flow-paths", is_flag=True,
              help="Keep every flow's links (the links column of the flows table; a "
                   "training step has tens of millions of flows).")
@click.option("--table-format", type=click.Choice(["csv", "parquet"]),
              help="Format of the flows, links, ops and long timeline tables [default: csv; "
                   "parquet above 2 million flows, which needs pip install "
                   "'mpft-sim[parquet]'].")
@click.option("--no-flows", is_flag=True, help="Leave the per-flow table out.")
@limit_options
@display_options
def simulate(topology: str, workload: str, out_dir: str | None, model: str, tolerance: float,
             seed: int | None, routing: str | None, cross_plane: str | None,
             fails: Sequence[str], degrades: Sequence[str], flow_paths: bool,
             table_format: str | None, no_flows: bool, dry_run: bool, max_flows: int | None,
             max_memory: str | None, quiet: bool, verbose: bool) -> None:
    """Run WORKLOAD on TOPOLOGY; write the run directory: summary.json, links.csv,
    timeline.csv, flows.csv, ops.csv, report.md, report.html and the figures."""
    import time

    from mpft_sim.estimate import estimate
    from mpft_sim.spec import load_topology
    from mpft_sim.spec.workload import load_workload

    started = time.perf_counter()
    spec, work = load_topology(topology), load_workload(workload)
    options = RunOptions(model=model, tolerance=tolerance)  # type: ignore[arg-type]
    if preflight([(estimate(spec, work, options, keep_paths=flow_paths or None), work)],
                 dry_run, max_flows, max_memory):
        return
    # the engine loads only for a run that will happen (numba takes a second)
    from mpft_sim.engine import simulate as run
    from mpft_sim.output import write_run
    from mpft_sim.progress import REPORT
    from mpft_sim.report.files import check_output_dir
    from mpft_sim.terminal import Display

    # the output folder is checked before any work, not after an hour of simulation
    out = check_output_dir(out_dir) if out_dir else check_output_dir(
        Path("reports") / f"{spec.name}--{work.name}", inside="reports")
    with Display(quiet=quiet, verbose=verbose) as display:
        result = run(spec, work, model, seed=seed or 0,  # type: ignore[arg-type]
                     routing=routing, cross_plane=cross_plane, failures=fails,
                     degrade=degrades, tolerance=tolerance,
                     keep_paths=True if flow_paths else None,
                     progress=display)
        info = result.summary.info
        display.phase(REPORT)
        files = write_run(result, out, flows=not no_flows,
                          table_format=table_format)  # type: ignore[arg-type]
    s = result.summary
    click.echo(f"{info.topology} / {info.workload} ({info.model}): {s.flows:,} flows, "
               f"makespan {format_time(s.makespan_s)}, FCT p50 {format_time(s.fct_s.p50)} "
               f"p99 {format_time(s.fct_s.p99)}")
    for job in s.jobs:
        click.echo(f"{job.name}: step time {format_time(job.step_time_s)}"
                   + (f", TPOT {format_time(job.tpot_s)}" if job.tpot_s is not None else "")
                   + (f", {format_rate(job.tokens_per_s, 'tokens/s')}"
                      if job.tokens_per_s is not None else ""))
    click.echo(f"wrote {out}/ ({', '.join(files)}) in {time.perf_counter() - started:.1f}s",
               err=True)


@click.command()
@click.argument("topologies", nargs=-1, required=True, type=FILE)
@click.option("--workload", "workload_file", required=True, metavar="WORKLOAD", type=FILE,
              help="The workload every design runs.")
@click.option("-o", "--out", "out_dir", metavar="DIR", type=DIR,
              help="Output folder (default: reports/compare-<workload>).")
@model_options
@run_options
@click.option("--prices", "prices_file", metavar="FILE", type=FILE, help="Price book YAML.")
@click.option("--json", "as_json", is_flag=True, help="Print compare.json instead of a table.")
@click.option("--jobs", type=click.IntRange(min=1),
              help="Designs run at once, in worker processes (default: CPUs, fewer if their "
                   "estimated memory together would not fit).")
@limit_options
@display_options
def compare(topologies: Sequence[str], workload_file: str, out_dir: str | None, model: str,
            tolerance: float, seed: int | None, routing: str | None, cross_plane: str | None,
            fails: Sequence[str], degrades: Sequence[str], prices_file: str | None,
            as_json: bool, jobs: int | None, dry_run: bool, max_flows: int | None,
            max_memory: str | None, quiet: bool, verbose: bool) -> None:
    """Run one WORKLOAD on each of TOPOLOGIES and compare them side by side.

    Writes compare.json, compare.txt, compare.md, compare.html and plots into DIR.
    """
    import os
    import time

    from mpft_sim.estimate import estimate, memory_ceiling
    from mpft_sim.spec import load_prices, load_topology
    from mpft_sim.spec.workload import load_workload

    specs = [load_topology(t) for t in topologies]
    work = load_workload(workload_file)
    options = RunOptions(model=model, tolerance=tolerance)  # type: ignore[arg-type]
    estimates = [estimate(s, work, options) for s in specs]
    if preflight([(e, work) for e in estimates], dry_run, max_flows, max_memory):
        return
    together = min(jobs or os.cpu_count() or 1, len(specs))
    ceiling = memory_ceiling(max_memory)
    largest = sorted((e.memory_bytes for e in estimates), reverse=True)
    while together > 1 and ceiling is not None and sum(largest[:together]) > ceiling:
        together -= 1  # each design fits alone (checked above); fewer at once fit together
    from mpft_sim.comparison import compare as run_compare
    from mpft_sim.progress import REPORT
    from mpft_sim.report.compare import compare_table, text_table, write_comparison
    from mpft_sim.report.files import check_output_dir, staged_dir
    from mpft_sim.terminal import Display

    book = load_prices(prices_file) if prices_file else None
    out = check_output_dir(out_dir) if out_dir else check_output_dir(
        Path("reports") / f"compare-{work.name}", inside="reports")
    started = time.perf_counter()
    with Display(quiet=quiet, verbose=verbose) as display:
        result = run_compare(specs, work, model, seed=seed or 0,  # type: ignore[arg-type]
                             routing=routing, cross_plane=cross_plane, failures=fails,
                             degrade=degrades, tolerance=tolerance, prices=book,
                             progress=display, jobs=together)
        display.phase(REPORT, design="comparison")
        with staged_dir(out) as tmp:
            files = write_comparison(result, tmp)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(text_table(compare_table(result)))
    click.echo(f"wrote {out / 'compare.html'} and {len(files) - 1} more files in "
               f"{time.perf_counter() - started:.0f}s", err=True)


@click.command()
@click.argument("sweep_file", type=FILE)
@click.option("-o", "--out", "out_dir", metavar="DIR", type=DIR,
              help="Output folder (default: reports/<sweep name>).")
@run_options
@click.option("--jobs", type=click.IntRange(min=1), help="Worker processes (default: CPUs).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="A local process pool, or a Dask cluster.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Dask scheduler address (default: start a local Dask cluster).")
@click.option("--resume", is_flag=True, help="Keep the points an earlier run finished.")
@limit_options
@display_options
def sweep(sweep_file: str, out_dir: str | None, seed: int | None, routing: str | None,
          cross_plane: str | None, fails: Sequence[str], degrades: Sequence[str],
          jobs: int | None, executor: str, scheduler: str | None, resume: bool,
          dry_run: bool, max_flows: int | None, max_memory: str | None, quiet: bool,
          verbose: bool) -> None:
    """Run every point of a SWEEP_FILE grid; write sweep.csv, sweep.json and plots.

    Points stream to DIR/points.jsonl as they finish, so an interrupted sweep keeps them and
    --resume runs only the rest. The sweep file sets the model and tolerance; --routing and
    --cross-plane apply to every point except where the grid varies them.
    """
    import os
    import time

    from mpft_sim.estimate import memory_ceiling
    from mpft_sim.report.files import check_output_dir
    from mpft_sim.sweep import load_sweep
    from mpft_sim.sweep import sweep as run_sweep
    from mpft_sim.sweep.point import estimate_points
    from mpft_sim.terminal import Display

    spec = load_sweep(sweep_file)
    costs = estimate_points(spec, RunOptions(
        routing=routing, cross_plane=cross_plane,  # type: ignore[arg-type]
        failures=run_failures(fails, degrades)))
    if dry_run:
        for line in costs.lines(memory_ceiling(max_memory)):
            click.echo(line)
        return
    if costs.largest is not None:  # the largest point, in as many processes as run at once
        together = 1 if scheduler else min(jobs or os.cpu_count() or 1, len(costs.estimates))
        preflight([(costs.estimates[costs.largest], costs.workloads[costs.largest])],
                  False, max_flows, max_memory, together)
    out = check_output_dir(out_dir) if out_dir else check_output_dir(
        Path("reports") / spec.name, inside="reports")
    started = time.perf_counter()
    with Display(quiet=quiet, verbose=verbose) as display:
        result = run_sweep(spec, out, jobs=jobs, executor=executor, scheduler=scheduler,
                           resume=resume, progress=display.points, seed=seed,
                           routing=routing, cross_plane=cross_plane, failures=fails,
                           degrade=degrades)
    errors = [r for r in result.rows if r.get("error")]
    click.echo(f"{spec.name}: {len(result.rows)} points ({result.ran} run, {result.resumed} "
               f"resumed, {len(errors)} invalid)")
    for row in errors:
        click.echo(f"  {row['error']}")
    click.echo(f"wrote {out / 'sweep.csv'} and {len(result.files) - 1} more files in "
               f"{time.perf_counter() - started:.0f}s", err=True)
