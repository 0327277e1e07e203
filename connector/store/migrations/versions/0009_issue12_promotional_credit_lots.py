"""promotional credit lots: credits a provider grants for free (no asset was bought), booked explicitly

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credit_lots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("promotional", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("credit_lots", schema=None) as batch_op:
        batch_op.drop_column("promotional")
