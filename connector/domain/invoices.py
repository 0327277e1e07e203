"""Provider invoices: what a provider billed for a period, against which the postings are reconciled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from connector.domain.money import ZERO, currency_code


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    description: str
    amount: Decimal
    kind: str = "usage"  # usage | tax | credit | adjustment | purchase


@dataclass(frozen=True, slots=True)
class Invoice:
    entity: str
    provider: str
    provider_account: str
    number: str
    period: str  # YYYY-MM, the usage period the invoice bills
    issue_date: date
    total: Decimal
    currency: str
    lines: tuple[InvoiceLine, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", currency_code(self.currency))

    @property
    def tax(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.kind == "tax"), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.kind == "credit"), ZERO)

    @property
    def purchases(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.kind == "purchase"), ZERO)

    def billed_usage(self, *, prepaid: bool = False) -> Decimal:
        """What the invoice bills for usage, to compare with what was accrued.

        Tax is never AI expense (the AP bill books it to the tax account). A prepaid purchase on the
        invoice (a FOCUS commitment bought up front) is an asset AP books to Prepaid AI credits; its usage
        is drawn from the lot, not accrued. A credit on the invoice of an
        arrears account is a promotion or a refund, booked by AP, not a change of usage; on a prepaid
        account the credits are the prepaid balance applied, which the prepaid consumption journals
        already book, so what remains billed is the usage beyond the lots (accrued in arrears).
        """
        return self.total - self.tax - self.purchases - (ZERO if prepaid else self.credits)
