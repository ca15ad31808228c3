"""The command line's shared pieces: path arguments, the option groups several commands take
and the pre-flight check of a run's cost, before anything is built."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from mpft_sim.spec.run import MODELS
from mpft_sim.spec.topology import CROSS_PLANE_POLICIES, ROUTING_POLICIES

__all__ = ["DIR", "FILE", "display_options", "limit_options", "model_options", "preflight",
           "run_options"]


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
