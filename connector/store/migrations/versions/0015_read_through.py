"""pulls: each bookmark keeps the last day its source's pulls have read, which is past the bookmark when a
pull refused days (the bookmark stands before the first of them, the later days were stored): how fresh
a source is counts from it

Revision ID: 0015_read_through
Revises: 0014_first_day_of_history
Create Date: 2026-12-08 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_read_through"
down_revision = "0014_first_day_of_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for a bookmark stored before: read as the bookmark itself (`facts._read_through`) until its
    # next pull; what a pull that refused days read past its bookmark was not recorded, and is not guessed
    op.add_column("bookmarks", sa.Column("read_through", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bookmarks") as batch:
        batch.drop_column("read_through")
