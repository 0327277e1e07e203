"""Prepaid credits you buy: FIFO draw-down of lots, and what expires unused.

Usage of a prepaid provider account is drawn from its credit lots, first the lot that expires first,
then the one bought first — as OpenAI applies credits, free and paid alike ("the credits that are going
to expire first"). What no open lot covers falls back to the arrears treatment (accrued) and is flagged.
A lot's unused balance on its expiry date is written off; a promotional lot's simply lapses (it was
never an asset). Everything is in the currency's minor
units (usage buckets are already rounded), so a lot's draws plus its write-off equal its amount exactly
and the prepaid balance ends at zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from connector.domain.money import ZERO


@dataclass(frozen=True, slots=True)
class PrepaidLot:
    lot_id: str
    purchased_on: date  # credits can be drawn from this day on
    amount: Decimal
    currency: str
    expires_on: date | None = None  # the first day the credits can no longer be used
    promotional: bool = False  # granted free: drawn like the others, but never an asset to write off

    def open_on(self, day: date) -> bool:
        return self.purchased_on <= day and (self.expires_on is None or day < self.expires_on)


@dataclass(frozen=True, slots=True)
class UsageItem:
    """A rounded amount of usage to cover, in the order it happened."""

    day: date
    key: str  # a stable identity (e.g. the posting bucket's key), for ordering ties and results
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Draw:
    lot_id: str
    day: date
    key: str
    amount: Decimal


@dataclass
class DrawDown:
    draws: list[Draw] = field(default_factory=list)
    overflow: dict[str, Decimal] = field(default_factory=dict)  # usage key → amount booked in arrears instead

    def drawn_from(self, lot_id: str, through: date | None = None) -> Decimal:
        return sum(
            (d.amount for d in self.draws if d.lot_id == lot_id and (through is None or d.day <= through)),
            ZERO,
        )

    def covered(self, key: str) -> Decimal:
        return sum((d.amount for d in self.draws if d.key == key), ZERO)


def lot_order(lot: PrepaidLot) -> tuple:
    """FIFO by expiry, then by purchase date (a lot that never expires comes last)."""
    return (lot.expires_on is None, lot.expires_on or date.max, lot.purchased_on, lot.lot_id)


def draw_fifo(lots: Sequence[PrepaidLot], usage: Iterable[UsageItem]) -> DrawDown:
    """Draw usage from the lots open on each usage day, in FIFO order; what is left over is overflow.

    Usage is taken in day order (ties by key). A negative amount (provider credits larger than the day's
    usage) draws nothing: it goes to the arrears side as a negative overflow, like any other credit.
    """
    remaining = {lot.lot_id: lot.amount for lot in lots}
    ordered_lots = sorted(lots, key=lot_order)
    result = DrawDown()
    for item in sorted(usage, key=lambda u: (u.day, u.key)):
        if item.amount <= 0:
            if item.amount < 0:
                result.overflow[item.key] = result.overflow.get(item.key, ZERO) + item.amount
            continue
        need = item.amount
        for lot in ordered_lots:
            if need == 0:
                break
            available = remaining[lot.lot_id]
            if available <= 0 or not lot.open_on(item.day):
                continue
            take = min(available, need)
            remaining[lot.lot_id] = available - take
            need -= take
            result.draws.append(Draw(lot.lot_id, item.day, item.key, take))
        if need:
            result.overflow[item.key] = result.overflow.get(item.key, ZERO) + need
    return result


@dataclass(frozen=True, slots=True)
class Expiry:
    lot_id: str
    expires_on: date
    unused: Decimal


def expiries(lots: Sequence[PrepaidLot], drawdown: DrawDown, *, as_of: date) -> list[Expiry]:
    """Lots that have expired by `as_of`, with the balance they still held (to be written off)."""
    found = []
    for lot in sorted(lots, key=lot_order):
        if lot.expires_on is not None and lot.expires_on <= as_of and not lot.promotional:
            unused = lot.amount - drawdown.drawn_from(lot.lot_id)
            if unused:
                found.append(Expiry(lot.lot_id, lot.expires_on, unused))
    return found


def balances(lots: Sequence[PrepaidLot], drawdown: DrawDown, *, as_of: date) -> dict[str, Decimal]:
    """Each lot's remaining balance on `as_of` (zero once expired: the rest was written off)."""
    result = {}
    for lot in sorted(lots, key=lot_order):
        if lot.purchased_on > as_of:
            continue
        if lot.expires_on is not None and lot.expires_on <= as_of:
            result[lot.lot_id] = ZERO
        else:
            result[lot.lot_id] = lot.amount - drawdown.drawn_from(lot.lot_id, through=as_of)
    return result
