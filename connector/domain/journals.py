"""Journals: balanced double-entry records, and the buckets they post into.

A `Journal` cannot exist unbalanced: its constructor is the one validation that every journal passes,
and nothing can switch it off. Lines are signed (+ debit, − credit) and quantized to the currency's
minor unit.

A `Bucket` is the unit the planner reasons about: (entity, journal kind, period, provider account,
ledger target, currency). A journal's `contributions` say how much it adds to each bucket, so "what is
already posted" is simply the sum of contributions of the journals in the outbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from connector.domain.errors import InvariantViolation
from connector.domain.money import ZERO, currency_code, is_quantized

MAX_KEY_LENGTH = 21  # QuickBooks DocNumber limit; the key must fit there.


class JournalKind(StrEnum):
    USAGE_ACCRUAL = "usage_accrual"
    REVERSAL = "reversal"
    TRUE_UP = "true_up"
    PREPAID_CONSUMPTION = "prepaid_consumption"
    EXPIRY_WRITE_OFF = "expiry_write_off"
    CAPITALIZATION = "capitalization"
    AMORTIZATION = "amortization"
    REVENUE = "revenue"
    BREAKAGE = "breakage"
    RECLASS = "reclass"
    PROMOTIONAL_CREDIT = "promotional_credit"


KIND_CODES: dict[JournalKind, str] = {
    JournalKind.USAGE_ACCRUAL: "AC",
    JournalKind.REVERSAL: "RV",
    JournalKind.TRUE_UP: "TU",
    JournalKind.PREPAID_CONSUMPTION: "PC",
    JournalKind.EXPIRY_WRITE_OFF: "EX",
    JournalKind.CAPITALIZATION: "CP",
    JournalKind.AMORTIZATION: "AM",
    JournalKind.REVENUE: "RR",
    JournalKind.BREAKAGE: "BK",
    JournalKind.RECLASS: "RC",
    JournalKind.PROMOTIONAL_CREDIT: "PR",
}

KIND_LABELS: dict[JournalKind, str] = {
    JournalKind.USAGE_ACCRUAL: "usage accrual",
    JournalKind.REVERSAL: "month-end reversal",
    JournalKind.TRUE_UP: "invoice true-up",
    JournalKind.PREPAID_CONSUMPTION: "prepaid credit consumption",
    JournalKind.EXPIRY_WRITE_OFF: "expired credit write-off",
    JournalKind.CAPITALIZATION: "capitalization",
    JournalKind.AMORTIZATION: "amortization",
    JournalKind.REVENUE: "revenue recognition",
    JournalKind.BREAKAGE: "breakage",
    JournalKind.RECLASS: "reclass",
    JournalKind.PROMOTIONAL_CREDIT: "promotional credit applied",
}

KEY_PATTERN = re.compile(r"^TB-[A-Z]{2}-\d{6}-[0-9A-Z]{3}$")


@dataclass(frozen=True, slots=True, order=True)
class LedgerTarget:
    """Where a line lands in a ledger: an account, plus QBO Class/Department or Xero tracking options.

    `account` is the reference as the mapping writes it (QBO account number or name, Xero account code);
    the ledger adapter resolves it against the chart of accounts.
    """

    account: str
    class_name: str | None = None
    department: str | None = None
    tracking: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.account:
            raise ValueError("a ledger target needs an account")
        if len(self.tracking) > 2:
            raise ValueError("a Xero line carries at most two tracking options")

    def key(self) -> str:
        parts = [self.account]
        if self.class_name:
            parts.append(f"class={self.class_name}")
        if self.department:
            parts.append(f"department={self.department}")
        parts.extend(f"{cat}={opt}" for cat, opt in self.tracking)
        return "|".join(parts)

    @classmethod
    def from_key(cls, text: str) -> LedgerTarget:
        account, *rest = text.split("|")
        class_name = department = None
        tracking: list[tuple[str, str]] = []
        for part in rest:
            name, _, value = part.partition("=")
            if name == "class":
                class_name = value
            elif name == "department":
                department = value
            else:
                tracking.append((name, value))
        return cls(account, class_name, department, tuple(tracking))

    def describe(self) -> str:
        extras = [x for x in (self.class_name, self.department) if x] + [opt for _, opt in self.tracking]
        return f"{self.account} ({', '.join(extras)})" if extras else self.account


@dataclass(frozen=True, slots=True, order=True)
class Bucket:
    """A posting bucket: the planner keeps posted = desired for each one."""

    entity: str
    kind: JournalKind
    period: date  # the usage day (daily posting) or the period's last day (monthly posting)
    provider: str
    provider_account: str
    target: LedgerTarget
    currency: str
    # The prepaid pool a cost bucket draws from: "" for an account's general credit lots (drawn when its
    # billing policy is prepaid), else the commitment or purchase the provider says paid for the usage
    # (FOCUS CommitmentDiscountId, a virtual currency, a purchase amortized over its term). Kept on what is
    # posted so draws continue from the right lots.
    pool: str = ""

    def key(self) -> str:
        parts = [
            self.entity,
            self.kind.value,
            self.period.isoformat(),
            self.provider,
            self.provider_account,
            self.currency,
            self.target.key(),
        ]
        return "|".join(parts) + (POOL_MARK + self.pool if self.pool else "")

    @classmethod
    def from_key(cls, text: str) -> Bucket:
        text, _, pool = text.partition(POOL_MARK)
        entity, kind, period, provider, account, currency, target = text.split("|", 6)
        return cls(
            entity,
            JournalKind(kind),
            date.fromisoformat(period),
            provider,
            account,
            LedgerTarget.from_key(target),
            currency,
            pool,
        )


POOL_MARK = "\x1f"  # the unit separator: no account, class or pool name holds it


@dataclass(frozen=True, slots=True)
class Contribution:
    """What a journal adds to one bucket, in the journal's currency. When the amount was converted into the
    books' currency (domain/fx.py), `converted_from` names the currency the bucket was computed in and
    `source_amount` what the contribution is in it: later plans read the books in that currency."""

    bucket: Bucket
    amount: Decimal
    converted_from: str = ""
    source_amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class JournalLine:
    """One ledger line. `amount` is signed: positive debits, negative credits."""

    target: LedgerTarget
    amount: Decimal
    description: str = ""

    @property
    def is_debit(self) -> bool:
        return self.amount > 0

    @property
    def magnitude(self) -> Decimal:
        return abs(self.amount)


@dataclass(frozen=True, slots=True)
class Journal:
    """A balanced journal entry, identified by a deterministic key that is stored before any ledger call."""

    key: str
    entity: str
    kind: JournalKind
    txn_date: date
    currency: str
    lines: tuple[JournalLine, ...]
    memo: str = ""
    contributions: tuple[Contribution, ...] = ()
    original_date: date | None = None  # set when the journal was moved out of a locked period
    # Home-currency units per one unit of the foreign currency: `currency` itself (a QuickBooks
    # multicurrency journal), or `converted_from` when the amounts were converted into `currency`.
    exchange_rate: Decimal | None = None
    provider: str = ""
    provider_account: str = ""
    extras: tuple[tuple[str, str], ...] = field(default=())
    converted_from: str | None = None  # the provider's currency, when amounts were converted (domain/fx.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", currency_code(self.currency))
        check_journal(self)

    @property
    def debit_total(self) -> Decimal:
        return sum((line.amount for line in self.lines if line.amount > 0), ZERO)

    @property
    def credit_total(self) -> Decimal:
        return -sum((line.amount for line in self.lines if line.amount < 0), ZERO)


def check_journal(journal: Journal) -> None:
    """The validation every journal passes: balanced to the minor unit, quantized, keyed, non-empty."""
    if not journal.key or len(journal.key) > MAX_KEY_LENGTH:
        raise InvariantViolation(f"journal key {journal.key!r} must be 1..{MAX_KEY_LENGTH} characters")
    if len(journal.lines) < 2:
        raise InvariantViolation(f"journal {journal.key} has {len(journal.lines)} line(s); it needs two")
    for line in journal.lines:
        if not isinstance(line.amount, Decimal):
            raise InvariantViolation(f"journal {journal.key}: a line amount is not a Decimal")
        if line.amount == 0:
            raise InvariantViolation(f"journal {journal.key}: a line for {line.target.key()} is zero")
        if not is_quantized(line.amount, journal.currency):
            raise InvariantViolation(
                f"journal {journal.key}: {line.amount} is not in {journal.currency} minor units"
            )
    imbalance = sum((line.amount for line in journal.lines), ZERO)
    if imbalance != 0:
        raise InvariantViolation(
            f"journal {journal.key} does not balance: debits {journal.debit_total} "
            f"≠ credits {journal.credit_total} ({journal.currency})"
        )


def journal_key(kind: JournalKind, txn_date: date, serial: int) -> str:
    """TB-AC-261003-001: tokenbooks, kind, date, serial (base 36) — 16 characters, readable by a person."""
    if not 1 <= serial < 36**3:
        raise InvariantViolation(f"journal serial {serial} out of range")
    return f"{key_prefix(kind, txn_date)}{_base36(serial, 3)}"


def key_prefix(kind: JournalKind, txn_date: date) -> str:
    return f"TB-{KIND_CODES[kind]}-{txn_date:%y%m%d}-"


def serial_of(key: str) -> int:
    return int(key.rsplit("-", 1)[1], 36)


def _base36(n: int, width: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(width, "0")


def sum_contributions(journals: Iterable[Journal]) -> dict[Bucket, Decimal]:
    totals: dict[Bucket, Decimal] = {}
    for journal in journals:
        for c in journal.contributions:
            totals[c.bucket] = totals.get(c.bucket, ZERO) + c.amount
    return totals


def merge_lines(lines: Iterable[JournalLine]) -> tuple[JournalLine, ...]:
    """Merge lines that hit the same target with the same description; drop lines that net to zero."""
    merged: dict[tuple[LedgerTarget, str], Decimal] = {}
    for line in lines:
        k = (line.target, line.description)
        merged[k] = merged.get(k, ZERO) + line.amount
    return tuple(JournalLine(t, amount, d) for (t, d), amount in merged.items() if amount != 0)


def as_text(journal: Journal, names: Mapping[str, str] | None = None) -> str:
    """A journal as readable text (the form golden tests are written in).

    2026-10-03 TB-AC-261003-001 usage_accrual USD
      Dr 5010 (Support Assistant)      120.00
      Cr 2150                          120.00
    """
    names = names or {}
    head = f"{journal.txn_date} {journal.key} {journal.kind.value} {journal.currency}"
    body = []
    for line in sorted(journal.lines, key=lambda ln: (ln.amount < 0, ln.target.key())):
        side = "Dr" if line.amount > 0 else "Cr"
        label = names.get(line.target.account, line.target.describe())
        body.append(f"  {side} {label:<40} {line.magnitude:>12}")
    return "\n".join([head, *body])
