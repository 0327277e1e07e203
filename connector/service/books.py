"""Books: what a plan needs beyond the classified usage, and what the policies do to its journals.

Loads the inputs of `domain/desired.py` — credit lots, the customer credit ledger, invoices, and what was
posted before the plan window (prepaid draws and capitalized cohorts continue from it) — and applies what
depends on the entity's ledger and policies around the planner:

- currencies: where the ledger cannot hold a journal in the provider's currency, each bucket is converted
  into the books' currency at the rate of the day it belongs to, rounded once; where it can (QuickBooks
  with multicurrency), the journal stays in the provider's currency and carries the rate of its date;
  either way the rate is stored with the journal and written in its memo;
- holds: a true-up beyond the invoice tolerance, the `approve` posting mode, and the `draft` mode on a
  ledger without draft journals (QuickBooks) keep the journal in the outbox until `tokenbooks approve`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from connector.domain.accounting_policy import BUILT_IN, FxSource, PolicyHistory, PostingMode
from connector.domain.chart import ledger_title
from connector.domain.desired import (
    COST_KINDS,
    DERIVED_KINDS,
    BooksInput,
    Desired,
    MissingRole,
    Overflow,
    OverflowSpan,
    UsageCosts,
    mirrored_by,
    overflow_by_period,
)
from connector.domain.errors import ConfigError
from connector.domain.fx import NO_RATES_FILE, Rate, RateTable, convert
from connector.domain.invoices import Invoice, InvoiceLine
from connector.domain.journals import Bucket, Contribution, Journal, JournalKind, LedgerTarget
from connector.domain.mapping import Category, MappingSet
from connector.domain.money import ZERO
from connector.domain.periods import Period
from connector.domain.planner import PlannedJournal, Review
from connector.ledgers.port import Ledger
from connector.service.policies import rate_table, rates_hash
from connector.store.port import UnitOfWork

LedgerRate = Callable[[str, str, date], Rate | None]


@dataclass(frozen=True, slots=True)
class CurrencyPlan:
    """How amounts in a currency other than the books' reach the ledger."""

    home: str
    foreign_journals: bool  # the ledger takes them as they are, with a rate (QuickBooks multicurrency)
    rates: RateTable = field(default_factory=RateTable)
    ledger_rate: LedgerRate | None = None  # the ledger's own rate of a day, when the policy prefers it
    ledger_name: str = "the ledger"

    def rate(self, base: str, day: date) -> Rate:
        found = self.ledger_rate(base, self.home, day) if self.ledger_rate else None
        found = found or self.rates.rate(base, self.home, day)
        if found is None:
            raise self._missing(base, day)
        return found

    def _missing(self, base: str, day: date) -> ConfigError:
        """No rate for the day: where it was looked for, and where the person adds it (a rate is never
        guessed). With the policy's `fx: {source: ledger}` the ledger is where it belongs first: a fix
        that named only a rates file the policies may not even have sent the person to the wrong place."""
        problem = self.rates.missing(base, self.home, day)
        said = f"no exchange rate from {base} to {self.home} for {day}"
        if self.ledger_rate is None:
            return ConfigError(f"{said}: {problem.message}", fix=problem.fix, problems=[problem])
        row = f"`{day},{base},{self.home},<rate>,<source>`"
        if self.rates.source == NO_RATES_FILE:
            elsewhere = "no rates file is named in the policies (fx.rates_file)"
        else:
            elsewhere = f"the rates file {self.rates.source} has none in force on that day"
        return ConfigError(
            f"{said}: {self.ledger_name} has no {base} rate for {day} (the policies take rates from the "
            f"ledger: fx source `ledger`) and {elsewhere}; the run stopped before posting anything",
            fix=(
                f"enter the {base} rate of {day} in {self.ledger_name} (Settings ▸ Currencies), or add the row "
                f"{row} to the rates file named by fx.rates_file in the policies; then run the sync again"
            ),
            problems=[problem],
        )


@dataclass(frozen=True, slots=True)
class BookOptions:
    """How a plan books, beyond the mapping: the policies, the day it books as of, posting, currency."""

    policies: PolicyHistory
    as_of: date
    home: str = "USD"  # the books' currency (the mapping's entity currency)
    posting_mode: PostingMode = PostingMode.AUTO
    ledger_name: str = "the ledger"
    drafts: bool = False  # the ledger keeps draft journals (Xero)
    # How to reach the ledger in another currency; asked only when some amount is in one.
    currency_plan: Callable[[], CurrencyPlan] | None = None
    rates_hash: str = ""  # the content of the rates file, for the plan's fingerprint

    def fingerprint(self, uow: UnitOfWork, entity: str) -> list:
        """What these options and the books' other inputs are, for the plan's "nothing changed" check:
        a new policy version, another day (dates come due), a lot, a credit event or an invoice plans again."""
        return [
            [p.content_hash for p in self.policies.versions],
            str(self.as_of),
            self.home,
            self.posting_mode.value,
            self.drafts,
            self.rates_hash,
            uow.credit_lots.summary(entity),
            uow.customer_credits.summary(entity),
            uow.invoices.summary(entity),
        ]


def book_options(
    policies: PolicyHistory,
    *,
    entity: str,
    mapping: MappingSet,
    ledger: Ledger,
    now: datetime,
    default_mode: str,
) -> BookOptions:
    """The options of a run for `entity`: its current policy, as of its own calendar day."""
    company = mapping.entity(entity)
    policy = policies.current.entity(entity)

    def currency_plan() -> CurrencyPlan:
        setup = ledger.currency_setup()
        if setup.home != company.currency:
            raise ConfigError(
                f"entity {entity} keeps its books in {company.currency} (the mapping), but its {ledger.name} "
                f"company's home currency is {setup.home}",
                fix="correct the entity's currency in the mapping, or connect the right ledger company",
            )
        # The ledger's own rate where the policy prefers it and the ledger keeps rates (QuickBooks
        # multicurrency); otherwise, and for a day it has none, the rates file.
        prefers_ledger = policy.fx_source is FxSource.LEDGER and setup.foreign_journals
        return CurrencyPlan(
            company.currency,
            setup.foreign_journals,
            rate_table(policies.current, entity),
            ledger.exchange_rate if prefers_ledger else None,
            ledger_title(ledger.name),
        )

    return BookOptions(
        policies,
        local_day(now, company.timezone),
        home=company.currency,
        posting_mode=policy.posting_mode or PostingMode(default_mode),
        ledger_name=ledger_title(ledger.name),
        drafts=ledger.supports_drafts,
        currency_plan=currency_plan,
        rates_hash=rates_hash(policies.current, entity),
    )


def local_day(now: datetime, timezone: str) -> date:
    """The entity's calendar day at `now`: what has happened "as of" a run."""
    return now.astimezone(ZoneInfo(timezone)).date()


def default_options(now: datetime, timezone: str, home: str) -> BookOptions:
    return BookOptions(PolicyHistory.of([BUILT_IN]), local_day(now, timezone), home=home)


def role_targets(mapping: MappingSet, ledger: str) -> Callable[[str], LedgerTarget]:
    """A role's ledger target for the domain (which raises MissingRole for an unbound role)."""

    def target(role: str) -> LedgerTarget:
        if not mapping.has_role(role, ledger):
            raise MissingRole(role)
        return mapping.role_target(role, ledger)

    return target


def capitalized_projects(mappings: Iterable[MappingSet], ledger: str) -> Callable[[LedgerTarget], str | None]:
    """For the amortization schedules: the capitalize rule whose spend lands on a Capitalized software
    target (account, class, department, tracking), in any mapping version (the newest wins a tie)."""
    rules: dict[LedgerTarget, str] = {}
    for mapping in mappings:
        for rule in mapping.rules:
            for destination in rule.destinations:
                target = destination.target_for(ledger)
                if destination.category is Category.CAPITALIZE and target is not None:
                    rules[target] = rule.id
    return rules.get


def missing_role(error: MissingRole, mapping: MappingSet, ledger: str) -> ConfigError:
    return ConfigError(
        f"the journals tokenbooks must post need the {error.role!r} role, which the mapping {mapping.source} "
        f"does not bind for {ledger}",
        fix=f'add `{error.role}: {{{ledger}: "<account>"}}` under roles (docs/accounting-policies.md says '
        "which journal uses which role)",
    )


def books_input(
    uow: UnitOfWork,
    *,
    entity: str,
    first: date,
    last: date,
    options: BookOptions,
    role_target: Callable[[str], LedgerTarget],
    usage: UsageCosts | None = None,
    project_of: Callable[[LedgerTarget], str | None] | None = None,
) -> BooksInput:
    """What `desired_books` needs: the window's usage as the plan summed it (none: no usage in the
    window) and the other inputs of the desired amounts, loaded from the store."""
    return BooksInput(
        project_of=project_of or (lambda target: None),
        entity=entity,
        as_of=options.as_of,
        first_day=first,
        last_day=last,
        policies=options.policies,
        role_target=role_target,
        usage=usage,
        # in the currency each amount was computed in: an invoice, a lot or an accrual's reversal is
        # compared with what was booked in its own currency, whatever the books' currency
        history=uow.outbox.posted_by_bucket(
            entity, last_day=first - timedelta(days=1), kinds=COST_KINDS, as_computed=True
        ),
        lots=uow.credit_lots.for_entity(entity),
        customer_events=uow.customer_credits.for_entity(entity),
        invoices=[_invoice(row) for row in uow.invoices.for_entity(entity)],
    )


def books_on(
    uow: UnitOfWork,
    *,
    entity: str,
    day: date,
    policies: PolicyHistory,
    role_target: Callable[[str], LedgerTarget],
    project_of: Callable[[LedgerTarget], str | None] | None = None,
) -> BooksInput:
    """The books as they stand at the end of `day`, for what is read on it (lot positions, deferred
    revenue): every usage bucket posted through it is history, nothing is classified; in the currency
    each was computed in, as a plan reads it (a dollar lot is drawn in dollars in books kept in pounds)."""
    after = day + timedelta(days=1)
    inputs = books_input(
        uow,
        entity=entity,
        first=after,
        last=after,
        options=BookOptions(policies, day),
        role_target=role_target,
        project_of=project_of,
    )
    history = uow.outbox.posted_by_bucket(entity, last_day=day, kinds=COST_KINDS, as_computed=True)
    return replace(inputs, history=history)


def posted_for_plan(uow: UnitOfWork, entity: str, first: date, last: date) -> dict[Bucket, Decimal]:
    """What the outbox holds for the buckets a plan decides: every kind in the window, derived kinds always."""
    posted = uow.outbox.posted_by_bucket(entity, first_day=first, last_day=last)
    for bucket, amount in uow.outbox.posted_by_bucket(entity, kinds=DERIVED_KINDS).items():
        if not first <= bucket.period <= last:
            posted[bucket] = amount
    return posted


def _invoice(row) -> Invoice:
    lines = tuple(
        InvoiceLine(ln["description"], Decimal(ln["amount"]), ln.get("kind", "usage")) for ln in row.lines
    )
    return Invoice(
        row.entity,
        row.provider,
        row.provider_account,
        row.number,
        row.period,
        row.issue_date,
        row.total,
        row.currency,
        lines,
        row.source,
    )


# ------------------------------------------------------------------------------------------- currency


# outbox.posted_converted: per bucket in the books' currency, per currency it was converted from,
# (Σ in the books' currency, Σ before conversion)
Posted = dict[Bucket, dict[str, tuple[Decimal, Decimal]]]


@dataclass
class Converted:
    """Desired amounts in the currencies the ledger takes, the rate behind each converted bucket, and each
    converted bucket's parts per currency it was computed in: (in the books' currency, before conversion)."""

    amounts: dict[Bucket, Decimal]
    plan: CurrencyPlan | None = None  # None: every amount was in the books' currency
    rates: dict[Bucket, list[Rate]] = field(default_factory=dict)
    parts: dict[Bucket, dict[str, tuple[Decimal, Decimal]]] = field(default_factory=dict)
    posted: Posted = field(default_factory=dict)  # what was converted before (outbox.posted_converted)

    def add(self, home: Bucket, foreign: Bucket, amount: Decimal, source: Decimal, rates: list[Rate]) -> None:
        self.amounts[home] = self.amounts.get(home, ZERO) + amount
        booked, before = self.parts.setdefault(home, {}).get(foreign.currency, (ZERO, ZERO))
        self.parts[home][foreign.currency] = (booked + amount, before + source)
        self.rates.setdefault(home, []).extend(rates)


def in_ledger_currency(
    desired: Desired, options: BookOptions, first_day: date, posted: Callable[[date], Posted]
) -> Converted:
    """Convert what the ledger cannot hold in another currency: each bucket once, at its day's rate, and
    a month-end reversal as the exact mirror, in the books' currency, of what it reverses (as this plan
    converts it, or, before the plan's `first_day`, as it was booked)."""
    if all(bucket.currency == options.home for bucket in desired.amounts) or options.currency_plan is None:
        return Converted(dict(desired.amounts))
    plan = options.currency_plan()
    if plan.foreign_journals:
        return Converted(dict(desired.amounts), plan)
    # what was booked from the day before the window on: a reversal on its first day mirrors that day
    out = Converted({}, plan, posted=posted(first_day - timedelta(days=1)))
    converted: dict[Bucket, Decimal] = {}
    reversals = []
    for bucket, amount in desired.amounts.items():
        if bucket.currency == plan.home:
            out.amounts[bucket] = out.amounts.get(bucket, ZERO) + amount
        elif bucket.kind is JournalKind.REVERSAL:
            reversals.append((bucket, amount))
        else:
            rate = plan.rate(bucket.currency, bucket.period)
            exact = desired.exact.get(bucket, amount)  # usage: the exact total, so it is rounded only once
            converted[bucket] = convert(exact, rate)
            out.add(replace(bucket, currency=plan.home), bucket, converted[bucket], amount, [rate])
    for bucket, amount in reversals:
        booked = {m: _booked(m, converted, out.posted, plan.home, first_day) for m in mirrored_by(bucket)}
        rates = [plan.rate(m.currency, m.period) for m, value in booked.items() if value]
        out.add(replace(bucket, currency=plan.home), bucket, -sum(booked.values(), ZERO), amount, rates)
    return out


def _booked(
    bucket: Bucket, converted: dict[Bucket, Decimal], posted: Posted, home: str, first: date
) -> Decimal:
    """A foreign bucket in the books' currency: as this plan converts it, or, for a cost booked before the
    plan's window (the domain reads it from history, desired.py), as it was booked."""
    if bucket in converted:
        return converted[bucket]
    if bucket.kind in COST_KINDS and bucket.period < first:
        return posted.get(replace(bucket, currency=home), {}).get(bucket.currency, (ZERO, ZERO))[0]
    return ZERO


def with_rates(planned: list[PlannedJournal], converted: Converted) -> list[PlannedJournal]:
    """Each journal with the rate it was converted at (or, in another currency, the rate of its date), and
    each converted contribution with its amount before conversion."""
    plan = converted.plan
    if plan is None:
        return planned
    return [replace(p, journal=_rated(p.journal, converted, plan)) for p in planned]


def _rated(journal: Journal, converted: Converted, plan: CurrencyPlan) -> Journal:
    if journal.currency != plan.home:  # QuickBooks multicurrency: the ledger converts at this rate
        rate = plan.rate(journal.currency, _rate_day(journal))
        return replace(
            journal, exchange_rate=rate.rate, memo=f"{journal.memo}. Exchange rate {rate.describe()}"
        )
    rates = sorted({r for c in journal.contributions for r in converted.rates.get(c.bucket, [])})
    if not rates:
        return journal
    sources = sorted({r.base for r in rates})
    used = "; ".join(r.describe() for r in rates)
    return replace(
        journal,
        contributions=tuple(part for c in journal.contributions for part in _parts(c, converted)),
        converted_from=sources[0] if len(sources) == 1 else None,
        exchange_rate=rates[0].rate if len({r.rate for r in rates}) == 1 else None,
        memo=f"{journal.memo}. Converted from {', '.join(sources)} at {used}",
    )


def _rate_day(journal: Journal) -> date:
    """The day whose rate a journal in another currency carries: the day it belongs to, or for a month-end
    reversal the day of the accrual it reverses, so the ledger takes both at one rate and the reversal
    clears it. A journal moved out of a closed period (a true-up of October posted on 1 November) belongs
    to its buckets' day: at its new date's rate, its mirror (at October's) left the difference on Accrued
    AI costs. A journal gathering several days carries the rate of its date."""
    if journal.kind is JournalKind.REVERSAL and journal.contributions:
        return journal.contributions[0].bucket.period - timedelta(days=1)
    days = {c.bucket.period for c in journal.contributions}
    return days.pop() if len(days) == 1 else journal.txn_date


def _parts(contribution: Contribution, converted: Converted) -> list[Contribution]:
    """A contribution in the books' currency split by the currency each part was computed in, each with
    its amount before conversion (what is left was in the books' currency already)."""
    bucket = contribution.bucket
    desired = converted.parts.get(bucket, {})
    posted = converted.posted.get(bucket, {})
    parts = []
    for currency in sorted({*desired, *posted}):
        booked = desired.get(currency, (ZERO, ZERO))[0] - posted.get(currency, (ZERO, ZERO))[0]
        before = desired.get(currency, (ZERO, ZERO))[1] - posted.get(currency, (ZERO, ZERO))[1]
        if booked or before:
            parts.append(Contribution(bucket, booked, currency, before))
    rest = contribution.amount - sum((p.amount for p in parts), ZERO)
    if rest or not parts:
        parts.append(Contribution(bucket, rest))
    return parts


# ---------------------------------------------------------------------------------------------- holds


def review_for(options: BookOptions, desired: Desired) -> Review:
    """Why a journal waits for a controller: the posting mode, or a true-up beyond tolerance."""

    def review(journal: Journal) -> str:
        if options.posting_mode is PostingMode.APPROVE:
            return "posting mode approve: held until an approver releases it (`tokenbooks approve`)"
        if options.posting_mode is PostingMode.DRAFT and not options.drafts:
            return (
                f"posting mode draft: {options.ledger_name} has no draft journals, so this one waits in "
                "tokenbooks as a draft; review it and release it with `tokenbooks approve`"
            )
        return next((r for c in journal.contributions if (r := desired.hold_reason(c.bucket))), "")

    return review


# ----------------------------------------------------------------------------------------- run report


def _in_span(overflow: Overflow, span: OverflowSpan) -> bool:
    return (overflow.provider, overflow.provider_account, overflow.currency, overflow.pool) == (
        span.provider,
        span.provider_account,
        span.currency,
        span.pool,
    ) and span.period.contains(overflow.day)


def _booked_now(amount: Decimal, variance: Decimal, currency: str) -> str:
    """What this plan's journal books of a true-up: all of it, or the change to what was booked before."""
    if amount == variance:
        return f"all of it booked now ({amount:+} {currency})"
    return (
        f"of which {amount:+} {currency} is booked now (the journal posted) and {variance - amount:+} "
        f"{currency} was booked before"
    )


def report_books(books: Desired, planned: list[PlannedJournal], recorder) -> None:
    """What the policies did in this plan that a person must know: prepaid usage beyond the lots and
    invoice true-ups (only where this plan books something for them), and what could not be booked."""
    touched = {
        (c.bucket.kind, c.bucket.provider, c.bucket.provider_account, c.bucket.period)
        for p in planned
        for c in p.journal.contributions
    }
    accrued = (JournalKind.USAGE_ACCRUAL, JournalKind.CAPITALIZATION)
    overflow = [
        o
        for o in books.overflow
        if any((k, o.provider, o.provider_account, o.day) in touched for k in accrued)
    ]
    for span in overflow_by_period(overflow):
        pool = span.pool
        fix = (
            f"Import the FOCUS export that holds the Purchase row of {pool} (or record its lot with "
            "`tokenbooks credits add`)"
            if pool
            else "Record the credit lot that covers it (`tokenbooks credits add`) or expect an invoice"
        )
        what = f"{span.provider} {span.provider_account} usage ({span.first_day}..{span.last_day})" + (
            f" paid for by {pool}" if pool else ""
        )
        recorder.event(
            "alert.prepaid_overflow",
            f"{span.amount} {span.currency} of {what} is beyond its prepaid credit lots: it is accrued as if "
            f"billed in arrears. {fix}",
            level="warning",
            data={
                "provider": span.provider,
                "account": span.provider_account,
                "amount": span.amount,
                "currency": span.currency,
                "period": str(span.period),
                "days": sorted({o.day for o in overflow if _in_span(o, span)}),
                "pool": pool,
            },
        )
    for t in books.trueups:
        key = (JournalKind.TRUE_UP, t.provider, t.provider_account, Period.parse(t.period).last_day)
        if key in touched:
            # the variance is the true-up in all; this plan books only its change since the last one
            booked_now = sum(
                (
                    c.source_amount if c.converted_from and c.source_amount is not None else c.amount
                    for p in planned
                    for c in p.journal.contributions
                    if (c.bucket.kind, c.bucket.provider, c.bucket.provider_account, c.bucket.period) == key
                ),
                ZERO,
            )
            recorder.event(
                "trueup.held" if t.hold_reason else "trueup",
                t.hold_reason
                or f"{t.provider} {t.provider_account} {t.period}: invoice usage {t.billed_usage} against "
                f"{t.accrued} accrued: true-up of {t.variance} {t.currency} in all, "
                + _booked_now(booked_now, t.variance, t.currency)
                + f" (tax {t.tax} and credits {t.credits} on the invoice are not AI expense)",
                level="warning" if t.hold_reason else "info",
                data={
                    **{name: str(value) for name, value in asdict(t).items()},
                    "booked_now": str(booked_now),
                },
            )
    for note in books.notes:
        recorder.event("policy.note", note, level="warning")
