"""The ``mpft-sim`` command line: parse, call one library function, print.

This is the only module that prints or knows exit codes. Library errors (:class:`MpftError`)
become ``Error: <file>: <key.path>: <what>, got <value>`` on stderr and exit code 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from mpft_sim.errors import MpftError
from mpft_sim.units import format_bandwidth

__all__ = ["cli", "main"]


def _human(value: Any, key: str = "") -> str:
    if key.endswith("_Bps") and isinstance(value, int | float):
        return format_bandwidth(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_human(v, k)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(_human(v) for v in value) or "-"
    return str(value)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mpft-sim")
def cli() -> None:
    """Simulate GPU cluster fabrics: congestion, latency and cost."""


@cli.command()
@click.argument("files", nargs=-1, required=True)
def validate(files: Sequence[str]) -> None:
    """Check topology and price-book FILES; report the first problem of each."""
    from mpft_sim.spec import load_input

    for path in files:
        kind, spec = load_input(path)
        name = getattr(spec, "name", "")
        click.echo(f"ok: {path} ({kind}{' ' + repr(name) if name else ''})")


@cli.command()
@click.argument("topology")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def describe(topology: str, as_json: bool) -> None:
    """Print the switches, cables, capacity and bisection of a TOPOLOGY."""
    from mpft_sim.spec import load_topology
    from mpft_sim.topology.describe import describe_topology

    info = describe_topology(load_topology(topology))
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    width = max(len(k) for k in info)
    for key, value in info.items():
        click.echo(f"{key.ljust(width)}  {_human(value, key)}")


@cli.command()
@click.argument("topologies", nargs=-1, required=True)
@click.option("--prices", "prices_file", metavar="FILE",
              help="Price book YAML (default: the shipped one, matching ISCA25 Table 3).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
@click.option("-o", "--out", "out_dir", metavar="DIR",
              help="Also write cost.json, cost.txt and cost_per_endpoint.png into DIR.")
def cost(topologies: Sequence[str], prices_file: str | None, as_json: bool,
         out_dir: str | None) -> None:
    """Price the bill of materials of each of TOPOLOGIES."""
    from mpft_sim.report.cost import cost_table, plot_cost_per_endpoint
    from mpft_sim.report.files import staged_dir, write_json
    from mpft_sim.spec import load_prices, load_topology
    from mpft_sim.topology.cost import bill_of_materials

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="mpft-sim",
                 standalone_mode=False)
    except MpftError as exc:
        click.echo(f"Error: {exc}", err=True)
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
