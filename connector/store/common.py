"""Small helpers the store's repositories share: the clock, chunked id lists."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def chunks(ids: list[int], size: int = 10_000) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
