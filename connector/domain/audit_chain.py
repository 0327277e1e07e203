"""The audit log's hash chain: each event's hash covers its content and the previous event's hash, so any
edit, deletion or insertion shows when the chain is recomputed (`tokenbooks audit verify`).

Pure functions: the store writes events with them (`store/audit_log.py`) and the audit service verifies
with them (`service/audit.py`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from connector.domain.facts import Dimensions, Fact

GENESIS_HASH = "0" * 64  # what the first event links to
COMMITTED = "journals.committed"  # the event committing journals' digests to the chain (store/commitments.py)
FACTS_COMMITTED = "facts.committed"  # the event committing a stored window's facts, day by day (ditto)


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
) -> str:
    """The digest of a stored fact: everything the planner books from it (128 bits of sha256, in hex).

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
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def digest_of_fact(fact: Fact, version: int | None = None) -> str:
    """`fact_digest` of a fact (stored as `version`, when that is not the fact's own)."""
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
    )


def _number(value: Decimal | None) -> str:
    return "" if value is None else str(value.normalize())


@lru_cache(maxsize=100_000)
def _dimensions(dimensions: Dimensions) -> str:
    """The same dimension sets recur on every fact of a day: each distinct one is written out once."""
    return json.dumps(dimensions.items)
