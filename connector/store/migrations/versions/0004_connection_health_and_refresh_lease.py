"""connection health and refresh lease

Connections remember the company's name, when a person connected, when the refresh token last rotated,
the last successful call and the last error (for `tokenbooks connections`), and carry a lease that keeps
two processes from refreshing the same connection at once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 16:07:48.017904
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("company_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("connected_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("refreshed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_success_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_error_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("refresh_lock_owner", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("refresh_lock_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("refresh_lock_until")
        batch_op.drop_column("refresh_lock_owner")
        batch_op.drop_column("last_error_at")
        batch_op.drop_column("last_success_at")
        batch_op.drop_column("refreshed_at")
        batch_op.drop_column("connected_at")
        batch_op.drop_column("company_name")
