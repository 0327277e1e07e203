"""commitment_index: the event that last committed each journal (entity, key) and each provider day of
facts (source, account, day), so the poster and the sync find a commitment by key instead of reading
every `journals.committed` / `facts.committed` event since the store began; backfilled from those events.
events: indexed by (kind, id), so the first event of a kind (the first commitment) is found, not scanned for

Revision ID: 0023_commitment_index
Revises: 0022_lot_changes_as_marks
Create Date: 2026-12-08 01:45:00.000000
"""

from __future__ import annotations

import json

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0023_commitment_index"
down_revision = "0022_lot_changes_as_marks"
branch_labels = None
depends_on = None

# the event kinds, as `domain/audit_chain.py` names them (a migration keeps its own copy: it runs as written)
JOURNALS_COMMITTED = "journals.committed"
FACTS_COMMITTED = "facts.committed"


def upgrade() -> None:
    op.create_table(
        "commitment_index",
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "subject", "account", "key"),
    )
    op.create_index("ix_commitment_index_kind_event", "commitment_index", ["kind", "event_id"])
    op.create_index("ix_events_kind_id", "events", ["kind", "id"])
    connection = op.get_bind()
    events = connection.execute(
        sa.text("SELECT id, kind, data FROM events WHERE kind IN (:journals, :facts) ORDER BY id"),
        {"journals": JOURNALS_COMMITTED, "facts": FACTS_COMMITTED},
    )
    last: dict[tuple[str, str, str, str], int] = {}  # a later event replaces an earlier one's commitment
    for event_id, kind, data in events:
        data = json.loads(data) if isinstance(data, str) else data or {}
        if kind == JOURNALS_COMMITTED:
            for key in data.get("journals", {}):
                last[("journal", data.get("entity", ""), "", key)] = event_id
        else:
            for day in data.get("days", {}):
                last[("facts", data.get("source", ""), data.get("provider_account", ""), day)] = event_id
    index = sa.table(
        "commitment_index",
        sa.column("kind", sa.String()),
        sa.column("subject", sa.String()),
        sa.column("account", sa.String()),
        sa.column("key", sa.String()),
        sa.column("event_id", sa.Integer()),
    )
    rows = [
        {"kind": kind, "subject": subject, "account": account, "key": key, "event_id": event_id}
        for (kind, subject, account, key), event_id in last.items()
    ]
    for start in range(0, len(rows), 5_000):
        connection.execute(index.insert(), rows[start : start + 5_000])


def downgrade() -> None:
    op.drop_index("ix_events_kind_id", table_name="events")
    op.drop_index("ix_commitment_index_kind_event", table_name="commitment_index")
    op.drop_table("commitment_index")
