"""Reconcile a period: provider cost ↔ invoice ↔ what tokenbooks posted ↔ what the ledger holds.

Figures are gathered here (store and ledger read-back) and judged by the pure `domain.reconcile`.
A journal posted by tokenbooks that is missing from the ledger is drift: it is reported with its key and
queued to be posted again (same key, new idempotency key) by the next sync. A journal changed by hand is
reported and left alone: a person decided that.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache, partial
from typing import Protocol

from connector.domain.accounting_policy import BUILT_IN, PolicyHistory, PolicySet
from connector.domain.desired import ACCRUED_KINDS, COST_KINDS, lot_positions, usage_costs
from connector.domain.errors import ConfigError, TokenbooksError
from connector.domain.facts import PREPAID_POOL, ChargeCategory, CostBasis
from connector.domain.journals import Bucket, Contribution, Journal, JournalKind, LedgerTarget
from connector.domain.ledger_drift import HeldLine, Labels, line_changes
from connector.domain.mapping import MappingSet
from connector.domain.mapping_history import HistoryClassifier, MappingHistory
from connector.domain.money import ZERO, quantize
from connector.domain.periods import Period
from connector.domain.posting_buckets import COUNTER_ROLE, round_usage
from connector.domain.reconcile import (
    ConversionRate,
    ConvertedBooks,
    InvoiceBreakdown,
    PrepaidMonth,
    ReconInput,
    ReconResult,
    Tolerance,
    late_usage,
    reconcile,
)
from connector.ledgers.port import Held, Ledger, LedgerJournal
from connector.redaction import redact
from connector.service.books import CurrencyPlan, books_on, role_targets
from connector.service.mappings import mapping_history
from connector.service.policies import policy_history, rate_table
from connector.service.runs import Clock, RunContext, RunRecorder, exclusive
from connector.sources.base import ConfiguredSources
from connector.sources.focus import SOURCE as FOCUS_SOURCE
from connector.store.port import Store, UnitOfWork
from connector.store.records import InvoiceRecord, StoredJournal

Account = tuple[str, str]  # (provider, provider account)
RECONCILED_KINDS = (*COST_KINDS, JournalKind.TRUE_UP)  # provider cost, and its invoice true-up
# a prepaid account's month: usage drawn, accrued beyond the lots, and paid by promotional credit
PREPAID_MONTH_KINDS = (*ACCRUED_KINDS, JournalKind.PREPAID_CONSUMPTION, JournalKind.PROMOTIONAL_CREDIT)
PREPAID_CREDITED = (JournalKind.PREPAID_CONSUMPTION, JournalKind.EXPIRY_WRITE_OFF)  # Cr Prepaid AI credits


@dataclass
class _Figures:
    currency: str = "USD"
    cost_exact: Decimal = ZERO
    estimated: Decimal = ZERO
    rounded: Decimal = ZERO
    posted: Decimal = ZERO
    queued: Decimal = ZERO
    true_up: Decimal = ZERO  # posted true-ups (in `posted` too)
    invoice: Decimal | None = None
    ledger: Decimal | None = None
    drifted: list[str] = field(default_factory=list)
    drafts: list[str] = field(default_factory=list)  # keys the ledger holds as drafts
    draft_total: Decimal = ZERO
    tax: Decimal = ZERO
    credits: Decimal = ZERO
    adjustments: Decimal = ZERO
    # Σ the provider's Tax, Credit and Adjustment facts: not usage, so not in `cost_exact`
    charged: dict[ChargeCategory, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    late: Decimal = ZERO
    purchases: Decimal = ZERO  # prepaid purchases the invoices itemize (a FOCUS commitment bought)
    drawn: Decimal = ZERO  # cost drawn from a prepaid pool (a commitment): billed when it was bought
    issued: date | None = None  # the latest issue date of the period's invoices
    # when what the invoices bill was settled: usage the provider changed after it is not on them
    settled: datetime | None = None
    invoices: list[str] = field(default_factory=list)  # their numbers
    known: bool = False  # facts or provider-cost journals of the account (a true-up alone says nothing)
    # what tokenbooks booked for the period, as booked (in the books' currency) and with its status
    booked: list[_Booked] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Booked:
    """A contribution of a journal to the period's reconciled buckets, as booked."""

    contribution: Contribution
    posted: bool  # else planned or failed: not in the ledger yet
    # converted before tokenbooks kept the provider's amount (migration 0016): from this currency
    converted_before: str = ""

    @property
    def converted_from(self) -> str:
        return self.contribution.converted_from or self.converted_before


def reconcile_period(
    store: Store,
    *,
    mapping: MappingSet,
    entity: str,
    period: Period,
    ledger: Ledger | None,
    recorder: RunRecorder,
    clock: Clock,
    tolerance: Callable[[str], Tolerance] = lambda provider: Tolerance(),
    history: MappingHistory | None = None,
    policies: PolicyHistory | None = None,
    source_accounts: Iterable[Account] = (),
) -> list[ReconResult]:
    """Reconcile `period`; provider cost is classified by the mapping version in force on each day
    (`history`, by default `mapping` alone) and bucketed by the accounting policies (by default the
    built-in ones), as the planner did, so rounding per bucket agrees.

    Only provider cost is reconciled against invoices: journals of other kinds (amortization, revenue,
    breakage, expiries, reversals) answer to their own sources (schedules, grants, lots), which the close
    checklist shows. An invoice for a provider account that no configured source, fact or credit lot
    knows is named as such (status `unknown_account`), not shown as a silent extra column."""
    figures: dict[Account, _Figures] = defaultdict(_Figures)
    policies = policies or PolicyHistory.of([BUILT_IN])
    role_target = role_targets(mapping, mapping.entity(entity).ledger)
    with store.unit_of_work() as uow:
        stored = uow.facts.current(entity, period.first_day, period.last_day)
        journals = uow.outbox.for_bucket_periods(entity, period.first_day, period.last_day)
        invoices = uow.invoices.for_period(entity, str(period))
        known = known_accounts(uow, entity, source_accounts)
        _invoices(figures, invoices)
        for (provider, account), f in figures.items():
            if f.settled is not None:
                f.late = _late_usage(uow, entity, provider, account, period, f.settled)
        buckets = partial(usage_costs, policies=policies, entity=entity, role_target=role_target)
        _cost(
            figures, [s.fact for s in stored], (history or MappingHistory.of([mapping])).classifier(), buckets
        )
        prepaid = _prepaid_months(uow, entity, period, figures, policies, role_target)
    journals = [s for s in journals if _reconciled_amount(s.journal, period) or _trued_up(s.journal, period)]
    _booked(figures, journals, period)
    books = mapping.entity(entity).currency
    converted = _in_provider_currency(
        figures, cache(lambda: CurrencyPlan(books, False, rate_table(policies.current, entity)))
    )
    if ledger is not None:
        _read_back(figures, journals, ledger, mapping, entity, period, store, recorder, clock)
    results = [
        reconcile(
            ReconInput(
                entity=entity,
                provider=provider,
                provider_account=account,
                period=str(period),
                currency=f.currency,
                provider_cost_exact=f.cost_exact,
                provider_cost_rounded_by_bucket=f.rounded,
                estimated_cost=f.estimated,
                posted_total=f.posted,
                queued_total=f.queued,
                invoice_total=f.invoice,
                ledger_total=f.ledger,
                drifted_keys=tuple(f.drifted),
                draft_keys=tuple(f.drafts),
                draft_total=f.draft_total,
                tolerance=tolerance(provider),
                breakdown=InvoiceBreakdown(f.tax, f.credits, f.adjustments, f.late, f.purchases, f.drawn),
                charged=InvoiceBreakdown(
                    f.charged[ChargeCategory.TAX],
                    f.charged[ChargeCategory.CREDIT],
                    f.charged[ChargeCategory.ADJUSTMENT],
                ),
                true_up_total=f.true_up,
                unknown_account=_unknown(provider, account, f, known),
                prepaid=prepaid.get((provider, account)),
                converted=converted.get((provider, account)),
            )
        )
        for (provider, account), f in sorted(figures.items())
    ]
    _store(store, results, recorder, clock)
    return results


def known_accounts(uow: UnitOfWork, entity: str, source_accounts: Iterable[Account]) -> set[Account]:
    """The provider accounts tokenbooks knows for an entity: its sources', and those of facts and lots."""
    return {*source_accounts, *uow.facts.accounts(entity), *uow.credit_lots.accounts(entity)}


def _unknown(provider: str, account: str, f: _Figures, known: set[Account]) -> str:
    """Why an invoiced account is unknown ("" when a source, a fact, a lot or a posting knows it)."""
    if f.invoice is None or f.known or (provider, account) in known:
        return ""
    same_provider = sorted(a for p, a in known if p == provider)
    numbers = ", ".join(f.invoices)
    return (
        f"invoice {numbers} is for {provider} account {account!r}, which no source, fact or credit lot "
        f"knows; "
        + (
            f"the {provider} account(s) tokenbooks knows: {', '.join(same_provider)}. "
            if same_provider
            else f"tokenbooks knows no {provider} account. "
        )
        + "Correct the invoice's `account` (or the provider's ORGANIZATION setting) and import it again"
    )


def _prepaid_months(
    uow: UnitOfWork,
    entity: str,
    period: Period,
    figures: dict[Account, _Figures],
    policies: PolicyHistory,
    role_target: Callable[[str], LedgerTarget],
) -> dict[Account, PrepaidMonth]:
    """Per prepaid provider account (its policy on the period's last day, as the close reads it): what
    its own credit lots paid for in the period, which of them it bought then, and what they hold on the
    last day. Its own lots: not a FOCUS commitment's pool (reconciled through the invoice's purchase
    lines), not promotional credits (free: no one invoices them)."""
    end = period.last_day
    lots = [lot for lot in uow.credit_lots.for_entity(entity) if not lot.pool and not lot.promotional]
    bought = {(lot.provider, lot.provider_account) for lot in lots if period.contains(lot.purchase_date)}
    accounts = sorted(a for a in {*figures, *bought} if policies.prepaid(entity, *a, end))
    if not accounts:
        return {}
    month = uow.outbox.posted_by_bucket(
        entity, first_day=period.first_day, last_day=end, kinds=PREPAID_MONTH_KINDS, as_computed=True
    )
    credited = uow.outbox.posted_by_bucket(entity, last_day=end, kinds=PREPAID_CREDITED, as_computed=True)
    books = books_on(uow, entity=entity, day=end, policies=policies, role_target=role_target)
    positions = lot_positions(books, end)
    months = {}
    for provider, account in accounts:
        mine = [lot for lot in lots if (lot.provider, lot.provider_account) == (provider, account)]
        ids = {lot.lot_id for lot in mine}
        posted = partial(_posted_to_own_lots, provider=provider, account=account)
        months[(provider, account)] = PrepaidMonth(
            drawn=posted(month, (JournalKind.PREPAID_CONSUMPTION,)),
            accrued=posted(month, ACCRUED_KINDS),
            promotional=-posted(month, (JournalKind.PROMOTIONAL_CREDIT,)),
            bought=tuple((lot.lot_id, lot.amount) for lot in mine if period.contains(lot.purchase_date)),
            remaining=sum(
                (
                    p.balance
                    for p in positions
                    if _of_account(p.lot, provider, account) and p.lot.lot_id in ids
                ),
                ZERO,
            ),
            booked=sum((lot.amount for lot in mine if lot.purchase_date <= end), ZERO)
            - posted(credited, PREPAID_CREDITED),
        )
        if (provider, account) not in figures:  # lots bought, and nothing else of the account in the period
            figures[(provider, account)].currency = mine[0].currency
    return months


def _of_account(item, provider: str, account: str) -> bool:
    return (item.provider, item.provider_account) == (provider, account)


def _posted_to_own_lots(
    amounts: dict[Bucket, Decimal], kinds: tuple[JournalKind, ...], *, provider: str, account: str
) -> Decimal:
    """What the outbox holds for the account's buckets of `kinds` outside any FOCUS commitment's pool."""
    return sum(
        (
            a
            for b, a in amounts.items()
            if b.kind in kinds and not b.pool and _of_account(b, provider, account)
        ),
        ZERO,
    )


def _invoices(figures: dict[Account, _Figures], invoices: list[InvoiceRecord]) -> None:
    for invoice in invoices:
        f = figures[(invoice.provider, invoice.provider_account)]
        f.currency = invoice.currency  # the provider's facts, if any, say it too
        f.invoice = (f.invoice or ZERO) + invoice.total
        f.invoices.append(invoice.number)
        f.issued = max(f.issued or invoice.issue_date, invoice.issue_date)
        settled = _settled(invoice)
        f.settled = max(f.settled or settled, settled)
        for line in invoice.lines:
            amount = Decimal(str(line["amount"]))
            if line.get("kind") == "tax":
                f.tax += amount
            elif line.get("kind") == "credit":
                f.credits += amount
            elif line.get("kind") == "adjustment":
                f.adjustments += amount
            elif line.get("kind") == "purchase":
                f.purchases += amount


def _settled(invoice: InvoiceRecord) -> datetime:
    """When what `invoice` bills was settled: the end of its issue date — or, for an invoice a FOCUS
    export sums (Σ BilledCost per InvoiceId), when that export was imported, since a restated row and the
    invoice total it moves arrive together (the rows are stored at the import's clock reading, at or
    before the invoice's: hence the microsecond after it)."""
    issued = datetime.combine(invoice.issue_date + timedelta(days=1), time(0), tzinfo=UTC)
    if invoice.source != FOCUS_SOURCE:
        return issued
    return max(issued, invoice.imported_at + timedelta(microseconds=1))


def _late_usage(
    uow: UnitOfWork, entity: str, provider: str, account: str, period: Period, cutoff: datetime
) -> Decimal:
    """Cost the provider changed after the invoice was settled, from the facts' version history."""
    versions = uow.facts.all_versions(entity, provider, account, period.first_day, period.last_day)
    return late_usage(versions, cutoff)


CHARGES = (ChargeCategory.TAX, ChargeCategory.CREDIT, ChargeCategory.ADJUSTMENT)


def _cost(figures: dict[Account, _Figures], facts: list, classifier: HistoryClassifier, buckets) -> None:
    allocations = classifier.classify_all(facts)
    for fact in facts:
        f = figures[(fact.provider, fact.provider_account)]
        f.known = True
        f.currency = fact.currency
        if fact.charge_category in CHARGES:  # no usage: the accruals leave them out, and so does the cost
            f.charged[fact.charge_category] += fact.amount
            continue
        f.cost_exact += fact.amount
        if fact.cost_basis is CostBasis.ESTIMATED:
            f.estimated += fact.amount
        if fact.dimensions.get(PREPAID_POOL):
            f.drawn += fact.amount
    for bucket, amount in round_usage(buckets(allocations)).items():
        figures[(bucket.provider, bucket.provider_account)].rounded += amount


def _booked(figures: dict[Account, _Figures], journals: list[StoredJournal], period: Period) -> None:
    """What tokenbooks booked *for* the period: contributions to its buckets, whatever the journal's date
    (provider cost, and the true-up of its invoice), as booked."""
    for stored in journals:
        journal = stored.journal
        f = figures[(journal.provider, journal.provider_account)]
        f.known = f.known or bool(_contributed(journal, COST_KINDS, period))
        if stored.status == "rejected":
            continue
        # a journal converted before its contributions kept the provider's amount: none of them says so
        before = "" if any(c.converted_from for c in journal.contributions) else journal.converted_from or ""
        f.booked += [
            _Booked(c, stored.status == "posted", before)
            for c in journal.contributions
            if c.bucket.kind in RECONCILED_KINDS and period.contains(c.bucket.period)
        ]


def _in_provider_currency(
    figures: dict[Account, _Figures], rates: Callable[[], CurrencyPlan]
) -> dict[Account, ConvertedBooks]:
    """Sum what was booked in the provider's currency — as computed where it was converted into the
    books' — and, for each account whose postings were converted, how (`ConvertedBooks`)."""
    converted = {}
    for account, f in figures.items():
        # (bucket, currency converted from) → [in the books' currency, in the provider's currency]
        buckets: dict[tuple[Bucket, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        before: dict[tuple[Bucket, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        for booked in f.booked:
            c = booked.contribution
            if booked.converted_before:
                rate = rates().rate(booked.converted_before, c.bucket.period)
                amount = quantize(c.amount / rate.rate, booked.converted_before)
            else:
                amount = c.amount if c.source_amount is None else c.source_amount
            if not booked.posted:
                f.queued += amount
                continue
            f.posted += amount
            if c.bucket.kind is JournalKind.TRUE_UP:
                f.true_up += amount
            if booked.converted_from:
                parts = (before if booked.converted_before else buckets)[(c.bucket, booked.converted_from)]
                parts[0] += c.amount
                parts[1] += amount
        if buckets or before:
            converted[account] = _converted_books(f, buckets, before, rates())
    return converted


def _converted_books(
    f: _Figures,
    buckets: dict[tuple[Bucket, str], list[Decimal]],
    before: dict[tuple[Bucket, str], list[Decimal]],
    rates: CurrencyPlan,
) -> ConvertedBooks:
    """An account's postings in the books' currency, tied to its provider's amounts by the rates now in the
    rates file (what a plan would convert at: a rate corrected since shows as more than rounding)."""
    used: dict = defaultdict(list)
    at_rates = ZERO
    for (bucket, source), (_, amount) in buckets.items():
        rate = rates.rate(source, bucket.period)
        at_rates += amount * rate.rate
        used[rate].append(bucket.period)
    return ConvertedBooks(
        rates.home,
        sum((b.contribution.amount for b in f.booked if b.posted), ZERO),
        converted=sum((booked for booked, _ in buckets.values()), ZERO),
        at_rates=at_rates,
        buckets=len(buckets),
        rates=tuple(ConversionRate(rate, min(days), max(days)) for rate, days in sorted(used.items())),
        read_back=sum((booked for booked, _ in before.values()), ZERO),
        read_back_as=sum((amount for _, amount in before.values()), ZERO),
    )


def _reconciled_amount(journal: Journal, period: Period | None = None) -> Decimal:
    """The provider cost a journal books — accrued, capitalized, drawn from prepaid credits, or trued up
    to the invoice — (to the period's buckets only, when a period is given)."""
    return _contributed(journal, RECONCILED_KINDS, period)


def _trued_up(journal: Journal, period: Period) -> Decimal:
    return _contributed(journal, (JournalKind.TRUE_UP,), period)


def _contributed(journal: Journal, kinds: tuple[JournalKind, ...], period: Period | None) -> Decimal:
    return sum(
        (
            c.amount
            for c in journal.contributions
            if c.bucket.kind in kinds and (period is None or period.contains(c.bucket.period))
        ),
        ZERO,
    )


def _read_back(
    figures: dict[Account, _Figures],
    journals: list[StoredJournal],
    ledger: Ledger,
    mapping: MappingSet,
    entity: str,
    period: Period,
    store: Store,
    recorder: RunRecorder,
    clock: Clock,
) -> None:
    """Compare what the ledger holds under our keys with what we posted; queue missing journals again."""
    posted = [s for s in journals if s.status == "posted"]
    if not posted:
        return
    held = {
        j.key: j
        for j in ledger.read_back(
            min(s.journal.txn_date for s in posted), max(s.journal.txn_date for s in posted)
        )
    }
    counter_ids = _counter_account_ids(ledger, mapping, mapping.entity(entity).ledger)
    # a journal re-dated by hand is not among the period's entries, but its key is still in the ledger:
    # a change a person made, not a loss (posting it again would conflict, planning it again book it twice)
    absent = [s.journal.key for s in posted if s.journal.key not in held]
    moved = ledger.find_many(absent) if absent else {}
    labels = _labels(ledger)
    for f in figures.values():
        f.ledger = ZERO
    for stored in posted:
        f = figures[(stored.journal.provider, stored.journal.provider_account)]
        copy = held.get(stored.journal.key)
        if stored.journal.key in moved:
            redated = moved[stored.journal.key]
            changes = [
                f"dated {redated.txn_date} in the ledger",
                *_changes(ledger, stored.journal, redated, labels),
            ]
            f.drifted.append(f"{stored.journal.key} (changed: {'; '.join(changes)})")
            continue
        if copy is None:
            f.drifted.append(f"{stored.journal.key} (missing)")
            _queue_again(store, stored, recorder, clock)
            continue
        changes = _changes(ledger, stored.journal, copy, labels)
        if changes:
            f.drifted.append(f"{stored.journal.key} (changed: {'; '.join(changes)})")
        amount = _ledger_usage_amount(copy, counter_ids) * _share_in(stored.journal, period)
        if copy.status == "draft":  # not in the ledger's reports (nor its balances) until approved there
            f.drafts.append(stored.journal.key)
            f.draft_total += amount
        else:
            f.ledger = (f.ledger or ZERO) + amount


def _changes(ledger: Ledger, journal: Journal, copy: LedgerJournal, labels: Labels) -> list[str]:
    """What a person changed in the journal's lines in the ledger (its accounts, classes, tracking, amounts)."""
    return line_changes(_held_lines(ledger.held(journal)), _held_lines(copy), labels)


def _held_lines(journal: LedgerJournal | Held) -> list[HeldLine]:
    """A journal's lines where the books see them (a `Held` that knows only its postings: by account)."""
    if isinstance(journal, Held) and not journal.lines:
        return [HeldLine(account, amount) for account, amount in journal.postings]
    return [HeldLine(ln.account, ln.amount, ln.tracking) for ln in journal.lines]


def _labels(ledger: Ledger) -> Labels:
    """The ledger's accounts and tracking options as a person reads them ("6110 AI R&D", "class: Growth"),
    read from the ledger only when a change is described (QuickBooks' classes cost two queries)."""
    accounts = cache(
        lambda: {ref: a.label() for a in ledger.chart_of_accounts() for ref in (a.id, a.number) if ref}
    )
    options = cache(lambda: {f"{o.kind}={ref}": o.name for o in ledger.tracking() for ref in (o.id, o.name)})

    def tracking(entry: str) -> str:
        kind, _, option = entry.partition("=")
        return f"{kind}: {options().get(entry, option)}"

    return Labels(lambda account: accounts().get(account, account), tracking)


def _share_in(journal: Journal, period: Period) -> Decimal:
    """The part of a journal's accrual that belongs to the period (1 unless it gathers several months)."""
    total = _reconciled_amount(journal)  # 0: no provider cost (an expiry, revenue …): none of it
    return ZERO if total == 0 else _reconciled_amount(journal, period) / total


def _counter_account_ids(ledger: Ledger, mapping: MappingSet, ledger_name: str) -> set[str]:
    """The accounts that balance provider cost: Accrued AI costs, and Prepaid AI credits where bound."""
    kinds = (JournalKind.USAGE_ACCRUAL, JournalKind.PREPAID_CONSUMPTION)
    roles = {COUNTER_ROLE[k] for k in kinds if mapping.has_role(COUNTER_ROLE[k], ledger_name)}
    references = {mapping.role_target(role, ledger_name).account for role in roles}
    return {a.id for a in ledger.chart_of_accounts() if references & a.references()} | references


def _ledger_usage_amount(copy: LedgerJournal, counter_ids: set[str]) -> Decimal:
    """What a ledger journal accrues: minus its lines on the Accrued AI costs account."""
    return -sum((ln.amount for ln in copy.lines if ln.account in counter_ids), ZERO)


def _queue_again(store: Store, stored: StoredJournal, recorder: RunRecorder, clock: Clock) -> None:
    with store.unit_of_work() as uow:
        uow.outbox.replan(stored.id, run_id=recorder.run_id)
        uow.commit()
    recorder.event(
        "reconcile.drift",
        f"{stored.journal.key} is missing from the ledger; it will be posted again by the next sync",
        level="warning",
        data={"key": stored.journal.key, "ledger_id": stored.ledger_id},
    )


def _store(store: Store, results: list[ReconResult], recorder: RunRecorder, clock: Clock) -> None:
    with store.unit_of_work() as uow:
        for r in results:
            uow.reconciliations.add(r, run_id=recorder.run_id, created_at=clock())
        uow.commit()


# ------------------------------------------------------------------------------------- a reconcile run


class ReconcileContext(RunContext, Protocol):
    def mapping(self) -> tuple[MappingSet, str]: ...

    def ledger(self, entity: str) -> Ledger: ...

    def policies(self) -> tuple[PolicySet, str]: ...

    def tolerance(self, provider: str) -> Tolerance: ...

    def sources(self, entity: str) -> list: ...

    def configured_sources(self, entity: str) -> ConfiguredSources: ...


class SourcesContext(Protocol):
    def sources(self, entity: str) -> list: ...


def source_accounts(ctx: SourcesContext, entity: str) -> set[Account]:
    """The provider accounts the configured sources read for the entity."""
    return {(s.provider, s.provider_account) for s in ctx.sources(entity)}


def require_every_source(ctx: ReconcileContext, entity: str, period: Period) -> None:
    """A source whose settings are refused has none of its spend in the store since they went wrong: a
    reconciliation without it would match the others and say nothing of it (and call its invoice one
    for an account no source knows), so the month is not reconciled and the source is named missing."""
    refused = ctx.configured_sources(entity).refused
    if not refused:
        return
    sources = ", ".join(source for r in refused for source in r.source_ids)
    why = "; ".join(f"{r.variables}…: {r.error.message}" for r in refused)
    raise ConfigError(
        redact(
            f"{period} is not reconciled: the spend of {sources} is missing (settings refused: {why}; "
            "nothing is pulled from it until they are fixed)"
        ),
        fix=redact("; ".join(dict.fromkeys(r.error.fix for r in refused if r.error.fix)))
        or "correct the settings the error names",
        problems=[p for r in refused for p in r.error.problems],
    )


def reconcile_run(
    ctx: ReconcileContext, *, entity: str, period: Period, read_back: bool = True
) -> list[ReconResult]:
    """A recorded reconciliation run of one entity and month, holding the entity's lock."""
    with exclusive(ctx.store, ctx.clock, entity=entity, kind="reconcile", actor=ctx.actor):
        recorder = RunRecorder(
            ctx.store,
            ctx.clock,
            actor=ctx.actor,
            kind="reconcile",
            entity=entity,
            params={"period": str(period), "read_back": read_back},
        )
        try:
            require_every_source(ctx, entity, period)
            mapping, _ = ctx.mapping()
            results = reconcile_period(
                ctx.store,
                mapping=mapping,
                entity=entity,
                period=period,
                ledger=ctx.ledger(entity) if read_back else None,
                recorder=recorder,
                clock=ctx.clock,
                tolerance=ctx.tolerance,
                history=mapping_history(ctx),
                policies=policy_history(ctx),
                source_accounts=source_accounts(ctx, entity),
            )
        except TokenbooksError as exc:
            recorder.finish("failed", reason=str(exc))
            raise
        recorder.finish(
            "succeeded",
            stats={f"{r.input.provider}/{r.input.provider_account}": r.status.value for r in results},
        )
        return results
