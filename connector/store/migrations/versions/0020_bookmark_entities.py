"""bookmarks: each keeps the entities whose facts its source stored, so that listing an entity's sources
shows a FOCUS import's bookmark to its own entity without reading the facts (one DISTINCT over every
fact per entity, on every console page showing sources, before)

Revision ID: 0020_bookmark_entities
Revises: 0019_fact_change_marks
Create Date: 2026-12-07 22:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_bookmark_entities"
down_revision = "0019_fact_change_marks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bookmarks", sa.Column("entities", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("bookmarks") as batch:
        batch.alter_column("entities", server_default=None)
    # a bookmark stored before: the entities its source holds facts for (read once, here)
    connection = op.get_bind()
    entities: dict[str, set[str]] = {}
    for entity, source, account in connection.execute(
        sa.text("SELECT DISTINCT entity, source, provider_account FROM facts")
    ):
        entities.setdefault(f"{source}:{account}", set()).add(entity)  # `sources.base.bookmark_id`
    bookmarks = sa.table("bookmarks", sa.column("source_id", sa.String()), sa.column("entities", sa.JSON()))
    for source_id, held in entities.items():
        connection.execute(
            bookmarks.update().where(bookmarks.c.source_id == source_id).values(entities=sorted(held))
        )


def downgrade() -> None:
    with op.batch_alter_table("bookmarks") as batch:
        batch.drop_column("entities")
