"""The month-end close checklist: what a controller looks at before signing off a period.

Pure: the figures come in (what tokenbooks posted per bucket, invoices, prepaid lot and credit grant
positions, held journals, reconciliation statuses) and come out as lines a person can tick off:

- accrued and not yet invoiced, per provider account: the accrual, its true-up and reversal, and the
  invoice (a period with no invoice yet is still owed: AP expects a bill);
- prepaid balances per lot on the period's last day, and the lots expiring within 30, 60 or 90 days;
- deferred revenue per customer grant (credits sold and not yet redeemed, expired or broken);
- what sits in suspense (spend no mapping rule placed);
- journals held for approval, and the reconciliation status per provider account.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from connector.domain.desired import ACCRUED_KINDS, LotPosition
from connector.domain.invoices import Invoice
from connector.domain.journals import Bucket, JournalKind, LedgerTarget
from connector.domain.money import ZERO
from connector.domain.periods import Period

EXPIRY_HORIZONS = (30, 60, 90)


@dataclass(frozen=True, slots=True)
class AccrualLine:
    provider: str
    provider_account: str
    currency: str
    accrued: Decimal  # usage accrued for the period (capitalized spend included)
    true_up: Decimal
    reversed: Decimal  # month-end reversing accounts: the mirror on the next period's first day
    invoiced: Decimal | None  # the invoice's usage; None: not invoiced yet

    @property
    def not_invoiced(self) -> Decimal:
        return self.accrued + self.true_up if self.invoiced is None else ZERO

    @property
    def liability(self) -> Decimal:
        """What tokenbooks leaves in Accrued AI costs for the provider-period, before AP's bill."""
        return self.accrued + self.true_up + self.reversed


@dataclass(frozen=True, slots=True)
class LotLine:
    lot_id: str
    provider: str
    provider_account: str
    currency: str
    amount: Decimal
    used: Decimal
    written_off: Decimal
    balance: Decimal
    expires_on: date | None
    expires_within: int | None  # the first horizon (30/60/90 days after the period) it expires within


@dataclass(frozen=True, slots=True)
class DeferredLine:
    customer: str
    grant_id: str
    product: str
    currency: str
    sold: Decimal
    revenue: Decimal
    breakage: Decimal
    deferred: Decimal


@dataclass(frozen=True, slots=True)
class HeldJournal:
    key: str
    txn_date: date
    kind: str
    reason: str


@dataclass
class Checklist:
    period: Period
    accruals: list[AccrualLine] = field(default_factory=list)
    lots: list[LotLine] = field(default_factory=list)
    deferred: list[DeferredLine] = field(default_factory=list)
    suspense: dict[str, Decimal] = field(default_factory=dict)  # currency → the period's suspense
    held: list[HeldJournal] = field(default_factory=list)
    reconciliation: list[tuple[str, str, str]] = field(default_factory=list)  # provider, account, status

    @property
    def ready(self) -> bool:
        """Nothing waits: no journal held, nothing in suspense, every reconciliation matched or within tolerance."""
        settled = all(status in ("matched", "within_tolerance") for *_, status in self.reconciliation)
        return not self.held and not any(self.suspense.values()) and settled


def accrual_lines(
    posted: Mapping[Bucket, Decimal],
    invoices: Iterable[Invoice],
    period: Period,
    *,
    prepaid: set[tuple[str, str]],
) -> list[AccrualLine]:
    """Per provider account: what the books accrued for `period`, and what the invoice says."""
    figures: dict[tuple[str, str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    reversal_day = period.next().first_day
    for bucket, amount in posted.items():
        key = (bucket.provider, bucket.provider_account, bucket.currency)
        if bucket.kind in ACCRUED_KINDS and period.contains(bucket.period):
            figures[key]["accrued"] += amount
        elif bucket.kind is JournalKind.TRUE_UP and bucket.period == period.last_day:
            figures[key]["true_up"] += amount
        elif bucket.kind is JournalKind.REVERSAL and bucket.period == reversal_day:
            figures[key]["reversed"] += amount
    billed: dict[tuple[str, str, str], Decimal] = {}
    for invoice in invoices:
        if invoice.period == str(period):
            key = (invoice.provider, invoice.provider_account, invoice.currency)
            usage = invoice.billed_usage(prepaid=key[:2] in prepaid)
            billed[key] = billed.get(key, ZERO) + usage
            figures[key]  # an invoice with nothing accrued still shows
    return [
        AccrualLine(*key, f["accrued"], f["true_up"], f["reversed"], billed.get(key))
        for key, f in sorted(figures.items())
    ]


def lot_lines(positions: Iterable[LotPosition], period: Period) -> list[LotLine]:
    end = period.last_day
    lines = []
    for p in positions:
        lot = p.lot
        within = None
        if lot.expires_on is not None and lot.expires_on > end:
            within = next((h for h in EXPIRY_HORIZONS if (lot.expires_on - end).days <= h), None)
        lines.append(
            LotLine(
                lot.lot_id,
                lot.provider,
                lot.provider_account,
                lot.currency,
                lot.amount,
                p.used,
                p.written_off,
                p.balance,
                lot.expires_on,
                within,
            )
        )
    return lines


def suspense_of(
    posted: Mapping[Bucket, Decimal], period: Period, suspense: LedgerTarget
) -> dict[str, Decimal]:
    """Spend of the period that sits on the suspense account, per currency."""
    totals: dict[str, Decimal] = {}
    for bucket, amount in posted.items():
        if bucket.target.account == suspense.account and period.contains(bucket.period):
            totals[bucket.currency] = totals.get(bucket.currency, ZERO) + amount
    return totals
