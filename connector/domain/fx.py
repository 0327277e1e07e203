"""Exchange rates: an effective-dated table, and converting a bucket's amount once.

Facts arrive in the provider's currency; the books are kept in the entity's. Where the ledger cannot hold
a journal in another currency (Xero manual journals; QuickBooks without multicurrency), each bucket's
exact amount is converted at the rate in force on the day the bucket belongs to, and rounded once, in
the books' currency. The rate used is stored with the journal and written in its memo.

The table is a CSV the controller keeps beside the policies (`date,from,to,rate,source`): a rate holds
from its date until a later row for the same pair. Nothing is guessed: a day before the first rate of a
pair is an error naming the file and the missing pair and date.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from connector.domain.errors import Problem
from connector.domain.money import MoneyError, currency_code, quantize

ONE = Decimal(1)
NO_RATES_FILE = "(no rates file in the policies)"  # the source of the empty table when none is named


@dataclass(frozen=True, slots=True, order=True)
class Rate:
    """From `day` on, one unit of `base` is worth `rate` units of `quote`."""

    day: date
    base: str
    quote: str
    rate: Decimal
    source: str = ""

    def describe(self) -> str:
        origin = f", {self.source}" if self.source else ""
        return f"{self.rate} {self.quote} per {self.base} ({self.day}{origin})"


@dataclass(frozen=True, slots=True)
class RateTable:
    rates: tuple[Rate, ...] = ()
    source: str = ""

    def rate(self, base: str, quote: str, day: date) -> Rate | None:
        """The rate in force on `day` (the latest row dated on or before it), or None."""
        if base == quote:
            return Rate(day, base, quote, ONE, "same currency")
        found = [r for r in self.rates if r.base == base and r.quote == quote and r.day <= day]
        return max(found) if found else None

    def missing(self, base: str, quote: str, day: date) -> Problem:
        return Problem(
            self.source or "exchange rates",
            "",
            f"{base}/{quote}",
            f"no {base}→{quote} rate in force on {day}",
            f"add a row `{day},{base},{quote},<rate>,<source>` (or an earlier one) to the rates file",
        )


def convert(amount: Decimal, rate: Rate) -> Decimal:
    """An exact amount in `rate.base`, in `rate.quote`, rounded once to its minor unit."""
    return quantize(amount * rate.rate, rate.quote)


def parse_rates(text: str, source: str) -> tuple[RateTable, list[Problem]]:
    """Read a rates CSV (`date,from,to,rate,source`; lines starting with # are comments)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    needed = {"date", "from", "to", "rate"}
    if not needed <= set(reader.fieldnames or ()):
        return RateTable(source=source), [
            Problem(
                source,
                "1",
                "header",
                "the header must name date, from, to, rate (and source)",
                "write `date,from,to,rate,source`",
            )
        ]
    rates, problems = [], []
    for number, row in _numbered(reader, text):
        try:
            rate = Rate(
                date.fromisoformat(row["date"].strip()),
                currency_code(row["from"]),
                currency_code(row["to"]),
                Decimal(row["rate"].strip()),
                (row.get("source") or "").strip(),
            )
        except (ValueError, MoneyError, InvalidOperation, AttributeError) as exc:
            problems.append(
                Problem(
                    source,
                    str(number),
                    "",
                    f"unreadable rate row: {exc}",
                    "write YYYY-MM-DD,USD,EUR,0.9310,source",
                )
            )
            continue
        if not rate.rate.is_finite() or rate.rate <= 0:
            problems.append(
                Problem(
                    source,
                    str(number),
                    "rate",
                    f"{rate.rate} is not a positive rate",
                    "write the rate as a positive decimal",
                )
            )
            continue
        rates.append(rate)
    return RateTable(tuple(sorted(rates)), source), problems


def _numbered(reader: csv.DictReader, text: str) -> Iterable[tuple[int, dict]]:
    """Each data row with its line number in the original file (comments and blanks counted)."""
    numbers = [
        n for n, ln in enumerate(text.splitlines(), start=1) if ln.strip() and not ln.lstrip().startswith("#")
    ][1:]
    return zip(numbers, reader, strict=False)
