"""Apply a sweep parameter to one point: edit its raw topology and workload mappings (before
they are validated) or its run options.

A named parameter (:data:`~mpft_sim.sweep.params.PARAMS`) sets the keys it stands for, keeping
a design valid where one key implies another (``planes`` sets the NICs too, ``ep`` raises
``dp``); a dotted path sets its one key; a run parameter replaces a run option.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from mpft_sim.errors import SpecError
from mpft_sim.spec.run import RunOptions
from mpft_sim.spec.topology import parse_failure
from mpft_sim.sweep.params import PARAMS, Param

__all__ = ["apply_param", "set_path"]


def _node(root: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """The mapping at ``path`` under ``root``, created if missing."""
    here: Any = root
    for depth, part in enumerate(path):
        nxt = _child(here, part, path[:depth])
        if nxt is None:
            nxt = {}
            _set_child(here, part, nxt, path[:depth])
        here = nxt
    if not isinstance(here, dict):
        raise SpecError("expected a mapping of keys", path, here)
    return typing.cast(dict[str, Any], here)


def _child(here: Any, part: str, where: tuple[str, ...]) -> Any:
    if isinstance(here, dict):
        return here.get(part)
    if isinstance(here, list) and part.isdigit():
        index = int(part)
        if index >= len(here):
            raise SpecError(f"the list has {len(here)} entries", (*where, part))
        return here[index]
    raise SpecError("expected a mapping of keys", where, here)


def _set_child(here: Any, part: str, value: Any, where: tuple[str, ...]) -> None:
    if isinstance(here, list) and part.isdigit():
        _child(here, part, where)  # bounds check
        here[int(part)] = value
    elif isinstance(here, dict):
        here[part] = value
    else:
        raise SpecError("expected a mapping of keys", where, here)


def set_path(root: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``root[path[0]][path[1]]... = value``, creating missing mappings on the way."""
    parent = _node(root, path[:-1])
    parent[path[-1]] = value


def apply_param(name: str, value: Any, topology: dict[str, Any], workload: dict[str, Any],
                options: RunOptions) -> RunOptions:
    """Apply one parameter to the raw mappings (edited in place) or the run options.

    ``topology`` and ``workload`` file parameters are applied by the caller (they choose the
    mappings); here they do nothing.

    Raises
    ------
    SpecError
        If the raw YAML has a value where a mapping must be, or a workload parameter does not
        apply to the workload's kind.

    Returns
    -------
    RunOptions
        The run options for the point: ``options`` with a run parameter applied; a point that
        sets the routing policy or the cross-plane forwarding of its topology drops the run's
        override of it (the point's own value wins).
    """
    param = PARAMS.get(name)
    if param is None:
        root, _, rest = name.partition(".")
        set_path(topology if root == "topology" else workload, tuple(rest.split(".")), value)
        return options
    if param.target == "run":
        change: dict[str, Any] = {name: float(value) if name == "tolerance" else value}
        return dataclasses.replace(options, **change)
    if name == "degrade_factor":
        return _apply_factor(float(value), topology, options)
    if param.target == "topology":
        _apply_topology(name, value, topology)
        if name in ("routing", "cross_plane"):
            cleared: dict[str, Any] = {name: None}
            return dataclasses.replace(options, **cleared)
    elif param.target == "workload":
        _apply_workload(param, value, workload)
    return options


def _apply_topology(name: str, value: Any, topo: dict[str, Any]) -> None:
    simple = {"nodes": ("fabric", "nodes"), "oversubscription": ("fabric", "oversubscription"),
              "radix": ("fabric", "switch", "radix"), "routing": ("routing", "policy"),
              "cross_plane": ("routing", "cross_plane")}
    if name in simple:
        set_path(topo, simple[name], value)
    elif name == "planes":
        set_path(topo, ("fabric", "planes"), value)
        # an MPFT needs one NIC per plane (or, with multi-port NICs, one port per plane):
        # keep the node in step so the point stays a valid design
        ports = _node(topo, ("node",)).get("nic", {})
        multi_port = isinstance(ports, dict) and isinstance(ports.get("ports"), int) \
            and ports["ports"] > 1
        set_path(topo, ("node", "nic", "ports") if multi_port else ("node", "nics"), value)
    elif name == "failures":
        items = [value] if isinstance(value, str) else value
        try:
            failures = [parse_failure(item) for item in items]
        except SpecError as exc:  # checked when the sweep loads: only for specs built oddly
            raise SpecError(exc.message, ("failures",), value) from None
        topo["failures"] = [{k: getattr(f, k) for k in ("plane", "switch", "nic", "link",
                                                        "factor")
                             if getattr(f, k) is not None} for f in failures]


def _apply_factor(factor: float, topo: dict[str, Any], options: RunOptions) -> RunOptions:
    """Set the factor of every degraded component: the topology's failures that have one
    (after a ``failures`` parameter) and the run's (``--degrade``). Applied after the point's
    other parameters, so that it finds them whatever the order of the grid."""
    found = 0
    failures = topo.get("failures")
    for entry in failures if isinstance(failures, list) else []:
        if isinstance(entry, dict) and entry.get("factor") is not None:
            entry["factor"] = factor
            found += 1
    degraded = [dataclasses.replace(f, factor=factor) if f.factor is not None else f
                for f in options.failures]
    found += sum(1 for f in options.failures if f.factor is not None)
    if not found:
        raise SpecError("no degraded component to set the factor of: give one a factor in "
                        "the topology's failures, a failures parameter (plane=3:0.5) or "
                        "--degrade", ("failures",))
    return dataclasses.replace(options, failures=tuple(degraded))


def _apply_workload(param: Param, value: Any, work: dict[str, Any]) -> None:
    kind = work.get("kind")
    if kind not in param.kinds:
        raise SpecError(f"the {param.name} parameter applies to {' and '.join(param.kinds)} "
                        f"workloads; use a dotted path such as workload.jobs.0.layout.ep",
                        ("kind",), kind)
    if param.name == "tokens":
        path = ("batch", "tokens") if kind == "training" else ("tokens_per_gpu",)
        set_path(work, path, value)
    elif param.name == "micro_batches":
        path = ("batch", "micro_batches") if kind == "training" else ("micro_batches",)
        set_path(work, path, value)
    elif param.name == "ep":
        layout = _node(work, ("layout",))
        layout["ep"] = value
        dp = layout.get("dp", 1)
        # ep must divide dp: a larger expert-parallel group needs at least as many replicas
        if isinstance(dp, int) and not isinstance(dp, bool) and dp < value:
            layout["dp"] = value
