"""Invoices: what providers billed, from files (an inbox folder or the CLI), FOCUS exports and the ledger.

No provider offers an invoice API for OpenAI or Anthropic, so their invoices come from files the AP team
drops in the inbox (TOKENBOOKS_INVOICES_DIR, read by `tokenbooks pull`) or imports by hand, or from the
vendor bills the AP team already entered in the ledger. FOCUS exports carry their own invoice totals
(InvoiceId + BilledCost; see service/imports.py). An invoice is stored once per provider, account and
number; importing it again replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from connector.domain.invoices import Invoice, InvoiceLine
from connector.domain.periods import Period
from connector.ledgers.port import Ledger
from connector.service.runs import Clock
from connector.store.port import UnitOfWork

if TYPE_CHECKING:  # annotations only: the settings bring SQLAlchemy's URL parser, which the command line
    from connector.settings import Settings  # loads only when a command opens the application


def import_ledger_bills(
    store, ledger: Ledger, *, vendors: dict[tuple[str, str], str], period: Period, entity: str, clock: Clock
) -> list[Invoice]:
    """Read the vendor bills the AP team entered for each provider account, dated in the month after the
    usage `period` (providers invoice in arrears), and store them as that period's invoices."""
    dated = Period.of(period.last_day + timedelta(days=1))
    invoices = []
    for (provider, account), vendor in sorted(vendors.items()):
        for bill in ledger.bills(vendor, dated.first_day, dated.last_day):
            invoices.append(
                Invoice(
                    entity=entity,
                    provider=provider,
                    provider_account=account,
                    number=f"{ledger.name}:{bill.number or bill.ledger_id}",
                    period=str(period),
                    issue_date=bill.txn_date,
                    total=bill.total,
                    currency=bill.currency,
                    lines=tuple(InvoiceLine(ln.description, ln.amount) for ln in bill.lines),
                    source=f"{ledger.name} bill {bill.ledger_id} ({vendor})",
                )
            )
    store_invoices(store, invoices, source=f"{ledger.name} bills", clock=clock)
    return invoices


@dataclass
class InvoiceImport:
    source: str
    new: int = 0
    replaced: int = 0


def store_invoices(store, invoices: list[Invoice], *, source: str, clock: Clock) -> InvoiceImport:
    """Store invoices in one transaction; one already stored under the same number is replaced."""
    with store.unit_of_work() as uow:
        result = upsert_invoices(uow, invoices, source=source, clock=clock)
        uow.commit()
    return result


def upsert_invoices(uow: UnitOfWork, invoices: list[Invoice], *, source: str, clock: Clock) -> InvoiceImport:
    result = InvoiceImport(source)
    for invoice in invoices:
        if uow.invoices.upsert(invoice, imported_at=clock()):
            result.new += 1
        else:
            result.replaced += 1
    return result


def ledger_vendors(settings: Settings) -> dict[tuple[str, str], str]:
    """(provider, account) → the vendor name its bills are entered under in the ledger."""
    return {
        (provider, section.organization): section.ledger_vendor
        for provider, section in settings.provider_sections().items()
        if section.ledger_vendor
    }
