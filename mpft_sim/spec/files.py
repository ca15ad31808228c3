"""Read input files as text and YAML, refusing what would crash, hang or mislead later.

Every problem becomes a :class:`~mpft_sim.errors.SpecError` naming the file and, where there is
one, the line: ``<file>: line N, column C: <what>``. The YAML loader is PyYAML's safe loader
with four more rules: no duplicate keys (PyYAML keeps the last silently), no nesting deeper than
:data:`~mpft_sim.spec.limits.MAX_NESTING` levels (checked before the composer recurses, which
overflows Python's stack near 500 levels), no aliases expanding to more than
:data:`~mpft_sim.spec.limits.MAX_ALIAS_VALUES` values all together ("billion laughs") and no
integer of more digits than Python converts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.error import Mark, MarkedYAMLError
from yaml.nodes import MappingNode, Node, SequenceNode

from mpft_sim.errors import SpecError, short_repr
from mpft_sim.spec.limits import MAX_ALIAS_VALUES, MAX_NESTING, MAX_YAML_BYTES

__all__ = ["expect_kind", "file_kind", "read_text", "read_yaml"]

# what YAML 1.1 accepts (PyYAML's Reader.NON_PRINTABLE): tab, newlines and printable text
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd"
                            "\U00010000-\U0010ffff]")
_CONTROL_NAMES = {0: "NUL", 7: "BEL", 8: "BS", 0x0B: "VT", 0x0C: "FF", 0x1B: "ESC",
                  0x7F: "DEL"}


def _line_key(line: int, column: int | None = None) -> tuple[str]:
    return (f"line {line}" + (f", column {column}" if column is not None else ""),)


def read_text(path: str | Path, max_bytes: int, what: str | None = None, *,
              printable: bool = False) -> str:
    """Read a UTF-8 text file of at most ``max_bytes`` bytes.

    Parameters
    ----------
    path : str or Path
    max_bytes : int
        Larger files are refused before they are read whole.
    what : str, optional
        What the file is ("rank map"), for the message when it cannot be read; without it a
        missing file is "file not found".
    printable : bool
        Refuse control characters other than tab and line breaks (YAML does not allow them;
        a CSV reader is told which row holds one by its own checks).

    Raises
    ------
    SpecError
        If the file is missing, unreadable, too large, not UTF-8 (naming the line and byte
        column of the first bad byte) or holds a character it must not.
    """
    name = str(path)
    try:
        with open(path, "rb") as stream:
            data = stream.read(max_bytes + 1)
    except FileNotFoundError as exc:
        message = f"cannot read {what} ({exc.strerror})" if what else "file not found"
        raise SpecError(message, file=name) from None
    except OSError as exc:
        raise SpecError(f"cannot read {what or 'file'} ({exc.strerror or exc})",
                        file=name) from None
    except ValueError as exc:  # a NUL in the name, given in code
        raise SpecError(f"cannot read {what or 'file'} ({exc})", file=name) from None
    if len(data) > max_bytes:
        raise SpecError(f"larger than {max_bytes / 2**20:g} MiB: not an input file this "
                        "program reads", file=name)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError("not UTF-8: the file starts with a UTF-16 byte-order mark (save it as "
                        "UTF-8)", _line_key(1), file=name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded (save the "
                        "file as UTF-8)", _line_key(line, column), file=name) from None
    if printable:
        match = _NOT_PRINTABLE.search(text)
        if match:
            pos = match.start()
            code = ord(match.group())
            label = f" ({_CONTROL_NAMES[code]})" if code in _CONTROL_NAMES else ""
            line = text.count("\n", 0, pos) + 1
            column = pos - (text.rfind("\n", 0, pos) + 1) + 1
            raise SpecError(f"character U+{code:04X}{label} is not allowed in a text file",
                            _line_key(line, column), file=name)
    return text


class _LimitError(MarkedYAMLError):
    """A rule of :class:`_Loader` broken (not a syntax error)."""


def _limit(problem: str, mark: Any) -> _LimitError:
    return _LimitError(None, None, problem, mark)


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys, deep nesting and alias bombs."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded = 0
        # per composed node (by id; all stay alive in the tree): values it holds and its depth,
        # aliases expanded. An anchored node still being composed has no entry yet.
        self._measure: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            measure = self._measure.get(id(node))
            if measure is None:
                raise _limit(f"the alias *{event.anchor} refers to a value that contains it",
                             mark)
            self._expanded += measure[0]
            if self._expanded > MAX_ALIAS_VALUES:
                raise _limit(f"aliases expand to more than {MAX_ALIAS_VALUES:,} values", mark)
            return node
        nested = isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent)
        if nested:
            self._depth += 1
            if self._depth > MAX_NESTING:
                raise _limit(f"nested deeper than {MAX_NESTING} levels", mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1
        if node is not None:
            self._measure[id(node)] = self._measured(node, mark)
        return node

    def _measured(self, node: Node, mark: Any) -> tuple[int, int]:
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            return 1, 0
        inner = [self._measure[id(child)] for child in children]
        size = 1 + sum(m[0] for m in inner)
        depth = 1 + max((m[1] for m in inner), default=0)
        if depth > MAX_NESTING:  # reached through aliases of nested values
            raise _limit(f"nested deeper than {MAX_NESTING} levels (through aliases)", mark)
        return size, depth

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, Mark] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # "<<: *base" keys may be overridden: that is what they are for
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:
                    continue  # an unhashable key: the safe constructor reports it
                if first is not key_node.start_mark:
                    raise _limit(f"duplicate key {short_repr(key)} (first at line "
                                 f"{first.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]

    def construct_yaml_int(self, node: Node) -> int:
        try:
            return super().construct_yaml_int(node)  # type: ignore[arg-type]
        except ValueError:  # more digits than int() converts (4,300)
            raise _limit("an integer with too many digits", node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file, turning I/O, encoding and syntax problems into :class:`SpecError`.

    Raises
    ------
    SpecError
        ``<file>: line N, column C: <what>`` for a problem at a place in the file (a bad
        byte, a syntax error, a duplicate key, too deep a nesting, an alias bomb).
    """
    name = str(path)
    text = read_text(path, MAX_YAML_BYTES, printable=True)
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except _LimitError as exc:
        raise _located(exc, str(exc.problem), name) from None
    except MarkedYAMLError as exc:
        problem = exc.problem or "syntax error"
        if exc.context and problem.startswith("but "):  # "expected X" + "but found Y"
            problem = f"{exc.context}, {problem}"
        raise _located(exc, f"invalid YAML: {problem}", name) from None
    except yaml.YAMLError as exc:  # the reader's errors carry a position, not a mark
        raise SpecError(f"invalid YAML: {exc}", file=name) from None
    finally:
        loader.dispose()


def _located(exc: MarkedYAMLError, what: str, file: str) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return SpecError(what, file=file)
    return SpecError(what, _line_key(mark.line + 1, mark.column + 1), file=file)


# the key that tells each input file apart (a workload names its kind; the others do not)
_MARKS = (("topology", "fabric"), ("workload", "kind"), ("sweep", "grid"), ("sweep", "zip"),
          ("price book", "switch_link"))


def file_kind(data: Any) -> str | None:
    """What kind of input a parsed YAML file is, by its telling key: ``"topology"``
    (``fabric``), ``"workload"`` (``kind``), ``"sweep"`` (``grid`` or ``zip``),
    ``"price book"`` (``switch_link``); None if it has none of them."""
    if isinstance(data, dict):
        for kind, key in _MARKS:
            if key in data:
                return kind
    return None


def expect_kind(data: Any, kind: str, file: str) -> None:
    """Refuse a file of another kind before its keys are checked one by one: a workload
    given where a topology is expected says so, rather than "kind: unknown key".

    Raises
    ------
    SpecError
        Naming the file and the kind it is.
    """
    found = file_kind(data)
    if found is not None and found != kind:
        raise SpecError(f"this is a {found} file, not a {kind} file (arguments swapped?)",
                        file=file)
