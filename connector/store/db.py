"""The database engine: SQLite by default, PostgreSQL by URL.

`make_engine` is called from the composition root (bootstrap) only; nothing here runs at import time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, insert, inspect
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel, create_engine

from connector.store import tables
from connector.store.locks import schema_lock


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url`, with SQLite made safe for a service (WAL, foreign keys, busy timeout)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver we ship
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A month of a large organisation is a million facts: with SQLite's default 2 MB page cache their
    # indexes thrash the disk and inserts slow down as the table grows. 256 MB keeps them in memory.
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Any) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config(None)).get_current_head() or ""


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (what `tokenbooks db upgrade` runs)."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def missing_store(url: str) -> str | None:
    """Why `url` names no tokenbooks store yet (a SQLite file that does not exist), or None. Checked
    before an engine is made, so a read-only command never creates the file or its directory."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)  # type: ignore[arg-type]
        if not path.is_file():
            return f"there is no tokenbooks database at {path}"
    return None


def has_schema(engine: Engine) -> bool:
    """Whether the database holds tokenbooks' tables (an empty database is not a store yet)."""
    return bool(inspect(engine).get_table_names())


def create_schema(engine: Engine) -> None:
    """Bring the database to the current schema.

    A new, empty database gets every table at once and is stamped with the head revision (fast, and the
    same schema, as a test proves); a database with tables is migrated, so an older one upgrades in place.
    """
    with schema_lock(engine):
        _create_or_upgrade(engine)


def _create_or_upgrade(engine: Engine) -> None:
    if inspect(engine).get_table_names():
        if current_revision(engine) != head_revision():
            upgrade(engine)
        return
    SQLModel.metadata.create_all(engine)
    with engine.begin() as connection:
        command.stamp(alembic_config(connection), "head")
        connection.execute(
            insert(tables.AuditChainRow).values(
                id=1, last_event_id=0, last_hash="0" * 64, events=0, updated_at=datetime.now(UTC)
            )
        )


def describe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)
