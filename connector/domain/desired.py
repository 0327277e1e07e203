"""Desired cumulative amounts per posting bucket, for every journal kind, from the books and the policies.

The planner turns desired − posted into journals; this module says what "desired" is, kind by kind, as a
pure function of the inputs (`BooksInput`) and the day the run books as of:

- usage (Dr category / Cr Accrued AI costs, or Dr Capitalized software for capitalized spend): each
  bucket rounded to the cent, the buckets of one day and provider account together to their exact total
  rounded once (`policies.round_usage`); daily, or one bucket per month when the policy says so;
- prepaid consumption (Dr category / Cr Prepaid AI credits): usage of a prepaid account drawn from its
  credit lots FIFO by expiry (`domain/prepaid.py`); what no lot covers stays accrued and is flagged;
- expiry write-off (Dr Loss on expired credits / Cr Prepaid AI credits) on a lot's expiry date;
- month-end reversal (Dr Accrued AI costs / Cr category): the exact mirror of a reversing accrual;
- invoice true-up: invoice usage − accrued, spread pro rata (`domain/trueup.py`);
- amortization (Dr amortization role / Cr Accumulated amortization), straight line per monthly cohort
  of capitalized cost (`domain/amortization.py`);
- revenue (Dr Deferred revenue / Cr AI usage revenue) and breakage (Dr Deferred revenue / Cr Breakage
  revenue) of credits sold, ASC 606-10-55-48 (`domain/revenue.py`).

Nothing is dated after `as_of` and nothing that belongs to a month is booked before the month has ended.

Usage kinds are given for the plan window only (the facts classified). The kinds derived from usage and
from the other inputs (credit lots, credits sold, invoices — which arrive at any time, for any date) are
given for all time: before the window, usage is what was already posted (`BooksInput.history`), so a lot
imported today for last spring, or a late invoice, is booked without classifying a year of facts again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

from connector.domain.accounting_policy import (
    AccountPolicy,
    AccrualStyle,
    AmortizationStart,
    Billing,
    CapitalizationPolicy,
    CapitalizedProject,
    EntityPolicy,
    FineTuning,
    PolicyHistory,
)
from connector.domain.amortization import Cohort, amortization_for
from connector.domain.credits import CreditLot, CustomerCreditEvent
from connector.domain.facts import PREPAID_POOL, ChargeCategory, Fact
from connector.domain.invoices import Invoice
from connector.domain.journals import Bucket, JournalKind, LedgerTarget
from connector.domain.mapping import CATEGORY_ROLE, Allocation, Category
from connector.domain.money import ZERO, quantize
from connector.domain.periods import Period
from connector.domain.posting_buckets import Granularity, bucket_period, round_usage
from connector.domain.prepaid import DrawDown, UsageItem, draw_fifo, expiries, lot_order
from connector.domain.revenue import credits_sold
from connector.domain.running_sums import merge_rows
from connector.domain.trueup import spread_variance

AC, CP, PC = JournalKind.USAGE_ACCRUAL, JournalKind.CAPITALIZATION, JournalKind.PREPAID_CONSUMPTION
COST_KINDS = (AC, CP, PC)  # the kinds that book provider cost (reconciled against it)
ACCRUED_KINDS = (AC, CP)  # what an invoice is compared with (the rest was paid in advance)
DERIVED_KINDS = tuple(k for k in JournalKind if k not in (*COST_KINDS, JournalKind.RECLASS))
SOFTWARE = ("software", "internal-use")  # bucket provider and account of amortization
DAY = timedelta(days=1)

RoleTarget = Callable[[str], LedgerTarget]  # raises MissingRole for a role the mapping does not bind


class MissingRole(KeyError):
    """A journal kind needs an account role the mapping does not bind for the entity's ledger."""

    def __init__(self, role: str) -> None:
        super().__init__(role)
        self.role = role


@dataclass(frozen=True, slots=True)
class BooksInput:
    entity: str
    as_of: date  # the day the run books as of, in the entity's timezone
    first_day: date  # the plan window (whole months): desired is given for buckets in it
    last_day: date
    policies: PolicyHistory
    role_target: RoleTarget  # a mapping role → its ledger target
    usage: UsageCosts | None = None  # the window's classified usage, summed as a plan streams it
    history: Mapping[Bucket, Decimal] = field(default_factory=dict)  # usage kinds posted before the window
    lots: Sequence[CreditLot] = ()
    customer_events: Sequence[CustomerCreditEvent] = ()
    invoices: Sequence[Invoice] = ()
    # the capitalize rule (a project of the policies) whose spend lands on a Capitalized software target
    project_of: Callable[[LedgerTarget], str | None] = field(default=lambda target: None)


@dataclass(frozen=True, slots=True)
class Overflow:
    """Prepaid usage no credit lot covered: accrued as if billed in arrears, and reported."""

    provider: str
    provider_account: str
    day: date
    amount: Decimal
    currency: str
    pool: str = ""  # the commitment or purchase the provider said paid for it ("": the account's lots)


@dataclass(frozen=True, slots=True)
class OverflowSpan:
    """Prepaid usage no lot covered, of one account, pool, currency and month: said once, not day by day."""

    provider: str
    provider_account: str
    currency: str
    pool: str
    period: Period
    amount: Decimal
    first_day: date
    last_day: date
    days: int


def overflow_by_period(overflow: Iterable[Overflow]) -> list[OverflowSpan]:
    """The days of prepaid usage beyond the lots, gathered per account, pool, currency and month."""
    groups: dict[tuple[str, str, str, str, Period], list[Overflow]] = defaultdict(list)
    for o in overflow:
        groups[(o.provider, o.provider_account, o.currency, o.pool, Period.of(o.day))].append(o)
    return [
        OverflowSpan(
            *key,
            sum((o.amount for o in items), ZERO),
            min(o.day for o in items),
            max(o.day for o in items),
            len({o.day for o in items}),
        )
        for key, items in sorted(groups.items(), key=lambda item: (item[0][4], item[0][:4]))
    ]


@dataclass(frozen=True, slots=True)
class TrueUp:
    provider: str
    provider_account: str
    period: str
    currency: str
    invoiced: Decimal  # invoice totals
    tax: Decimal
    credits: Decimal
    billed_usage: Decimal  # what is compared with the accrual
    accrued: Decimal
    variance: Decimal
    hold_reason: str = ""


@dataclass
class Desired:
    amounts: dict[Bucket, Decimal] = field(default_factory=dict)
    exact: dict[Bucket, Decimal] = field(default_factory=dict)  # usage buckets before rounding
    overflow: list[Overflow] = field(default_factory=list)
    trueups: list[TrueUp] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: dict[Bucket, list[str]] = field(default_factory=dict)  # what a bucket books (memos name it)

    def hold_reason(self, bucket: Bucket) -> str:
        """Why a journal holding this bucket waits for approval ("" when it does not): a true-up beyond
        tolerance, and the month-end reversal that mirrors it — posted alone, the mirror took back from
        Accrued AI costs a true-up the ledger never received (−100.00 left on a liability)."""
        if bucket.kind is JournalKind.REVERSAL:
            held = next((r for b in mirrored_by(bucket) if (r := self.hold_reason(b))), "")
            return (
                f"it reverses a true-up held for approval: release it with that true-up. {held}"
                if held
                else ""
            )
        if bucket.kind is not JournalKind.TRUE_UP:
            return ""
        for t in self.trueups:
            same_account = (t.provider, t.provider_account) == (bucket.provider, bucket.provider_account)
            if t.hold_reason and same_account and Period.parse(t.period).last_day == bucket.period:
                return t.hold_reason
        return ""


def _add(target: dict[Bucket, Decimal], bucket: Bucket, amount: Decimal) -> None:
    target[bucket] = target.get(bucket, ZERO) + amount


def desired_books(inp: BooksInput) -> Desired:
    """Usage kinds' desired amounts in the window [first_day, last_day]; derived kinds' for all time."""
    out = Desired()
    usage = _usage_costs(inp, out)
    _prepaid(inp, usage, out)
    _month_end(inp, out)
    _true_ups(inp, out)
    _reversals(inp, out)
    _amortization(inp, out)
    for bucket, amount, grant, why in credits_sold(inp):
        _add(out.amounts, bucket, amount)
        whose = f"customer {grant.customer}, grant {grant.grant_id}"
        out.sources.setdefault(bucket, []).append(f"{whose}: {why}" if why else whose)
    out.amounts = {b: a for b, a in out.amounts.items() if a != 0 and _planned(inp, b)}
    return out


def _planned(inp: BooksInput, bucket: Bucket) -> bool:
    return bucket.kind not in COST_KINDS or inp.first_day <= bucket.period <= inp.last_day


def not_yet_due(bucket: Bucket, as_of: date) -> bool:
    """A cost bucket dated after the day a run books as of (a FOCUS charge spread over a term that has
    not ended): no journal is dated ahead of its day, so the plan leaves it — desired and posted — for
    the run of that day."""
    return bucket.kind in COST_KINDS and bucket.period > as_of


def _before_window(inp: BooksInput, kinds: tuple[JournalKind, ...]):
    """Usage posted before the window, as the books hold it."""
    return ((b, a) for b, a in inp.history.items() if b.kind in kinds and b.period < inp.first_day)


def _accrued(inp: BooksInput, out: Desired):
    """Every accrual: the window's desired, and what was posted before it."""
    window = [(b, a) for b, a in out.amounts.items() if b.kind in ACCRUED_KINDS]
    return [*window, *_before_window(inp, ACCRUED_KINDS)]


# --------------------------------------------------------------------------------------------- usage


def _usage_costs(inp: BooksInput, out: Desired) -> dict[Bucket, Decimal]:
    """Usage cost per bucket (kind AC, or CP when capitalized); the window's allocations only."""
    out.exact = inp.usage.exact(inp.role_target) if inp.usage else {}
    return round_usage(out.exact)


def usage_costs(
    allocations: Iterable[Allocation], policies: PolicyHistory, entity: str, role_target: RoleTarget
) -> dict[Bucket, Decimal]:
    """Usage cost per bucket, exact (not yet rounded), as the policies bucket it: accrued (AC) or
    capitalized (CP), per day or per month. Reconciliation rounds the same buckets to compare."""
    return UsageCosts(policies, entity).add(allocations).exact(role_target)


class UsageCosts:
    """Usage cost summed as the allocations stream in (chunk by chunk), then bucketed by the policies.

    Per allocation: one sum keyed by its day, account, currency, category, target and whether the
    policy capitalizes it (fine-tuning), with how many allocations it holds (so a day's kept sums can
    have a fact's contribution taken back: `domain/running_sums.py`); buckets are built once per key at
    the end, not per allocation, so a month of a million allocations costs a few dictionary updates each
    and is never held.
    """

    def __init__(self, policies: PolicyHistory, entity: str) -> None:
        self.policies = policies
        self.entity = entity
        self._sums: dict[tuple, list] = {}  # key → [Σ amount, allocations]
        self._in_force: dict[date, EntityPolicy] = {}  # a lookup per day, not per fact
        self._fine_tuning: dict[tuple, bool] = {}
        self._projects: dict[str, CapitalizedProject | None] = {}

    def add(self, allocations: Iterable[Allocation]) -> UsageCosts:
        sums = self._sums
        for allocation in allocations:
            fact = allocation.fact
            if fact.charge_category is not ChargeCategory.USAGE:
                continue
            category = allocation.category
            if category is Category.CAPITALIZE and self._in_service(allocation.rule_id, fact.posting_date):
                category = Category(self._projects[allocation.rule_id].expensed_as)  # type: ignore[union-attr]
            capitalized = category is not Category.CAPITALIZE and (
                category is not Category.SUSPENSE and self._capitalizes(fact)
            )
            key = (
                fact.entity,
                fact.posting_date,
                fact.provider,
                fact.provider_account,
                fact.currency,
                category,
                allocation.target,
                capitalized,
                fact.dimensions.get(PREPAID_POOL) or "",
            )
            row = sums.get(key)
            if row is None:
                row = sums[key] = [ZERO, 0]
            row[0] += allocation.amount
            row[1] += 1
        return self

    def state(self) -> dict[tuple, list]:
        """What was summed so far, by key (see `add`), with the count of allocations: a day's, kept for
        the next plan (`day_sums.py`)."""
        return self._sums

    def absorb(self, sums: Mapping[tuple, list], *, take_back: bool = False) -> UsageCosts:
        """Add what another UsageCosts summed (a day kept from an earlier plan): as if its allocations
        had been added here (the sums are the same however the stream is cut) — or, `take_back`, as if
        they had never been (the old versions of a day's restated facts)."""
        merge_rows(self._sums, sums, take_back=take_back)
        return self

    def _in_service(self, rule: str, day: date) -> bool:
        """Spend of a capitalized project from its go-live on is post-implementation: an expense."""
        if rule not in self._projects:
            self._projects[rule] = self.policies.project(self.entity, rule)
        project = self._projects[rule]
        return project is not None and project.in_service_on(day)

    def _capitalizes(self, fact: Fact) -> bool:
        """Fine-tuning the policy in force on the fact's day capitalizes beyond the mapping's rules."""
        policy = self._in_force.get(fact.posting_date)
        if policy is None:
            policy = self._in_force[fact.posting_date] = self.policies.in_force(
                self.entity, fact.posting_date
            )
        capitalization = policy.capitalization
        if capitalization.fine_tuning is not FineTuning.CAPITALIZE:
            return False
        key = (capitalization, fact.dimensions)
        found = self._fine_tuning.get(key)
        if found is None:
            found = self._fine_tuning[key] = capitalization.is_fine_tuning(fact)
        return found

    def exact(self, role_target: RoleTarget) -> dict[Bucket, Decimal]:
        """Usage cost per bucket, exact: accrued (AC) or capitalized (CP), per day or per month."""
        exact: dict[Bucket, Decimal] = {}
        accounts: dict[tuple[date, str, str], AccountPolicy] = {}
        for (
            entity,
            day,
            provider,
            account,
            currency,
            category,
            target,
            capitalized,
            pool,
        ), (amount, _count) in self._sums.items():
            kind = CP if category is Category.CAPITALIZE or capitalized else AC
            if capitalized:  # fine-tuning capitalized by policy: the rule's class and tracking are kept
                target = _with_dimensions(role_target("capitalized_software"), target)
            elif target.account == _capitalized_account(role_target) and kind is AC:
                # a capitalized project in service: its spend is the expense its policy names, the rule's
                # class and tracking kept
                target = _with_dimensions(role_target(CATEGORY_ROLE[category]), target)
            policy = accounts.get((day, provider, account))
            if policy is None:
                policy = accounts[(day, provider, account)] = self.policies.in_force(
                    self.entity, day
                ).account(provider, account)
            # usage a purchase paid for is drawn day by day (a lot may expire within the month)
            granularity = Granularity.DAILY if pool else policy.bucket_granularity
            bucket = Bucket(
                entity, kind, bucket_period(day, granularity), provider, account, target, currency, pool
            )
            _add(exact, bucket, amount)
        return exact


def _with_dimensions(account: LedgerTarget, dimensions: LedgerTarget) -> LedgerTarget:
    """`account`'s account with the class, department and tracking of `dimensions`."""
    return LedgerTarget(account.account, dimensions.class_name, dimensions.department, dimensions.tracking)


def _capitalized_account(role_target: RoleTarget) -> str | None:
    try:
        return role_target("capitalized_software").account
    except MissingRole:
        return None


def _billing(inp: BooksInput, provider: str, account: str, day: date) -> Billing:
    return inp.policies.account(inp.entity, provider, account, day).billing


def _prepaid(inp: BooksInput, usage: dict[Bucket, Decimal], out: Desired) -> None:
    """Arrears usage is accrued; prepaid usage is drawn from its pool's lots, FIFO by expiry.

    Usage the provider says a purchase paid for (a bucket with a pool) draws that pool's lots whatever the
    account's billing policy; other usage draws the account's general lots when its policy is prepaid, or
    when the account has promotional (free) credits, whatever its billing.
    """
    promotional = {(lot.provider, lot.provider_account, lot.pool) for lot in inp.lots if lot.promotional}
    drawn: dict[tuple[str, str, str], list[tuple[Bucket, Decimal]]] = defaultdict(list)
    for bucket, amount in usage.items():
        drawn_from = (bucket.provider, bucket.provider_account, bucket.pool)
        prepaid = _billing(inp, bucket.provider, bucket.provider_account, bucket.period) is Billing.PREPAID
        if bucket.pool or prepaid or drawn_from in promotional:
            drawn[drawn_from].append((bucket, amount))
        else:
            _add(out.amounts, bucket, amount)
    pools = set(drawn) | {(lot.provider, lot.provider_account, lot.pool) for lot in inp.lots}
    for provider, account, pool in sorted(pools):
        _draw_account(inp, provider, account, pool, drawn.get((provider, account, pool), []), out)


def _draw(
    inp: BooksInput, provider: str, account: str, pool: str, window: list[tuple[Bucket, Decimal]]
) -> tuple[list[CreditLot], DrawDown]:
    """The pool's lots, and its usage (the window's, and what was posted before it) drawn from them.

    A purchase's pool is drawn by the usage it paid for whatever the billing; the account's general lots
    are drawn by prepaid usage, and usage billed in arrears draws only promotional lots (the provider
    applies them to its bill)."""
    lots = [
        lot for lot in inp.lots if (lot.provider, lot.provider_account, lot.pool) == (provider, account, pool)
    ]
    promotional = any(lot.promotional for lot in lots)
    items = [UsageItem(b.period, _item_key(b), a) for b, a in window]
    for bucket, amount in _before_window(inp, COST_KINDS):  # usage before the window was drawn too
        same = (bucket.provider, bucket.provider_account, bucket.pool) == (provider, account, pool)
        if same and (
            pool or promotional or _billing(inp, provider, account, bucket.period) is Billing.PREPAID
        ):
            items.append(UsageItem(bucket.period, _item_key(bucket), amount))
    prepaid = bool(pool) or any(
        _billing(inp, provider, account, item.day) is Billing.PREPAID for item in items
    )
    drawable = [lot.as_prepaid() for lot in lots if lot.promotional or prepaid]
    return lots, draw_fifo(drawable, _merged(items))


def _draw_account(
    inp: BooksInput,
    provider: str,
    account: str,
    pool: str,
    window: list[tuple[Bucket, Decimal]],
    out: Desired,
) -> None:
    lots, drawdown = _draw(inp, provider, account, pool, window)
    prepaid_lots = [lot.as_prepaid() for lot in lots]
    promotional = {lot.lot_id for lot in lots if lot.promotional}
    paid: dict[tuple[date, str], Decimal] = defaultdict(lambda: ZERO)
    free: dict[tuple[date, str], Decimal] = defaultdict(lambda: ZERO)
    for draw in drawdown.draws:
        (free if draw.lot_id in promotional else paid)[(draw.day, draw.key)] += draw.amount
    for bucket, amount in window:
        drawn = paid.get((bucket.period, _item_key(bucket)), ZERO)
        if drawn:
            _add(out.amounts, _as(bucket, PC), drawn)
        rest = amount - drawn  # promotional credit pays for part of it: still accrued, credited below
        if rest:
            _add(out.amounts, bucket, rest)
        beyond = rest - free.get((bucket.period, _item_key(bucket)), ZERO)
        if beyond > 0 and (pool or _billing(inp, provider, account, bucket.period) is Billing.PREPAID):
            # beyond the lots: booked in arrears, and flagged
            out.overflow.append(Overflow(provider, account, bucket.period, beyond, bucket.currency, pool))
    _promotional_credits(inp, provider, account, lots, drawdown, out)
    for expired in expiries(prepaid_lots, drawdown, as_of=inp.as_of):
        lot = next(lot for lot in lots if lot.lot_id == expired.lot_id)
        target = inp.role_target("loss_on_expired_credits")
        bucket = Bucket(
            inp.entity,
            JournalKind.EXPIRY_WRITE_OFF,
            expired.expires_on,
            provider,
            account,
            target,
            lot.currency,
            pool,
        )
        _add(out.amounts, bucket, expired.unused)
        # the memo names the lot written off: the receipt an auditor checks the loss against
        out.sources.setdefault(bucket, []).append(
            f"lot {lot.lot_id} ({lot.amount} {lot.currency} bought {lot.purchase_date})"
        )
    if (
        lots
        and not pool
        and not window
        and not promotional
        and all(_billing(inp, provider, account, lot.purchase_date) is Billing.ARREARS for lot in lots)
    ):
        out.notes.append(
            f"{provider} {account} has prepaid credit lots but its billing policy is arrears: usage is accrued, "
            "not drawn from the lots, and their balance will be written off when they expire"
        )


def _promotional_credits(
    inp: BooksInput, provider: str, account: str, lots: list[CreditLot], drawdown: DrawDown, out: Desired
) -> None:
    """Usage a promotional credit paid for is no expense: the provider bills it net, so each day's
    promoted usage is booked Dr Accrued AI costs / Cr Promotional AI credits (a reduction of AI expense,
    ASC 705-20), for every day drawn — before the window too (a derived kind, desired for all time)."""
    currency = {lot.lot_id: lot.currency for lot in lots if lot.promotional}
    by_day: dict[tuple[date, str], Decimal] = defaultdict(lambda: ZERO)
    for draw in drawdown.draws:
        if draw.lot_id in currency:
            by_day[(draw.day, currency[draw.lot_id])] += draw.amount
    for (day, code), amount in sorted(by_day.items()):
        target = inp.role_target("promotional_credits")
        _add(
            out.amounts,
            Bucket(inp.entity, JournalKind.PROMOTIONAL_CREDIT, day, provider, account, target, code),
            -amount,
        )


def _item_key(bucket: Bucket) -> str:
    """A usage item's identity within one account and day: its target (a capitalized one names the
    Capitalized software account), whichever kind it was posted as."""
    return bucket.target.key()


def _merged(items: list[UsageItem]) -> list[UsageItem]:
    """History posted as several kinds (accrued overflow and drawn) is one usage item per day and target."""
    merged: dict[tuple[date, str], Decimal] = {}
    for item in items:
        merged[(item.day, item.key)] = merged.get((item.day, item.key), ZERO) + item.amount
    return [UsageItem(day, key, amount) for (day, key), amount in merged.items()]


def _as(bucket: Bucket, kind: JournalKind, period: date | None = None) -> Bucket:
    return replace(bucket, kind=kind, period=period or bucket.period)


# ------------------------------------------------------------------------------- month end, true-ups


def _month_end(inp: BooksInput, out: Desired) -> None:
    """An accrual booked once per month is booked only after the month has ended (never future-dated)."""
    for bucket in [b for b in out.amounts if b.kind in ACCRUED_KINDS and b.period >= inp.as_of]:
        policy = inp.policies.account(inp.entity, bucket.provider, bucket.provider_account, bucket.period)
        monthly = policy.bucket_granularity is Granularity.MONTHLY
        if monthly and bucket.period == Period.of(bucket.period).last_day:
            del out.amounts[bucket]


def _true_ups(inp: BooksInput, out: Desired) -> None:
    """Invoice usage − accrued, spread pro rata over the accrued targets, dated the period's last day."""
    grouped: dict[tuple[str, str, str], list[Invoice]] = defaultdict(list)
    for invoice in inp.invoices:
        grouped[(invoice.provider, invoice.provider_account, invoice.period)].append(invoice)
    for (provider, account, period_text), invoices in sorted(grouped.items()):
        period = Period.parse(period_text)
        day = period.last_day
        if inp.as_of <= day:
            continue  # the period has not ended
        if inp.as_of < max(i.issue_date for i in invoices):
            continue  # the invoice is not issued yet as of this run
        currencies = {i.currency for i in invoices}
        if len(currencies) != 1:
            out.notes.append(f"{provider} {account} {period}: invoices in several currencies; not trued up")
            continue
        (currency,) = currencies
        accrued: dict[LedgerTarget, Decimal] = defaultdict(lambda: ZERO)
        for bucket, amount in _accrued(inp, out):
            same = (bucket.provider, bucket.provider_account, bucket.currency) == (
                provider,
                account,
                currency,
            )
            if same and period.contains(bucket.period):
                accrued[bucket.target] += amount
        policy = inp.policies.account(inp.entity, provider, account, day)
        billed = sum((i.billed_usage(prepaid=policy.billing is Billing.PREPAID) for i in invoices), ZERO)
        if policy.billing is Billing.PREPAID:  # the invoice's credits include promotional credit applied,
            billed -= _promoted(out, provider, account, period)  # whose usage is still in the accrual
        total_accrued = sum(accrued.values(), ZERO)
        variance = billed - total_accrued
        invoiced = sum((i.total for i in invoices), ZERO)
        reason = ""
        if not policy.invoice_tolerance.allows(variance, billed):
            reason = (
                f"the {provider} invoice for {period} bills {billed} of usage against {total_accrued} accrued: "
                f"a variance of {variance}, beyond the policy's tolerance of {policy.invoice_tolerance.describe(currency)}; "
                "held until an approver releases it" + _unlisted_purchases(inp, invoices, period, currency)
            )
        out.trueups.append(
            TrueUp(
                provider,
                account,
                period_text,
                currency,
                invoiced,
                sum((i.tax for i in invoices), ZERO),
                sum((i.credits for i in invoices), ZERO),
                billed,
                total_accrued,
                variance,
                reason,
            )
        )
        if variance:
            for target, share in _variance_shares(
                inp, variance, accrued, currency, out, provider, period
            ).items():
                _add(
                    out.amounts,
                    Bucket(inp.entity, JournalKind.TRUE_UP, day, provider, account, target, currency),
                    share,
                )


def _unlisted_purchases(inp: BooksInput, invoices: list[Invoice], period: Period, currency: str) -> str:
    """A warning for the approver when commitments were bought in the period and the invoice lists no
    purchase: an invoice total that holds them would be trued up as usage, the purchase booked twice (AP
    books it to prepaid). Not subtracted unasked: AWS may bill an up-front commitment on an invoice of its
    own."""
    first = invoices[0]
    if any(i.purchases for i in invoices):
        return ""
    bought = [
        lot
        for lot in inp.lots
        if lot.pool
        and (lot.provider, lot.provider_account, lot.currency)
        == (first.provider, first.provider_account, currency)
        and period.contains(lot.purchase_date)
        and lot.amount > 0
    ]
    if not bought:
        return ""
    total = sum((lot.amount for lot in bought), ZERO)
    names = ", ".join(sorted(lot.pool for lot in bought))
    return (
        f". {total} of commitments was bought in {period} ({names}) and this invoice lists no purchase: if its "
        "total bills them, do not release this true-up (the purchase is prepaid, booked by AP); import the "
        "invoice with a `purchase` line for them, or the FOCUS export that names the invoice (InvoiceId)"
    )


def _promoted(out: Desired, provider: str, account: str, period: Period) -> Decimal:
    """Promotional credit applied to an account's usage of a period (negative: credits)."""
    return sum(
        (
            a
            for b, a in out.amounts.items()
            if b.kind is JournalKind.PROMOTIONAL_CREDIT
            and (b.provider, b.provider_account) == (provider, account)
            and period.contains(b.period)
        ),
        ZERO,
    )


def _variance_shares(
    inp: BooksInput,
    variance: Decimal,
    accrued: Mapping[LedgerTarget, Decimal],
    currency: str,
    out: Desired,
    provider: str,
    period: Period,
) -> dict[LedgerTarget, Decimal]:
    if any(amount > 0 for amount in accrued.values()):
        return spread_variance(variance, accrued, currency)
    out.notes.append(
        f"the {provider} invoice for {period} bills {variance} but nothing was accrued to spread it over: "
        "it is trued up to suspense until a mapping rule places it"
    )
    return {inp.role_target("suspense"): variance}


REVERSED_BY_MONTH_END = (*ACCRUED_KINDS, JournalKind.TRUE_UP, JournalKind.PROMOTIONAL_CREDIT)


def mirrored_by(reversal: Bucket) -> list[Bucket]:
    """The buckets a month-end reversal mirrors: the accrual of the day before and its own adjustments."""
    return [_as(reversal, kind, reversal.period - DAY) for kind in REVERSED_BY_MONTH_END]


def booked_days(policies: PolicyHistory, bucket: Bucket) -> list[date]:
    """The days a bucket's amount is for, as its memo says: the usage days an accrual sums (a month-end or
    monthly accrual: its month, `PolicyHistory.bucket_days`), the invoice's month for a true-up, else the
    bucket's own day."""
    if bucket.kind in COST_KINDS:
        return policies.bucket_days(bucket)
    if bucket.kind is JournalKind.TRUE_UP:
        return Period.of(bucket.period).days()
    return [bucket.period]


def _reversals(inp: BooksInput, out: Desired) -> None:
    """Month-end reversing accruals: the exact mirror of the month's accrual (and true-up), next day."""
    mirrored = REVERSED_BY_MONTH_END[len(ACCRUED_KINDS) :]  # the accrual's own adjustments
    adjustments = [(b, a) for b, a in out.amounts.items() if b.kind in mirrored]
    for bucket, amount in [*_accrued(inp, out), *adjustments]:
        if bucket.period != Period.of(bucket.period).last_day or bucket.period >= inp.as_of:
            continue
        policy = inp.policies.account(inp.entity, bucket.provider, bucket.provider_account, bucket.period)
        if policy.accrual is AccrualStyle.MONTH_END_REVERSING and policy.billing is Billing.ARREARS:
            _add(out.amounts, _as(bucket, JournalKind.REVERSAL, bucket.period + DAY), -amount)


# -------------------------------------------------------------------------------------- amortization


def _amortization(inp: BooksInput, out: Desired) -> None:
    """Straight-line amortization of capitalized cost, booked once each month has ended: per project from
    its go-live (nothing while it is being built), else per month of cost from the policy's start. The
    amortization line keeps the capitalized line's class, department and tracking."""
    schedules = _schedules(inp, out)
    if not schedules:
        return
    month = min(c.first_month for cohorts in schedules.values() for c in cohorts)
    while month.last_day < inp.as_of:
        policy = inp.policies.in_force(inp.entity, month.last_day).capitalization
        role = inp.role_target(policy.amortization_role)
        for (project, dimensions, currency), cohorts in sorted(schedules.items(), key=_schedule_order):
            amount = amortization_for(cohorts, month)
            target = _with_dimensions(role, dimensions)
            _add(
                out.amounts,
                Bucket(
                    inp.entity,
                    JournalKind.AMORTIZATION,
                    month.last_day,
                    SOFTWARE[0],
                    project,
                    target,
                    currency,
                ),
                amount,
            )
        month = month.next()


def _schedule_order(item: tuple) -> tuple:
    (project, target, currency), _ = item
    return (project, target.key(), currency)


def _schedules(inp: BooksInput, out: Desired) -> dict[tuple[str, LedgerTarget, str], list[Cohort]]:
    """Capitalized cost as amortization cohorts, per (project, capitalized line, currency): the window's
    and what was posted before it. A project in service is one cohort from its go-live month; a project
    not yet in service has none; cost of no declared project is a cohort per month (the policy's start)."""
    account = _capitalized_account(inp.role_target)
    if account is None:
        return {}  # no Capitalized software account: nothing can have been capitalized
    totals: dict[tuple[Period, str, LedgerTarget], Decimal] = defaultdict(lambda: ZERO)
    capitalizing = (CP, PC, JournalKind.TRUE_UP)
    window = [(b, a) for b, a in out.amounts.items() if b.kind in capitalizing and _planned(inp, b)]
    for bucket, amount in [*window, *_before_window(inp, (CP, PC))]:
        if bucket.target.account == account:
            totals[(Period.of(bucket.period), bucket.currency, bucket.target)] += amount
    schedules: dict[tuple[str, LedgerTarget, str], list[Cohort]] = defaultdict(list)
    for (month, currency, target), amount in sorted(
        totals.items(), key=lambda t: (t[0][0], t[0][1], t[0][2].key())
    ):
        policy = inp.policies.in_force(inp.entity, month.last_day).capitalization
        rule = inp.project_of(target)
        project = inp.policies.project(inp.entity, rule) if rule else None
        cohort = _cohort(month, amount, currency, policy, project)
        if cohort is not None:
            schedules[(rule or SOFTWARE[1], target, currency)].append(cohort)
    return schedules


def _cohort(
    month: Period,
    amount: Decimal,
    currency: str,
    policy: CapitalizationPolicy,
    project: CapitalizedProject | None,
) -> Cohort | None:
    if project is None:
        start = month.next() if policy.amortization_start is AmortizationStart.MONTH_AFTER else month
        return Cohort(month, amount, currency, policy.useful_life_months, in_service_from=start)
    if project.in_service is None:
        return None  # still being built (ASC 350-40-35-6: amortization begins when ready for use)
    life = project.useful_life_months or policy.useful_life_months
    return Cohort(month, amount, currency, life, in_service_from=max(Period.of(project.in_service), month))


# ------------------------------------------------------------------------------------ for the close


@dataclass(frozen=True, slots=True)
class LotPosition:
    lot: CreditLot
    used: Decimal  # drawn by usage through the day
    written_off: Decimal  # the unused balance, once expired
    balance: Decimal


def lot_positions(inp: BooksInput, day: date) -> list[LotPosition]:
    """Each prepaid lot on `day`, from the usage posted before the window (pass an empty window)."""
    found = []
    for provider, account, pool in sorted(
        {(lot.provider, lot.provider_account, lot.pool) for lot in inp.lots}
    ):
        lots, drawdown = _draw(inp, provider, account, pool, [])
        for lot in sorted(lots, key=lambda lot: lot_order(lot.as_prepaid())):
            if lot.purchase_date > day:
                continue
            # quantized: a lot nothing drew from, or not expired, showed `0` beside `1800.00` in reports
            used = quantize(drawdown.drawn_from(lot.lot_id, through=day), lot.currency)
            expired = lot.expires_on is not None and lot.expires_on <= day
            written_off = quantize(lot.amount - used if expired else ZERO, lot.currency)
            found.append(LotPosition(lot, used, written_off, lot.amount - used - written_off))
    return found
