"""The database engine: SQLite by default, PostgreSQL by URL.

`make_engine` is called from the composition root (bootstrap) only; nothing here runs at import time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import SQLModel, create_engine

from connector.domain.errors import ConfigError, StoreUnavailable
from connector.store import redacted_columns, tables
from connector.store.locks import schema_lock
from connector.store.urls import describe_url

if TYPE_CHECKING:  # alembic is imported by the functions that migrate: a command that never opens a store
    from alembic.config import Config  # (`tokenbooks --help`) does not load it


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url`, with SQLite made safe for a service (WAL, foreign keys, busy timeout).

    An error that means the store is unavailable (not answering, connection reset, disk full) comes out
    as `StoreUnavailable` naming the database (never its password), not as a driver traceback.
    """
    redacted_columns.install()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _private(Path(database))
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is the driver we ship
        engine = create_engine(parsed, echo=echo, pool_pre_ping=True)
    event.listen(engine, "handle_error", _store_unavailable)
    return engine


# What the drivers say when the store itself fails (as opposed to a bad statement, which is a bug).
_UNAVAILABLE = (
    "disk is full",  # SQLite SQLITE_FULL: "database or disk is full"
    "disk i/o error",
    "unable to open database",
    "readonly database",
    "no space left",
)


def _store_unavailable(context: Any) -> None:
    """Raise `StoreUnavailable` for a lost, refused or full store; let other errors (bugs) through."""
    wrapped = context.sqlalchemy_exception
    lost = context.is_disconnect or context.connection is None or isinstance(wrapped, InterfaceError)
    operational = isinstance(wrapped, OperationalError) and context.engine.dialect.name == "postgresql"
    error = store_unavailable(context.engine, context.original_exception, lost=lost or operational)
    if error is not None:
        raise error from context.original_exception


def store_unavailable(engine: Engine, error: BaseException, *, lost: bool = False) -> StoreUnavailable | None:
    """The plain error for a driver error that means the store is unavailable (None for any other).

    Also for the bulk paths (`store/bulk.py`), which talk to the driver below SQLAlchemy.
    """
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    operational = engine.dialect.name == "postgresql" and type(error).__name__ == "OperationalError"
    if not (lost or operational or any(marker in text.lower() for marker in _UNAVAILABLE)):
        return None
    return StoreUnavailable(
        f"the database {describe_url(engine.url)} is unavailable: {text}",
        fix="check that the database server runs and is reachable, and that its disk has room; the next "
        "run goes on from what was committed (nothing is posted twice)",
    )


def _private(database: Path) -> None:
    """A database file (and its WAL and lock files) left readable by others by an older version: 0600."""
    for path in (database, *database.parent.glob(database.name + "[-.]*")):
        if path.is_file() and path.stat().st_mode & 0o077:
            path.chmod(0o600)


SQLITE_CACHE_KIB = 64 * 1024  # SQLite's page cache per connection (see `_sqlite_pragmas`)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A month of a large organisation is a million facts: with SQLite's default 2 MB page cache their
    # indexes are re-read from the OS on every insert. The cache is the process's largest single cost in
    # memory, though (it fills to its limit during a backfill and stays full): measured at a million
    # facts (issue 17, docs/performance.md), 256 MB and 64 MB cost the first night the same CPU time
    # (60 s) and 16 MB 5 % more, while the night's peak was 510, 349 and 250 MB. 64 MB, per connection
    # (a sync uses one).
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    # Sorts and temporary b-trees in files (SQLite's own default), not in memory: promoting a staged
    # month sorts it, and in memory that grew with the month (229 MB at 3M facts, beside the cache); in
    # a file it is the temporary database's small cache plus the OS's file cache (issue 17).
    cursor.execute("PRAGMA temp_store=FILE")
    cursor.close()


MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Any) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head() or ""


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (what `tokenbooks db upgrade` runs)."""
    from alembic import command

    refuse_newer_schema(engine)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def refuse_newer_schema(engine: Engine) -> None:
    """A database a newer tokenbooks has migrated (after a rollback of the software, say) is refused with
    what to do, before anything reads or writes it: this release does not know its tables' shape."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    revision = current_revision(engine)
    if revision is None:
        return
    try:
        ScriptDirectory.from_config(alembic_config(None)).get_revision(revision)
    except CommandError:
        where = describe_url(engine.url)
        raise ConfigError(
            f"the database {where} has schema revision {revision}, which a newer tokenbooks made; this "
            f"tokenbooks knows the schema up to {head_revision()}",
            fix="run the tokenbooks release that upgraded it (or a later one); to go back to this release, "
            "restore the backup taken before that upgrade (docs/deployment.md, Downgrade). Nothing was changed",
        ) from None


def missing_store(url: str) -> str | None:
    """Why `url` names no tokenbooks store yet (a SQLite file that does not exist), or None. Checked
    before an engine is made, so a read-only command never creates the file or its directory."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_file():
            return f"there is no tokenbooks database at {path}"
    return None


def has_schema(engine: Engine) -> bool:
    """Whether the database holds tokenbooks' tables (an empty database is not a store yet)."""
    return bool(inspect(engine).get_table_names())


def create_schema(engine: Engine) -> str | None:
    """Bring the database to the current schema; returns the revision it had (None: it was empty).

    A new, empty database gets every table at once and is stamped with the head revision (fast, and the
    same schema, as a test proves); a database with tables is migrated, so an older one upgrades in place.
    Both under the schema lock: processes started together (two replicas' `db upgrade` init containers, a
    service and a CronJob) wait for each other, and the later ones find the schema already done.
    """
    with schema_lock(engine):
        return _create_or_upgrade(engine)


def _create_or_upgrade(engine: Engine) -> str | None:
    if inspect(engine).get_table_names():
        before = current_revision(engine)
        if before != head_revision():
            upgrade(engine)
        return before
    from alembic import command

    SQLModel.metadata.create_all(engine)
    with engine.begin() as connection:
        command.stamp(alembic_config(connection), "head")
        connection.execute(
            insert(tables.AuditChainRow).values(
                id=1, last_event_id=0, last_hash="0" * 64, events=0, updated_at=datetime.now(UTC)
            )
        )
    return None
