"""A ledger's chart of accounts and tracking options, and the check that a mapping only names what exists.

A mapping that names account 5015 when the ledger has 5010 would have every journal refused (or, worse,
posted to a look-alike); an inactive account or an archived Xero tracking option is refused the same way.
The check runs against the chart as fetched from the ledger (cached with its fetch time) and reports each
missing or inactive reference at the mapping line that names it, with the closest existing names.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from connector.domain.errors import Problem
from connector.domain.journals import LedgerTarget
from connector.domain.ledger_targets import TARGETS
from connector.domain.mapping import CATEGORY_ROLE, Destination, MappingSet


def ledger_title(ledger: str) -> str:
    """A ledger as people write it ("QuickBooks"), from its registered target shape."""
    shape = TARGETS.get(ledger)
    return shape.title if shape else ledger


def unjournalable(account: LedgerAccount, ledger: str) -> str:
    """Why the ledger refuses this account on a tokenbooks journal line ("" when it does not): its rule."""
    shape = TARGETS.get(ledger)
    return shape.refuses_account(account) if shape else ""


@dataclass(frozen=True, slots=True)
class LedgerAccount:
    id: str
    name: str
    number: str | None = None
    type: str = ""
    active: bool = True
    system: str = ""  # Xero's SystemAccount (DEBTORS, CREDITORS, RETAINEDEARNINGS …), "" for the rest

    def references(self) -> set[str]:
        """Every way a mapping may name this account (number, name, id)."""
        return {ref for ref in (self.number, self.name, self.id) if ref}

    def label(self) -> str:
        return f"{self.number} {self.name}" if self.number else self.name


@dataclass(frozen=True, slots=True)
class TrackingOption:
    """A QuickBooks Class or Department, or a Xero tracking category option."""

    kind: str  # "class" | "department" | a Xero tracking category name
    id: str
    name: str
    active: bool = True


@dataclass(frozen=True, slots=True)
class LedgerChart:
    """What one entity's ledger holds, as fetched at `fetched_at`."""

    ledger: str  # "quickbooks" | "xero"
    accounts: tuple[LedgerAccount, ...]
    options: tuple[TrackingOption, ...]
    fetched_at: datetime | None = None

    def account(self, reference: str) -> LedgerAccount | None:
        """The account a mapping reference names; an active one wins over an inactive namesake."""
        found = [a for a in self.accounts if reference in a.references()]
        return next((a for a in found if a.active), found[0] if found else None)

    def option(self, kind: str, name: str) -> TrackingOption | None:
        found = [o for o in self.options if o.kind == kind and name in (o.name, o.id)]
        return next((o for o in found if o.active), found[0] if found else None)

    def kinds(self) -> set[str]:
        return {o.kind for o in self.options}


def check_targets(mapping: MappingSet, entity: str, chart: LedgerChart) -> list[Problem]:
    """Every account, class, department and tracking option the entity's ledger would receive must exist
    and be active. Each reference is reported once, at the line that names it."""
    ledger = mapping.entity(entity).ledger
    checker = _Checker(mapping.source, chart, entity)
    role_lines = dict(mapping.role_lines)
    role_targets: dict[str, LedgerTarget] = {}
    for role, targets in mapping.roles:
        target = dict(targets).get(ledger)
        if target is not None:
            role_targets[role] = target
            checker.target(target, role_lines.get(role, 0), f"roles.{role}.{ledger}")
    for rule in mapping.rules:
        for index, destination in enumerate(rule.destinations):
            where = f"{rule.id}.split[{index}]" if len(rule.destinations) > 1 else rule.id
            _check_destination(checker, destination, role_targets, ledger, where)
    _check_destination(checker, mapping.suspense, role_targets, ledger, "suspense")
    return checker.problems


def _check_destination(
    checker: _Checker,
    destination: Destination,
    role_targets: dict[str, LedgerTarget],
    ledger: str,
    where: str,
) -> None:
    target = destination.target_for(ledger)
    if target is None:
        return
    default = role_targets.get(CATEGORY_ROLE[destination.category])
    checker.target(target, destination.line, f"{where}.{ledger}", already=default)


class _Checker:
    """Collects chart problems, one per reference and line."""

    def __init__(self, source: str, chart: LedgerChart, entity: str) -> None:
        self.source = source
        self.chart = chart
        self.entity = entity
        self.ledger = ledger_title(chart.ledger)
        self.problems: list[Problem] = []
        self._seen: set[tuple[int, str, str]] = set()

    def target(
        self, target: LedgerTarget, line: int, where: str, already: LedgerTarget | None = None
    ) -> None:
        """Check what `target` names beyond `already` (the role's target, checked at the role's line)."""
        if already is None or target.account != already.account:
            self.account(target.account, line, f"{where}.account")
        options = (
            ("class", target.class_name, already.class_name if already else None),
            ("department", target.department, already.department if already else None),
        )
        for kind, name, default in options:
            if name and name != default:
                self.option(kind, name, line, f"{where}.{kind}")
        for category, option in target.tracking:
            if already is None or (category, option) not in already.tracking:
                self.option(category, option, line, f"{where}.tracking.{category}")

    def account(self, reference: str, line: int, where: str) -> None:
        if not self._first(line, "account", reference):
            return
        account = self.chart.account(reference)
        if account is None:
            names = {
                ref: a.label() for a in self.chart.accounts if a.active for ref in (a.number, a.name) if ref
            }
            self._problem(
                line,
                where,
                f"account {reference!r} is not in the {self.ledger} chart of accounts of {self.entity}"
                f"{self._when()}",
                f"use an account that exists{_suggest(reference, names)}, or create it in {self.ledger} and "
                "run `tokenbooks mappings check --refresh`",
            )
        elif not account.active:
            self._problem(
                line,
                where,
                f"account {reference!r} ({account.label()}) is inactive in {self.ledger}{self._when()}; "
                "the ledger refuses postings to it",
                f"make it active again in {self.ledger}, or point this at an active account",
            )
        elif why := unjournalable(account, self.chart.ledger):
            self._problem(
                line,
                where,
                f"account {reference!r} ({account.label()}) {why}{self._when()}",
                "point this at an expense, asset or liability account of its own (the bill to the provider "
                "is AP's entry: tokenbooks books against Accrued AI costs, which AP's bill then clears)",
            )

    def option(self, kind: str, name: str, line: int, where: str) -> None:
        if not self._first(line, kind, name):
            return
        what = _option_word(kind, self.chart.ledger)
        option = self.chart.option(kind, name)
        if option is None and _tracks(self.chart.ledger) and kind not in self.chart.kinds():
            self._problem(
                line,
                where,
                f"tracking category {kind!r} does not exist in {self.ledger}{self._when()}",
                f"use one of the tracking categories: {', '.join(sorted(self.chart.kinds())) or '(none)'}",
            )
        elif option is None:
            names = {o.name: o.name for o in self.chart.options if o.kind == kind and o.active}
            self._problem(
                line,
                where,
                f"{what} {name!r} does not exist in {self.ledger}{self._when()}",
                f"use an existing {what}{_suggest(name, names)}, or create it in {self.ledger} and run "
                "`tokenbooks mappings check --refresh`",
            )
        elif not option.active:
            shape = TARGETS.get(self.chart.ledger)
            state = shape.inactive_word if shape else "inactive"
            self._problem(
                line,
                where,
                f"{what} {name!r} is {state} in {self.ledger}{self._when()}; the ledger refuses it on new lines",
                f"make it active again in {self.ledger}, or name an active {what}",
            )

    def _first(self, line: int, kind: str, name: str) -> bool:
        key = (line, kind, name)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def _when(self) -> str:
        at = self.chart.fetched_at
        return f" (chart fetched {at:%Y-%m-%d %H:%M} UTC)" if at else ""

    def _problem(self, line: int, where: str, message: str, fix: str) -> None:
        self.problems.append(Problem(self.source, str(line) if line else "", where, message, fix))


def _tracks(ledger: str) -> bool:
    """Whether the ledger's lines carry tracking categories (whose options a mapping names)."""
    shape = TARGETS.get(ledger)
    return shape is not None and "tracking" in shape.extras


def _option_word(kind: str, ledger: str) -> str:
    if _tracks(ledger):
        return f"{kind} tracking option"
    return {"class": "class", "department": "department"}.get(kind, kind)


def _suggest(name: str, labels: Mapping[str, str]) -> str:
    """' (did you mean …?)' from the references closest to `name`, shown by their labels."""
    close = difflib.get_close_matches(name, list(labels), n=3, cutoff=0.6)
    shown = list(dict.fromkeys(labels[ref] for ref in close))
    if shown:
        return f" (did you mean {' or '.join(repr(n) for n in shown)}?)"
    everything = sorted(set(labels.values()))
    if everything and len(everything) <= 12:
        return f" (the ledger has: {', '.join(everything)})"
    return ""
