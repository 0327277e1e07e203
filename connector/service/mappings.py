"""Mapping use cases: load the controllers' file, check it, remember every version seen."""

from __future__ import annotations

from pathlib import Path

from connector.domain.errors import ConfigError, Problem
from connector.domain.mapping import MappingSet, parse_mapping


def read_mapping(path: Path) -> tuple[MappingSet | None, str, list[Problem]]:
    """Parse a mapping file; problems carry file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return (
            None,
            "",
            [
                Problem(
                    str(path),
                    "",
                    "",
                    f"cannot read the mapping file: {exc.strerror or exc}",
                    "check TOKENBOOKS_MAPPING_FILE",
                )
            ],
        )
    mapping, problems = parse_mapping(text, str(path))
    return mapping, text, problems


def load_mapping(path: Path) -> tuple[MappingSet, str]:
    """The mapping, or a ConfigError listing every problem (nothing is posted with a broken mapping)."""
    mapping, text, problems = read_mapping(path)
    if mapping is None:
        raise ConfigError(
            f"the mapping file {path} has {len(problems)} problem(s): "
            + "; ".join(str(p) for p in problems[:10]),
            fix="fix them (run `tokenbooks mappings check` to see all); nothing was posted",
            problems=problems,
        )
    return mapping, text
