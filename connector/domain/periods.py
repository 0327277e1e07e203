"""Accounting periods (calendar months) and the dates that bound them."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")
# English month names, whatever the process's locale: memos are read in the ledger, not on this machine
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A calendar month, written YYYY-MM."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, got {self.month}")

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not a period; write it as YYYY-MM, e.g. 2026-10")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def next(self) -> Period:
        return Period.of(self.last_day + timedelta(days=1))

    def previous(self) -> Period:
        return Period.of(self.first_day - timedelta(days=1))

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(self.last_day.day)]

    def contains(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def named(self) -> str:
        """The month as an accountant writes it: "October 2026"."""
        return f"{MONTH_NAMES[self.month - 1]} {self.year}"


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-10-31") from None


def days_between(start: date, end: date) -> list[date]:
    """Every day from start to end, both included."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def months_through(first: Period, last: Period) -> list[Period]:
    """Every month from first to last, both included."""
    months, month = [], first
    while month <= last:
        months.append(month)
        month = month.next()
    return months


def first_open_day(lock_date: date | None) -> date | None:
    """The first day a ledger accepts postings for, given its lock (close) date."""
    return None if lock_date is None else lock_date + timedelta(days=1)
