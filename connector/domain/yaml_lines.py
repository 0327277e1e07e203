"""YAML that remembers where each value came from, so errors can say file:line.

Parsing text is pure; reading the file is the caller's business. Mappings load as `LineDict` and
sequences as `LineList`, each knowing the line of every key or item (1-based).
"""

from __future__ import annotations

from typing import Any

import yaml

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


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: Any, line: int, first_line: int) -> None:
        super().__init__(f"key {key!r} appears twice (first on line {first_line})")
        self.key = key
        self.line = line


class InvalidValueError(yaml.YAMLError):
    """A value of a known type that is not one (a date such as 2026-02-30), with its line."""

    def __init__(self, message: str, line: int, fix: str) -> None:
        super().__init__(message)
        self.message, self.line, self.fix = message, line, fix


class _LineLoader(yaml.SafeLoader):
    def construct_yaml_timestamp(self, node: yaml.ScalarNode):  # type: ignore[override]
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise InvalidValueError(
                f"{node.value} is not a date: {exc}",
                node.start_mark.line + 1,
                "write a real date as YYYY-MM-DD",
            ) from None


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in result:
            raise DuplicateKeyError(key, line, result.lines[key])
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList()
    result.line = node.start_mark.line + 1
    for child in node.value:
        result.append(loader.construct_object(child, deep=True))
        result.lines.append(child.start_mark.line + 1)
    return result


_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _LineLoader.construct_yaml_timestamp)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(text: str, source: str) -> tuple[Any, list[Problem]]:
    """Parse YAML text. On a syntax error, return no document and one problem with file:line."""
    try:
        return yaml.load(text, Loader=_LineLoader), []
    except InvalidValueError as exc:
        return None, [Problem(source, str(exc.line), "", exc.message, exc.fix)]
    except DuplicateKeyError as exc:
        return None, [
            Problem(
                source,
                str(exc.line),
                str(exc.key),
                str(exc),
                "remove or rename one of the two entries",
            )
        ]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = str(mark.line + 1) if mark else ""
        reason = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark and exc.problem_mark and exc.context_mark.line != mark.line:
            reason += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
        return None, [
            Problem(
                source,
                line,
                "",
                f"YAML syntax error: {reason}",
                "check indentation, colons and quotes near that line",
            )
        ]
    except yaml.YAMLError as exc:
        return None, [Problem(source, "", "", f"YAML error: {exc}", "fix the file's YAML syntax")]
