"""The audit log's hash chain: each event's hash covers its content and the previous event's hash, so any
edit, deletion or insertion shows when the chain is recomputed (`tokenbooks audit verify`).

Pure functions: the store writes events with them (`store/audit_log.py`) and the audit service verifies
with them (`service/audit.py`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64  # what the first event links to
COMMITTED = "journals.committed"  # the event committing journals' digests to the chain (store/commitments.py)


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC (a naive value is taken to be UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def event_hash(
    prev_hash: str,
    *,
    at: datetime,
    actor: str,
    kind: str,
    message: str,
    data: dict,
    run_id: str | None,
    level: str = "info",
    scheme: int = 2,
) -> str:
    """The hash of an event: sha256 over its canonical JSON and the previous event's hash.

    Scheme 1 (events written before revision 0002) covers everything but the level; scheme 2 covers it too.
    """
    content = {
        "prev": prev_hash,
        "at": as_utc(at).isoformat(),
        "actor": actor,
        "kind": kind,
        "message": message,
        "data": data,
        "run_id": run_id,
    }
    if scheme >= 2:
        content["level"] = level
    canonical = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def row_hash(row: Any) -> str:
    """The hash an event (a stored row or its record) should carry, recomputed from its content."""
    return event_hash(
        row.prev_hash,
        at=row.at,
        actor=row.actor,
        kind=row.kind,
        message=row.message,
        data=row.data,
        run_id=row.run_id,
        level=row.level,
        scheme=row.hash_scheme,
    )
