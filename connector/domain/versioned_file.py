"""What every versioned controller file shares — the mapping and the accounting policies: a reader that
gathers problems with file:line while it walks the YAML, and the header every version starts with (its
number, the first day it applies to, and why it exists)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from connector.domain.errors import Problem
from connector.domain.yaml_lines import LineDict, load_yaml


class FileReader:
    """Collects problems while reading one controller file."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def problem(self, line: int, field_name: str, message: str, fix: str) -> None:
        self.problems.append(Problem(self.source, str(line) if line else "", field_name, message, fix))

    def known_keys(self, node: LineDict, allowed: Iterable[str], where: str) -> None:
        allowed = tuple(allowed)
        for key in node:
            if key not in allowed:
                self.problem(
                    node.line_of(key),
                    str(key),
                    f"unknown key in {where}",
                    f"use one of: {', '.join(allowed)} (check the spelling)",
                )


def read_document(text: str, reader: FileReader, what: str, fix: str) -> LineDict | None:
    """The file's YAML as a mapping with lines, or None with the problems in `reader`."""
    document, problems = load_yaml(text, reader.source)
    reader.problems.extend(problems)
    if problems:
        return None
    if not isinstance(document, LineDict):
        reader.problem(1, "", f"the {what} must be a YAML mapping (key: value) at the top level", fix)
        return None
    return document


def read_version(reader: FileReader, doc: LineDict, key: str) -> int | None:
    """The version number (`mapping_version`, `policy_version`): a positive whole number."""
    value: Any = doc.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    reader.problem(
        doc.line_of(key),
        key,
        "missing or not a positive whole number" if value is None else f"{value!r} is not a positive integer",
        f"write `{key}: 1` and raise it by one with every change",
    )
    return None


def read_effective_from(reader: FileReader, doc: LineDict) -> date | None:
    value = doc.get("effective_from")
    if isinstance(value, date):
        return value
    reader.problem(
        doc.line_of("effective_from"),
        "effective_from",
        "missing" if value is None else f"{value!r} is not a date",
        "write the first day this version applies to, e.g. `effective_from: 2026-10-01`",
    )
    return None
