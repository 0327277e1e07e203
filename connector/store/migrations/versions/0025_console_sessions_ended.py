"""console_users: `sessions_ended_at` — every session a user signed in to before it is over (they signed
out, were disabled, or were given a new password); sessions are signed cookies, so without it a copy of
one outlived the sign-out

Revision ID: 0025_console_sessions_ended
Revises: 0024_posted_lines_indexes
Create Date: 2026-12-08 02:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0025_console_sessions_ended"
down_revision = "0024_posted_lines_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sessions_ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.drop_column("sessions_ended_at")
