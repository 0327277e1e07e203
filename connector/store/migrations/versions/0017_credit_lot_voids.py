"""credit_lots: a lot recorded in error is voided, not deleted — kept with who voided it, when and why (the
audit log holds the event too), drawn no more; `plan_from` makes the next plans book the change from the
lot's purchase day, then is cleared

Revision ID: 0017_credit_lot_voids
Revises: 0016_contribution_source
Create Date: 2026-12-08 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0017_credit_lot_voids"
down_revision = "0016_contribution_source"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credit_lots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("voided_by", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("void_reason", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("plan_from", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credit_lots", schema=None) as batch_op:
        batch_op.drop_column("plan_from")
        batch_op.drop_column("void_reason")
        batch_op.drop_column("voided_by")
        batch_op.drop_column("voided_at")
