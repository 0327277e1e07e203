"""Invoice import: files into the store, refused whole when any row is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from connector.domain.errors import InputError
from connector.domain.invoices import Invoice
from connector.service.runs import Clock
from connector.sources.invoices import read_invoice_file
from connector.store.repositories import UnitOfWork
from connector.store.tables import InvoiceRow


@dataclass
class InvoiceImport:
    file: str
    new: int = 0
    replaced: int = 0


def import_invoice_file(engine: Engine, path: Path, *, default_entity: str, clock: Clock) -> InvoiceImport:
    invoices, problems = read_invoice_file(path, default_entity)
    if problems:
        raise InputError(
            f"{path}: {len(problems)} problem(s): " + "; ".join(str(p) for p in problems[:10]),
            fix="correct the file and import it again; nothing from it was stored",
            problems=problems,
        )
    return store_invoices(engine, invoices, source=str(path), clock=clock)


def store_invoices(engine: Engine, invoices: list[Invoice], *, source: str, clock: Clock) -> InvoiceImport:
    result = InvoiceImport(source)
    with UnitOfWork(engine) as uow:
        for invoice in invoices:
            if uow.invoices.upsert(invoice_row(invoice, clock)):
                result.new += 1
            else:
                result.replaced += 1
        uow.commit()
    return result


def invoice_row(invoice: Invoice, clock: Clock) -> InvoiceRow:
    return InvoiceRow(
        entity=invoice.entity,
        provider=invoice.provider,
        provider_account=invoice.provider_account,
        number=invoice.number,
        period=invoice.period,
        issue_date=invoice.issue_date,
        total=invoice.total,
        currency=invoice.currency,
        lines=[
            {"description": ln.description, "amount": str(ln.amount), "kind": ln.kind} for ln in invoice.lines
        ],
        source=invoice.source,
        imported_at=clock(),
    )
