"""Errors and reasons are stored redacted: no secret the process knows reaches the database in clear.

A `before_flush` hook on every ORM session rewrites the free-text columns that carry what went wrong
(a run's reason, a bookmark's, a journal's, a posting attempt's, a connection's or an alert's last
error) through `connector.redaction.redact`. Events are redacted by the audit log itself, before their
hash is computed (`EventRepository.append`), so the chain proves what was stored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from connector.redaction import redact
from connector.store.tables import (
    AlertRow,
    BookmarkRow,
    ConnectionRow,
    ImportRow,
    JournalRow,
    PostingAttemptRow,
    QuarantineRow,
    RunRow,
)

ERROR_COLUMNS: dict[type, tuple[str, ...]] = {
    RunRow: ("reason",),
    BookmarkRow: ("last_error",),
    JournalRow: ("last_error", "hold_reason"),
    PostingAttemptRow: ("error_message",),
    ConnectionRow: ("last_error",),
    AlertRow: ("message", "last_error"),
    ImportRow: ("reason",),
    QuarantineRow: ("reason",),
}


def _redact_errors(session: Session, _context: Any, _instances: Any) -> None:
    for row in (*session.new, *session.dirty):
        for column in ERROR_COLUMNS.get(type(row), ()):
            value = getattr(row, column, None)
            if isinstance(value, str):
                cleaned = redact(value)
                if cleaned != value:
                    setattr(row, column, cleaned)


def install() -> None:
    """Hook every ORM session (idempotent; called when an engine is made, never at import)."""
    if not event.contains(Session, "before_flush", _redact_errors):
        event.listen(Session, "before_flush", _redact_errors)
