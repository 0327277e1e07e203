"""The audit log's hash chain: each event's hash covers its content and the previous event's hash, so any
edit, deletion or insertion shows when the chain is recomputed (`tokenbooks audit verify`).

Pure functions: the store writes events with them (`store/audit_log.py`) and the audit service verifies
with them (`service/audit.py`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from connector.domain.facts import Dimensions, Fact

GENESIS_HASH = "0" * 64  # what the first event links to
COMMITTED = "journals.committed"  # the event committing journals' digests to the chain (store/commitments.py)
FACTS_COMMITTED = "facts.committed"  # the event committing a stored window's facts, day by day (ditto)
ALLOCATIONS_COMMITTED = "allocations.committed"  # the event committing the allocations a plan rewrote


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


def fact_digest(
    entity: str,
    provider: str,
    natural_key: str,
    version: int,
    charge_date: date,
    posting_date: date,
    amount: Decimal,
    currency: str,
    quantity: Decimal | None,
    cost_basis: str,
    charge_category: str,
    unit: str | None,
    dimensions: Dimensions,
    raw_payload_id: int | None,
) -> str:
    """The digest of a stored fact: everything the planner books from it (64 bits of sha256, in hex: what
    a forger must match for the one fact it edits, at 1M facts a month kept compact in the chain).

    Amounts are normalised (1.50 and 1.5000 are the same amount: the store gives back what it was given at
    its own scale); the fields are joined with a separator no value holds."""
    text = "\x1f".join(
        (
            entity,
            provider,
            natural_key,
            str(version),
            charge_date.isoformat(),
            posting_date.isoformat(),
            _number(amount),
            currency,
            _number(quantity),
            cost_basis,
            charge_category,
            unit or "",
            _dimensions(dimensions),
            "" if raw_payload_id is None else str(raw_payload_id),
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def digest_of_fact(fact: Fact, version: int | None, raw_payload_id: int | None) -> str:
    """`fact_digest` of a fact stored as `version` (None: its own), read from that raw payload."""
    return fact_digest(
        fact.entity,
        fact.provider,
        fact.natural_key,
        fact.version if version is None else version,
        fact.charge_date,
        fact.posting_date,
        fact.amount,
        fact.currency,
        fact.quantity,
        fact.cost_basis.value,
        fact.charge_category.value,
        fact.unit,
        fact.dimensions,
        raw_payload_id,
    )


def allocations_digest(rows: Iterable[Sequence[Any]]) -> str:
    """The digest of one fact's allocations (each row: entity, posting date, provider, provider account,
    currency, category, target key, rule id, mapping version, percent, amount), in any order."""
    lines = sorted(
        "\x1f".join(
            value.isoformat()
            if isinstance(value, date)
            else _number(value)
            if isinstance(value, Decimal)
            else str(value)
            for value in row
        )
        for row in rows
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def pack_digests(digests: dict[str, str]) -> str:
    """A day's fact digests (natural key → digest) as one line per fact, "key digest", sorted: one string
    per day in the event, not a JSON object of a million entries (a month's window stored at once)."""
    return "\n".join(sorted(f"{key} {digest}" for key, digest in digests.items()))


def unpack_digests(packed: str) -> dict[str, str]:
    """`pack_digests` read back (a natural key holds no newline; its digest follows its last space)."""
    return dict(line.rsplit(" ", 1) for line in packed.splitlines()) if packed else {}


def _number(value: Decimal | None) -> str:
    return "" if value is None else str(value.normalize())


@lru_cache(maxsize=100_000)
def _dimensions(dimensions: Dimensions) -> str:
    """The same dimension sets recur on every fact of a day: each distinct one is written out once."""
    return json.dumps(dimensions.items)
