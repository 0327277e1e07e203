"""Day sums: what classifying one posting day's facts summed, kept so a later plan need not read the day.

A plan classifies facts only to sum them (`UsageCosts` for the journals, `SpendSummary` for the report),
and both sums are the same however the facts are cut (`tests/domain/test_streamed_sums.py`). So a day's
sums, kept with the identity of everything they were computed from (`day_inputs`: the day's current
facts, the mapping version in force on it, the accounting policies, the code), stand for the day's facts
in any later plan whose identity for the day is the same: a night with three late days classifies those
three days and adds the other days' kept sums. Stored as JSON (never pickle: the store is data, not code).

A day whose facts alone changed (the same mapping version, policies and code: `DayInputs.rules`) is not
classified whole either: the sums keep the ids of the facts they were computed from (`FactIds`), so a
plan takes back the contributions of those no longer current (classified again by the same rules: the
same allocations) and adds those of the facts that became current — every sum counted, so the result
is the sums of the day's current facts, row for row (`domain/running_sums.py`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from connector.domain.journals import LedgerTarget
from connector.domain.mapping import Category
from connector.domain.running_sums import merge_rows


@dataclass(frozen=True)
class FactIds:
    """A set of fact ids as ascending runs of consecutive ids: a day's facts are stored together (a
    pull writes a day at a time), so a day of tens of thousands of facts is a few runs, and a restated
    fact splits one."""

    runs: tuple[tuple[int, int], ...] = ()  # (first, last), ascending, disjoint, not adjacent

    @classmethod
    def of(cls, ids: Iterable[int]) -> FactIds:
        runs: list[list[int]] = []
        for i in sorted(set(ids)):
            if runs and runs[-1][1] == i - 1:
                runs[-1][1] = i
            else:
                runs.append([i, i])
        return cls(tuple((first, last) for first, last in runs))

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last in self.runs)

    def __contains__(self, fact_id: object) -> bool:
        if not isinstance(fact_id, int):
            return False
        at = bisect_right(self.runs, (fact_id, sys.maxsize)) - 1  # the run starting at or before fact_id
        return at >= 0 and fact_id <= self.runs[at][1]

    def __iter__(self) -> Iterator[int]:
        for first, last in self.runs:
            yield from range(first, last + 1)

    @property
    def newest(self) -> int:
        return self.runs[-1][1] if self.runs else 0

    def changed(self, gone: Iterable[int], new: Iterable[int]) -> FactIds:
        """These ids without `gone`, with `new` (ids newer than all of these)."""
        cuts = sorted(set(gone))
        runs: list[tuple[int, int]] = []
        at = 0
        for first, last in self.runs:
            while at < len(cuts) and cuts[at] < first:
                at += 1
            start = first
            while at < len(cuts) and cuts[at] <= last:
                if start < cuts[at]:
                    runs.append((start, cuts[at] - 1))
                start = cuts[at] + 1
                at += 1
            if start <= last:
                runs.append((start, last))
        tail = FactIds.of(new).runs
        if runs and tail and runs[-1][1] + 1 == tail[0][0]:
            runs[-1], tail = (runs[-1][0], tail[0][1]), tail[1:]
        return FactIds((*runs, *tail))


@dataclass
class DaySums:
    """One posting day's sums: its facts, `UsageCosts.state()`, `SpendSummary.state()`, and the ids of
    the facts summed."""

    facts: int = 0
    usage: dict[tuple, list] = field(default_factory=dict)
    spend: dict[tuple, list] = field(default_factory=dict)
    unmapped: dict[tuple, list] = field(default_factory=dict)
    ids: FactIds = field(default_factory=FactIds)

    def to_data(self) -> dict:
        return {
            "facts": self.facts,
            "usage": [[_encode(k), _encode(v)] for k, v in self.usage.items()],
            "spend": [[_encode(k), _encode(v)] for k, v in self.spend.items()],
            "unmapped": [[_encode(k), _encode(v)] for k, v in self.unmapped.items()],
            "ids": [list(run) for run in self.ids.runs],
        }

    @classmethod
    def of_data(cls, data: dict) -> DaySums:
        return cls(
            facts=data["facts"],
            usage={_decode(k): list(_decode(v)) for k, v in data["usage"]},
            spend={_decode(k): list(_decode(v)) for k, v in data["spend"]},
            unmapped={_decode(k): list(_decode(v)) for k, v in data["unmapped"]},
            ids=FactIds(tuple((first, last) for first, last in data["ids"])),
        )

    def updated(self, gone: DaySums, new: DaySums, ids: FactIds) -> DaySums:
        """These sums with what `new` summed added and what `gone` summed taken back: the facts `ids`'."""
        sums = DaySums(self.facts + new.facts - gone.facts, self.usage, self.spend, self.unmapped, ids)
        for own, added, taken in (
            (sums.usage, new.usage, gone.usage),
            (sums.spend, new.spend, gone.spend),
            (sums.unmapped, new.unmapped, gone.unmapped),
        ):
            merge_rows(own, added)
            merge_rows(own, taken, take_back=True)
        return sums


# of the kept sums: counted rows and the facts' ids (2); unmapped spend per currency (3). Sums kept in an
# earlier format are classified again.
FORMAT = 3


@dataclass(frozen=True)
class DayInputs:
    """The identity of what a day's sums were computed from: the rules (a digest of the mapping version
    in force, the policies, the code, the day) and the day's current facts (how many, the newest id).
    Stored as one string; kept sums whose rules are today's can be brought up to date fact by fact."""

    rules: str
    facts: int
    newest: int

    @classmethod
    def of(cls, facts: tuple[int, int], *rules: Any) -> DayInputs:
        digest = hashlib.sha256(json.dumps([FORMAT, *rules], default=str, sort_keys=True).encode())
        return cls(digest.hexdigest(), facts[0], facts[1])

    @property
    def key(self) -> str:
        return f"{self.rules}/{self.facts}/{self.newest}"

    @classmethod
    def parse(cls, key: str) -> DayInputs | None:
        """The inputs a stored key names (None for a key of another format: its sums are not used)."""
        parts = key.split("/")
        if len(parts) != 3:
            return None
        return cls(parts[0], int(parts[1]), int(parts[2]))


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
