"""Day sums: what classifying one posting day's facts summed, kept so a later plan need not read the day.

A plan classifies facts only to sum them (`UsageCosts` for the journals, `SpendSummary` for the report),
and both sums are the same however the facts are cut (`tests/domain/test_streamed_sums.py`). So a day's
sums, kept with the identity of everything they were computed from (`day_inputs`: the day's current
facts, the mapping version in force on it, the accounting policies, the code), stand for the day's facts
in any later plan whose identity for the day is the same: a night with three late days classifies those
three days and adds the other days' kept sums. Stored as JSON (never pickle: the store is data, not code).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from connector.domain.journals import LedgerTarget
from connector.domain.mapping import Category


@dataclass
class DaySums:
    """One posting day's sums: its facts, `UsageCosts.sums`, and `SpendSummary.state()`."""

    facts: int = 0
    usage: dict[tuple, Decimal] = field(default_factory=dict)
    spend: dict[tuple, list] = field(default_factory=dict)
    unmapped: dict[tuple, list] = field(default_factory=dict)

    def to_data(self) -> dict:
        return {
            "facts": self.facts,
            "usage": [[_encode(k), _encode(v)] for k, v in self.usage.items()],
            "spend": [[_encode(k), _encode(v)] for k, v in self.spend.items()],
            "unmapped": [[_encode(k), _encode(v)] for k, v in self.unmapped.items()],
        }

    @classmethod
    def of_data(cls, data: dict) -> DaySums:
        return cls(
            facts=data["facts"],
            usage={_decode(k): _decode(v) for k, v in data["usage"]},
            spend={_decode(k): list(_decode(v)) for k, v in data["spend"]},
            unmapped={_decode(k): list(_decode(v)) for k, v in data["unmapped"]},
        )


def day_inputs(*parts: Any) -> str:
    """The identity of what a day's sums were computed from (a digest of `parts`, JSON-encoded)."""
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()


def _encode(value: Any) -> Any:
    """A sum's key or value as JSON, each type tagged so it decodes to the same value (and type)."""
    if isinstance(value, float):
        raise TypeError("a day's sums hold no floats")
    if isinstance(value, Category):  # before str: a Category is a str too
        return {"c": value.value}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, LedgerTarget):
        return {"t": [value.account, value.class_name, value.department, _encode(value.tracking)]}
    if isinstance(value, tuple | list):
        return {"u" if isinstance(value, tuple) else "l": [_encode(v) for v in value]}
    raise TypeError(f"a day's sums cannot hold {type(value).__name__}")


def _decode(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    [(tag, inner)] = value.items()
    if tag == "n":
        return Decimal(inner)
    if tag == "d":
        return date.fromisoformat(inner)
    if tag == "c":
        return Category(inner)
    if tag == "t":
        account, class_name, department, tracking = inner
        return LedgerTarget(account, class_name, department, _decode(tracking))
    if tag == "u":
        return tuple(_decode(v) for v in inner)
    if tag == "l":
        return [_decode(v) for v in inner]
    raise ValueError(f"unknown tag {tag!r} in a day's sums")
