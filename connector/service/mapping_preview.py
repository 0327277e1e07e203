"""Preview a candidate mapping, and report coverage: what a change would do before anything is posted.

Both run the real planner in dry-run mode (`plan_entity(dry_run=True)`) on the stored facts and the
amounts already posted, so what the preview shows is what the next sync would post if the candidate
were the mapping file; nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from connector.domain.accounting_policy import PolicyHistory, PolicySet
from connector.domain.coverage import Coverage, UnmappedPattern
from connector.domain.journals import JournalKind, LedgerTarget
from connector.domain.mapping import Category, MappingSet
from connector.domain.mapping_history import MappingHistory
from connector.domain.money import ZERO, quantize
from connector.domain.periods import Period
from connector.domain.planner import LedgerCalendar, PlannedJournal
from connector.service.books import BookOptions, book_options, default_options
from connector.service.plan import PlanReport, plan_entity
from connector.service.runs import Clock
from connector.store.port import Store

# How the entity's books are kept under a policy history: the sync's own options (the books' currency and
# how to convert into it, the posting mode, the ledger's drafts), so a dry run plans what the sync would.
BooksUnder = Callable[[PolicyHistory], BookOptions]


def books_of(app: Any, entity: str) -> BooksUnder:
    """The sync's book options for `entity` under any policy history (its ledger is asked its currencies
    only when some amount is in another currency, as the sync asks)."""
    ledger, mapping = app.ledger(entity), app.mapping()[0]
    return lambda policies: book_options(
        policies,
        entity=entity,
        mapping=mapping,
        ledger=ledger,
        now=app.clock(),
        default_mode=app.default_posting_mode(),
    )


@dataclass(frozen=True, slots=True)
class PreviewLine:
    """One account (target) and category: the period's total under each mapping."""

    target: LedgerTarget
    category: Category
    currency: str
    current: Decimal
    candidate: Decimal

    @property
    def change(self) -> Decimal:
        return self.candidate - self.current


@dataclass
class PreviewReport:
    entity: str
    period: Period
    current: MappingSet  # the version in force now (the newest)
    candidate: MappingSet
    facts: int
    lines: list[PreviewLine]
    current_coverage: list[Coverage]
    candidate_coverage: list[Coverage]
    journals: list[PlannedJournal]  # what applying the candidate would post for the period
    due_anyway: list[PlannedJournal]  # what the next sync posts even without the candidate
    notes: list[str] = field(default_factory=list)

    @property
    def reclasses(self) -> list[PlannedJournal]:
        return [p for p in self.journals if p.journal.kind is JournalKind.RECLASS]


def preview_mapping(
    store: Store,
    *,
    history: MappingHistory,
    candidate: MappingSet,
    entity: str,
    period: Period,
    calendar: LedgerCalendar,
    clock: Clock,
    policies: PolicyHistory | None = None,
    books: BooksUnder | None = None,
) -> PreviewReport:
    """The period under the current mapping history and under it with `candidate` applied, side by side
    (booked under `policies`, the accounting policies, by default the built-in ones; kept as `books` says,
    by default in the provider's currency, unconverted)."""
    before = _dry_plan(store, history, entity, period, calendar, clock, policies, books)
    after = _dry_plan(store, history.with_newest(candidate), entity, period, calendar, clock, policies, books)
    report = PreviewReport(
        entity=entity,
        period=period,
        current=history.current,
        candidate=candidate,
        facts=after.facts,
        lines=_side_by_side(before, after),
        current_coverage=before.coverage,
        candidate_coverage=after.coverage,
        journals=after.planned,
        due_anyway=before.planned,
    )
    report.notes += _notes(history, candidate, period, report)
    report.notes += _currency_notes(report.lines, [*report.journals, *report.due_anyway])
    return report


@dataclass
class PolicyPreview:
    """A candidate policies file beside the current one: the period's totals by account, and what the next
    sync would post for the period with the candidate applied (the journals it changes among them)."""

    entity: str
    period: Period
    current: PolicySet
    candidate: PolicySet
    facts: int
    lines: list[PreviewLine]
    journals: list[PlannedJournal]
    due_anyway: list[PlannedJournal]
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[PlannedJournal]:
        """The journals the candidate adds or alters (the rest the next sync posts in any case)."""
        anyway = {_shape(p) for p in self.due_anyway}
        return [p for p in self.journals if _shape(p) not in anyway]


def preview_policies(
    store: Store,
    *,
    history: MappingHistory,
    policies: PolicyHistory,
    candidate: PolicySet,
    entity: str,
    period: Period,
    calendar: LedgerCalendar,
    clock: Clock,
    books: BooksUnder | None = None,
) -> PolicyPreview:
    """The period under the current policies and under them with `candidate` as the newest version, the
    mapping unchanged: the planner's dry run on the stored facts and what is already posted."""
    newer = PolicyHistory.of([*(p for p in policies.versions if p.version < candidate.version), candidate])
    before = _dry_plan(store, history, entity, period, calendar, clock, policies, books)
    after = _dry_plan(store, history, entity, period, calendar, clock, newer, books)
    report = PolicyPreview(
        entity,
        period,
        policies.current,
        candidate,
        after.facts,
        _side_by_side(before, after),
        after.planned,
        before.planned,
    )
    if candidate.effective_from > period.last_day:
        report.notes.append(
            f"the candidate takes effect on {candidate.effective_from}, after {period}: it changes nothing in "
            "this period"
        )
    if report.due_anyway:
        report.notes.append(
            f"{len(report.due_anyway)} journal(s) for {period} are due even without the change (facts not "
            "posted yet); the journals below include them, marked"
        )
    report.notes += _currency_notes(report.lines, [*report.journals, *report.due_anyway])
    return report


def _shape(planned: PlannedJournal) -> tuple:
    journal = planned.journal
    return (journal.kind, journal.txn_date, tuple((line.target, line.amount) for line in journal.lines))


def _currency_notes(lines: list[PreviewLine], journals: list[PlannedJournal]) -> list[str]:
    """Totals by account are spend as classified, in the currency the provider bills (each line says
    which); on books kept in another currency the journals are converted (at each day's rate, as the sync
    converts them): say so, or a total beside a journal reads as the same money."""
    totals = sorted({line.currency for line in lines})
    books = sorted({p.journal.currency for p in journals} - set(totals))
    if not totals or not books:
        return []
    return [
        f"totals by account are in the provider's currency ({', '.join(totals)}), as classified; the journals "
        f"are in the books' currency ({', '.join(books)}), converted at each day's rate"
    ]


def _side_by_side(before: PlanReport, after: PlanReport) -> list[PreviewLine]:
    """The period's totals by account and category under each plan, each in the currency it was classified
    in: the provider's (the journals may be in the books' currency, converted: `_currency_notes`)."""
    keys = sorted(before.totals.keys() | after.totals.keys(), key=lambda k: (k[0].key(), k[1].value, k[2]))
    return [
        PreviewLine(
            target,
            category,
            currency,
            quantize(before.totals.get((target, category, currency), ZERO), currency),
            quantize(after.totals.get((target, category, currency), ZERO), currency),
        )
        for target, category, currency in keys
    ]


def _dry_plan(
    store: Store,
    history: MappingHistory,
    entity: str,
    period: Period,
    calendar: LedgerCalendar,
    clock: Clock,
    policies: PolicyHistory | None,
    books_under: BooksUnder | None = None,
) -> PlanReport:
    company = history.current.entity(entity)
    if policies is not None and books_under is not None:
        books = books_under(policies)
    else:
        books = default_options(clock(), company.timezone, company.currency)
        books = replace(books, policies=policies) if policies else books
    return plan_entity(
        store,
        mapping=history.current,
        entity=entity,
        calendar=calendar,
        first_day=period.first_day,
        last_day=period.last_day,
        run_id=None,
        clock=clock,
        dry_run=True,
        history=history,
        books=books,
    )


def _notes(
    history: MappingHistory, candidate: MappingSet, period: Period, report: PreviewReport
) -> list[str]:
    notes = []
    current = history.current
    if candidate.version <= current.version and candidate.content_hash != current.content_hash:
        notes.append(
            f"the candidate says mapping_version {candidate.version}, but version {current.version} is in use: "
            f"raise it to {current.version + 1} before applying it (shown as if it were the newest version)"
        )
    if candidate.effective_from > period.last_day:
        notes.append(
            f"the candidate takes effect on {candidate.effective_from}, after {period}: it changes nothing in "
            "this period (set effective_from earlier to reclassify it)"
        )
    if report.due_anyway:
        notes.append(
            f"{len(report.due_anyway)} journal(s) for {period} are due even without the change (facts not "
            "posted yet); the journals below include them"
        )
    return notes


def coverage_report(
    store: Store, *, history: MappingHistory, entity: str, period: Period, clock: Clock
) -> tuple[list[Coverage], list[UnmappedPattern]]:
    """Mapped vs suspense spend of the period per provider, and the largest unmapped kinds of spend."""
    report = _dry_plan(store, history, entity, period, LedgerCalendar(), clock, None)
    return report.coverage, report.unmapped
