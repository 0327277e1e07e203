"""runs: `owner` — the process that runs it (host:pid:thread:nonce, as on a lease), so a run left
`running` by a process that died is seen as stuck whoever started it (a cron `tokenbooks sync` has no
job claim to say so); runs recorded before it have none

Revision ID: 0026_run_owner
Revises: 0025_console_sessions_ended
Create Date: 2026-12-08 03:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0026_run_owner"
down_revision = "0025_console_sessions_ended"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("owner")
