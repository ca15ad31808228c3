"""How to run a workload on a design: the options ``simulate``, ``compare`` and ``sweep``
share (model, seed, routing, cross-plane forwarding, failures, tolerance)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from mpft_sim.errors import SpecError
from mpft_sim.spec.schema import Spec, option
from mpft_sim.spec.topology import CrossPlane, FailureSpec, RoutingPolicy, parse_failure

__all__ = ["MODELS", "Model", "RunOptions"]

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
                                               doc="failed components, added to the "
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
        """Failures from ``kind=name`` texts, each error naming the text
        (``--fail plane=x: a plane is a number``)."""
        out = []
        for text in texts:
            try:
                out.append(parse_failure(text))
            except SpecError as exc:
                raise SpecError(exc.message, file=f"--fail {text}") from None
        return tuple(out)
