"""Entity locks: at most one tokenbooks process syncs, closes or reconciles an entity at a time.

PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) keyed by schema and entity, held on a
connection of its own for as long as the run lasts. SQLite: an `fcntl` lock on a file beside the
database file. Either way the operating system or the server releases the lock when the process dies,
so a killed run never leaves an entity locked.

The lock is re-entrant within one thread (the month-end job holds it while it runs the sync and the
reconciliation, which take it too) and exclusive across threads and processes. Taking it never waits:
a second process is told the entity is busy, and by which run.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col

from connector.domain.errors import BusyError, StoreUnavailable
from connector.store.tables import RunRow
from connector.store.urls import describe_url

_held = threading.local()  # (database, entity) → depth, for the current thread


@contextmanager
def entity_lock(engine: Engine, entity: str) -> Iterator[bool]:
    """Hold `entity`'s lock; yields True when this call took it (False when the thread already held it).

    Raises BusyError, naming the run that holds it, when another thread or process does.
    """
    key = (engine.url.render_as_string(hide_password=True), entity)
    depth: dict = _held.__dict__.setdefault("depth", {})
    if depth.get(key):
        depth[key] += 1
        try:
            yield False
        finally:
            depth[key] -= 1
        return
    with _acquire(engine, entity):
        depth[key] = 1
        try:
            yield True
        finally:
            depth.pop(key, None)


@contextmanager
def _acquire(engine: Engine, entity: str) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, entity):
            yield
        return
    with _file_lock(engine, entity):
        yield


@contextmanager
def _advisory_lock(engine: Engine, entity: str) -> Iterator[None]:
    # AUTOCOMMIT: the lock belongs to the session, so no transaction needs to stay open while it is held
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        if not _pg_call(connection, "pg_try_advisory_lock", f"entity:{entity}"):
            raise _busy(engine, entity)
        try:
            yield
        finally:
            # a session gone (reset, failover) took its lock with it: nothing is left to release
            with suppress(StoreUnavailable):
                _pg_call(connection, "pg_advisory_unlock", f"entity:{entity}")
    except BaseException:
        connection.invalidate()  # never hand a connection that may still hold the lock back to the pool
        raise
    finally:
        connection.close()


def _pg_call(connection: Connection, function: str, name: str) -> bool:
    statement = text(
        f"SELECT {function}(hashtextextended('tokenbooks:' || current_schema() || ':' || :n, 0))"
    )
    return bool(connection.execute(statement, {"n": name}).scalar())


SCHEMA_LOCK = "schema"  # entity locks are named "entity:<id>", so no entity can take this one


@contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """Wait for, then hold, the right to create or migrate the schema (two first starts must not race)."""
    if engine.dialect.name == "postgresql":
        connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            _pg_call(connection, "pg_advisory_lock", SCHEMA_LOCK)
            yield
            _pg_call(connection, "pg_advisory_unlock", SCHEMA_LOCK)
        except BaseException:
            connection.invalidate()
            raise
        finally:
            connection.close()
        return
    path = lock_file(engine, SCHEMA_LOCK)
    if path is None:
        yield
        return
    with _open_lock_file(engine, path) as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


@contextmanager
def _file_lock(engine: Engine, entity: str) -> Iterator[None]:
    path = lock_file(engine, f"entity-{entity}")
    if path is None:  # an in-memory database lives in this process only: the thread registry suffices
        with _memory_lock(engine, entity):
            yield
        return
    handle = _open_lock_file(engine, path)
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(engine, entity) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the file releases the lock


def _open_lock_file(engine: Engine, path: Path) -> IO[str]:
    try:
        return path.open("a+")
    except OSError as error:
        raise unwritable_store(engine, path, error) from None


def unwritable_store(engine: Engine, path: Path, error: OSError) -> StoreUnavailable:
    """The plain error for a SQLite store whose folder cannot be written (a read-only mount, a full disk,
    another owner): tokenbooks keeps its database, its WAL and its lock files there."""
    return StoreUnavailable(
        f"the database {describe_url(engine.url)} is unavailable: {path} cannot be "
        f"written ({error.strerror or error})",
        fix=f"make {path.parent} writable by the user tokenbooks runs as (not a read-only mount, room on its "
        "disk), or point TOKENBOOKS_DATA_DIR or TOKENBOOKS_DATABASE_URL at a folder that is; nothing was done",
    )


def lock_file(engine: Engine, name: str) -> Path | None:
    """`<database file>.<name>.lock`, beside the SQLite database file."""
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return Path(f"{database}.{slug}.lock")


_memory_locks: dict[tuple[str, str], threading.Lock] = {}


@contextmanager
def _memory_lock(engine: Engine, entity: str) -> Iterator[None]:
    lock = _memory_locks.setdefault((str(id(engine)), entity), threading.Lock())
    if not lock.acquire(blocking=False):
        raise _busy(engine, entity)
    try:
        yield
    finally:
        lock.release()


def _busy(engine: Engine, entity: str) -> BusyError:
    with Session(engine) as session:
        run = session.execute(
            select(RunRow)
            .where(col(RunRow.entity) == entity, col(RunRow.status) == "running")
            .order_by(col(RunRow.started_at).desc())
            .limit(1)
        ).scalar()
    holder = (
        f"run {run.id} ({run.kind}, started {run.started_at:%Y-%m-%d %H:%M} UTC by {run.actor})"
        if run
        else "another tokenbooks process"
    )
    return BusyError(
        f"entity {entity} is busy: {holder} holds its lock",
        fix="nothing to do: that run posts what is due; try again when it has finished (`tokenbooks runs`)",
    )
