"""pulls: each bookmark keeps the first day of its source's history (the earliest first day of a window
stored), so that the lag days read again every night never reach before it

Revision ID: 0014_first_day_of_history
Revises: 0013_issue16_refused_days
Create Date: 2026-12-07 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_first_day_of_history"
down_revision = "0013_issue16_refused_days"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the bookmarks stored before: their history is unknown, and their lag is not bounded by it
    op.add_column("bookmarks", sa.Column("first_day", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bookmarks") as batch:
        batch.drop_column("first_day")
