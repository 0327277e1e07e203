"""Mapping use cases: load the controllers' file, check it, remember every version seen.

A mapping is checked in layers: the file itself (schema, rules that can never match, splits …, in the
domain), its version against the versions already used (a number is used for one content only, and only
goes up), and the accounts and tracking options it names against the ledger's chart (fetched through the
ledger port, cached in the store with its fetch time). Every problem carries file:line and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from connector.domain.chart import LedgerChart, check_targets, ledger_title
from connector.domain.errors import ConfigError, Problem, Severity, TokenbooksError, errors_only
from connector.domain.mapping import MappingSet
from connector.domain.mapping_history import MappingHistory
from connector.domain.mapping_parser import parse_mapping
from connector.ledgers.port import Ledger
from connector.store.port import Store
from connector.store.records import VersionRecord

Clock = Callable[[], datetime]


def read_mapping(path: Path) -> tuple[MappingSet | None, str, list[Problem]]:
    """Parse a mapping file; problems carry file:line."""
    return read_controller_file(path, parse_mapping, "mapping", "TOKENBOOKS_MAPPING_FILE")


def read_controller_file(
    path: Path, parse: Callable[[str, str], tuple[Any, list[Problem]]], what: str, setting: str
) -> tuple[Any, str, list[Problem]]:
    """Read and parse a file controllers edit (the mapping, the policies): (parsed or None, text, problems)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        where = path if path.is_absolute() else f"{path}, from {Path.cwd()}"
        problem = Problem(
            str(path),
            "",
            "",
            f"cannot read the {what} file: {exc.strerror or exc}",
            f"set {setting} to your {what} file (it names {where})",
        )
        return None, "", [problem]
    parsed, problems = parse(text, str(path))
    return parsed, text, problems


def load_mapping(path: Path) -> tuple[MappingSet, str]:
    """The mapping, or a ConfigError listing every problem (nothing is posted with a broken mapping)."""
    mapping, text, problems = read_mapping(path)
    if mapping is None:
        raise _refused(path, errors_only(problems))
    return mapping, text


def _refused(path: Path | str, problems: list[Problem]) -> ConfigError:
    return refused(path, problems, "mapping", "tokenbooks mappings check")


def refused(path: Path | str, problems: list[Problem], what: str, check: str) -> ConfigError:
    """A controller's file with errors: nothing is posted until they are fixed. One problem is said with
    its own fix; several are listed each with its own, and one fix for all."""
    if len(problems) == 1 and problems[0].fix:
        only = problems[0]
        return ConfigError(only.describe(), fix=f"{only.fix}; nothing was posted", problems=problems)
    return ConfigError(
        f"the {what} file {path} has {len(problems)} problem(s): " + "; ".join(str(p) for p in problems[:10]),
        fix=f"fix them (run `{check}` to see all); nothing was posted",
        problems=problems,
    )


# ---------------------------------------------------------------------------------------------- versions


class MappingFileContext(Protocol):
    """The store, and the mapping file as the application loaded it."""

    @property
    def store(self) -> Store: ...

    def mapping(self) -> tuple[MappingSet, str]: ...


def mapping_history(ctx: MappingFileContext) -> MappingHistory:
    """Every mapping version used before, and the current file as the newest (see `load_history`)."""
    mapping, text = ctx.mapping()
    return load_history(ctx.store, mapping, text)


def load_history(store: Store, current: MappingSet, text: str = "") -> MappingHistory:
    """Every version used before, plus the current file as the newest; refuses a reused or lowered
    version number (ConfigError), because allocations record the version number as their lineage."""
    with store.unit_of_work() as uow:
        rows = uow.mappings.all()
    problems = version_problems(current, rows, text)
    if problems:
        raise _refused(current.source, problems)
    return MappingHistory.of(
        [*(_stored(row) for row in rows if row.content_hash != current.content_hash), current]
    )


def version_problems(current: MappingSet, rows: list[VersionRecord], text: str = "") -> list[Problem]:
    """A version number names one content forever, and the current file must be the newest version."""
    return number_problems(
        source=current.source,
        key="mapping_version",
        version=current.version,
        content_hash=current.content_hash,
        rows=rows,
        same=lambda row: same_rules(_stored(row), current),
        text=text,
        why="allocations record the version, so one number must name one content",
        bump_with="`tokenbooks mappings bump --effective-from YYYY-MM-DD --note '…'` does it and keeps your "
        "comments",
    )


def number_problems(
    *,
    source: str,
    key: str,
    version: int,
    content_hash: str,
    rows: list[Any],
    same: Callable[[Any], bool],
    text: str,
    why: str,
    bump_with: str,
) -> list[Problem]:
    """The version-number rules of a controller's versioned file (the mapping, the policies): a number
    names one content forever (`same` says whether a stored row means the same), and never goes down.
    `rows` are the stored versions (with version, content_hash, first_seen_at and change_note)."""
    line = line_of(key, text)
    others = [r for r in rows if r.content_hash != content_hash]
    newest = max((r.version for r in others), default=0)
    bump = f"raise {key} to {max(newest, version) + 1}, set effective_from and say why in change_note" + (
        f" ({bump_with})" if bump_with else ""
    )
    for row in others:
        if row.version == version and not same(row):
            return [
                Problem(
                    source,
                    line,
                    key,
                    f"version {version} was already used for a different file (first seen "
                    f"{row.first_seen_at:%Y-%m-%d}: {row.change_note}); {why}",
                    bump,
                )
            ]
    if version < newest:
        return [
            Problem(
                source,
                line,
                key,
                f"version {version} is older than version {newest}, which is already in use; "
                "going back to an older file is a new change",
                bump,
            )
        ]
    return []


def same_rules(a: MappingSet, b: MappingSet) -> bool:
    """Do two files book every cost the same way? Comments, descriptions, the change note and layout
    may differ (such edits need no new version); dates, entities, roles and rules may not."""

    def meaning(m: MappingSet) -> tuple:
        rules = tuple((r.id, r.conditions, r.destinations) for r in m.rules)
        return (m.effective_from, m.entities, m.roles, rules, m.suspense)

    return meaning(a) == meaning(b)


def _stored(row: VersionRecord) -> MappingSet:
    source = f"{row.source} (version {row.version} as first seen {row.first_seen_at:%Y-%m-%d})"
    mapping, problems = parse_mapping(row.content, source, analyse=False)
    if mapping is None:
        raise _refused(source, errors_only(problems))
    return mapping


def line_of(key: str, text: str, *, nested: bool = False) -> str:
    """The line of a controller's file where `key:` first appears ("" if nowhere): at the top level, or
    at any depth when `nested`."""
    indent = r"\s*" if nested else ""
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"{indent}{re.escape(key)}\s*:", line):
            return str(number)
    return ""


# ------------------------------------------------------------------------------------------------- charts


def fetch_chart(ledger: Ledger, ledger_kind: str, now: datetime) -> LedgerChart:
    """The chart as the ledger holds it now (accounts, classes, departments, tracking options)."""
    return LedgerChart(ledger_kind, tuple(ledger.chart_of_accounts()), tuple(ledger.tracking()), now)


def remember_chart(store: Store, entity: str, chart: LedgerChart, run_id: str | None = None) -> None:
    with store.unit_of_work() as uow:
        uow.charts.save(entity, chart, run_id=run_id)
        uow.commit()


@dataclass
class ChartLookup:
    """The chart a check used, and how it was obtained (said to the controller)."""

    chart: LedgerChart | None
    note: str
    warnings: list[Problem] = field(default_factory=list)


class MappingContext(Protocol):
    """What the mapping commands need from the composition root."""

    @property
    def store(self) -> Store: ...

    @property
    def clock(self) -> Clock: ...

    def ledger(self, entity: str) -> Ledger: ...

    def chart_max_age(self) -> timedelta: ...


def chart_for(
    ctx: MappingContext, entity: str, ledger_kind: str, *, offline: bool = False, refresh: bool = False
) -> ChartLookup:
    """The entity's chart: the cached one while fresh, else fetched (and cached); offline, the cache only."""
    with ctx.store.unit_of_work() as uow:
        cached = uow.charts.get(entity)
    if cached is not None and cached.ledger != ledger_kind:
        cached = None  # the entity moved to another ledger: the old chart says nothing about the new one
    now = ctx.clock()
    name = ledger_title(ledger_kind)
    fresh = cached is not None and cached.fetched_at and now - cached.fetched_at <= ctx.chart_max_age()
    if offline or (fresh and not refresh):
        if cached is not None:
            return ChartLookup(cached, f"checked against the {name} chart cached {_at(cached)}")
        return ChartLookup(None, "not checked", [_unchecked(entity, name, "no chart is cached yet")])
    try:
        chart = fetch_chart(ctx.ledger(entity), ledger_kind, now)
    except TokenbooksError as exc:
        if cached is None:
            why = f"the ledger could not be read ({exc.message})"
            return ChartLookup(None, "not checked", [_unchecked(entity, name, why)])
        note = f"checked against the {name} chart cached {_at(cached)} (could not refresh it: {exc.message})"
        return ChartLookup(cached, note)
    remember_chart(ctx.store, entity, chart)
    return ChartLookup(
        chart, f"checked against the {name} chart fetched now ({len(chart.accounts)} accounts)"
    )


def _at(chart: LedgerChart) -> str:
    return f"{chart.fetched_at:%Y-%m-%d %H:%M} UTC" if chart.fetched_at else "(time unknown)"


def _unchecked(entity: str, ledger: str, why: str) -> Problem:
    return Problem(
        f"{ledger} ({entity})",
        "",
        "",
        f"accounts and tracking options were not checked against the ledger: {why}",
        "connect the ledger (`tokenbooks connect`) and run `tokenbooks mappings check --refresh`",
        Severity.WARNING,
    )


def require_chart(store: Store, mapping: MappingSet, entity: str, ledger: Ledger, now: datetime) -> None:
    """Before posting: every account and option the entity's journals would use exists and is active.

    The chart is read live (and cached for `mappings check --offline`); a problem stops the run before
    anything is planned, with file:line and the fix, because the ledger would refuse those journals.
    """
    if ledger.opens_accounts:
        return  # nothing to check: the ledger opens whatever account a journal names
    chart = fetch_chart(ledger, mapping.entity(entity).ledger, now)
    remember_chart(store, entity, chart)
    problems = check_targets(mapping, entity, chart)
    if problems:
        raise _refused(mapping.source, problems)


# -------------------------------------------------------------------------------------------------- check


@dataclass
class CheckReport:
    path: Path
    mapping: MappingSet | None
    problems: list[Problem] = field(default_factory=list)
    charts: dict[str, str] = field(default_factory=dict)  # entity → how its chart was obtained

    @property
    def ok(self) -> bool:
        return self.mapping is not None and not errors_only(self.problems)


def check_mapping_file(
    ctx: MappingContext, path: Path, *, offline: bool = False, refresh: bool = False
) -> CheckReport:
    """Everything `tokenbooks mappings check` reports — the file, its version, the ledger's chart — in one
    run: a file with errors is still checked against the chart as far as it could be read."""
    mapping, text, problems = read_controller_file(
        path, partial(parse_mapping, partial=True), "mapping", "TOKENBOOKS_MAPPING_FILE"
    )
    return _checked(ctx, CheckReport(path, None, list(problems)), mapping, text, offline, refresh)


def check_mapping_text(ctx: MappingContext, text: str, source: Path, *, offline: bool = True) -> CheckReport:
    """The same checks on a candidate text (the console's editor), by default against the cached chart."""
    mapping, problems = parse_mapping(text, str(source), partial=True)
    return _checked(ctx, CheckReport(source, None, list(problems)), mapping, text, offline, False)


def _checked(
    ctx: MappingContext,
    report: CheckReport,
    mapping: MappingSet | None,
    text: str,
    offline: bool,
    refresh: bool,
) -> CheckReport:
    readable = mapping is not None and not errors_only(report.problems)
    report.mapping = mapping if readable else None
    if mapping is None:
        return report
    if readable:
        with ctx.store.unit_of_work() as uow:
            report.problems += version_problems(mapping, uow.mappings.all(), text)
    for entity in mapping.entities:
        lookup = chart_for(ctx, entity.id, entity.ledger, offline=offline, refresh=refresh)
        report.charts[entity.id] = lookup.note
        report.problems += lookup.warnings
        if lookup.chart is not None:
            report.problems += check_targets(mapping, entity.id, lookup.chart)
    report.problems.sort(key=lambda p: (not p.is_error, p.source, int(p.location or 0)))
    return report
