"""The ``mpft-sim`` command line: parse, call one library function, print.

This module is the group, the commands that inspect or convert files and the one error funnel
(:func:`main`); the commands that run simulations are in :mod:`mpft_sim.cli_runs`, the
options they share in :mod:`mpft_sim.cli_options`.

These are the only modules that print or know exit codes. Library errors (:class:`MpftError`)
become ``Error: <file>: <key.path>: <what>, got <value>`` on stderr and exit code 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from mpft_sim.cli_options import DIR, FILE
from mpft_sim.cli_runs import compare, simulate, sweep
from mpft_sim.errors import MpftError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mpft-sim")
def cli() -> None:
    """Simulate GPU cluster fabrics: congestion, latency and cost."""


for _run in (simulate, compare, sweep):  # the commands that run simulations
    cli.add_command(_run)


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
