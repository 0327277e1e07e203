"""Alembic environment: runs migrations on the connection tokenbooks hands it (see store/db.py)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from connector.store import tables  # noqa: F401 - registers the tables on SQLModel.metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `tokenbooks db upgrade` (connector.store.db.upgrade)")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
