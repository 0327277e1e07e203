"""contributions: a contribution converted into the books' currency keeps the currency its bucket was
computed in and its amount in it, so a later plan reads what was booked in the provider's currency (an
invoice true-up, a month-end reversal, prepaid draws of a month no longer planned)

Revision ID: 0016_contribution_source
Revises: 0015_read_through
Create Date: 2026-12-07 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connector.store.tables

revision = "0016_contribution_source"
down_revision = "0015_read_through"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for a contribution stored before: read in the books' currency, as it was booked
    op.add_column("contributions", sa.Column("converted_from", sa.String(), nullable=True))
    op.add_column(
        "contributions",
        sa.Column("source_amount", connector.store.tables.ExactDecimal(length=64), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("contributions") as batch:
        batch.drop_column("source_amount")
        batch.drop_column("converted_from")
