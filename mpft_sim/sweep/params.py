"""Sweep parameters: named aliases for edits of the raw topology and workload YAML.

A parameter edits the parsed YAML mappings *before* validation, so a point with a bad
combination fails with the same message ``mpft-sim validate`` would give. Three sorts:

- aliases for common design knobs (``nodes``, ``planes``, ``routing`` ...; see :data:`PARAMS`);
- dotted raw paths ``topology.<key>.<key>...`` or ``workload.<key>...`` (a list index is a
  number: ``workload.jobs.0.layout.ep``), checked against the spec classes when the sweep loads;
- ``topology`` / ``workload`` (a file) and the run settings ``model``, ``seed``, ``tolerance``.

This module names them and checks their values and paths; :mod:`mpft_sim.sweep.apply`
applies one to a point.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mpft_sim.errors import SpecError
from mpft_sim.spec.limits import (
    MAX_GPUS,
    MAX_MICRO_BATCHES,
    MAX_NODES,
    MAX_PLANES,
    MAX_RADIX,
    MAX_SEED,
    MAX_TOKENS,
    MAX_TOLERANCE,
    Limit,
)
from mpft_sim.spec.run import MODELS
from mpft_sim.spec.schema import Spec, yaml_fields
from mpft_sim.spec.topology import (
    CROSS_PLANE_POLICIES,
    ROUTING_POLICIES,
    TopologySpec,
    parse_failure,
    parse_ratio,
)
from mpft_sim.spec.workload import (
    FlowsWorkloadSpec,
    InferenceWorkloadSpec,
    JobsWorkloadSpec,
    NcclAllToAllSpec,
    TrainingWorkloadSpec,
)

__all__ = ["PARAMS", "SIZE_PARAMS", "Param", "check_dotted", "check_path", "check_value",
           "describe_params", "workload_class"]

Target = Literal["topology", "workload", "file", "run"]

# the parameters that set a cluster's size: a "design" is everything else
SIZE_PARAMS = frozenset({"nodes", "topology.fabric.nodes"})

_WORKLOAD_CLASSES: dict[str, type[Spec]] = {
    "training": TrainingWorkloadSpec,
    "inference": InferenceWorkloadSpec,
    "nccl-alltoall": NcclAllToAllSpec,
    "flows": FlowsWorkloadSpec,
    "jobs": JobsWorkloadSpec,
}


@dataclass(frozen=True)
class Param:
    """A named sweep parameter.

    Attributes
    ----------
    name : str
        The key under ``grid``.
    target : {"topology", "workload", "file", "run"}
        What it edits.
    doc : str
        One line for the docs: which keys it sets.
    check : callable
        Raises ``ValueError`` (with a message) for a value the parameter can never take.
    kinds : tuple of str
        Workload kinds it applies to (workload parameters only).
    """

    name: str
    target: Target
    doc: str
    check: Callable[[Any], None]
    kinds: tuple[str, ...] = ()


def _positive_int(limit: Limit) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("expected a positive whole number")
        _at_most(value, limit)
    return check


def _at_most(value: int, limit: Limit) -> None:
    if value > limit.value:
        raise ValueError(f"must be at most {limit.value:,} ({limit.why})")


def _seed(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("expected a non-negative whole number")
    _at_most(value, MAX_SEED)


def _tolerance(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError("expected a non-negative number")
    if not (math.isfinite(value) and value < MAX_TOLERANCE.value):
        raise ValueError(f"must be less than {MAX_TOLERANCE.value} ({MAX_TOLERANCE.why})")


def _ratio(value: Any) -> None:
    parse_ratio(value)  # raises ValueError with the expected form


def _choice(choices: tuple[str, ...]) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if value not in choices:
            close = difflib.get_close_matches(str(value), list(choices), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"must be one of {', '.join(map(repr, choices))}{hint}")
    return check


def _file(value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a file name")


def _factor(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not 0 <= value <= 1:  # NaN fails too
        raise ValueError("expected the fraction of its bandwidth a degraded component keeps, "
                         "a number in [0, 1]")


def _failures(value: Any) -> None:
    # one grid value is one set of failures: a list of kind=name (or one string); [] = none
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError("expected a list of kind=name failures ([] for none)")
    for item in items:
        try:
            parse_failure(item)
        except SpecError as exc:
            raise ValueError(exc.message) from None


PARAMS: dict[str, Param] = {p.name: p for p in (
    Param("nodes", "topology", "fabric.nodes", _positive_int(MAX_NODES)),
    Param("planes", "topology",
          "fabric.planes and node.nics (node.nic.ports for multi-port NICs), so that each "
          "NIC (or port) sits in one plane", _positive_int(MAX_PLANES)),
    Param("oversubscription", "topology", "fabric.oversubscription ('3:1' or 3)", _ratio),
    Param("radix", "topology", "fabric.switch.radix", _positive_int(MAX_RADIX)),
    Param("routing", "topology", "routing.policy", _choice(ROUTING_POLICIES)),
    Param("cross_plane", "topology", "routing.cross_plane", _choice(CROSS_PLANE_POLICIES)),
    Param("failures", "topology",
          "failures: a list of kind=name such as plane=3 or switch=p0/spine/1, or "
          "kind=name:factor for a degraded one (plane=3:0.5); [] = none",
          _failures),
    Param("degrade_factor", "topology",
          "the factor of every degraded component of the point (a failure with a factor: "
          "in the topology, a failures parameter or --degrade), in [0, 1]; 0 fails them",
          _factor),
    Param("tokens", "workload", "batch.tokens (training), tokens_per_gpu (inference)",
          _positive_int(MAX_TOKENS), ("training", "inference")),
    Param("micro_batches", "workload",
          "batch.micro_batches (training), micro_batches (inference)",
          _positive_int(MAX_MICRO_BATCHES), ("training", "inference")),
    Param("ep", "workload", "layout.ep, and layout.dp raised to ep if it is smaller",
          _positive_int(MAX_GPUS), ("training", "inference")),
    Param("topology", "file", "the topology file (relative to the sweep file)", _file),
    Param("workload", "file", "the workload file (relative to the sweep file)", _file),
    Param("model", "run", "fluid or analytic", _choice(MODELS)),
    Param("seed", "run", "seeds ECMP hashing (the workload's own seed: workload.seed)", _seed),
    Param("tolerance", "run", "fluid model: relative time quantum, in [0, 1)", _tolerance),
)}


def workload_class(kind: Any) -> type[Spec] | None:
    """The spec class of a workload kind, or None for an unknown kind."""
    return _WORKLOAD_CLASSES.get(kind) if isinstance(kind, str) else None


def check_value(name: str, value: Any) -> None:
    """Raise ``ValueError`` if a named parameter can never take ``value``."""
    param = PARAMS.get(name)
    if param is not None:
        param.check(value)


def check_path(cls: type[Spec], parts: list[str]) -> None:
    """Check a dotted raw path against a spec class's YAML keys.

    Raises
    ------
    ValueError
        Naming the first part that is not a key, with a did-you-mean.
    """
    tp: Any = cls
    for i, part in enumerate(parts):
        where = ".".join(parts[:i]) or "the top level"
        tp = _unwrap_optional(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, Spec):
            fields = yaml_fields(tp)
            if part not in fields:
                close = difflib.get_close_matches(part, list(fields), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"{part!r} is not a key of {where}{hint}")
            tp = typing.get_type_hints(tp)[fields[part].name]
        elif origin is tuple:
            if not part.isdigit():
                raise ValueError(f"{where} is a list: index it with a number, not {part!r}")
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        elif tp is Any or typing.get_origin(tp) in (types.UnionType, typing.Union):
            return  # one of several job kinds: the point's validation decides
        else:
            raise ValueError(f"{where} is a value, not a mapping: {part!r} cannot be below it")


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def check_dotted(name: str, workload_kinds: list[str]) -> None:
    """Check a dotted parameter ``topology.a.b`` / ``workload.a.b`` against the spec classes.

    Parameters
    ----------
    name : str
        The grid key.
    workload_kinds : list of str
        The kinds of the sweep's workload files: a workload path must fit each.

    Raises
    ------
    ValueError
        If the root is neither topology nor workload, or a part is not a key.
    """
    root, _, rest = name.partition(".")
    parts = rest.split(".")
    if root not in ("topology", "workload") or not all(parts):
        raise ValueError("a dotted parameter starts with topology. or workload. and names "
                         "a key, such as topology.fabric.switch.radix")
    if root == "topology":
        check_path(TopologySpec, parts)
        return
    for kind in workload_kinds:
        cls = workload_class(kind)
        if cls is not None:
            try:
                check_path(cls, parts)
            except ValueError as exc:
                raise ValueError(f"{exc} in a {kind} workload") from None


def describe_params() -> Mapping[str, str]:
    """Each named parameter and the keys it sets, for help texts."""
    return {name: p.doc for name, p in PARAMS.items()}
