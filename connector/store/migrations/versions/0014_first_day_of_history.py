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
    op.add_column("bookmarks", sa.Column("first_day", sa.String(), nullable=True))
    # a bookmark stored before: its history starts on the first day its source holds facts of (a day
    # with no spend before it is not known: then the lag only reads from the first day with spend)
    connection = op.get_bind()
    firsts = connection.execute(
        sa.text(
            "SELECT source, provider_account, MIN(charge_date) FROM facts GROUP BY source, provider_account"
        )
    ).all()
    for source, account, day in firsts:
        connection.execute(
            sa.text(
                "UPDATE bookmarks SET first_day = :day WHERE source_id = :source_id AND first_day IS NULL"
            ),
            {"day": str(day)[:10], "source_id": f"{source}:{account}"},  # `sources.base.bookmark_id`
        )


def downgrade() -> None:
    with op.batch_alter_table("bookmarks") as batch:
        batch.drop_column("first_day")
