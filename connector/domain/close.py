"""The month-end close checklist: what a controller looks at before signing off a period.

Pure: the figures come in (what tokenbooks posted per bucket, invoices, prepaid lot and credit grant
positions, held journals, reconciliation statuses) and come out as lines a person can tick off:

- accrued and not yet invoiced, per provider account: the accrual, its true-up and reversal, and the
  invoice (a period with no invoice yet is still owed: AP expects a bill);
- prepaid balances per lot on the period's last day, and the lots expiring within 30, 60 or 90 days;
- per prepaid provider account: its usage drawn from its lots and accrued beyond them, the lots bought
  in the period, and the lots' remaining balance beside Prepaid AI credits as booked (from the
  reconciliation: a prepaid account owes an invoice only for usage beyond its lots);
- deferred revenue per customer grant (credits sold and not yet redeemed, expired or broken);
- what sits in suspense (spend no mapping rule placed);
- journals held for approval, journals not yet in the ledger, and the reconciliation status per
  provider account;
- the journals of the period posted after its lock, on the first open day of a later period (not
  blockers: the ledger holds them in that later period, so its figures for this one differ), each signed
  as a debit or credit to the expense (a true-up of a lower invoice is a credit);
- the entity's sources whose settings are refused (`MisconfiguredSource`): they are not pulled, so the
  period's books may lack their spend;
- the days of the period a provider account has no cost for at all though it has cost on that weekday
  every week (`domain/missing_days.py`): the provider may deliver them late, after the nightly stopped
  reading the month, and an invoice true-up within tolerance would absorb them in silence.

`Checklist.blockers` names every item that keeps the month from being ready to sign off, each with the
command (or step) that fixes it, so a controller is never left with "items above need attention".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date
from decimal import Decimal
from typing import Any, get_type_hints

from connector.domain.desired import ACCRUED_KINDS, LotPosition
from connector.domain.invoices import Invoice
from connector.domain.journals import Bucket, Journal, JournalKind, LedgerTarget
from connector.domain.missing_days import MissingDay, confirm_no_spend, read_again
from connector.domain.money import ZERO, format_money
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
class PrepaidLine:
    """A prepaid provider account's month (`domain/reconcile.py: PrepaidMonth`), as the close shows it."""

    provider: str
    provider_account: str
    currency: str
    drawn: Decimal  # usage of the period drawn from its lots
    beyond_lots: Decimal  # usage accrued beyond them: billed in arrears, its invoice expected
    bought: Decimal  # lots bought in the period
    remaining: Decimal  # the lots' balance on the last day
    booked: Decimal  # Prepaid AI credits as booked: lots bought − draws and write-offs posted


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


@dataclass(frozen=True, slots=True)
class BookedLater:
    """A journal of the period the ledger's lock date moved into a later period: the close's figures count
    it, the ledger holds it in the period it was dated in (`txn_date`), not in this one."""

    key: str
    txn_date: date
    kind: str
    original_date: date  # the day of the period it belongs to
    # signed, + debit / − credit, on the accounts it books for the period (`booked_to`): a true-up of an
    # invoice lower than the accrual is a credit to the expense, its amount negative
    amount: Decimal
    currency: str
    booked_to: str = "the expense"
    moved: Decimal = ZERO  # what it moves between those accounts (Σ its debits there): a reclass nets to zero

    @property
    def side(self) -> str:
        return "debit" if self.amount > 0 else "credit" if self.amount < 0 else "none"

    @property
    def entry(self) -> str:
        """As an accountant reads it: "credit 47.87 USD to the expense"; a reclass "nets to zero on the
        expense: 12.00 USD moved between its accounts"."""
        if self.amount == 0:
            moved = format_money(self.moved, self.currency)
            return f"nets to zero on {self.booked_to}: {moved} moved between its accounts"
        return f"{self.side} {format_money(abs(self.amount), self.currency)} to {self.booked_to}"


# what the lines of a kind's buckets book (the rest book the expense: the category accounts, a loss on
# expired credits, amortization expense)
BOOKED_TO = {
    JournalKind.CAPITALIZATION: "capitalized software",
    JournalKind.REVENUE: "revenue",
    JournalKind.BREAKAGE: "breakage revenue",
}


def booked_later(journal: Journal, period: Period) -> BookedLater | None:
    """`journal` as a correction booked for `period` in a later one (None when it is not one): what its
    lines on its buckets' accounts book for the period, signed."""
    mine = [c for c in journal.contributions if period.contains(c.bucket.period)]
    if journal.original_date is None or not mine:
        return None
    return BookedLater(
        journal.key,
        journal.txn_date,
        journal.kind.value,
        min(c.bucket.period for c in mine),
        sum((c.amount for c in mine), ZERO),
        journal.currency,
        BOOKED_TO.get(journal.kind, "the expense"),
        sum((c.amount for c in mine if c.amount > 0), ZERO),
    )


@dataclass(frozen=True, slots=True)
class RefusedDays:
    """A source's days of the period that its last pull refused (their rows failed a check): they hold
    what an earlier pull stored, if anything, so the period's books may lack or misstate their spend."""

    source: str
    first_day: date
    last_day: date
    days: int
    error: str


@dataclass(frozen=True, slots=True)
class MisconfiguredSource:
    """A source of the entity whose settings section cannot be built: nothing is pulled from it (nor
    synced for the entity) until its settings are fixed, so the period's books may lack its spend."""

    source: str  # the bookmark it reads on: `warehouse.gcp:01-AB`
    section: str  # the prefix of its variables: `TOKENBOOKS_WAREHOUSE__GCP__`
    error: str  # why its settings are refused (redacted)
    fix: str  # what to set ("" when the error says it)


@dataclass(frozen=True, slots=True)
class Blocker:
    """One thing that keeps a month from being ready to sign off, and what fixes it."""

    what: str
    fix: str  # the command to run (or the step to take)


SETTLED = ("matched", "within_tolerance")


@dataclass
class Checklist:
    period: Period
    accruals: list[AccrualLine] = field(default_factory=list)
    lots: list[LotLine] = field(default_factory=list)
    prepaid: list[PrepaidLine] = field(default_factory=list)  # prepaid provider accounts (reconciled)
    deferred: list[DeferredLine] = field(default_factory=list)
    suspense: dict[str, Decimal] = field(default_factory=dict)  # currency → the period's suspense
    held: list[HeldJournal] = field(default_factory=list)
    unposted: list[HeldJournal] = field(default_factory=list)  # planned or failed, not in the ledger yet
    # posted after the period was locked, on the first open day: in a later period of the ledger
    booked_later: list[BookedLater] = field(default_factory=list)
    reconciliation: list[tuple[str, str, str]] = field(default_factory=list)  # provider, account, status
    reconciliation_notes: dict[tuple[str, str], str] = field(default_factory=dict)  # what did not hold
    refused: list[RefusedDays] = field(default_factory=list)  # source days the last pull left as stored
    # sources whose settings are refused: read from the settings now, never stored with the checklist
    misconfigured: list[MisconfiguredSource] = field(default_factory=list)
    missing: list[MissingDay] = field(default_factory=list)  # days an account's cost never came for
    # such days the policies confirm had no spend (`no_cost_days`): listed, not blockers
    no_cost_confirmed: list[MissingDay] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """Nothing waits: nothing held or unposted, nothing in suspense, every reconciliation settled."""
        return not self.blockers

    @property
    def blockers(self) -> list[Blocker]:
        """Every item that keeps the period from being ready, each with the command that fixes it."""
        period = self.period
        found = [_misconfigured(m, period) for m in self.misconfigured]
        found += [
            Blocker(
                f"{r.source}: {r.days} day(s) of {period} ({r.first_day}..{r.last_day}) were refused by its "
                f"last pull and hold what an earlier pull stored: {r.error}",
                "correct the rows the error names where the source reads them; every run reads the refused days "
                f"again (then `tokenbooks close --period {period}`)",
            )
            for r in self.refused
        ]
        found += [_missing(m, period) for m in self.missing]
        found += [
            Blocker(f"{h.key} ({h.kind}, {h.txn_date}) is held: {h.reason}", _release(h)) for h in self.held
        ]
        found += [
            Blocker(
                f"{j.key} ({j.kind}, {j.txn_date}) is not in the ledger yet: {j.reason}",
                "tokenbooks sync  (posts what is pending; `tokenbooks runs` shows why an attempt failed)",
            )
            for j in self.unposted
        ]
        found += [
            Blocker(
                f"{amount:,} {currency} of {period} spend sits in suspense: no mapping rule placed it",
                f"tokenbooks mappings coverage --period {period}  (shows the spend; add a rule for it with "
                f"`tokenbooks mappings add-rule`, then `tokenbooks close --period {period}` again)",
            )
            for currency, amount in sorted(self.suspense.items())
            if amount
        ]
        for provider, account, status in self.reconciliation:
            if status in SETTLED:
                continue
            note = self.reconciliation_notes.get((provider, account), "")
            found.append(
                Blocker(
                    # in words: a controller reads "missing invoice", not the status code missing_invoice
                    f"reconciliation of {provider} {account} for {period}: {status.replace('_', ' ')}"
                    + (f" — {note}" if note else ""),
                    _reconciliation_fix(status, provider, period),
                )
            )
        return found


def _misconfigured(source: MisconfiguredSource, period: Period) -> Blocker:
    fix = source.fix or f"correct the settings {source.section}… the error names"
    return Blocker(
        f"{source.source} is not pulled: its settings {source.section}… are refused, so its spend of "
        f"{period} may be missing from the books and from the reconciliation: {source.error}",
        f"{fix}; then `tokenbooks sources status` (the source no longer refused) and "
        f"`tokenbooks close --period {period}`",
    )


def _missing(missing: MissingDay, period: Period) -> Blocker:
    day = missing.day
    what = (
        f"{missing.provider} {missing.provider_account}: no cost for {day} — the provider may deliver it "
        f"late (it has cost on every {day:%A} of the weeks before), so {period}'s books may lack it"
    )
    fix = f"{read_again(missing)}, then `tokenbooks close --period {period}`"
    return Blocker(what, f"{fix}; or, {confirm_no_spend(day)} and close again")


def _release(held: HeldJournal) -> str:
    approve = f'tokenbooks approve {held.key} --by "<your name>"'
    if "locked" in held.reason:
        return (
            f"reopen {held.txn_date:%Y-%m} in the ledger, then {approve}; or set `locked_period: "
            "next_open_period` in the policies to book it in the first open period"
        )
    return f"{approve}  (after reviewing it: `tokenbooks audit trace {held.key}`)"


def _reconciliation_fix(status: str, provider: str, period: Period) -> str:
    if status == "missing_invoice":
        return (
            f"tokenbooks import invoices FILE  (the {provider} invoice for {period}; or `tokenbooks import "
            f"bills --period {period}` when AP entered the bill in the ledger)"
        )
    if status == "unknown_account":
        return "correct the invoice's `account` in its file, then `tokenbooks import invoices FILE` again"
    if status == "unapproved_drafts":
        return (
            "approve the draft journals the reconciliation names in the ledger (Xero: Accounting → Manual "
            f"journals → Draft), then `tokenbooks close --period {period}` again"
        )
    if status == "drift":
        return (
            "tokenbooks sync  (posts again a journal missing from the ledger, under its key); a journal "
            "changed by hand: restore it in the ledger as `tokenbooks audit trace KEY` shows it"
        )
    return (
        f"tokenbooks reconcile --period {period}  (explains the difference: import the corrected invoice, "
        "or record the tax, credits or late usage it does not itemize)"
    )


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


# ----------------------------------------------------- the checklist as JSON (the console stores it so)

LINES = {
    "accruals": AccrualLine,
    "lots": LotLine,
    "prepaid": PrepaidLine,
    "deferred": DeferredLine,
    "refused": RefusedDays,
    "missing": MissingDay,
    "no_cost_confirmed": MissingDay,
    "booked_later": BookedLater,
}
JOURNALS = ("held", "unposted")


def checklist_data(checklist: Checklist) -> dict:
    """The checklist as JSON: amounts as exact decimal text, days as ISO dates."""
    return {
        "period": str(checklist.period),
        **{name: [_plain(line) for line in getattr(checklist, name)] for name in (*LINES, *JOURNALS)},
        "suspense": {currency: str(amount) for currency, amount in checklist.suspense.items()},
        "reconciliation": [list(r) for r in checklist.reconciliation],
        "reconciliation_notes": [[*key, note] for key, note in checklist.reconciliation_notes.items()],
    }


def checklist_from_data(data: dict) -> Checklist:
    result = Checklist(Period.parse(data["period"]))
    for name, cls in LINES.items():  # (a checklist stored before a kind of line existed has none)
        setattr(result, name, [_typed(cls, line) for line in data.get(name, [])])
    for name in JOURNALS:
        setattr(result, name, [_typed(HeldJournal, line) for line in data[name]])
    result.suspense = {currency: Decimal(amount) for currency, amount in data["suspense"].items()}
    result.reconciliation = [tuple(r) for r in data["reconciliation"]]
    result.reconciliation_notes = {(p, a): note for p, a, note in data["reconciliation_notes"]}
    return result


def _plain(line: Any) -> dict:
    assert is_dataclass(line)
    return {f.name: _text(getattr(line, f.name)) for f in fields(line)}


def _text(value: Any) -> Any:
    if isinstance(value, Decimal | date):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return value


def _typed(cls: type, data: dict) -> Any:
    """A checklist line back from JSON, each field by its declared type (Decimal, date, or as stored)."""
    hints = get_type_hints(cls)
    values = {}
    for f in fields(cls):
        value, hint = data[f.name], str(hints[f.name])
        if value is not None and "Decimal" in hint:
            value = Decimal(value)
        elif value is not None and "datetime.date" in hint:
            value = date.fromisoformat(value)
        values[f.name] = value
    return cls(**values)
