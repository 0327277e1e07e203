"""Small helpers the store's repositories share: the clock, chunked id lists, when a lease has lapsed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_
from sqlalchemy.sql.elements import ColumnElement

Chunked = TypeVar("Chunked")  # what a list is cut into chunks of: ids, keys


def utcnow() -> datetime:
    return datetime.now(UTC)


def lease_lapsed(expires: Any, now: datetime, lease: timedelta) -> ColumnElement[bool]:
    """SQL: the lease expiring at `expires` may be taken over at `now` — it ran out, or it runs out further
    ahead than any lease is ever taken for (`lease`, plus one more for hosts whose clocks differ: the
    same skew an expiry already tolerates the other way): it was written before the wall clock stepped
    back (NTP, a VM restored from a snapshot), and would otherwise hold for as long as the step, hours."""
    return or_(expires < now, expires > now + 2 * lease)


def chunks(ids: list[Chunked], size: int = 10_000) -> Iterator[list[Chunked]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
