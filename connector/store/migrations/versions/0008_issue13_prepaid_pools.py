"""FOCUS commitments: credit lots and posted buckets name the prepaid pool they belong to; refunds of lots

A lot's `pool` says what may draw it ("" — an account's usage under a prepaid policy; else the commitment,
virtual currency or purchase term the provider says paid for the usage), `refund_of` marks a negative lot
refunding another; a contribution's `pool` keeps the pool a cost bucket drew from, so draws continue from
the right lots (docs/focus.md).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credit_lots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pool", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("refund_of", sa.Text(), server_default="", nullable=False))
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pool", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.drop_column("pool")
    with op.batch_alter_table("credit_lots", schema=None) as batch_op:
        batch_op.drop_column("refund_of")
        batch_op.drop_column("pool")
