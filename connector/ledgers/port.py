"""The ledger port: what the service needs from QuickBooks Online, Xero or any other ledger.

Adapters translate SDK objects and SDK errors into these types and the exception classes of
`connector.domain.errors`, in one place each. The service never sees an SDK object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from connector.domain.chart import LedgerAccount, TrackingOption
from connector.domain.fx import Rate
from connector.domain.journals import Journal, LedgerTarget

__all__ = [
    "CurrencySetup",
    "Held",
    "Ledger",
    "LedgerAccount",
    "LedgerBill",
    "LedgerJournal",
    "LedgerLine",
    "LedgerStats",
    "PostOutcome",
    "PostRequest",
    "PostResult",
    "TrackingOption",
    "target_tracking",
]


@dataclass(frozen=True, slots=True)
class LedgerLine:
    account: str  # the account as the ledger identifies it (QBO id, Xero code)
    amount: Decimal  # signed: + debit, − credit
    description: str = ""
    # "kind=option" as the ledger identifies them: QBO "class=<id>", "department=<id>"; Xero
    # "<category>=<option>" (names: Xero's journal lines carry them)
    tracking: tuple[str, ...] = ()


def target_tracking(target: LedgerTarget) -> tuple[str, ...]:
    """A target's class, department and tracking options as `LedgerLine.tracking` writes them, by name."""
    named = [("class", target.class_name), ("department", target.department), *target.tracking]
    return tuple(f"{kind}={option}" for kind, option in named if option)


@dataclass(frozen=True, slots=True)
class LedgerJournal:
    """A journal as the ledger holds it, read back under its tokenbooks key."""

    key: str
    ledger_id: str
    txn_date: date
    lines: tuple[LedgerLine, ...]
    status: str = "posted"
    memo: str = ""

    @property
    def debit_total(self) -> Decimal:
        return sum((line.amount for line in self.lines if line.amount > 0), Decimal(0))


@dataclass(frozen=True, slots=True)
class Held:
    """A journal as a ledger would hold it once posted: what a lookup's answer is compared with."""

    key: str
    txn_date: date
    postings: tuple[tuple[str, Decimal], ...]  # sorted (account as the ledger names it, signed amount)
    # the journal's lines in its order, as the ledger reads them back (account, amount, class, department,
    # tracking): what reconcile's read-back compares line by line; () where only postings are known
    lines: tuple[LedgerLine, ...] = ()

    @classmethod
    def of(cls, key: str, txn_date: date, postings: Sequence[tuple[str, Decimal]]) -> Held:
        return cls(key, txn_date, tuple(sorted(postings)))

    @classmethod
    def of_lines(cls, key: str, txn_date: date, lines: Sequence[LedgerLine]) -> Held:
        return cls(key, txn_date, tuple(sorted((ln.account, ln.amount) for ln in lines)), tuple(lines))


@dataclass(frozen=True, slots=True)
class LedgerBill:
    """A vendor bill the AP team entered in the ledger."""

    ledger_id: str
    vendor: str
    number: str
    txn_date: date
    total: Decimal
    currency: str
    lines: tuple[LedgerLine, ...] = ()


@dataclass(frozen=True, slots=True)
class CurrencySetup:
    """The ledger's home currency, and whether it takes journals in another currency with a rate."""

    home: str
    foreign_journals: bool = False  # QuickBooks with multicurrency on; never Xero manual journals


class PostOutcome(StrEnum):
    CREATED = "created"  # the ledger created it now
    FOUND = "found"  # it was already there under its key (an earlier attempt reached the ledger)
    REJECTED = "rejected"  # the ledger refused it for good (validation, locked period …)
    UNCERTAIN = "uncertain"  # no clear answer: look it up before trying again
    FAILED = "failed"  # a retriable failure outlasted the retries; try again next run


@dataclass(frozen=True, slots=True)
class PostRequest:
    journal: Journal
    request_id: str  # the idempotency key sent with the create (stable across retries)
    draft: bool = False
    attempt: int = 1  # which posting attempt of this journal this is (a new run is a new attempt)


@dataclass(frozen=True, slots=True)
class PostResult:
    key: str
    outcome: PostOutcome
    ledger_id: str | None = None
    message: str = ""
    error_class: str = ""
    calls: int = 0

    @classmethod
    def from_error(cls, key: str, outcome: PostOutcome, error: Exception) -> PostResult:
        """The result of a journal that `error` stopped: its message, and its class for the outbox."""
        return cls(key, outcome, message=str(error), error_class=type(error).__name__)


@dataclass
class LedgerStats:
    read_calls: int = 0
    write_calls: int = 0
    retries: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)

    def count_call(self, endpoint: str, *, write: bool) -> None:
        """One API call made to `endpoint` (a read or a write)."""
        if write:
            self.write_calls += 1
        else:
            self.read_calls += 1
        self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1

    def count_retry(self, _error: Exception, _attempt: int) -> None:
        """`RetryPolicy.call`'s `on_retry`: one more retry."""
        self.retries += 1


class Ledger(Protocol):
    name: str  # "quickbooks" | "xero" | "beancount"
    stats: LedgerStats
    # True for a ledger that opens an account the first time a journal uses it (a beancount file), so
    # there is no fixed chart to check the mapping against; QuickBooks and Xero refuse unknown accounts.
    opens_accounts: bool
    # True for a ledger that keeps draft journals for review (Xero); QuickBooks has no draft journals
    supports_drafts: bool
    # how many journals one write request carries (QuickBooks: a batch of ≤ 30; Xero: a PUT of 50): the
    # outbox hands the ledger that many at a time
    journals_per_request: int
    # how long a write the ledger did not answer may still be committing (its server timeout and a margin):
    # an uncertain write is looked up, and perhaps sent again, only once this long has passed since it left
    settle_seconds: float  # float ok: seconds

    def lock_date(self) -> date | None: ...

    def currency_setup(self) -> CurrencySetup: ...

    # the ledger's own rate of `base` in `quote` for `day` (a QuickBooks multicurrency company keeps one
    # per currency and day), or None when it has none for that day or keeps no rates at all: the policy's
    # rates file is used then
    def exchange_rate(self, base: str, quote: str, day: date) -> Rate | None: ...

    def chart_of_accounts(self) -> list[LedgerAccount]: ...

    def tracking(self) -> list[TrackingOption]: ...

    def find(self, key: str) -> LedgerJournal | None: ...

    # the journals held under these keys (as few calls as the ledger allows): the lookup that settles an
    # uncertain write and that runs before any journal is sent (`connector.ledgers.settle`)
    def find_many(self, keys: Sequence[str]) -> dict[str, LedgerJournal]: ...

    # the journal as this ledger would hold it (accounts, and its lines' classes, departments and tracking
    # options, as the ledger names them), to compare with what a lookup or a read-back found
    def held(self, journal: Journal) -> Held: ...

    def post(self, requests: Sequence[PostRequest]) -> list[PostResult]: ...

    def read_back(self, first_day: date, last_day: date) -> list[LedgerJournal]: ...

    def bills(self, vendor: str, first_day: date, last_day: date) -> list[LedgerBill]: ...
