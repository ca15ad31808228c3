"""How to run a workload on a design: the options ``simulate``, ``compare`` and ``sweep``
share (model, seed, routing, cross-plane forwarding, failed and degraded components,
tolerance)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from mpft_sim.errors import SpecError
from mpft_sim.spec.schema import Spec, option
from mpft_sim.spec.topology import CrossPlane, FailureSpec, RoutingPolicy, parse_failure

__all__ = ["MODELS", "Model", "RunOptions", "run_failures"]

Model = Literal["fluid", "analytic"]
MODELS: tuple[str, ...] = get_args(Model)


@dataclass(frozen=True)
class RunOptions(Spec):
    """The run options: what a run adds to a design and a workload.

    Checked when built, like every spec: an unknown model, routing policy or forwarding
    place, a negative seed or a tolerance outside [0, 1) is a :class:`SpecError` naming the
    option.
    """

    model: Model = option(default="fluid",
                          doc="fluid (max-min sharing, flow by flow) or analytic (per-phase "
                              "load over capacity)")
    seed: int = option(default=0, ge=0,
                       doc="seeds ECMP path hashing and adaptive routing's tie-breaks; the "
                           "workload's own seed drives its traffic (gating)")
    routing: RoutingPolicy | None = option(default=None,
                                           doc="overrides the topology's routing.policy")
    cross_plane: CrossPlane | None = option(default=None,
                                            doc="overrides the topology's routing.cross_plane")
    failures: tuple[FailureSpec, ...] = option(default=(),
                                               doc="failed components, and degraded ones "
                                                   "(with a factor), added to the "
                                                   "topology's")
    tolerance: float = option(default=0.0, ge=0,
                              doc="fluid model: relative time quantum that batches nearly "
                                  "simultaneous completions (0: exact)")

    def check(self) -> None:
        if not self.tolerance < 1:
            raise SpecError("must be below 1 (a relative time quantum)", ("tolerance",),
                            self.tolerance)

    @classmethod
    def parse_failures(cls, texts: tuple[str, ...] | list[str]) -> tuple[FailureSpec, ...]:
        """Failed components from ``kind=name`` texts (``--fail``), each error naming the
        text (``--fail plane=x: a plane is a number``); a degraded one belongs to
        :meth:`parse_degrades`."""
        return tuple(_parse(text, "--fail", degraded=False) for text in texts)

    @classmethod
    def parse_degrades(cls, texts: tuple[str, ...] | list[str]) -> tuple[FailureSpec, ...]:
        """Degraded components from ``kind=name:factor`` texts (``--degrade plane=3:0.5``:
        plane 3 at half its bandwidth), each error naming the text."""
        return tuple(_parse(text, "--degrade", degraded=True) for text in texts)


def run_failures(failures: Sequence[FailureSpec | str] = (),
                 degrade: Sequence[FailureSpec | str] = ()) -> tuple[FailureSpec, ...]:
    """The failed and degraded components of a run, in order: specs as given, texts parsed
    (``failures`` as ``--fail`` texts, ``degrade`` as ``--degrade`` texts, which need a
    factor).

    Raises
    ------
    SpecError
        Naming the option and text of the first bad one.
    """
    def parsed(items: Sequence[FailureSpec | str], degraded: bool) -> list[FailureSpec]:
        name = "--degrade" if degraded else "--fail"
        return [f if isinstance(f, FailureSpec) else _parse(f, name, degraded=degraded)
                for f in items]

    return tuple(parsed(failures, False) + parsed(degrade, True))


def _parse(text: str, option_name: str, *, degraded: bool) -> FailureSpec:
    try:
        failure = parse_failure(text)
    except SpecError as exc:
        raise SpecError(exc.message, file=f"{option_name} {text}") from None
    if degraded and failure.factor is None:
        raise SpecError("give the fraction of its bandwidth the component keeps after a ':', "
                        "such as plane=3:0.5", file=f"{option_name} {text}")
    if not degraded and failure.factor is not None:
        raise SpecError(f"a component at a fraction of its bandwidth is degraded, not failed: "
                        f"--degrade {text}", file=f"{option_name} {text}")
    return failure
