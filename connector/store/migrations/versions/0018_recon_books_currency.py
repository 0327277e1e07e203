"""reconciliations: what tokenbooks posted in the books' currency, and that currency, beside the provider's
(books converted from the provider's currency are reconciled in both; `ledger_total` is in the books')

Revision ID: 0018_recon_books_currency
Revises: 0017_credit_lot_voids
Create Date: 2026-12-08 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connector.store.tables

revision = "0018_recon_books_currency"
down_revision = "0017_credit_lot_voids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for a reconciliation stored before: it did not tell the currencies apart (read as `currency`)
    op.add_column("reconciliations", sa.Column("books_currency", sa.String(), nullable=True))
    op.add_column(
        "reconciliations",
        sa.Column("posted_in_books", connector.store.tables.ExactDecimal(length=64), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("reconciliations") as batch:
        batch.drop_column("posted_in_books")
        batch.drop_column("books_currency")
