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
from connector.domain.mapping import Category
from connector.domain.mapping_parser import parse_mapping


@dataclass(frozen=True, slots=True)
class FileEdit:
    path: Path
    before: str
    after: str
    summary: str


def bump_mapping(path: Path, *, effective_from: date, note: str, at_least: int = 0) -> FileEdit:
    """Raise mapping_version (above `at_least`, the newest version already used), set the date and note."""
    before = _read(path)
    after, summary = bumped_text(
        before, str(path), effective_from=effective_from, note=note, at_least=at_least
    )
    return _save(path, before, after, summary)


def bumped_text(
    text: str, source: str, *, effective_from: date, note: str, at_least: int = 0
) -> tuple[str, str]:
    """The file with mapping_version raised (above `at_least`), effective_from and change_note set; and
    what changed, in words. Comments and layout are kept."""
    if not note.strip():
        raise ConfigError("the change note is empty", fix="say what changed and why: --note '…'")
    document, dumper = _load_text(text, source)
    old = document.get("mapping_version")
    if not isinstance(old, int) or isinstance(old, bool):
        raise ConfigError(
            f"{source}: mapping_version is {old!r}, not a whole number",
            fix="write `mapping_version: 1` first",
        )
    new = max(old, at_least) + 1
    document["mapping_version"] = new
    document["effective_from"] = effective_from
    document["change_note"] = note.strip()
    return _dump(dumper, document), f"mapping_version {old} → {new}, effective from {effective_from}"


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
    before = _read(path)
    after, summary = rule_added_text(
        before,
        str(path),
        rule_id=rule_id,
        when=when,
        category=category,
        description=description,
        before_rule=before_rule,
    )
    return _save(path, before, after, summary)


def rule_added_text(
    text: str,
    source: str,
    *,
    rule_id: str,
    when: dict[str, str | None],
    category: str,
    description: str = "",
    before_rule: str | None = None,
    targets: dict[str, dict] | None = None,
) -> tuple[str, str]:
    """The file with a rule (exact-value conditions) added before `before_rule`, or at the end; `targets`
    are its per-ledger blocks (`{"quickbooks": {"class": "Support"}}`)."""
    _category(category)
    document, dumper = _load_text(text, source)
    rules = document.get("rules")
    if rules is None:
        rules = document["rules"] = CommentedSeq()
    if not isinstance(rules, CommentedSeq):
        raise ConfigError(f"{source}: `rules` is not a list", fix="start each rule with `- id:`")
    rule = CommentedMap()
    rule["id"] = rule_id
    if description:
        rule["description"] = description
    conditions = CommentedMap(when)
    conditions.fa.set_flow_style()  # `when: {project: proj_x}` on one line, as the example writes it
    rule["when"] = conditions
    rule["category"] = category
    for ledger, block in (targets or {}).items():
        flow = CommentedMap(block)
        flow.fa.set_flow_style()
        rule[ledger] = flow
    position = len(rules)
    if before_rule is not None:
        position = _rule_ids(rules, source).index(before_rule)
    rules.insert(position, rule)
    where = f"before {before_rule!r}" if before_rule else "at the end"
    return _dump(dumper, document), f"rule {rule_id!r} added {where}"


def rule_changed_text(
    text: str, source: str, *, rule_id: str, category: str | None = None, description: str | None = None
) -> tuple[str, str]:
    """The file with one rule's category (a rule with a single destination) and/or description changed."""
    document, dumper = _load_text(text, source)
    rules = document.get("rules")
    if not isinstance(rules, CommentedSeq):
        raise ConfigError(f"{source}: `rules` is not a list", fix="start each rule with `- id:`")
    rule = rules[_rule_ids(rules, source).index(rule_id)]
    changes = []
    if category is not None and category != rule.get("category"):
        _category(category)
        if "split" in rule:
            raise ConfigError(
                f"rule {rule_id!r} splits its spend between categories",
                fix="change the split's percentages and categories in the YAML editor",
            )
        changes.append(f"category {rule.get('category')} → {category}")
        rule["category"] = category
    if description is not None and description.strip() != (rule.get("description") or ""):
        rule["description"] = description.strip()
        changes.append("description changed")
    if not changes:
        raise ConfigError(f"rule {rule_id!r} already says that", fix="change its category or description")
    return _dump(dumper, document), f"rule {rule_id!r}: " + ", ".join(changes)


def _category(category: str) -> None:
    try:
        Category(category)
    except ValueError:
        raise ConfigError(
            f"unknown category {category!r}", fix=f"use one of: {', '.join(c.value for c in Category)}"
        ) from None


def _rule_ids(rules: CommentedSeq, source: str) -> _RuleIds:
    return _RuleIds([r.get("id") for r in rules if isinstance(r, dict)], source)


class _RuleIds(list):
    """The rules' ids in order; `index` of an id that is not there is a ConfigError naming the file."""

    def __init__(self, ids: list, source: str) -> None:
        super().__init__(ids)
        self.source = source

    def index(self, rule_id: Any, *args: Any) -> int:
        if rule_id not in self:
            raise ConfigError(
                f"no rule {rule_id!r} in {self.source}", fix=f"use one of: {', '.join(map(str, self))}"
            )
        return super().index(rule_id)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", fix="check the path") from None


def _load_text(text: str, source: str) -> tuple[Any, YAML]:
    problems = errors_only(parse_mapping(text, source)[1])
    if problems:
        raise ConfigError(
            f"{source} has {len(problems)} problem(s); fix them before editing it with a command",
            fix="run `tokenbooks mappings check`; nothing was changed",
            problems=problems,
        )
    _, sequence_indent, offset = load_yaml_guess_indent(text)
    dumper = YAML(typ="rt")
    dumper.preserve_quotes = True
    dumper.width = 4096  # never re-wrap a controller's long lines
    dumper.indent(mapping=2, sequence=sequence_indent or 2, offset=offset or 0)
    return dumper.load(text), dumper


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
    write_atomically(path, after)
    return FileEdit(path, before, after, summary)


def write_atomically(path: Path, text: str) -> None:
    """Replace a controller's file in one step: a crash leaves the old file whole, never half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)  # keep who may read the file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
