"""Credits, on both sides: prepaid lots you BUY from a provider, and credits you SELL to customers.

A credit lot is a prepaid purchase (OpenAI prepaid credits, a FOCUS `Purchase` row): an asset that usage
draws down and that may expire. OpenAI prepaid credits expire one year after purchase and cannot be
extended, so a lot without an explicit expiry gets that default.

The customer credit ledger is the revenue side: per customer and grant, the credits sold (purchase),
redeemed (consumption), refunded and expired. Amounts are positive; the kind says which way they move
the grant's balance. Booking them (deferred revenue, recognition, breakage) is a policy of the planner;
this module only says what a valid stream of events is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from connector.domain.breakage import Grant, Redemption
from connector.domain.errors import Problem
from connector.domain.money import ZERO, currency_code
from connector.domain.prepaid import PrepaidLot

# Providers whose prepaid credits expire by their terms when the purchase does not say otherwise.
EXPIRY_YEARS_BY_PROVIDER = {"openai": 1}


def add_years(day: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def default_expiry(provider: str, purchase_date: date) -> date | None:
    years = EXPIRY_YEARS_BY_PROVIDER.get(provider)
    return add_years(purchase_date, years) if years else None


@dataclass(frozen=True, slots=True)
class LotVoid:
    """Who voided a lot recorded in error, when, and why (`tokenbooks credits void`)."""

    at: datetime
    by: str
    reason: str

    def describe(self) -> str:
        return f"voided {self.at:%Y-%m-%d %H:%M} UTC by {self.by}: {self.reason}"


@dataclass(frozen=True, slots=True)
class CreditLot:
    """Prepaid provider credits bought in one purchase, or granted free by the provider (`promotional`)."""

    entity: str
    provider: str
    provider_account: str
    lot_id: str
    purchase_date: date
    amount: Decimal  # what was paid, exact
    currency: str
    expires_on: date | None = None  # the first day the credits can no longer be used; None = never
    description: str = ""
    source: str = ""
    # What may draw the lot: "" — the account's usage under a prepaid billing policy, FIFO by expiry; else
    # only usage the provider says this purchase paid for (a FOCUS commitment, virtual currency or term).
    pool: str = ""
    # A refund of (part of) another lot of the same pool: a negative amount that lowers the pool's
    # balance, so refunded money is never written off as expired (FOCUS: a negative Purchase row).
    refund_of: str = ""
    promotional: bool = False  # granted free (a promotion, a trial credit): no asset, no expense
    void: LotVoid | None = None  # recorded in error: kept for the audit trail, drawn no more

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", currency_code(self.currency))
        if self.refund_of and self.amount >= 0:
            raise ValueError(f"a refund of lot {self.refund_of} must be negative, got {self.amount}")
        if not self.refund_of and self.amount <= 0:
            raise ValueError(f"a credit lot's amount must be positive, got {self.amount}")
        if self.expires_on is not None and self.expires_on <= self.purchase_date:
            raise ValueError(f"expires_on {self.expires_on} is not after purchase_date {self.purchase_date}")

    def as_prepaid(self) -> PrepaidLot:
        """The lot as the prepaid policy draws it down (domain/prepaid.py)."""
        return PrepaidLot(
            self.lot_id, self.purchase_date, self.amount, self.currency, self.expires_on, self.promotional
        )

    def same_purchase(self, other: CreditLot) -> bool:
        """Whether `other` records the same purchase (a re-import), not a different one under this id."""
        names = ("purchase_date", "amount", "currency", "expires_on", "pool", "refund_of")
        return all(getattr(self, n) == getattr(other, n) for n in names)


class CustomerCreditKind(StrEnum):
    PURCHASE = "purchase"  # the customer bought credits: the grant's balance rises
    REDEMPTION = "redemption"  # the customer consumed credits
    REFUND = "refund"  # unused credits paid back to the customer
    EXPIRY = "expiry"  # unused credits lapsed


@dataclass(frozen=True, slots=True)
class CustomerCreditEvent:
    """One movement of a credit grant you sold."""

    entity: str
    event_id: str  # unique per entity; a re-import of the same id replaces the event
    customer: str
    grant_id: str
    kind: CustomerCreditKind
    event_date: date
    amount: Decimal  # positive; the kind says the direction
    currency: str
    product: str = ""
    expires_on: date | None = None  # purchases: when unredeemed credits lapse
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", currency_code(self.currency))
        if self.amount <= 0:
            raise ValueError(f"amount must be positive (the kind gives the direction), got {self.amount}")

    @property
    def signed(self) -> Decimal:
        return self.amount if self.kind is CustomerCreditKind.PURCHASE else -self.amount

    def same_movement(self, other: CustomerCreditEvent) -> bool:
        """Whether `other` records the same movement (a file imported again), not a restatement of it."""
        names = ("customer", "grant_id", "kind", "event_date", "amount", "currency", "product", "expires_on")
        return all(getattr(self, n) == getattr(other, n) for n in names)

    def describe(self) -> str:
        return f"{self.kind.value} of {self.amount} {self.currency} on {self.event_date}"

    def as_grant(self, expected_breakage: Decimal) -> Grant:
        """A purchase as the breakage policy sees it (domain/breakage.py); the rate is the policy's."""
        if self.kind is not CustomerCreditKind.PURCHASE:
            raise ValueError(f"{self.event_id} is a {self.kind.value}, not a purchase")
        return Grant(
            self.grant_id,
            self.customer,
            self.product,
            self.event_date,
            self.amount,
            self.currency,
            expected_breakage,
            self.expires_on,
        )

    def as_redemption(self) -> Redemption:
        if self.kind is not CustomerCreditKind.REDEMPTION:
            raise ValueError(f"{self.event_id} is a {self.kind.value}, not a redemption")
        return Redemption(self.grant_id, self.event_date, self.amount)


@dataclass(frozen=True, slots=True)
class GrantBalance:
    entity: str
    grant_id: str
    customer: str
    currency: str
    purchased: Decimal
    redeemed: Decimal
    refunded: Decimal
    expired: Decimal

    @property
    def remaining(self) -> Decimal:
        return self.purchased - self.redeemed - self.refunded - self.expired


def grant_balances(events: Iterable[CustomerCreditEvent]) -> dict[str, GrantBalance]:
    """Per grant: what was purchased, redeemed, refunded and expired."""
    sums: dict[str, dict[CustomerCreditKind, Decimal]] = {}
    first: dict[str, CustomerCreditEvent] = {}
    for event in events:
        first.setdefault(event.grant_id, event)
        kinds = sums.setdefault(event.grant_id, {})
        kinds[event.kind] = kinds.get(event.kind, ZERO) + event.amount
    return {
        grant: GrantBalance(
            first[grant].entity,
            grant,
            first[grant].customer,
            first[grant].currency,
            *(kinds.get(k, ZERO) for k in CustomerCreditKind),
        )
        for grant, kinds in sums.items()
    }


def check_customer_events(
    stored: Iterable[CustomerCreditEvent],
    incoming: list[tuple[str, CustomerCreditEvent]],
    source: str,
) -> tuple[list[CustomerCreditEvent], list[tuple[str, Problem]]]:
    """Accept incoming events (each with its location) in date order while every grant stays consistent.

    A movement of a grant nobody bought, of another customer or currency than the purchase, or one that
    would take the balance below zero is refused with its location; the rest are accepted. An incoming
    event with the id of a stored one replaces it.
    """
    incoming_ids = {event.event_id for _, event in incoming}
    events = {e.event_id: e for e in stored if e.event_id not in incoming_ids}
    purchases = {e.grant_id: e for e in events.values() if e.kind is CustomerCreditKind.PURCHASE}
    balance = {g: b.remaining for g, b in grant_balances(events.values()).items()}
    accepted: list[CustomerCreditEvent] = []
    refused: list[tuple[str, Problem]] = []
    order = sorted(
        incoming, key=lambda pair: (pair[1].event_date, pair[1].kind is not CustomerCreditKind.PURCHASE)
    )
    for where, event in order:
        problem = _grant_problem(event, purchases.get(event.grant_id), balance.get(event.grant_id, ZERO))
        if problem:
            refused.append((where, Problem(source, where, problem[0], problem[1], problem[2])))
            continue
        if event.kind is CustomerCreditKind.PURCHASE:
            purchases[event.grant_id] = event
        balance[event.grant_id] = balance.get(event.grant_id, ZERO) + event.signed
        accepted.append(event)
    return accepted, refused


def _grant_problem(
    event: CustomerCreditEvent, purchase: CustomerCreditEvent | None, balance: Decimal
) -> tuple[str, str, str] | None:
    if event.kind is CustomerCreditKind.PURCHASE:
        if purchase is not None and purchase.event_id != event.event_id:
            return (
                "grant",
                f"grant {event.grant_id!r} was already purchased",
                "give each purchase its own grant id",
            )
        return None
    if purchase is None:
        return (
            "grant",
            f"no purchase of grant {event.grant_id!r} is known",
            "import the grant's purchase first (in this file or an earlier one)",
        )
    if purchase.customer != event.customer:
        return (
            "customer",
            f"grant {event.grant_id!r} belongs to {purchase.customer!r}",
            "check the customer",
        )
    if purchase.currency != event.currency:
        return ("currency", f"grant {event.grant_id!r} is in {purchase.currency}", "use the grant's currency")
    if event.amount > balance:
        return (
            "amount",
            f"{event.kind.value} of {event.amount} exceeds the grant's remaining {balance}",
            "check the amount; a grant cannot go below zero",
        )
    return None
