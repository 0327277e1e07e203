"""Straight-line amortization of capitalized software (ASC 350-40), resumable and exact.

Each month's capitalized amount is a cohort, amortized in equal monthly parts over the useful life,
starting the month after it was capitalized (when the work is placed in service; a company that decides
otherwise configures the start). Like ERPNext's deferred revenue, the amount to date for a month is
computed from the cohort, not from what was booked before, and the final month takes the remainder, so
the cohort is amortized exactly, with no rounding drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from connector.domain.money import ZERO, quantum
from connector.domain.periods import Period


@dataclass(frozen=True, slots=True)
class Cohort:
    capitalized_in: Period
    amount: Decimal  # rounded to the currency's minor unit
    currency: str
    useful_life_months: int

    @property
    def first_month(self) -> Period:
        return self.capitalized_in.next()


def months_between(start: Period, end: Period) -> int:
    return (end.year - start.year) * 12 + (end.month - start.month)


def amortized_to_date(cohort: Cohort, through: Period) -> Decimal:
    """Cumulative amortization of the cohort through the end of `through`."""
    elapsed = months_between(cohort.first_month, through) + 1
    if elapsed <= 0:
        return ZERO
    if elapsed >= cohort.useful_life_months:
        return cohort.amount
    per_month = (cohort.amount / cohort.useful_life_months).quantize(quantum(cohort.currency), ROUND_DOWN)
    return per_month * elapsed


def amortization_for(cohorts: Iterable[Cohort], month: Period) -> Decimal:
    """The expense of one month: cumulative through it minus cumulative through the month before."""
    previous = month.previous()
    return sum((amortized_to_date(c, month) - amortized_to_date(c, previous) for c in cohorts), ZERO)
