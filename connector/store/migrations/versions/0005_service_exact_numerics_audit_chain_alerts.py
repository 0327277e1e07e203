"""service: exact numerics, audit chain head, alerts, reconciliation figures

- PostgreSQL amounts become unconstrained NUMERIC (they were NUMERIC(38, 12), which pads every value to
  twelve decimals and rounds anything finer); widening a NUMERIC keeps every stored value. Every column
  still NUMERIC(38, 12) is found in the catalog, whichever revision created it.
- `audit_chain` holds the head of the event chain (locked by each append), filled from the last event.
- `events.hash_scheme`: events written before this revision keep scheme 1 (their hashes do not cover
  the level); new events use scheme 2.
- `alerts` (deduplicated notifications) and three reconciliation figures (coverage, variance, tolerance).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:46:19.235720
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

import connector.store.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("entity", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("raised_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup_key"),
    )
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column("events", sa.Column("hash_scheme", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("events") as batch:
        batch.alter_column("hash_scheme", server_default=None)
    op.add_column(
        "reconciliations",
        sa.Column("coverage", connector.store.tables.ExactDecimal(length=64), nullable=True),
    )
    op.add_column(
        "reconciliations",
        sa.Column("variance", connector.store.tables.ExactDecimal(length=64), nullable=True),
    )
    op.add_column(
        "reconciliations",
        sa.Column("tolerance", connector.store.tables.ExactDecimal(length=64), nullable=True),
    )
    _start_the_chain_at_the_last_event()
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _padded_numeric_columns():
            op.alter_column(table, column, type_=sa.Numeric(), existing_type=sa.Numeric(38, 12))


def _padded_numeric_columns() -> list[tuple[str, str]]:
    rows = op.get_bind().execute(
        sa.text(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND data_type = 'numeric' AND numeric_precision = 38 AND numeric_scale = 12 ORDER BY 1, 2"
        )
    )
    return [(table, column) for table, column in rows]


def _start_the_chain_at_the_last_event() -> None:
    bind = op.get_bind()
    last = bind.execute(sa.text("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1")).first()
    count = bind.execute(sa.text("SELECT count(*) FROM events")).scalar() or 0
    chain = sa.table(
        "audit_chain",
        sa.column("id", sa.Integer()),
        sa.column("last_event_id", sa.Integer()),
        sa.column("last_hash", sa.String()),
        sa.column("events", sa.Integer()),
        sa.column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    )
    op.bulk_insert(
        chain,
        [
            {
                "id": 1,
                "last_event_id": last[0] if last else 0,
                "last_hash": last[1] if last else "0" * 64,
                "events": count,
                "updated_at": datetime.now(UTC),
            }
        ],
    )


def downgrade() -> None:
    # amounts stay unconstrained NUMERIC: narrowing them back to twelve decimals could round stored values
    op.drop_column("reconciliations", "tolerance")
    op.drop_column("reconciliations", "variance")
    op.drop_column("reconciliations", "coverage")
    op.drop_column("events", "hash_scheme")
    op.drop_table("audit_chain")
    op.drop_table("alerts")
