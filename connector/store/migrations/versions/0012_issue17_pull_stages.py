"""streaming pulls: a pull's pages are staged as they arrive and promoted in one transaction at the end;
incremental planning: the sums of each classified posting day, kept with the identity of its inputs

Revision ID: 0012_issue17_pull_stages
Revises: 0011_issue14_console_summaries
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import connector.store.tables

revision = "0012_issue17_pull_stages"
down_revision = "0011_issue14_console_summaries"
branch_labels = None
depends_on = None


def _sourced() -> list[sa.Column]:
    """The columns both staged tables begin with (as `facts` and `usage` do)."""
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("entity", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("provider_account", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("natural_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "pull_stages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("provider_account", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("raw_payload_ids", sa.JSON(), nullable=False),
        sa.Column("facts", sa.Integer(), nullable=False),
        sa.Column("usage", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pull_stages_source", "pull_stages", ["source", "provider_account"], unique=False)
    money = connector.store.tables.ExactDecimal(length=64)
    op.create_table(
        "staged_facts",
        *_sourced(),
        sa.Column("charge_date", sa.Date(), nullable=False),
        sa.Column("posting_date", sa.Date(), nullable=False),
        sa.Column("amount", money, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cost_basis", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("charge_category", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("quantity", money, nullable=True),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("dimensions", sa.JSON(), nullable=False),
        sa.Column("raw_payload_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_staged_facts_stage_day", "staged_facts", ["stage_id", "charge_date"], unique=False)
    op.create_table(
        "staged_usage",
        *_sourced(),
        sa.Column("usage_date", sa.Date(), nullable=False),
        sa.Column("posting_date", sa.Date(), nullable=False),
        sa.Column("dimensions", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("raw_payload_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_staged_usage_stage_day", "staged_usage", ["stage_id", "usage_date"], unique=False)
    op.create_table(
        "plan_day_sums",
        sa.Column("entity", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("inputs", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("planned_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("entity", "day"),
    )


def downgrade() -> None:
    op.drop_table("plan_day_sums")
    op.drop_table("staged_usage")
    op.drop_table("staged_facts")
    op.drop_table("pull_stages")
