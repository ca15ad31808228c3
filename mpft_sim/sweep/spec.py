"""The sweep file: what to vary, validated when it loads, and its expansion into points.

A sweep file names a topology, a workload, the run settings and a ``grid`` of parameters whose
cartesian product gives the points (the last parameter varies fastest). An optional ``zip``
varies several parameters together, as one more axis (the fastest)::

    name: planes-16k
    topology: ../topologies/mpft-16k.yaml     # or a list: one design each
    workload: ../workloads/ep-alltoall.yaml
    model: analytic
    grid:
      planes: [2, 4, 8]
      nodes: [256, 512, 1024, 2048]
    zip:                                      # optional: the i-th values go together
      tokens: [2048, 4096]
      micro_batches: [1, 2]

Files are relative to the sweep file. See :mod:`mpft_sim.sweep.params` for the parameters.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mpft_sim.errors import SpecError
from mpft_sim.spec.files import expect_kind
from mpft_sim.spec.limits import MAX_POINTS, MAX_SEED, MAX_TOLERANCE
from mpft_sim.spec.loading import load_spec
from mpft_sim.spec.schema import Spec, check_name, option, read_yaml
from mpft_sim.sweep.params import PARAMS, SIZE_PARAMS, check_dotted, check_value
from mpft_sim.units import format_parameter

__all__ = ["Point", "SweepFileSpec", "SweepSpec", "load_sweep"]

Key = tuple[str | int, ...]


SweepModel = Literal["fluid", "analytic"]


def _files(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items or not all(
            isinstance(v, str) and v for v in items):
        raise ValueError("expected a file name or a list of file names")
    return tuple(items)


def _mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of parameter names to lists of values")
    return {str(k): v for k, v in value.items()}


@dataclass(frozen=True)
class SweepFileSpec(Spec):
    """The keys of a sweep YAML file (their values are checked by :class:`SweepSpec`)."""

    name: str = option(check=check_name, doc="short name used in reports")
    description: str = option(default="", doc="free text")
    topology: tuple[str, ...] = option(default=(), parse=_files,
                                       doc="a topology file, or a list (one design each)")
    workload: str | None = option(default=None, doc="the workload file")
    model: SweepModel = option(default="fluid", doc="fluid or analytic")
    tolerance: float = option(default=0.0, ge=0, lt=MAX_TOLERANCE,
                              doc="fluid model: relative time quantum")
    seed: int = option(default=0, ge=0, le=MAX_SEED, doc="seeds ECMP hashing")
    grid: dict[str, Any] = option(default_factory=dict, parse=_mapping,
                                  doc="parameter: [values]; the cartesian product")
    zip: dict[str, Any] = option(default_factory=dict, parse=_mapping,
                                 doc="parameter: [values], varied together")


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its index in the expansion order and its parameter values."""

    index: int
    params: dict[str, Any]

    @property
    def label(self) -> str:
        """``planes=4, nodes=256``: the values in grid order."""
        return ", ".join(f"{k}={format_parameter(v)}" for k, v in self.params.items()) or "(base)"


@dataclass(frozen=True)
class SweepSpec(Spec):
    """A validated sweep: base inputs, run settings and the parameters to vary.

    Build it with :func:`load_sweep`, or in code (relative paths then start at ``base_dir``);
    either way it is checked on construction: the type of every field, every parameter and
    value, every file it names, and the number of points (at most
    :data:`~mpft_sim.spec.limits.MAX_POINTS`, counted before any is made).

    Attributes
    ----------
    name : str
        Short name used in reports.
    topology : tuple of str
        The topology file (one), or several: each is one design, as if the grid had a
        ``topology`` parameter listing them. Empty if the grid gives ``topology``.
    workload : str or None
        The workload file; None if the grid gives ``workload``.
    model : {"fluid", "analytic"}
    tolerance : float
    seed : int
        Seeds ECMP hashing.
    grid : dict
        Parameter name to its list of values; the points are the cartesian product, in the
        order written, the last parameter varying fastest.
    zip : dict
        Parameters varied together (equal-length lists): one more axis, the fastest.
    description : str
    base_dir : str
        Folder that relative file names start from (the sweep file's folder).
    file : str or None
        The sweep file, for messages (also :attr:`source`).
    """

    name: str = option(check=check_name)
    topology: tuple[str, ...] = option(default=())
    workload: str | None = option(default=None)
    model: SweepModel = option(default="fluid")
    tolerance: float = option(default=0.0, ge=0, lt=MAX_TOLERANCE)
    seed: int = option(default=0, ge=0, le=MAX_SEED)
    grid: dict[str, list[Any]] = option(default_factory=dict)
    zip: dict[str, list[Any]] = option(default_factory=dict)
    description: str = option(default="")
    base_dir: str = option(default=".")
    file: str | None = option(default=None)

    def __post_init__(self) -> None:
        if isinstance(self.topology, str):  # given in code as one file
            object.__setattr__(self, "topology", (self.topology,))
        try:
            super().__post_init__()
        except SpecError as exc:
            raise exc.within(self.file) from None

    def check(self) -> None:
        _validate(self)

    @property
    def source(self) -> str | None:
        """The sweep file, like the ``source`` of the other top-level specs."""
        return self.file

    def resolve(self, name: str) -> Path:
        """A file named in the sweep, relative to :attr:`base_dir`."""
        return Path(os.path.normpath(Path(self.base_dir) / name))

    @property
    def axes(self) -> list[tuple[str, list[Any]]]:
        """The grid axes in expansion order (topologies listed at the top level first)."""
        axes = [(k, list(v)) for k, v in self.grid.items()]
        if len(self.topology) > 1:
            axes.insert(0, ("topology", list(self.topology)))
        return axes

    @property
    def parameters(self) -> list[str]:
        """Every parameter a point sets, in column order."""
        return [name for name, _ in self.axes] + list(self.zip)

    def points(self) -> list[Point]:
        """Every point, in a stable order: the cartesian product of the grid (the last axis
        fastest), crossed with the ``zip`` axis (fastest of all)."""
        axes = self.axes
        names = [name for name, _ in axes]
        zipped = [dict(zip(self.zip, combo, strict=True))
                  for combo in zip(*self.zip.values(), strict=True)] or [{}]
        out: list[Point] = []
        for combo in itertools.product(*(values for _, values in axes)):
            for together in zipped:
                out.append(Point(len(out), {**dict(zip(names, combo, strict=True)),
                                            **together}))
        return out

    def files(self, point: Point) -> tuple[str, str]:
        """The topology and workload files (as written) a point uses."""
        topo = point.params.get("topology", self.topology[0] if self.topology else None)
        work = point.params.get("workload", self.workload)
        assert topo is not None and work is not None, "checked on construction"
        return str(topo), str(work)

    def design(self, point: Point, topology_name: str) -> str:
        """The design a point belongs to: its topology's name and the parameters other than
        the cluster size (``nodes``), such as ``mpft-16k, planes=4``."""
        parts = [topology_name]
        shown = [k for k in point.params if k not in SIZE_PARAMS and k != "topology"]
        short = _short_names(shown)
        parts += [f"{short[k]}={format_parameter(point.params[k])}" for k in shown]
        return ", ".join(parts)

    def settings(self) -> dict[str, Any]:
        """What every point shares (resumed points must have run with the same)."""
        return {"topology": list(self.topology), "workload": self.workload,
                "model": self.model, "tolerance": self.tolerance, "seed": self.seed}

    def to_dict(self) -> dict[str, Any]:
        """The sweep as run, as plain data (files as written, relative to the sweep file)."""
        return {"name": self.name, "description": self.description, "file": self.file,
                "topology": list(self.topology) if len(self.topology) != 1
                else self.topology[0], "workload": self.workload, "model": self.model,
                "tolerance": self.tolerance, "seed": self.seed,
                "grid": {k: list(v) for k, v in self.grid.items()},
                "zip": {k: list(v) for k, v in self.zip.items()},
                "parameters": self.parameters, "points": len(self.points())}


def _short_names(names: list[str]) -> dict[str, str]:
    """Labels for parameters: a dotted path shows its last part unless that is ambiguous."""
    tails = [n.rsplit(".", 1)[-1] for n in names]
    return {n: t if tails.count(t) == 1 and t not in names[:i] + names[i + 1:] else n
            for i, (n, t) in enumerate(zip(names, tails, strict=True))}


def read_input(path: Path, what: str, key: Key, written: str) -> dict[str, Any]:
    """Read a topology or workload file named in a sweep, as a raw mapping.

    Raises
    ------
    SpecError
        At ``key`` of the sweep file, with the file as written and where it was looked for.
    """
    try:
        data = read_yaml(path)
    except SpecError as exc:
        raise SpecError(f"{exc.message} ({path})", key, written) from None
    if not isinstance(data, dict):
        raise SpecError(f"expected a {what} file, a mapping of keys ({path})", key, written)
    if what == "workload" and "kind" not in data:
        raise SpecError(f"a workload file needs a 'kind' key ({path})", key, written)
    return data


def _validate(spec: SweepSpec) -> None:
    for i, name in enumerate(spec.topology):
        if not name:
            raise SpecError("expected a file name", ("topology", i), name)
    both = set(spec.grid) & set(spec.zip)
    if both:
        name = sorted(both)[0]
        raise SpecError("is both in grid and in zip", ("zip", name))
    given = {**spec.grid, **spec.zip}
    if len(spec.topology) > 1 and "topology" in given:
        raise SpecError("give the topology files either at the top level or as a parameter, "
                        "not both", ("topology",), list(spec.topology))
    if not spec.topology and "topology" not in given:
        raise SpecError("missing required key (or a topology parameter)", ("topology",))
    if spec.workload is None and "workload" not in given:
        raise SpecError("missing required key (or a workload parameter)", ("workload",))
    _check_size(spec)
    kinds = _check_files(spec)
    lengths: dict[str, int] = {}
    for section in ("grid", "zip"):
        for name, values in getattr(spec, section).items():
            _check_axis(section, name, values, kinds)
            lengths[name] = len(values)
    if spec.zip:
        first = next(iter(spec.zip))
        for name in spec.zip:
            if lengths[name] != lengths[first]:
                n, m = lengths[name], lengths[first]
                raise SpecError(f"has {n} value{'s' * (n != 1)} but zip.{first} has {m}: "
                                "zipped parameters take their i-th values together",
                                ("zip", name))


def _check_size(spec: SweepSpec) -> None:
    """Refuse a sweep of more than MAX_POINTS points, counted before any is made."""
    lengths = [len(v) for v in spec.grid.values()]
    if len(spec.topology) > 1:
        lengths.append(len(spec.topology))
    if spec.zip:
        lengths.append(max(len(v) for v in spec.zip.values()))
    points = math.prod(lengths)
    if points > MAX_POINTS:
        raise SpecError(f"the grid has {points:,} points, more than {MAX_POINTS:,} (days of "
                        "simulation): sweep fewer values, or split the sweep",
                        ("zip" if spec.zip and not spec.grid else "grid",))


def _check_files(spec: SweepSpec) -> list[str]:
    """Check every file the sweep names; return the kinds of its workload files."""
    for i, name in enumerate(spec.topology):
        key: Key = ("topology",) if len(spec.topology) == 1 else ("topology", i)
        read_input(spec.resolve(name), "topology", key, name)
    workloads: list[tuple[Key, str]] = []
    if spec.workload is not None:
        workloads.append((("workload",), spec.workload))
    for section in ("grid", "zip"):
        for name in ("topology", "workload"):
            values = getattr(spec, section).get(name)
            if not isinstance(values, list):
                continue  # reported by _check_axis
            for i, value in enumerate(values):
                if not isinstance(value, str) or not value:
                    raise SpecError("expected a file name", (section, name, i), value)
                if name == "topology":
                    read_input(spec.resolve(value), "topology", (section, name, i), value)
                else:
                    workloads.append(((section, name, i), value))
    kinds = []
    for key, name in workloads:
        data = read_input(spec.resolve(name), "workload", key, name)
        kinds.append(str(data["kind"]))
    return kinds


def _check_axis(section: str, name: str, values: Any, kinds: list[str]) -> None:
    key: Key = (section, name)
    if name not in PARAMS and "." not in name:
        close = difflib.get_close_matches(name, list(PARAMS), n=1, cutoff=0.6)
        hint = (f" (did you mean {close[0]!r}?)" if close else
                f" (known: {', '.join(PARAMS)}, or a dotted path such as "
                "topology.fabric.switch.radix)")
        raise SpecError(f"unknown parameter{hint}", key)
    if "." in name:
        try:
            check_dotted(name, kinds)
        except ValueError as exc:
            raise SpecError(f"unknown parameter: {exc}", key) from None
    if not isinstance(values, list):
        raise SpecError("expected a list of values", key, values)
    if not values:
        raise SpecError("needs at least one value", key, values)
    param = PARAMS.get(name)
    if param is not None and param.kinds:
        for kind in kinds:
            if kind not in param.kinds:
                raise SpecError(f"applies to {' and '.join(param.kinds)} workloads, not "
                                f"{kind}; use a dotted path such as workload.jobs.0.layout.ep",
                                key)
    seen: dict[str, int] = {}
    for i, value in enumerate(values):
        try:
            check_value(name, value)
        except ValueError as exc:
            raise SpecError(str(exc), (*key, i), value) from None
        text = json.dumps(value, sort_keys=True)
        if text in seen:
            raise SpecError(f"repeats the value of {name}[{seen[text]}]", (*key, i), value)
        seen[text] = i


def load_sweep(path: str | Path) -> SweepSpec:
    """Load and validate a sweep YAML file.

    Parameters
    ----------
    path : str or Path
        The sweep file; the files it names are relative to its folder.

    Returns
    -------
    SweepSpec

    Raises
    ------
    SpecError
        Naming the sweep file (or the file it points to), the key path such as
        ``grid.nodes[2]`` and the bad value; unknown keys and parameters get a did-you-mean.
    """
    name = str(path)
    data = read_yaml(path)
    expect_kind(data, "sweep", name)
    raw = load_spec(SweepFileSpec, data, file=name)
    values = {f.name: getattr(raw, f.name) for f in dataclasses.fields(raw)}
    return SweepSpec(**values, base_dir=str(Path(path).parent), file=name)

