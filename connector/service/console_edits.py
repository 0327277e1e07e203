"""The controller's edit cycle in the console: a candidate file, checked as it is typed, previewed beside
the current one, then saved as a new version with its author and change note.

A candidate is always a whole file. The form actions (move a project to another category from a date,
add a rule, change a rule) edit the current file through ruamel.yaml's round trip (`mapping_file.py`),
so every comment stays; the YAML editor's text is taken as typed. Saving:

- refuses a candidate with any error, naming the line; nothing is written;
- refuses it when the file changed since the candidate was made (two controllers editing at once): the
  second save is told who saved first, and nothing of either is lost (the first is saved, the second is
  still in the second controller's editor);
- writes the file atomically, and records a `mapping.saved` (or `policies.saved`) event in the audit log
  with the author, the version, the change note and the file itself — the history page reads it.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from connector.domain.accounting_policy import PolicySet
from connector.domain.errors import ConfigError, InputError, Problem, TokenbooksError, errors_only
from connector.domain.ledger_targets import TARGETS
from connector.domain.mapping import CATEGORY_LABELS, Category, MappingSet, MatchKind
from connector.domain.periods import Period
from connector.domain.planner import LedgerCalendar
from connector.domain.policy_file import parse_policies
from connector.service.mapping_file import bumped_text, rule_added_text, rule_changed_text, write_atomically
from connector.service.mapping_preview import (
    BooksUnder,
    PolicyPreview,
    PreviewReport,
    books_of,
    preview_mapping,
    preview_policies,
)
from connector.service.mappings import check_mapping_text, mapping_history, same_rules
from connector.service.policies import policy_history
from connector.service.policies import version_problems as policy_version_problems

_saving = threading.Lock()  # one save at a time in this process: the check and the write are one step


class EditConflict(InputError):
    """The file changed since the candidate was made from it."""


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class FileState:
    path: Path
    text: str

    @property
    def hash(self) -> str:
        return content_hash(self.text)


def file_state(path: Path | None, what: str) -> FileState:
    if path is None:
        raise ConfigError(
            f"no {what} file is configured: the built-in defaults apply",
            fix="set TOKENBOOKS_POLICIES_FILE to a copy of mappings/policies.yaml to edit them here",
        )
    try:
        return FileState(path, path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read the {what} file {path}: {exc.strerror or exc}", fix="check the path"
        ) from None


@dataclass
class Candidate:
    which: str  # mapping | policies
    text: str
    base_hash: str  # the file it was made from
    summary: str
    problems: list[Problem] = field(default_factory=list)
    mapping: MappingSet | None = None
    policies: PolicySet | None = None

    @property
    def errors(self) -> list[Problem]:
        return errors_only(self.problems)

    @property
    def ok(self) -> bool:
        return not self.errors


# -------------------------------------------------------------------------------------------- mapping


def check_mapping(app: Any, text: str) -> Candidate:
    """The candidate checked as `tokenbooks mappings check --offline` checks a file (the cached chart)."""
    report = check_mapping_text(app, text, app.settings.mapping_file)
    current = file_state(app.settings.mapping_file, "mapping")
    return Candidate("mapping", text, current.hash, "", list(report.problems), report.mapping)


def newest_version(app: Any) -> int:
    with app.store.unit_of_work() as uow:
        return max((row.version for row in uow.mappings.all()), default=0)


def move_project(
    app: Any, *, project: str, category: str, effective_from: date, note: str, class_name: str = ""
) -> Candidate:
    """The current mapping with `project`'s spend placed in `category` from `effective_from`.

    A rule that names exactly this project has its category changed; otherwise a rule for the project
    goes just above the first rule that matches it today (a glob, a regex …), so it wins from now on,
    keeping that rule's ledger targets (its class and department) unless `class_name` is given."""
    project = project.strip()
    if not project:
        raise InputError(
            "which project? the field is empty", fix="type the project id, e.g. proj_eng_copilot"
        )
    state = file_state(app.settings.mapping_file, "mapping")
    mapping, _ = app.mapping()
    source = str(state.path)
    rule = _first_rule_for(mapping, project)
    if rule is not None and _names_only(rule, project) and len(rule.destinations) == 1 and not class_name:
        text, summary = rule_changed_text(state.text, source, rule_id=rule.id, category=category)
    else:
        targets: dict[str, dict] = {}
        if class_name:
            targets["quickbooks"] = {"class": class_name}
        elif rule is not None and len(rule.destinations) == 1:
            targets = _targets_of(state.text, rule.id)
        text, summary = rule_added_text(
            state.text,
            source,
            rule_id=_rule_id(mapping, project, category),
            when={"project": project},
            category=category,
            description=f"{project}: moved to {_label(category)} from {effective_from}",
            before_rule=rule.id if rule is not None else None,
            targets=targets,
        )
    summary = f"{project} → {_label(category)} from {effective_from} ({summary})"
    return _bumped(app, state, text, summary, effective_from, note)


def add_rule(
    app: Any,
    *,
    rule_id: str,
    conditions: dict[str, str | None],
    category: str,
    description: str,
    before_rule: str | None,
    effective_from: date,
    note: str,
) -> Candidate:
    if not conditions:
        raise InputError("the rule has no condition", fix="give at least one, e.g. project = proj_new")
    state = file_state(app.settings.mapping_file, "mapping")
    text, summary = rule_added_text(
        state.text,
        str(state.path),
        rule_id=rule_id.strip(),
        when=conditions,
        category=category,
        description=description,
        before_rule=before_rule or None,
    )
    return _bumped(app, state, text, summary, effective_from, note)


def change_rule(
    app: Any, *, rule_id: str, category: str, description: str, effective_from: date, note: str
) -> Candidate:
    state = file_state(app.settings.mapping_file, "mapping")
    text, summary = rule_changed_text(
        state.text, str(state.path), rule_id=rule_id, category=category, description=description
    )
    return _bumped(app, state, text, summary, effective_from, note)


def _bumped(
    app: Any, state: FileState, text: str, summary: str, effective_from: date, note: str
) -> Candidate:
    text, bump = bumped_text(
        text, str(state.path), effective_from=effective_from, note=note, at_least=newest_version(app)
    )
    candidate = check_mapping(app, text)
    candidate.base_hash, candidate.summary = state.hash, f"{summary}; {bump}"
    return candidate


def _first_rule_for(mapping: MappingSet, project: str):
    """The first rule with a condition on `project` that this project's value satisfies."""
    for rule in mapping.rules:
        tests = [c for c in rule.conditions if c.dimension == "project"]
        if tests and all(c.matches(project) for c in tests):
            return rule
    return None


def _names_only(rule: Any, project: str) -> bool:
    return any(
        c.dimension == "project" and c.kind is MatchKind.EXACT and c.values == (project,)
        for c in rule.conditions
    )


def _targets_of(text: str, rule_id: str) -> dict[str, dict]:
    """The per-ledger blocks (class, department, tracking) a rule of the file writes."""
    document = YAML(typ="safe").load(text)
    for rule in document.get("rules") or []:
        if isinstance(rule, dict) and rule.get("id") == rule_id:
            return {k: dict(v) for k, v in rule.items() if k in TARGETS and isinstance(v, dict)}
    return {}


def _rule_id(mapping: MappingSet, project: str, category: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", f"{project}-{category}".lower()).strip("-")
    taken = {r.id for r in mapping.rules}
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _label(category: str) -> str:
    try:
        return CATEGORY_LABELS[Category(category)]
    except ValueError:
        return category


def preview(
    app: Any, candidate: Candidate, *, entity: str, period: Period
) -> tuple[PreviewReport | PolicyPreview, list[str]]:
    """The period under the current file and under the candidate (the mapping, or the policies), side by
    side, and the journals applying it would post — reclasses among them. The ledger's lock date is read
    when the ledger answers; otherwise the preview says it dated journals as if every period were open."""
    if candidate.mapping is None and candidate.policies is None:
        raise InputError("the candidate has errors: fix them before previewing it", problems=candidate.errors)
    calendar, books, notes = _calendar(app, entity)
    common = {"entity": entity, "period": period, "calendar": calendar, "clock": app.clock, "books": books}
    history, policies = mapping_history(app), policy_history(app)
    report: PreviewReport | PolicyPreview
    if candidate.mapping is not None:
        report = preview_mapping(
            app.store, history=history, candidate=candidate.mapping, policies=policies, **common
        )
    elif candidate.policies is not None:  # one of the two, as checked above
        report = preview_policies(
            app.store, history=history, policies=policies, candidate=candidate.policies, **common
        )
    return report, notes


def _calendar(app: Any, entity: str) -> tuple[LedgerCalendar, BooksUnder | None, list[str]]:
    """The ledger's lock date and the books kept as the sync keeps them (in the books' currency) when the
    ledger answers; otherwise every period open, amounts in the provider's currency, and a note saying so."""
    try:
        return (
            LedgerCalendar(app.ledger(entity).lock_date(), app.locked_behaviour(entity)),
            books_of(app, entity),
            [],
        )
    except TokenbooksError as exc:
        note = (
            f"the ledger could not be read ({exc.message}): journals are dated as if every period were open, "
            "in the provider's currency (books kept in another currency are converted by the sync)"
        )
        return LedgerCalendar(None, app.locked_behaviour(entity)), None, [note]


def save_mapping(app: Any, *, text: str, base_hash: str, author: str) -> Candidate:
    """Save a candidate as the new mapping file (see the module's docstring for what is refused)."""
    with _saving:
        current = file_state(app.settings.mapping_file, "mapping")
        _refuse_conflict(app, "mapping", current, base_hash)
        candidate = check_mapping(app, text)
        if not candidate.ok or candidate.mapping is None:
            raise InputError(
                f"the mapping was not saved: {len(candidate.errors)} problem(s), the first "
                f"{candidate.errors[0].describe()}",
                fix="correct the lines named and save again; the file is unchanged",
                problems=candidate.errors,
            )
        mapping = candidate.mapping
        was, _ = app.mapping()
        if mapping.version <= was.version and not same_rules(mapping, was):
            raise InputError(
                f"the mapping was not saved: it changes how spend is booked but keeps mapping_version "
                f"{mapping.version}",
                fix=f"raise mapping_version to {max(was.version, newest_version(app)) + 1}, set effective_from "
                "and say why in change_note",
            )
        _write(
            app,
            "mapping",
            current,
            text,
            author,
            mapping.version,
            mapping.effective_from,
            mapping.change_note,
        )
        candidate.summary = candidate.summary or f"version {mapping.version} saved"
        return candidate


def _refuse_conflict(app: Any, which: str, current: FileState, base_hash: str) -> None:
    if current.hash == base_hash:
        return
    with app.store.unit_of_work() as uow:
        saved = uow.console.events_of_kind([f"{which}.saved"], limit=1)
    who = (
        f"{saved[0].actor} saved version {saved[0].data.get('version')} at {saved[0].at:%Y-%m-%d %H:%M} UTC"
        if saved and saved[0].data.get("content_hash") == current.hash
        else "the file was changed outside the console"
    )
    raise EditConflict(
        f"the {which} changed since you opened it: {who}. Your edit was not saved",
        fix="reload the page to start from the new version, and make your change again (your text is still in "
        "the editor: copy it first)",
    )


def _write(
    app: Any,
    which: str,
    current: FileState,
    text: str,
    author: str,
    version: int,
    effective_from: date,
    note: str,
) -> None:
    try:
        write_atomically(current.path, text)
    except OSError as exc:
        raise ConfigError(
            f"the {which} file {current.path} cannot be written: {exc.strerror or exc}",
            fix="the console needs the file writable by its user (a read-only ConfigMap cannot be edited here)",
        ) from None
    diff = line_diff(current.text, text)
    with app.store.unit_of_work() as uow:
        uow.events.append(
            f"{which}.saved",
            f"{which} version {version} (effective {effective_from}) saved in the console by {author}: {note}",
            actor=author,
            data={
                "version": version,
                "effective_from": effective_from,
                "change_note": note,
                "content_hash": content_hash(text),
                "previous_hash": current.hash,
                "file": str(current.path),
                "lines_added": sum(1 for d in diff if d.kind == "+"),
                "lines_removed": sum(1 for d in diff if d.kind == "-"),
                "content": text,
            },
            now=app.clock(),
        )
        uow.commit()
    app.forget_files()


# ------------------------------------------------------------------------------------------- policies


def check_policies(app: Any, text: str) -> Candidate:
    """The policies candidate as `tokenbooks policies check` checks a file: the file and its version."""
    path = app.settings.policies_file
    current = file_state(path, "policies")
    policies, problems = parse_policies(text, str(path))
    problems = list(problems)
    if policies is not None:
        with app.store.unit_of_work() as uow:
            problems += policy_version_problems(policies, uow.policies.all(), text)
    return Candidate("policies", text, current.hash, "", problems, policies=policies)


def save_policies(app: Any, *, text: str, base_hash: str, author: str) -> Candidate:
    with _saving:
        current = file_state(app.settings.policies_file, "policies")
        _refuse_conflict(app, "policies", current, base_hash)
        candidate = check_policies(app, text)
        policies, _ = parse_policies(text, str(current.path))
        if not candidate.ok or policies is None:
            raise InputError(
                f"the policies were not saved: {len(candidate.errors)} problem(s), the first "
                f"{candidate.errors[0].describe()}",
                fix="correct the lines named and save again; the file is unchanged",
                problems=candidate.errors,
            )
        was, _ = app.policies()
        if policies.version <= was.version and content_hash(text) != current.hash:
            raise InputError(
                f"the policies were not saved: policy_version is still {policies.version}",
                fix=f"raise policy_version to {was.version + 1}, set effective_from and say why in change_note",
            )
        _write(
            app,
            "policies",
            current,
            text,
            author,
            policies.version,
            policies.effective_from,
            policies.change_note,
        )
        return candidate


# ---------------------------------------------------------------------------------------------- diffs


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: str  # " " same, "+" added, "-" removed, "@" a hunk header
    old_no: int | None
    new_no: int | None
    text: str


def line_diff(old: str, new: str, context: int = 3) -> list[DiffLine]:
    """What changed between two versions of a file, line by line, with the line numbers of each side."""
    a, b = old.splitlines(), new.splitlines()
    lines: list[DiffLine] = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        lines.append(
            DiffLine(
                "@", first[1] + 1, first[3] + 1, f"lines {first[1] + 1}–{last[2]} → {first[3] + 1}–{last[4]}"
            )
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [DiffLine(" ", i + 1, j1 + (i - i1) + 1, a[i]) for i in range(i1, i2)]
                continue
            lines += [DiffLine("-", i + 1, None, a[i]) for i in range(i1, i2)]
            lines += [DiffLine("+", None, j + 1, b[j]) for j in range(j1, j2)]
    return lines


def parse_conditions(text: str) -> dict[str, str | None]:
    """`dimension = value` lines (the add-rule form) as conditions; `null` means "not set"."""
    found: dict[str, str | None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sign, value = line.partition("=")
        if not sign or not name.strip():
            raise InputError(
                f"condition line {number} ({line.strip()!r}) is not dimension = value",
                fix="write one condition a line, e.g. project = proj_new",
            )
        found[name.strip()] = None if value.strip() == "null" else value.strip()
    return found
