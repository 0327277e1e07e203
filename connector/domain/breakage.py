"""Credits you sell: revenue as customers redeem, and breakage under ASC 606-10-55-48 (proportional).

A grant of P sold credits with an expected breakage rate b expects P × (1 − b) to be redeemed. As
customers redeem R, revenue R is recognized and so is breakage in proportion:

    breakage to date = b × P × R / (P × (1 − b)),  capped at b × P and at what is left deferred

At expiry whatever is still deferred is breakage, and deferred revenue ends at zero. A change of the
expected rate is a change of estimate: the formula applied with the new rate gives the cumulative
catch-up. Amounts to date are rounded once (to the currency's minor unit), so daily increments, being
differences of rounded cumulative figures, add up exactly.

Worked example (DESIGN.md): sell 100,000 with 8 % expected breakage; redeem 60,000 → revenue
60,000.00 and breakage 8,000 × 60,000 / 92,000 = 5,217.39; expire with nothing more → the remaining
34,782.61 is breakage (40,000.00 in all) and deferred revenue is 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from connector.domain.money import ZERO, quantize


@dataclass(frozen=True, slots=True)
class Grant:
    """Credits sold to one customer: the amount, when they expire, and the breakage expected."""

    grant_id: str
    customer: str
    product: str
    sold_on: date
    amount: Decimal
    currency: str
    expected_breakage: Decimal  # a rate: 0.08 for 8 %
    expires_on: date | None = None


@dataclass(frozen=True, slots=True)
class Redemption:
    grant_id: str
    day: date
    amount: Decimal  # negative for a reversal of an earlier redemption


@dataclass(frozen=True, slots=True)
class GrantPosition:
    """What is recognized for one grant as of a day."""

    grant_id: str
    as_of: date
    redeemed: Decimal
    revenue: Decimal
    breakage: Decimal
    deferred: Decimal
    expired: bool


def position(grant: Grant, redemptions: Iterable[Redemption], as_of: date) -> GrantPosition:
    """Revenue, breakage and what remains deferred for a grant, cumulative to `as_of` (inclusive)."""
    redeemed = sum((r.amount for r in redemptions if r.grant_id == grant.grant_id and r.day <= as_of), ZERO)
    redeemed = min(max(redeemed, ZERO), grant.amount)
    expired = grant.expires_on is not None and grant.expires_on <= as_of
    breakage = grant.amount - redeemed if expired else _proportional_breakage(grant, redeemed)
    return GrantPosition(
        grant_id=grant.grant_id,
        as_of=as_of,
        redeemed=redeemed,
        revenue=redeemed,
        breakage=breakage,
        deferred=grant.amount - redeemed - breakage,
        expired=expired,
    )


def _proportional_breakage(grant: Grant, redeemed: Decimal) -> Decimal:
    rate = grant.expected_breakage
    if rate <= 0 or redeemed <= 0:
        return ZERO
    expected_breakage = grant.amount * rate
    expected_redemptions = grant.amount - expected_breakage
    if expected_redemptions <= 0:
        return quantize(
            grant.amount - redeemed, grant.currency
        )  # all breakage expected: recognize what is left
    exact = expected_breakage * redeemed / expected_redemptions
    capped = min(exact, expected_breakage, grant.amount - redeemed)
    return quantize(capped, grant.currency)
