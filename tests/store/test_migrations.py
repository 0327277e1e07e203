"""Migrations: the chain of revisions builds exactly the schema the code declares; fresh databases are stamped."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from connector.store.db import create_schema, current_revision, head_revision, make_engine, upgrade


def test_running_every_migration_gives_the_schema_the_tables_declare(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []
    assert current_revision(engine) == head_revision()


def test_a_new_database_is_created_whole_and_stamped_at_head(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    create_schema(engine)
    assert current_revision(engine) == head_revision()
    create_schema(engine)  # idempotent
    assert current_revision(engine) == head_revision()
