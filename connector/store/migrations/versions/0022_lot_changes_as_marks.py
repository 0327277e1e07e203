"""credit lots: a lot recorded, changed or voided leaves a fact-change mark (`fact_change_marks`, changed
by "lot provider/account/id") instead of its own `plan_from`, cleared wholesale by the next plan — which
lost a lot recorded while that plan ran; a `plan_from` left unplanned becomes a mark

Revision ID: 0022_lot_changes_as_marks
Revises: 0021_focus_invoice_cents
Create Date: 2026-12-07 23:30:00.000000
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0022_lot_changes_as_marks"
down_revision = "0021_focus_invoice_cents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    left = connection.execute(
        sa.text(
            "SELECT entity, provider, provider_account, lot_id, plan_from FROM credit_lots "
            "WHERE plan_from IS NOT NULL"
        )
    ).all()
    marks = sa.table(
        "fact_change_marks",
        sa.column("entity", sa.String()),
        sa.column("plan_from", sa.Date()),
        sa.column("changed_by", sa.String()),
        sa.column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    )
    now = datetime.now(UTC)
    for entity, provider, account, lot_id, plan_from in left:
        day = plan_from if not isinstance(plan_from, str) else datetime.fromisoformat(plan_from).date()
        connection.execute(
            marks.insert().values(
                entity=entity, plan_from=day, changed_by=f"lot {provider}/{account}/{lot_id}", recorded_at=now
            )
        )
    with op.batch_alter_table("credit_lots") as batch:
        batch.drop_column("plan_from")


def downgrade() -> None:
    with op.batch_alter_table("credit_lots") as batch:
        batch.add_column(sa.Column("plan_from", sa.Date(), nullable=True))
