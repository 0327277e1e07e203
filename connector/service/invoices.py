"""Invoices: what providers billed, from files (an inbox folder or the CLI), FOCUS exports and the ledger.

No provider offers an invoice API for OpenAI or Anthropic, so their invoices come from files the AP team
drops in the inbox (TOKENBOOKS_INVOICES_DIR, read by `tokenbooks pull`) or imports by hand, or from the
vendor bills the AP team already entered in the ledger. FOCUS exports carry their own invoice totals
(InvoiceId + BilledCost; see service/imports.py). An invoice is stored once per provider, account and
number; importing it again replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from connector.domain.errors import InputError
from connector.domain.invoices import Invoice, InvoiceLine
from connector.domain.periods import Period
from connector.ledgers.port import Ledger
from connector.service.runs import Clock
from connector.sources.focus_files import fingerprint
from connector.store.port import UnitOfWork

INBOX_SUFFIXES = (".csv", ".json")


@dataclass
class InboxReport:
    imported: list = field(default_factory=list)  # ImportReport of each new file
    unchanged: list[str] = field(default_factory=list)  # files already imported with the same content
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def import_inbox(ctx, folder: Path, *, entity: str) -> InboxReport:
    """Import every invoice file in `folder` that has not been imported with the same content before."""
    from connector.service.imports import import_invoices

    report = InboxReport()
    if not folder.is_dir():
        return report
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in INBOX_SUFFIXES):
        _, sha = fingerprint(path)
        with ctx.store.unit_of_work() as uow:
            seen = uow.imports.already_imported("invoices", sha)
        if seen is not None:
            report.unchanged.append(str(path))
            continue
        try:
            report.imported.append(import_invoices(ctx, path, entity=entity))
        except InputError as exc:
            report.failed.append((str(path), str(exc)))
    return report


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
