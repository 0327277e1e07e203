"""Fixtures every suite shares: a database on each backend.

`database_url` gives an empty database on SQLite and, when TOKENBOOKS_TEST_POSTGRES_URL names a server
(`.ci/run` starts one), on PostgreSQL too: each test gets a schema of its own there, dropped afterwards.
Tests that take it run once per backend (`[sqlite]`, `[postgres]`); the PostgreSQL variants are marked
`postgres` and are skipped, with the reason, when no server is configured.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import connector.ledgers.registry  # noqa: F401 - registers the ledgers' target shapes, as bootstrap does

POSTGRES_VARIABLE = "TOKENBOOKS_TEST_POSTGRES_URL"
NO_POSTGRES = (
    f"PostgreSQL variant: set {POSTGRES_VARIABLE}=postgresql://user:password@host:port/database to a "
    "database the user may create schemas in (`bash .ci/run` starts a server and sets it)"
)

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_base_url() -> str | None:
    return os.environ.get(POSTGRES_VARIABLE) or None


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A URL whose connections live in a new, empty schema; the schema and its sessions go afterwards."""
    schema = f"tb_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        make_url(base_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(base_url).update_query_dict(
        {"options": f"-csearch_path={schema}", "application_name": schema}
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :s"),
                {"s": schema},
            )
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def database_url_for(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'tokenbooks.db'}"
        return
    base = postgres_base_url()
    if base is None:
        pytest.skip(NO_POSTGRES)
    with postgres_schema(base) as url:
        yield url


@pytest.fixture(autouse=True)
def root_logging_as_it_was() -> Iterator[None]:
    """A command run in process configures the root logger (one handler on stderr, its level): put back as
    it was after each test, so a later test's own records (a DEBUG line of the HTTP client a test plays a
    browser with) are not printed by an earlier test's handler into that test's captured output."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_url_for(request.param, tmp_path)
