"""the spend report's posted lines (`store/outbox.py: posted_lines`) read by index: a contribution's
entity and month (`ix_contrib_period`), a journal's entity and date (`ix_journals_txn_date`): one for each
of the two reads that replaced an OR across the two tables no index served (the entity's whole history
read for a month)

Revision ID: 0024_posted_lines_indexes
Revises: 0023_commitment_index
Create Date: 2026-12-08 01:45:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0024_posted_lines_indexes"
down_revision = "0023_commitment_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contrib_period", "contributions", ["entity", "period"], unique=False)
    op.create_index("ix_journals_txn_date", "journals", ["entity", "txn_date"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_journals_txn_date", table_name="journals")
    op.drop_index("ix_contrib_period", table_name="contributions")
