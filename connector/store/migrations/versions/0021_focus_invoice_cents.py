"""invoices: an invoice a FOCUS export sums is stored in whole minor units, each line Σ BilledCost rounded
once as the provider's bill rounds it, the total its lines' sum (`focus_aggregate._invoices`); one stored
before kept the provider's precision (33.109011), which the true-up and the reconciliation then met

Revision ID: 0021_focus_invoice_cents
Revises: 0020_bookmark_entities
Create Date: 2026-12-07 23:10:00.000000
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from connector.domain.money import ZERO, quantize
from connector.store.tables import ExactDecimal

revision = "0021_focus_invoice_cents"
down_revision = "0020_bookmark_entities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    invoices = sa.table(
        "invoices",
        sa.column("id", sa.Integer()),
        sa.column("total", ExactDecimal()),
        sa.column("currency", sa.String()),
        sa.column("lines", sa.JSON()),
        sa.column("source", sa.String()),
    )
    connection = op.get_bind()
    stored = connection.execute(
        sa.select(invoices.c.id, invoices.c.total, invoices.c.currency, invoices.c.lines).where(
            invoices.c.source == "focus"  # `sources.focus.SOURCE`
        )
    ).all()
    for invoice_id, total, currency, lines in stored:
        rounded = [{**line, "amount": str(quantize(Decimal(line["amount"]), currency))} for line in lines]
        rounded_total = sum((Decimal(line["amount"]) for line in rounded), ZERO)
        if rounded != lines or rounded_total != total:
            connection.execute(
                invoices.update()
                .where(invoices.c.id == invoice_id)
                .values(lines=rounded, total=rounded_total)
            )


def downgrade() -> None:
    pass  # the provider's precision is not kept: a downgrade leaves the invoices in minor units
