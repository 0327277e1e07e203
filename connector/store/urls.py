"""Database URLs as the store reads them, for the settings to check at start (before any engine exists).

Kept apart from `db.py` so that reading settings never pulls in Alembic or opens anything: these
functions only parse text (SQLAlchemy's own URL parser, so what passes here is what the engine accepts).
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
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


PASSWORD_PARAMETER = "password"  # libpq takes the password as a parameter too: postgresql:///db?password=…


def url_password(value: str) -> str | None:
    """The password a database URL carries, in its user info or as libpq's `password` parameter (a secret:
    it is redacted wherever it could be shown)."""
    url = make_url(value)
    given = url.query.get(PASSWORD_PARAMETER)
    password = url.password or (given if isinstance(given, str) else given[-1] if given else None)
    return str(password) if password else None


def describe_url(value: str | URL) -> str:
    """The URL with its password hidden wherever it carries one, for messages and logs."""
    url = make_url(value)
    if PASSWORD_PARAMETER in url.query:
        url = url.update_query_dict({PASSWORD_PARAMETER: "***"})
    return url.render_as_string(hide_password=True)
