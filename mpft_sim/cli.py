"""The ``mpft-sim`` command line: parse, call one library function, print.

This is the only module that prints or knows exit codes. Library errors (:class:`MpftError`)
become ``Error: <file>: <key.path>: <what>, got <value>`` on stderr and exit code 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from mpft_sim.errors import MpftError
from mpft_sim.spec.run import MODELS, RunOptions, run_failures
from mpft_sim.spec.topology import CROSS_PLANE_POLICIES, ROUTING_POLICIES
from mpft_sim.units import format_rate, format_time

__all__ = ["cli", "main"]

class _Path(click.Path):
    """click.Path, refusing a name the system cannot hold (a NUL byte) as a usage error."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, str) and "\x00" in value:
            self.fail("a path cannot contain a NUL byte", param, ctx)
        return super().convert(value, param, ctx)


# paths as click.Path, so that shell completion offers file and folder names; whether they
# exist is the library's to say (with the file's name, in the one error format)
FILE = _Path(dir_okay=False)
DIR = _Path(file_okay=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mpft-sim")
def cli() -> None:
    """Simulate GPU cluster fabrics: congestion, latency and cost."""


@cli.command()
@click.argument("files", nargs=-1, required=True, type=FILE)
def validate(files: Sequence[str]) -> None:
    """Check topology and price-book FILES; report the first problem of each."""
    from mpft_sim.spec import load_input

    for path in files:
        kind, spec = load_input(path)
        name = getattr(spec, "name", "")
        click.echo(f"ok: {path} ({kind}{' ' + repr(name) if name else ''})")


@cli.command()
@click.argument("topology", type=FILE)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def describe(topology: str, as_json: bool) -> None:
    """Print the switches, cables, capacity and bisection of a TOPOLOGY."""
    from mpft_sim.spec import load_topology
    from mpft_sim.topology.describe import describe_lines, describe_topology

    info = describe_topology(load_topology(topology))
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    lines = describe_lines(info)
    width = max(len(label) for label, _ in lines)
    for label, words in lines:
        click.echo(f"{label.ljust(width)}  {words}")


@cli.command()
@click.argument("topologies", nargs=-1, required=True, type=FILE)
@click.option("--prices", "prices_file", metavar="FILE", type=FILE,
              help="Price book YAML (default: the shipped one, matching ISCA25 Table 3).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("-o", "--out", "out_dir", metavar="DIR", type=DIR,
              help="Also write cost.json, cost.txt and cost_per_endpoint.png into DIR.")
def cost(topologies: Sequence[str], prices_file: str | None, as_json: bool,
         out_dir: str | None) -> None:
    """Price the bill of materials of each of TOPOLOGIES."""
    from mpft_sim.report.cost import cost_table, plot_cost_per_endpoint
    from mpft_sim.report.files import check_output_dir, staged_dir, write_json
    from mpft_sim.spec import load_prices, load_topology
    from mpft_sim.topology.cost import bill_of_materials

    if out_dir:
        check_output_dir(out_dir)
    book = load_prices(prices_file) if prices_file else None
    specs = [load_topology(t) for t in topologies]
    boms = [bill_of_materials(s, book) for s in specs]
    data = [b.to_dict() for b in boms]
    table = cost_table(boms)
    if out_dir:
        with staged_dir(out_dir) as tmp:
            write_json(tmp / "cost.json", data)
            (tmp / "cost.txt").write_text(table + "\n", encoding="utf-8")
            plot_cost_per_endpoint(boms, tmp / "cost_per_endpoint.png")
    click.echo(json.dumps(data, indent=2) if as_json else table)
    if out_dir:
        click.echo(f"wrote {Path(out_dir) / 'cost.json'}, cost.txt, cost_per_endpoint.png",
                   err=True)


def run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The run options simulate, compare and sweep share, with the same help."""
    options = [
        click.option("--seed", type=click.IntRange(min=0), default=None,
                     help="Seeds ECMP path hashing and adaptive routing's tie-breaks "
                          "[default: 0, or the sweep file's]. The workload's own traffic "
                          "(gating) follows the seed in its file."),
        click.option("--routing", type=click.Choice(ROUTING_POLICIES),
                     help="Routing policy instead of the topology's routing.policy."),
        click.option("--cross-plane", type=click.Choice(CROSS_PLANE_POLICIES),
                     help="Where multi-plane cross-plane traffic is forwarded over NVLink, "
                          "instead of the topology's routing.cross_plane."),
        click.option("--fail", "fails", multiple=True, metavar="KIND=NAME",
                     help="Fail a component besides the topology's failures: plane=3, "
                          "switch=p0/spine/1, nic=n4/nic2, link='p0/leaf/0 - p0/spine/1'. "
                          "Repeatable."),
        click.option("--degrade", "degrades", multiple=True, metavar="KIND=NAME:FACTOR",
                     help="Run a component at a fraction of its bandwidth: plane=3:0.5, "
                          "nic=n4/nic2:0.25, link='p0/leaf/0 - p0/spine/1:0.5' (a 400G link "
                          "trained down to 200G). Repeatable."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def display_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """-q and -v: what the command shows on stderr while it works."""
    command = click.option("-v", "--verbose", is_flag=True,
                           help="Also show the engine's counters (flows, re-solves) and each "
                                "phase of each design.")(command)
    return click.option("-q", "--quiet", is_flag=True,
                        help="Show no progress (errors still go to stderr).")(command)


def model_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--model and --tolerance (simulate and compare; a sweep file sets its own)."""
    command = click.option(
        "--tolerance", type=click.FloatRange(min=0, max=1, max_open=True), default=0.0,
        show_default=True, help="Fluid model: relative time quantum batching nearly "
                                "simultaneous completions (0 = exact).")(command)
    return click.option("--model", type=click.Choice(MODELS), default="fluid",
                        show_default=True,
                        help="Fluid max-min sharing, or per-phase load over capacity.")(command)


def limit_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--dry-run, --max-flows and --max-memory: the cost estimate, before any work."""
    command = click.option(
        "--max-memory", metavar="SIZE",
        help="Refuse a run whose estimated memory exceeds SIZE, such as 16GiB "
             "[default: the memory available].")(command)
    command = click.option("--max-flows", type=click.IntRange(min=1), metavar="N",
                           help="Refuse a run estimated to release more than N flows.")(command)
    return click.option("--dry-run", is_flag=True,
                        help="Print the estimate (nodes, links, tasks, flows, memory) and exit "
                             "without running.")(command)


def preflight(estimates: Sequence[tuple[Any, Any]], dry_run: bool, max_flows: int | None,
              max_memory: str | None, processes: int = 1) -> bool:
    """Print (``--dry-run``) or check each (estimate, workload) against the ceilings, before
    anything is built; True if the command stops here. The check is the library's."""
    from mpft_sim.estimate import check_estimate, memory_ceiling

    ceiling = memory_ceiling(max_memory)
    for est, work in estimates:
        if dry_run:
            for line in est.lines(ceiling):
                click.echo(line)
        else:
            check_estimate(est, work, max_flows=max_flows, max_memory_bytes=ceiling,
                           processes=processes)
    return dry_run


@cli.command()
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


@cli.command()
@click.argument("run_dir", type=DIR)
def report(run_dir: str) -> None:
    """Redraw the report (report.md, report.html, figures) of an existing RUN_DIR."""
    from mpft_sim.output import redraw_report

    files = redraw_report(run_dir)
    click.echo(f"wrote {Path(run_dir) / 'report.html'} and {len(files) - 1} more files")


@cli.command()
@click.argument("run_dir", type=DIR)
@click.option("--format", "fmt", type=click.Choice(["htsim", "m4"]), required=True,
              help="htsim: a connection matrix and a -topo fat-tree per plane; m4: the "
                   "fabric, flows and paths.")
@click.option("-o", "--out", "out_dir", metavar="DIR", type=DIR,
              help="Output folder (default: RUN_DIR/htsim or RUN_DIR/m4).")
def export(run_dir: str, fmt: str, out_dir: str | None) -> None:
    """Write the flows of RUN_DIR as input to a packet-level simulator, to cross-check the
    run (docs/validation.md). The run must keep its flows' paths: simulate --flow-paths."""
    from mpft_sim.export import export_run

    out = Path(out_dir) if out_dir else Path(run_dir) / fmt
    files = export_run(run_dir, out, fmt)  # type: ignore[arg-type]
    click.echo(f"wrote {out}/ ({', '.join(files)})")


@cli.command()
@click.argument("topologies", nargs=-1, required=True, type=FILE)
@click.option("--workload", "workload_file", required=True, metavar="WORKLOAD", type=FILE,
              help="The workload every design runs.")
@click.option("-o", "--out", "out_dir", metavar="DIR", type=DIR,
              help="Output folder (default: reports/compare-<workload>).")
@model_options
@run_options
@click.option("--prices", "prices_file", metavar="FILE", type=FILE, help="Price book YAML.")
@click.option("--json", "as_json", is_flag=True, help="Print compare.json instead of a table.")
@limit_options
@display_options
def compare(topologies: Sequence[str], workload_file: str, out_dir: str | None, model: str,
            tolerance: float, seed: int | None, routing: str | None, cross_plane: str | None,
            fails: Sequence[str], degrades: Sequence[str], prices_file: str | None,
            as_json: bool, dry_run: bool, max_flows: int | None, max_memory: str | None,
            quiet: bool, verbose: bool) -> None:
    """Run one WORKLOAD on each of TOPOLOGIES and compare them side by side.

    Writes compare.json, compare.txt, compare.md, compare.html and plots into DIR.
    """
    import time

    from mpft_sim.estimate import estimate
    from mpft_sim.spec import load_prices, load_topology
    from mpft_sim.spec.workload import load_workload

    specs = [load_topology(t) for t in topologies]
    work = load_workload(workload_file)
    options = RunOptions(model=model, tolerance=tolerance)  # type: ignore[arg-type]
    if preflight([(estimate(s, work, options), work) for s in specs], dry_run, max_flows,
                 max_memory):
        return
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
                             progress=display)
        display.phase(REPORT, design="comparison")
        with staged_dir(out) as tmp:
            files = write_comparison(result, tmp)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(text_table(compare_table(result)))
    click.echo(f"wrote {out / 'compare.html'} and {len(files) - 1} more files in "
               f"{time.perf_counter() - started:.0f}s", err=True)


@cli.command()
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


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish): commands, options, choices
    and file names complete on Tab.

    \b
    bash:  eval "$(mpft-sim completion bash)"        (add to ~/.bashrc)
    zsh:   eval "$(mpft-sim completion zsh)"         (add to ~/.zshrc)
    fish:  mpft-sim completion fish > ~/.config/fish/completions/mpft-sim.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # click ships these three
    click.echo(cls(cli, {}, "mpft-sim", "_MPFT_SIM_COMPLETE").source())


@cli.command()
@click.argument("kind", required=False, type=click.Choice(["topology", "workload", "sweep"]))
@click.option("--write", "out_dir", metavar="DIR", type=DIR,
              help="Write topology.schema.json, workload.schema.json and sweep.schema.json "
                   "into DIR instead of printing one.")
def schema(kind: str | None, out_dir: str | None) -> None:
    """Print the JSON Schema of a KIND of input file (topology, workload or sweep), made from
    the specs, for editors that check and complete YAML.

    \b
    A YAML file names its schema in its first line:
      # yaml-language-server: $schema=../schemas/topology.schema.json
    The repository keeps all three in schemas/ (mpft-sim schema --write schemas).
    """
    from mpft_sim.spec.json_schema import schema_text, write_schemas

    if (kind is None) == (out_dir is None):
        raise click.UsageError("give a KIND to print, or --write DIR to write all three")
    if out_dir is not None:
        files = write_schemas(out_dir)
        click.echo(f"wrote {', '.join(str(f) for f in files)}", err=True)
        return
    click.echo(schema_text(kind), nl=False)  # type: ignore[arg-type]

def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    The one error funnel: a library error (bad input), a file the system will not read or
    write, and running out of memory each become one ``Error:`` line and exit code 1; a
    command-line usage error exits 2; anything else is a bug and keeps its traceback.
    """
    import warnings

    try:
        with warnings.catch_warnings():
            # numerical warnings (an overflow in a plot's scale, say) are not for the user:
            # results are checked where they are made
            warnings.simplefilter("ignore", RuntimeWarning)
            cli.main(args=list(argv) if argv is not None else None, prog_name="mpft-sim",
                     standalone_mode=False)
    except MpftError as exc:
        click.echo(f"Error: {exc}", err=True)
        return 1
    except MemoryError:
        click.echo("Error: out of memory: the run needs more than this machine has; try "
                   "--model analytic, fewer micro-batches or a larger --tolerance "
                   "(mpft-sim simulate --dry-run shows what a run needs)", err=True)
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"Error: {where}{exc.strerror or exc}", err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
