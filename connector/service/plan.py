"""Plan: classify current facts, compute desired per bucket, and store delta journals in the outbox.

Planning covers whole months (a monthly bucket needs every day of its month). The allocations, the
journals and their contributions are written in one transaction, so a crash leaves either the old plan
or the new one, never half of each; a re-plan after a crash finds the stored journals and plans nothing
twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial

from connector import __version__
from connector.bulk_work import paused_gc
from connector.domain.accounting_policy import PolicyHistory
from connector.domain.coverage import (
    Coverage,
    SpendSummary,
    UnmappedPattern,
    suspense_of_record,
    suspense_record,
)
from connector.domain.day_sums import DayInputs, DaySums, FactIds
from connector.domain.desired import (
    REVERSED_BY_MONTH_END,
    Desired,
    MissingRole,
    UsageCosts,
    booked_days,
    desired_books,
    mirrored_by,
    not_yet_due,
)
from connector.domain.journals import Bucket, Journal, JournalKind, LedgerTarget
from connector.domain.mapping import Category, MappingSet
from connector.domain.mapping_history import HistoryClassifier, MappingHistory
from connector.domain.money import ZERO
from connector.domain.periods import Period
from connector.domain.planner import LedgerCalendar, PlannedJournal, Trace, plan
from connector.domain.posting_buckets import counter_targets
from connector.domain.providers import provider_label
from connector.service.approvals import release
from connector.service.audit import FactAltered, FactVouching, RefusedFactDay
from connector.service.books import (
    BookOptions,
    books_input,
    capitalized_projects,
    default_options,
    in_ledger_currency,
    missing_role,
    posted_for_plan,
    review_for,
    role_targets,
    with_rates,
)
from connector.service.runs import Clock
from connector.store.port import Store, UnitOfWork
from connector.store.records import StoredFact, StoredJournal

# the journals a memo traces: what a month-end reversal mirrors, and the reversals already booked
TRACED_KINDS = (*REVERSED_BY_MONTH_END, JournalKind.REVERSAL)


@dataclass
class PlanReport:
    entity: str
    first_day: date
    last_day: date
    planned: list[PlannedJournal] = field(default_factory=list)
    facts: int = 0
    allocated: Decimal = ZERO
    suspense: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (provider, currency) → amount
    desired: dict[Bucket, Decimal] = field(default_factory=dict)
    skipped: bool = False  # nothing changed since the last plan: nothing to plan, nothing classified
    coverage: list[Coverage] = field(default_factory=list)
    unmapped: list[UnmappedPattern] = field(default_factory=list)
    totals: dict[tuple[LedgerTarget, Category, str], Decimal] = field(default_factory=dict)
    books: Desired = field(default_factory=Desired)  # prepaid overflow, true-ups, notes (policies)
    days_read: int = 0  # posting days whose facts were read and classified whole
    days_updated: int = 0  # posting days whose kept sums were brought up to date with their changed facts
    days_kept: int = 0  # posting days whose kept sums stood for their unchanged facts
    facts_classified: int = 0  # facts read and classified (the changed facts' old versions included)
    # provider days whose facts differ from what the audit chain committed: nothing planned from them
    refused: list[RefusedFactDay] = field(default_factory=list)

    @property
    def refused_days(self) -> frozenset[date]:
        """The posting days left as they were last planned: their facts are not vouched for."""
        return frozenset(r.posting_day for r in self.refused)

    def refusal(self) -> str | None:
        """What was refused, for the run's reason and its error event (None: nothing)."""
        if not self.refused:
            return None
        shown = "; ".join(r.describe() for r in self.refused[:5])
        more = f" (and {len(self.refused) - 5} more)" if len(self.refused) > 5 else ""
        days = ", ".join(str(d) for d in sorted(self.refused_days))
        return (
            f"{self.entity}: {len(self.refused)} provider day(s) refused for planning, their facts differ "
            f"from what the audit chain committed: {shown}{more}. Posting day(s) {days} are left as last "
            "planned, nothing is booked from them. Fix: run `tokenbooks audit verify` to see every fact "
            "changed behind the audit log, put the rows back as committed, or store the days again from the provider "
            "(`tokenbooks sync --since DAY`; a FOCUS export: import it again)"
        )

    def suspense_rows(self) -> list[dict[str, str]]:
        """What went to suspense, one row per provider and currency (JSON, run statistics)."""
        return suspense_record(self.suspense)


def whole_months(first_day: date, last_day: date) -> tuple[date, date]:
    return Period.of(first_day).first_day, Period.of(last_day).last_day


def plan_entity(
    store: Store,
    *,
    mapping: MappingSet,
    entity: str,
    calendar: LedgerCalendar,
    first_day: date,
    last_day: date,
    run_id: str | None,
    clock: Clock,
    dry_run: bool = False,
    history: MappingHistory | None = None,
    books: BookOptions | None = None,
    full: bool = False,
) -> PlanReport:
    """Plan the delta journals of `entity` for the months that hold [first_day, last_day].

    Only the posting days whose inputs changed since they were last classified are read (`_classify`);
    `full` reads and classifies every day — the same journals, by construction and by a property test
    (`tests/service/test_incremental_plan.py`): the check an operator runs with `sync --full-plan`.

    Each fact is classified by the mapping version in force on its posting date (`history`; by default
    `mapping` alone); `mapping` is the current version, whose roles give the balancing accounts.
    `books` carries the accounting policies and the day the run books as of (by default the built-in
    policies, as of the clock's day in the entity's timezone).
    """
    first, last = whole_months(first_day, last_day)
    ledger = mapping.entity(entity).ledger
    company = mapping.entity(entity)
    options = books or default_options(clock(), company.timezone, company.currency)
    report = PlanReport(entity, first, last)
    state = PlanState(history or MappingHistory.of([mapping]), entity, first, last, calendar, options)
    with store.unit_of_work() as uow:
        if not dry_run and not full and _unchanged_since_last_plan(uow, state, report):
            return report
        placed = uow.allocations.versions_by_day(entity, first, last)  # before classifying again
        spend = _classify(uow, state, report, dry_run=dry_run, run_id=run_id, full=full, now=clock())
        inputs = books_input(
            uow,
            entity=entity,
            first=first,
            last=last,
            usage=spend,
            options=options,
            role_target=role_targets(mapping, ledger),
            project_of=capitalized_projects(state.history.versions, ledger),
        )
        try:
            report.books = desired_books(inputs)
        except MissingRole as missing:
            raise missing_role(missing, mapping, ledger) from None
        converted = in_ledger_currency(
            report.books, options, first, partial(uow.outbox.posted_converted, entity)
        )
        untouched = partial(_touches, options.policies, report.refused_days)
        report.desired = _due(converted.amounts, options.as_of, untouched)
        posted = _due(posted_for_plan(uow, entity, first, last), options.as_of, untouched)
        planned = plan(
            report.desired,
            posted,
            counter_target=counter_targets(mapping, ledger),
            calendar=calendar,
            used_serials=uow.outbox.used_serials(entity),
            provider_label=provider_label,
            review=review_for(options, report.books),
            trace=Trace(
                keys=uow.outbox.keys_by_bucket(entity, TRACED_KINDS, first - timedelta(days=1), last),
                sources=report.books.sources,
                reclass=partial(_reclass_note, state, placed),
                mirrored=mirrored_by,
                days=partial(booked_days, options.policies),
            ),
        )
        report.planned = with_rates(planned, converted)
        if dry_run:
            return report
        refused = uow.outbox.list(entity, statuses=["rejected"])
        rejected = {_content(s.journal): s for s in refused}
        released = _Released(refused, uow.outbox.approvers([s.id for s in refused]))
        now = clock()
        added = []
        for index, journal in enumerate(report.planned):
            again = rejected.pop(_content(journal.journal), None)
            if again is not None and not journal.held:
                uow.outbox.replan(again.id, run_id=run_id)  # the same journal, refused before: try it again
                report.planned[index] = PlannedJournal(again.journal)
                continue
            approval = (
                released.covering(journal) if not calendar.is_locked(journal.journal.txn_date) else None
            )
            held_because = journal.hold_reason
            if approval is not None:
                journal = report.planned[index] = _carried(journal, approval)
            added.append(
                uow.outbox.add(
                    journal.journal, ledger=ledger, run_id=run_id, now=now, hold_reason=journal.hold_reason
                )
            )
            if approval is not None:
                keys = ", ".join(approval.keys)
                release(
                    uow,
                    added[-1],
                    journal.journal,
                    approver=approval.approver,
                    held_because=held_because,
                    said=f"as {keys}, which the ledger refused in a period locked since; planned again on the "
                    "first open day",
                    run=None,
                    now=now,
                    approved_as=approval.keys,
                )
        # the chain vouches for them: an edit of a booked amount, account or line is then named by
        # `tokenbooks audit verify`, and refused by the poster (store/commitments.py)
        uow.commitments.commit_journals(entity, added, run_id=run_id, now=now)
        if report.refused:
            # not remembered as planned: the next plan reads the refused days again, from the first of them
            uow.fact_marks.add(entity, min(report.refused_days), changed_by="facts not vouched for", now=now)
        else:
            _remember(uow, state, report, run_id, now)
        uow.commit()
    return report


def _due(
    amounts: dict[Bucket, Decimal], as_of: date, refused: Callable[[Bucket], bool]
) -> dict[Bucket, Decimal]:
    """The buckets to plan: due by `as_of`, and booking no refused day (left as posted: no delta)."""
    return {
        bucket: amount
        for bucket, amount in amounts.items()
        if not not_yet_due(bucket, as_of) and not refused(bucket)
    }


def _touches(policies: PolicyHistory, days: frozenset[date], bucket: Bucket) -> bool:
    """Whether the bucket books one of these (refused) posting days. A month-end reversal books its own
    day (the 1st) but is the mirror of the month's accrual: it touches the days the accrual it mirrors
    books, or a refused day left that accrual as posted while its reversal was planned from the rest."""
    if not days:
        return False
    mirrored = mirrored_by(bucket) if bucket.kind is JournalKind.REVERSAL else []
    return any(not days.isdisjoint(booked_days(policies, b)) for b in (bucket, *mirrored))


def _classify(
    uow: UnitOfWork,
    state: PlanState,
    report: PlanReport,
    *,
    dry_run: bool,
    run_id: str | None,
    full: bool,
    now: datetime,
) -> UsageCosts:
    """Sum the window's classified facts, a posting day at a time: a day whose inputs (its current facts,
    the mapping version in force on it, the policies, the code) are those its kept sums were computed
    from is not read — its sums are added; a day whose facts alone changed has its kept sums brought up to
    date fact by fact (`_update_day`); any other day is read and classified chunk by chunk. A day's
    allocations are stored (unless dry) and its sums kept for the next plan. `full` reads every day (the
    check that incremental planning plans what a full plan does). Memory holds one chunk, never the month."""
    classifier = state.history.classifier()
    vouching = FactVouching(uow)
    usage = UsageCosts(state.books.policies, state.entity)
    summary = SpendSummary()
    days = uow.day_sums
    held = days.kept(state.entity, state.first, state.last)
    kept = {} if full else held
    read = _Reading(uow, state, classifier, vouching, report, dry_run=dry_run, run_id=run_id, now=now)
    with paused_gc():  # a month of short-lived facts and allocations, none in a reference cycle
        current = days.facts_by_day(state.entity, state.first, state.last)
        for day in sorted(held.keys() - current.keys()):
            try:  # planned before, no current fact now: a committed withdrawal, or deleted behind the log
                vouching.check_emptied(uow.commitments.provider_days(state.entity, day), day)
            except FactAltered as altered:
                _refused(read, day, altered, usage, summary)
        for day, facts in current.items():
            inputs = state.day_inputs(day, facts)
            before = DayInputs.parse(kept.get(day, ""))
            sums = None
            try:
                if before == inputs:
                    sums = DaySums.of_data(days.kept_sums(state.entity, day))
                    report.days_kept += 1
                elif before is not None and before.rules == inputs.rules:
                    sums = _update_day(read, day, inputs)
                if sums is None:
                    sums = _classify_day(read, day)
                    report.days_read += 1
            except FactAltered as altered:
                _refused(read, day, altered, usage, summary, kept=day in held)
                continue
            if not dry_run and before != inputs:
                days.keep(state.entity, day, inputs.key, sums, now)
            usage.absorb(sums.usage)
            summary.absorb(sums.spend, sums.unmapped)
            report.facts += sums.facts
    report.allocated = summary.allocated
    report.suspense = summary.suspense()
    report.coverage = summary.coverage()
    report.unmapped = summary.unmapped_patterns()
    report.totals = summary.totals_by_target()
    return usage


REFUSED = "refused"  # what a refused day's sums are kept as: no inputs, so the next plan reads it again


def _refused(
    read: _Reading,
    day: date,
    altered: FactAltered,
    usage: UsageCosts,
    summary: SpendSummary,
    *,
    kept: bool = True,
) -> None:
    """A posting day whose facts its commitments do not vouch for: planned from the sums last kept for it
    (nothing, if none), never from these facts; its buckets plan nothing (`_touches`). Its sums are kept
    again as REFUSED, so each plan reads the day — and refuses it — until its rows are put back."""
    report, days = read.report, read.uow.day_sums
    report.refused += altered.refused
    sums = DaySums.of_data(days.kept_sums(read.state.entity, day)) if kept else DaySums()
    if not read.dry_run:
        days.keep(read.state.entity, day, REFUSED, sums, read.now)
    usage.absorb(sums.usage)
    summary.absorb(sums.spend, sums.unmapped)
    report.facts += sums.facts


@dataclass(frozen=True)
class _Reading:
    """What reading a posting day's facts uses: the store, the classifier, the commitments the facts are
    held to before they are classified (`FactVouching`: raises FactAltered), the report it counts in."""

    uow: UnitOfWork
    state: PlanState
    classifier: HistoryClassifier
    vouching: FactVouching
    report: PlanReport
    dry_run: bool
    run_id: str | None
    now: datetime

    def add(self, sums: _DaySummer, chunk: list[StoredFact], day: date, *, current: bool) -> None:
        """Classify a chunk into `sums` (its allocations stored unless dry); current facts are vouched for
        first (a superseded version read to take it back was vouched for when it was current)."""
        if current:
            self.vouching.check(chunk, day)
        sums.add(
            self.uow,
            self.classifier,
            chunk,
            self.report,
            store=current and not self.dry_run,
            run_id=self.run_id,
            now=self.now,
        )


def _classify_day(read: _Reading, day: date) -> DaySums:
    """Read and classify one posting day's current facts chunk by chunk; store their allocations unless
    dry. Returns the day's sums."""
    sums = _DaySummer(read.state)
    for chunk in read.uow.facts.current_chunks(read.state.entity, day, day):
        read.add(sums, chunk, day, current=True)
    return sums.day_sums(FactIds.of(sums.ids))


def _update_day(read: _Reading, day: date, inputs: DayInputs) -> DaySums | None:
    """A day whose facts alone changed since its sums were kept (the same rules): the kept sums, less
    what the facts no longer current added to them (classified again by the same rules: the same
    allocations, whose stored rows stay as a full plan leaves them), plus what the facts that became
    current add — the sums of the day's current facts, exactly. The ids so found are current facts of the
    day, so they are all of them when there are as many as the day has (`inputs`): None when there are
    not (a fact committed out of id order, say), and the day is classified whole."""
    uow, state = read.uow, read.state
    kept = DaySums.of_data(uow.day_sums.kept_sums(state.entity, day))
    if not kept.ids.runs:
        return None
    candidates = uow.facts.superseded_ids(state.entity, day, kept.ids.runs[0][0], kept.ids.newest)
    gone = [fact_id for fact_id in candidates if fact_id in kept.ids]
    taken_back = _DaySummer(state)
    for chunk in uow.facts.with_ids(gone):
        read.add(taken_back, chunk, day, current=False)
    added = _DaySummer(state)
    for chunk in uow.facts.current_chunks(state.entity, day, day, newer_than=kept.ids.newest):
        read.add(added, chunk, day, current=True)
    ids = kept.ids.changed(gone, added.ids)
    if (len(ids), ids.newest) != (inputs.facts, inputs.newest) or len(taken_back.ids) != len(gone):
        return None
    read.report.days_updated += 1
    return kept.updated(taken_back.day_sums(), added.day_sums(), ids)


class _DaySummer:
    """A day's facts classified chunk by chunk (their allocations stored, when asked) and summed as they
    come: the facts' ids are kept, the facts and allocations are not."""

    def __init__(self, state: PlanState) -> None:
        self.usage = UsageCosts(state.books.policies, state.entity)
        self.summary = SpendSummary()
        self.ids: list[int] = []

    def add(
        self,
        uow: UnitOfWork,
        classifier: HistoryClassifier,
        chunk: list[StoredFact],
        report: PlanReport,
        *,
        store: bool,
        run_id: str | None,
        now: datetime,
    ) -> None:
        owners, allocations = classifier.classify_keyed((stored.id, stored.fact) for stored in chunk)
        self.usage.add(allocations)
        self.summary.add(allocations)
        self.ids.extend(stored.id for stored in chunk)
        report.facts_classified += len(chunk)
        if store:
            uow.allocations.replace_for_facts(owners, allocations, chunk, run_id=run_id, now=now)

    def day_sums(self, ids: FactIds | None = None) -> DaySums:
        return DaySums(len(self.ids), self.usage.state(), *self.summary.state(), ids=ids or FactIds())


def _reclass_note(state: PlanState, placed: dict[date, set[int]], days: Sequence[date]) -> str:
    """A reclass journal's memo names what moved its amounts: the mapping versions and change note, or,
    when the mapping did not change there, the accounting policies' version in force and its note."""
    note = state.history.describe_change(state.entity, days, placed)
    if note:
        return note
    policies = state.books.policies.version_on(days[-1])
    return (
        f"Reclass for a change of the accounting policies: version {policies.version} effective "
        f"{policies.effective_from}: {policies.change_note}"
    )


# ------------------------------------------------------------------------------- nothing changed: skip


@dataclass(frozen=True)
class PlanState:
    """What a plan depends on. When none of it changed since the last plan, planning again plans nothing
    (desired = posted after that plan), so a night with no new data skips classifying the month."""

    history: MappingHistory
    entity: str
    first: date
    last: date
    calendar: LedgerCalendar
    books: BookOptions  # the accounting policies, the day, and the other inputs of the desired amounts

    def fingerprint(self, uow: UnitOfWork) -> str:
        parts = [
            __version__,
            [m.content_hash for m in self.history.versions],
            self.entity,
            str(self.first),
            str(self.last),
            str(self.calendar.lock_date),
            self.calendar.locked_behaviour.value,
            self.books.fingerprint(uow, self.entity),
            uow.facts.summary(self.entity, self.first, self.last),  # count and newest id of current facts
            uow.outbox.summary(self.entity),  # count of active journals and the newest journal id
        ]
        return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()

    def day_inputs(self, day: date, facts: tuple[int, int]) -> DayInputs:
        """The identity of what a posting day's sums are computed from (see `domain/day_sums.py`): its
        current facts (count, newest id), the mapping version in force on it, the policies, the code."""
        return DayInputs.of(
            facts,
            __version__,
            self.entity,
            str(day),
            self.history.in_force(self.entity, day).content_hash,
            [p.content_hash for p in self.books.policies.versions],
        )


def _unchanged_since_last_plan(uow: UnitOfWork, state: PlanState, report: PlanReport) -> bool:
    fingerprint = state.fingerprint(uow)
    last = uow.events.last_data("plan.state", entity=state.entity, fingerprint=fingerprint)
    if last is None:
        return False
    suspense = suspense_of_record(last["suspense"])
    if suspense is None:  # recorded before suspense was kept per currency: plan again
        return False
    report.skipped, report.facts, report.suspense = True, last["facts"], suspense
    report.allocated = Decimal(last["allocated"])
    return True


def _remember(uow: UnitOfWork, state: PlanState, report: PlanReport, run_id: str | None, now) -> None:
    """Record, in the plan's own transaction, the state this plan leaves (the journals it stored included)."""
    uow.events.append(
        "plan.state",
        f"plan of {state.entity} for {state.first}..{state.last} stored",
        run_id=run_id,
        data={
            "entity": state.entity,
            "fingerprint": state.fingerprint(uow),
            "facts": report.facts,
            "allocated": str(report.allocated),
            "suspense": report.suspense_rows(),
        },
        now=now,
    )


@dataclass(frozen=True)
class _Approval:
    approver: str
    keys: tuple[str, ...]  # the journals they released, which the ledger then refused


class _Released:
    """What approvers released that the ledger refused (its period was locked by the time it posted), per
    bucket: the same amounts planned again on the first open day are what they approved, not a new hold."""

    def __init__(self, refused: Sequence[StoredJournal], approvers: dict[int, str]) -> None:
        self.amounts: dict[Bucket, Decimal] = {}
        self.by: dict[Bucket, list[tuple[str, str]]] = {}
        for stored in refused:
            if stored.id not in approvers:
                continue
            for c in stored.journal.contributions:
                self.amounts[c.bucket] = self.amounts.get(c.bucket, ZERO) + c.amount
                self.by.setdefault(c.bucket, []).append((stored.journal.key, approvers[stored.id]))

    def covering(self, planned: PlannedJournal) -> _Approval | None:
        """The approval of exactly this journal's amounts, if one was given (held journals only)."""
        contributions = planned.journal.contributions
        if not planned.held or not contributions:
            return None
        if any(self.amounts.get(c.bucket) != c.amount for c in contributions):
            return None
        given = sorted({pair for c in contributions for pair in self.by[c.bucket]})
        approvers = sorted({who for _, who in given})
        return _Approval(", ".join(approvers), tuple(key for key, _ in given))


def _carried(planned: PlannedJournal, approval: _Approval) -> PlannedJournal:
    """The approved journal, planned again on an open day, released as approved (`approvals.release` writes
    whose approval it carries): a controller approving a true-up after its month was locked saw it refused,
    planned again and held again, their approval lost."""
    keys = ", ".join(approval.keys)
    memo = f"{planned.journal.memo}. Approved by {approval.approver} as {keys}"
    return PlannedJournal(replace(planned.journal, memo=memo))


def _content(journal: Journal) -> tuple:
    """What makes two journals the same posting, whatever their keys."""
    return (
        journal.txn_date,
        journal.currency,
        frozenset((c.bucket, c.amount) for c in journal.contributions),
    )
