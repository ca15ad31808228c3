"""Exceptions raised by mpft-sim.

The library raises only these (anything else is a bug). The CLI turns them into
``Error: <file>: <key.path>: <what>, got <value>`` and exit code 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ExportError", "JobTooLargeError", "MpftError", "RoutingError", "SimulationError",
           "SpecError",
           "short_repr"]

class _NoValue:
    """The marker of an error without a value; one object, also across processes."""

    def __reduce__(self) -> str:
        return "_NO_VALUE"


_NO_VALUE: Any = _NoValue()


class MpftError(Exception):
    """Base class of every error mpft-sim raises on purpose."""


class SpecError(MpftError):
    """Raised when an input (YAML file, CSV row, spec built in code) is invalid.

    Parameters
    ----------
    message : str
        What is wrong, phrased so that ``got <value>`` can follow it.
    key : tuple of str or int, optional
        Path of the offending key inside the input, outermost first.
    value : object, optional
        The bad value, shown as ``got <value>``.
    file : str, optional
        The file the input came from.
    """

    def __init__(
        self,
        message: str,
        key: tuple[str | int, ...] = (),
        value: Any = _NO_VALUE,
        file: str | None = None,
    ) -> None:
        self.message = message
        self.key = tuple(key)
        self.value = value
        self.file = file
        super().__init__(str(self))

    def __reduce__(self) -> tuple[Any, ...]:
        # an error raised in a worker process (a comparison's, a sweep's) keeps its parts
        return (type(self), (self.message, self.key, self.value, self.file))

    @property
    def has_value(self) -> bool:
        """Whether the error carries the offending value."""
        return self.value is not _NO_VALUE

    def within(self, file: str | None = None, prefix: tuple[str | int, ...] = ()) -> SpecError:
        """Return a copy located inside ``file`` under the key path ``prefix``."""
        return SpecError(self.message, prefix + self.key, self.value, file or self.file)

    def located(self, file: str | None, prefix: tuple[str | int, ...] = ()) -> SpecError:
        """Return a copy under ``prefix`` in ``file``, unless it already names a file.

        An error raised while planning a job on a fabric knows the key but not the file; the
        spec it came from does (its ``source``). An error that already names a file (a rank
        map, an expert-load CSV) keeps it and its own key path.
        """
        if self.file is not None:
            return self
        return SpecError(self.message, prefix + self.key, self.value, file)

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.key:
            parts.append(format_key(self.key))
        text = self.message
        if self.has_value:
            text += f", got {short_repr(self.value)}"
        parts.append(text)
        return ": ".join(parts)


class RoutingError(MpftError):
    """Raised when a transfer has no path through the (possibly failed) fabric."""


class SimulationError(MpftError):
    """Raised when a simulation cannot complete (a deadlock in a program, say)."""


class JobTooLargeError(MpftError):
    """Raised before any work when a job's cost estimate (its flows or memory, counted from
    the specs by :func:`mpft_sim.estimate.estimate`) exceeds the ceiling it runs under."""


class ExportError(MpftError):
    """Raised when a run cannot be exported for a packet-level simulator: it kept no flow
    paths, or its fabric has no equivalent in the simulator's topology."""


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to at most ``limit`` characters, at a cost bounded by ``limit``.

    Messages show the bad value, which may be huge (an alias bomb expands to a billion items,
    a number to thousands of digits): this looks at no more items and characters than it
    shows, where ``repr`` would walk the whole value first.
    """
    out = _Repr(limit)
    out.add(value, 0)
    text = "".join(out.parts)
    if out.cut or len(text) > limit:
        return text[:max(limit - 3, 0)] + "..."
    return text


class _Repr:
    """Accumulates pieces of a repr until ``limit`` characters are written."""

    _DEPTH = 8

    def __init__(self, limit: int) -> None:
        self.left = limit + 1  # one more than fits tells that the text must be cut
        self.parts: list[str] = []
        self.cut = False

    def write(self, text: str) -> None:
        if len(text) > self.left:
            text, self.cut = text[:self.left], True
        self.parts.append(text)
        self.left -= len(text)

    def add(self, value: Any, depth: int) -> None:
        if self.left <= 0:
            self.cut = True
            return
        if isinstance(value, str):
            piece = repr(value[:self.left + 1])
            if len(value) > self.left + 1:
                self.cut = True
            self.write(piece)
        elif isinstance(value, bool) or value is None or isinstance(value, float):
            self.write(repr(value))
        elif isinstance(value, int):
            # int -> str is quadratic in the digits, and refused beyond 4,300 of them
            digits = int(value.bit_length() * 0.30103) + 1  # at most one too many
            if digits < 40:
                self.write(repr(value))
            else:
                digits -= abs(value) < 10 ** (digits - 1)
                self.write(f"<a {digits:,}-digit integer>")
        elif isinstance(value, list | tuple | Mapping | set | frozenset):
            self.add_items(value, depth)
        else:
            self.write(_object_repr(value, self.left))

    def add_items(self, value: Any, depth: int) -> None:
        if isinstance(value, Mapping):
            opening, closing = "{", "}"
        elif isinstance(value, list):
            opening, closing = "[", "]"
        elif isinstance(value, tuple):
            opening, closing = "(", ")"
        else:
            opening, closing = "{", "}"
        if depth >= self._DEPTH:
            self.write(opening + "..." + closing)
            return
        self.write(opening)
        items = iter(value.items() if isinstance(value, Mapping) else value)
        for i, item in enumerate(items):
            if self.left <= 0:
                self.cut = True
                return
            if i:
                self.write(", ")
            if isinstance(value, Mapping):
                self.add(item[0], depth + 1)
                self.write(": ")
                self.add(item[1], depth + 1)
            else:
                self.add(item, depth + 1)
        if isinstance(value, tuple) and len(value) == 1:
            self.write(",")
        self.write(closing)


def _object_repr(value: Any, left: int) -> str:
    """An object's repr; a spec or other dataclass shows only its type (its repr nests all)."""
    import dataclasses

    if dataclasses.is_dataclass(value):
        return f"{type(value).__name__}(...)"
    try:
        return repr(value)[:left + 1]
    except Exception:  # a broken __repr__ must not hide the error being reported
        return f"<{type(value).__name__}>"


def format_key(key: tuple[str | int, ...]) -> str:
    """Format a key path as ``fabric.switch.radix`` or ``failures[2].plane``."""
    out = ""
    for part in key:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out
