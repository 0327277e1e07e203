"""fact_change_marks: a run that changed facts outside a sync (a FOCUS export of a month already past, a
pull with --since) leaves the earliest posting day it changed; the next plan reaches back to it, then the
mark is deleted

Revision ID: 0019_fact_change_marks
Revises: 0018_recon_books_currency
Create Date: 2026-12-08 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0019_fact_change_marks"
down_revision = "0018_recon_books_currency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fact_change_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("plan_from", sa.Date(), nullable=False),
        sa.Column("changed_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_fact_change_marks_entity"), "fact_change_marks", ["entity"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_fact_change_marks_entity"), table_name="fact_change_marks")
    op.drop_table("fact_change_marks")
