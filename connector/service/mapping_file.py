"""Edit a mapping file the way a controller would, keeping every comment and the order of keys.

The mapping's comments are its reasoning ("why is the shared platform 70/30?"); a tool that rewrites the
file must not lose them, nor reorder what a reviewer reads in a pull request. Edits go through
ruamel.yaml's round-trip mode, which keeps comments, key order, quoting and flow style; the result is
parsed and checked before it replaces the file (atomically), so a command never leaves a broken mapping.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.util import load_yaml_guess_indent

from connector.domain.errors import ConfigError, errors_only
from connector.domain.mapping import Category, parse_mapping


@dataclass(frozen=True, slots=True)
class FileEdit:
    path: Path
    before: str
    after: str
    summary: str


def bump_mapping(path: Path, *, effective_from: date, note: str, at_least: int = 0) -> FileEdit:
    """Raise mapping_version (above `at_least`, the newest version already used), set the date and note."""
    if not note.strip():
        raise ConfigError("the change note is empty", fix="say what changed and why: --note '…'")
    document, before, dumper = _load(path)
    old = document.get("mapping_version")
    if not isinstance(old, int) or isinstance(old, bool):
        raise ConfigError(
            f"{path}: mapping_version is {old!r}, not a whole number", fix="write `mapping_version: 1` first"
        )
    new = max(old, at_least) + 1
    document["mapping_version"] = new
    document["effective_from"] = effective_from
    document["change_note"] = note.strip()
    summary = f"mapping_version {old} → {new}, effective from {effective_from}"
    return _save(path, before, _dump(dumper, document), summary)


def add_rule(
    path: Path,
    *,
    rule_id: str,
    when: dict[str, str | None],
    category: str,
    description: str = "",
    before_rule: str | None = None,
) -> FileEdit:
    """Add a rule (exact-value conditions) before `before_rule`, or at the end of the rules."""
    try:
        Category(category)
    except ValueError:
        raise ConfigError(
            f"unknown category {category!r}", fix=f"use one of: {', '.join(c.value for c in Category)}"
        ) from None
    document, text, dumper = _load(path)
    rules = document.get("rules")
    if rules is None:
        rules = document["rules"] = CommentedSeq()
    if not isinstance(rules, CommentedSeq):
        raise ConfigError(f"{path}: `rules` is not a list", fix="start each rule with `- id:`")
    rule = CommentedMap()
    rule["id"] = rule_id
    if description:
        rule["description"] = description
    conditions = CommentedMap(when)
    conditions.fa.set_flow_style()  # `when: {project: proj_x}` on one line, as the example writes it
    rule["when"] = conditions
    rule["category"] = category
    position = len(rules)
    if before_rule is not None:
        ids = [r.get("id") for r in rules if isinstance(r, dict)]
        if before_rule not in ids:
            raise ConfigError(
                f"no rule {before_rule!r} in {path}", fix=f"use one of: {', '.join(map(str, ids))}"
            )
        position = ids.index(before_rule)
    rules.insert(position, rule)
    where = f"before {before_rule!r}" if before_rule else "at the end"
    return _save(path, text, _dump(dumper, document), f"rule {rule_id!r} added {where}")


def _load(path: Path) -> tuple[Any, str, YAML]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", fix="check the path") from None
    problems = errors_only(parse_mapping(text, str(path))[1])
    if problems:
        raise ConfigError(
            f"{path} has {len(problems)} problem(s); fix them before editing it with a command",
            fix="run `tokenbooks mappings check`; nothing was changed",
            problems=problems,
        )
    _, sequence_indent, offset = load_yaml_guess_indent(text)
    dumper = YAML(typ="rt")
    dumper.preserve_quotes = True
    dumper.width = 4096  # never re-wrap a controller's long lines
    dumper.indent(mapping=2, sequence=sequence_indent or 2, offset=offset or 0)
    return dumper.load(text), text, dumper


def _dump(dumper: YAML, document: Any) -> str:
    out = io.StringIO()
    dumper.dump(document, out)
    return out.getvalue()


def _save(path: Path, before: str, after: str, summary: str) -> FileEdit:
    """Check the edited text, then replace the file atomically (a crash leaves the old file whole)."""
    problems = errors_only(parse_mapping(after, str(path))[1])
    if problems:
        raise ConfigError(
            f"the edit would break {path}: " + "; ".join(str(p) for p in problems[:5]),
            fix="nothing was changed; adjust the command (e.g. a rule id already used, or a rule shadowed)",
            problems=problems,
        )
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(after)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return FileEdit(path, before, after, summary)
