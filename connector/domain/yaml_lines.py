"""YAML that remembers where each value came from, so errors can say file:line.

Parsing text is pure; reading the file is the caller's business. Mappings load as `LineDict` and
sequences as `LineList`, each knowing the line of every key or item (1-based). The lines come from
ruamel.yaml's round-trip parser (the one that also edits the mapping keeping its comments), so one YAML
parser tracks lines, not a second one beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from connector.domain.errors import Problem


class LineDict(dict):
    """A dict that knows the line of each key, and its own line."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class LineList(list):
    """A list that knows the line of each item, and its own line."""

    line: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


# PyYAML (YAML 1.1) reads these plain words as booleans, and the files were written for it; YAML 1.2,
# which ruamel.yaml speaks, reads them as text. Plain (unquoted) ones keep their 1.1 meaning here.
_YAML11_BOOLEANS = {
    **dict.fromkeys(("yes", "Yes", "YES", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "off", "Off", "OFF"), False),
}


def _parser() -> YAML:
    # round-trip mode: only it keeps each node's line; quotes kept, to tell `"yes"` from `yes`
    parser = YAML(typ="rt", pure=True)
    parser.preserve_quotes = True
    parser.allow_duplicate_keys = True  # found first, with both lines (`_duplicate_key`)
    return parser


def _plain(node: Any) -> Any:
    """ruamel's round-trip nodes as LineDict, LineList and plain Python values, keeping every line."""
    if isinstance(node, CommentedMap):
        result = LineDict()
        result.line = node.lc.line + 1
        for key, value in node.items():
            result[_plain(key)] = _plain(value)
            result.lines[_plain(key)] = node.lc.key(key)[0] + 1
        return result
    if isinstance(node, CommentedSeq):
        items = LineList()
        items.line = node.lc.line + 1
        for index, value in enumerate(node):
            items.append(_plain(value))
            items.lines.append(node.lc.item(index)[0] + 1)
        return items
    if type(node) is str:  # a plain scalar (quoted ones are ScalarString subclasses)
        return _YAML11_BOOLEANS.get(node, node)
    for kind in (bool, int, float, str):  # ScalarBoolean, ScalarInt, ScalarFloat, quoted strings
        if isinstance(node, kind):
            return kind(node)
    return node  # None, dates, timestamps


def _nodes(node: Node | None) -> Iterator[Node]:
    """Every node of a composed document, parents before their children, in the file's order."""
    if node is None:
        return
    yield node
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield from _nodes(key)
            yield from _nodes(value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _nodes(item)


def _tag(node: Node) -> str:
    return str(getattr(node.tag, "value", node.tag))


def _duplicate_key(root: Node | None) -> tuple[str, int, int] | None:
    """The first key written twice in one mapping: (key, its line, the first one's line)."""
    for node in _nodes(root):
        if isinstance(node, MappingNode):
            seen: dict[str, int] = {}
            for key, _ in node.value:
                if isinstance(key, ScalarNode) and not _tag(key).endswith(":merge"):
                    if key.value in seen:
                        return key.value, key.start_mark.line + 1, seen[key.value]
                    seen[key.value] = key.start_mark.line + 1
    return None


def _invalid_timestamp(root: Node | None) -> tuple[str, int, str] | None:
    """The first value YAML reads as a date or time that is not one (2026-02-30): (text, line, reason)."""
    for node in _nodes(root):
        if isinstance(node, ScalarNode) and _tag(node).endswith(":timestamp"):
            try:
                SafeConstructor().construct_yaml_timestamp(node)
            except ValueError as exc:
                return node.value, node.start_mark.line + 1, str(exc)
    return None


def load_yaml(text: str, source: str) -> tuple[Any, list[Problem]]:
    """Parse YAML text. On a syntax error, a key written twice or a date that is not one, return no
    document and one problem with file:line."""
    try:
        composed = _parser().compose(text)
        invalid = _invalid_timestamp(composed)
        if invalid:
            value, line, reason = invalid
            return None, [
                Problem(
                    source,
                    str(line),
                    "",
                    f"{value} is not a date: {reason}",
                    "write a real date as YYYY-MM-DD",
                )
            ]
        duplicate = _duplicate_key(composed)
        if duplicate:
            key, line, first = duplicate
            return None, [
                Problem(
                    source,
                    str(line),
                    key,
                    f"key {key!r} appears twice (first on line {first})",
                    "remove or rename one of the two entries",
                )
            ]
        return _plain(_parser().load(text)), []
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = str(mark.line + 1) if mark else ""
        reason = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark and exc.problem_mark and exc.context_mark.line != mark.line:
            reason += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
        return None, [
            Problem(
                source,
                where,
                "",
                f"YAML syntax error: {reason}",
                "check indentation, colons and quotes near that line",
            )
        ]
    except YAMLError as exc:
        return None, [Problem(source, "", "", f"YAML error: {exc}", "fix the file's YAML syntax")]
