"""Database URLs as the store reads them, for the settings to check at start (before any engine exists).

Kept apart from `db.py` so that reading settings never pulls in Alembic or opens anything: these two
functions only parse text (SQLAlchemy's own URL parser, so what passes here is what the engine accepts).
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def url_problem(value: str) -> str | None:
    """Why `value` is not a database URL the store can open, or None when it is."""
    try:
        url = make_url(value)
    except ArgumentError:
        return "is not a database URL: use sqlite:///path or postgresql://user:pass@host/db"
    if "@" in (url.host or ""):
        # the password ends at the first '@' for SQLAlchemy and libpq: the rest of it would be read as the
        # host and printed in every "cannot connect" error, so the URL is refused before anything connects
        # (and without quoting the host, which holds part of the password)
        return (
            "its password (or user name) holds an '@' that is not escaped: write each '@' in them as %40 "
            "(postgresql://user:pa%40ss@host/db)"
        )
    if url.get_backend_name() == "sqlite" and url.host:
        return (
            f"a SQLite URL names a file, not a host ({url.host!r}): write sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db"
        )
    return None


def url_password(value: str) -> str | None:
    """The password a database URL carries (a secret: it is redacted wherever it could be shown)."""
    password = make_url(value).password
    return str(password) if password else None
