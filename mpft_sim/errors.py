"""Exceptions raised by mpft-sim.

The library raises only these (anything else is a bug). The CLI turns them into
``Error: <file>: <key.path>: <what>, got <value>`` and exit code 1.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MpftError", "RoutingError", "SimulationError", "SpecError"]

_NO_VALUE: Any = object()


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

    @property
    def has_value(self) -> bool:
        """Whether the error carries the offending value."""
        return self.value is not _NO_VALUE

    def within(self, file: str | None = None, prefix: tuple[str | int, ...] = ()) -> SpecError:
        """Return a copy located inside ``file`` under the key path ``prefix``."""
        return SpecError(self.message, prefix + self.key, self.value, file or self.file)

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.key:
            parts.append(format_key(self.key))
        text = self.message
        if self.has_value:
            text += f", got {self.value!r}"
        parts.append(text)
        return ": ".join(parts)


class RoutingError(MpftError):
    """Raised when a transfer has no path through the (possibly failed) fabric."""


class SimulationError(MpftError):
    """Raised when a simulation cannot complete (a deadlock in a program, say)."""


def format_key(key: tuple[str | int, ...]) -> str:
    """Format a key path as ``fabric.switch.radix`` or ``failures[2].plane``."""
    out = ""
    for part in key:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out
