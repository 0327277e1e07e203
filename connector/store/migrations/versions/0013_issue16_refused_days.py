"""warehouse pulls: the days a source's last pull refused (their rows failed a check) are kept on its
bookmark, which stands before the first of them; the month-end checklist names them

Revision ID: 0013_issue16_refused_days
Revises: 0012_issue17_pull_stages
Create Date: 2026-12-07 05:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_issue16_refused_days"
down_revision = "0012_issue17_pull_stages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # every existing bookmark refused nothing: '[]', then no default (the model always writes the list)
    op.add_column("bookmarks", sa.Column("refused_days", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("bookmarks") as batch:
        batch.alter_column("refused_days", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("bookmarks") as batch:
        batch.drop_column("refused_days")
