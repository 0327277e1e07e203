"""File imports: what came in, what was accepted, what was quarantined, and the proof nothing was lost.

File imports (FOCUS exports, invoices, credit lots, customer credits) do not refuse a whole file for one
bad row: each bad row is quarantined, stored with its file, row, column, reason and raw text, and the
good rows go on. An import with any quarantined row is `partial`. The tally proves the books: for counts
and for amounts per currency, accepted + quarantined + skipped = input, where skipped rows are those an
import deliberately leaves out (a FOCUS row of a service other than AI), never bad ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from connector.domain.errors import Problem
from connector.domain.money import ZERO


class Disposition(StrEnum):
    ACCEPTED = "accepted"
    QUARANTINED = "quarantined"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class QuarantinedRow:
    """A row an import refused, with everything a person needs to fix and re-import it."""

    problem: Problem  # source = the file, location = "row 12", field = the column, message = the reason
    raw: str  # the row exactly as read (CSV text or JSON)
    amount: Decimal | None = None  # the row's amount, when it could be read
    currency: str | None = None
    number: int | None = None  # its row number in the file or query, when it has one


@dataclass
class Tally:
    """Counts and amounts of input rows by disposition; amounts only for rows whose amount parsed."""

    rows: dict[Disposition, int] = field(default_factory=lambda: dict.fromkeys(Disposition, 0))
    amounts: dict[Disposition, dict[str, Decimal]] = field(
        default_factory=lambda: {d: {} for d in Disposition}
    )
    unparsed_amounts: int = 0  # input rows whose amount could not be read (all quarantined)

    def add(
        self, disposition: Disposition, amount: Decimal | None = None, currency: str | None = None
    ) -> None:
        self.rows[disposition] += 1
        if amount is None or currency is None:
            self.unparsed_amounts += 1
            return
        by_currency = self.amounts[disposition]
        by_currency[currency] = by_currency.get(currency, ZERO) + amount

    def add_rows(
        self, disposition: Disposition, rows: int, amount: Decimal | None, currency: str | None
    ) -> None:
        """Many rows whose amounts sum to `amount` in one currency (None: amounts not readable)."""
        if amount is None or currency is None:
            self.rows[disposition] += rows
            self.unparsed_amounts += rows
            return
        self.add_many(disposition, rows, {currency: amount})

    def add_many(self, disposition: Disposition, rows: int, amounts: dict[str, Decimal]) -> None:
        """Many rows at once, with their amounts already summed per currency."""
        self.rows[disposition] += rows
        by_currency = self.amounts[disposition]
        for currency, amount in amounts.items():
            by_currency[currency] = by_currency.get(currency, ZERO) + amount

    def move(self, source: Disposition, target: Disposition, amount: Decimal, currency: str) -> None:
        """Re-file one row (e.g. an accepted record a later check refused)."""
        self.rows[source] -= 1
        self.rows[target] += 1
        self.amounts[source][currency] = self.amounts[source].get(currency, ZERO) - amount
        self.amounts[target][currency] = self.amounts[target].get(currency, ZERO) + amount

    @property
    def input_rows(self) -> int:
        return sum(self.rows.values())

    def input_amounts(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for by_currency in self.amounts.values():
            for currency, amount in by_currency.items():
                totals[currency] = totals.get(currency, ZERO) + amount
        return totals

    def balances(self, rows_read: int) -> bool:
        """Every row read is accounted for exactly once."""
        return self.input_rows == rows_read

    def as_dict(self) -> dict:
        return {
            "rows": {"input": self.input_rows, **{d.value: n for d, n in self.rows.items()}},
            "amounts": {
                "input": {c: str(a) for c, a in sorted(self.input_amounts().items())},
                **{d.value: {c: str(a) for c, a in sorted(v.items())} for d, v in self.amounts.items()},
            },
            "rows_without_amount": self.unparsed_amounts,
        }
