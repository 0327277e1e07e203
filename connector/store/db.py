"""The database engine: SQLite by default, PostgreSQL by URL.

`make_engine` is called from the composition root (bootstrap) only; nothing here runs at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel, create_engine

from connector.store import tables  # noqa: F401 - registers the tables on SQLModel.metadata


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
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet."""
    SQLModel.metadata.create_all(engine)


def describe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)
