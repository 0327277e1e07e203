"""Effective-dated versions: which version of a controller's file is in force on a given day.

The mapping and the accounting policies are both versioned the same way: each version has a number and
an effective date, and the version in force on a day is the *newest* (highest number) whose effective
date is on or before that day. A newer version with an earlier date therefore "reaches into the past";
before the earliest effective date the earliest version applies, so every day has a version.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Generic, Protocol, TypeVar


class Versioned(Protocol):
    @property
    def version(self) -> int: ...

    @property
    def effective_from(self) -> date: ...


V = TypeVar("V", bound=Versioned)


@dataclass(frozen=True, slots=True)
class Span(Generic[V]):
    """The days [first_day, last_day] on which `item` is in force (None: open-ended)."""

    first_day: date | None
    last_day: date | None
    item: V


def version_spans(versions: Sequence[V]) -> list[Span[V]]:
    """The versions in force, as consecutive spans of days, oldest first (`versions` must be non-empty)."""
    if not versions:
        raise ValueError("no versions to choose from")
    starts = sorted({v.effective_from for v in versions})
    spans: list[Span[V]] = []
    for index, start in enumerate(starts):
        in_force = max((v for v in versions if v.effective_from <= start), key=lambda v: v.version)
        if spans and spans[-1].item is in_force:
            continue  # the same version goes on (an older version's date changes nothing)
        if spans:
            previous = spans[-1]
            spans[-1] = Span(previous.first_day, start - timedelta(days=1), previous.item)
        spans.append(Span(None if index == 0 else start, None, in_force))
    return spans


class Dated(Protocol):
    """Anything with the first day it is in force: a `Span`, a mapping's `VersionSpan`."""

    @property
    def first_day(self) -> date | None: ...


def span_index(spans: Sequence[Dated], day: date) -> int:
    """The index of the span holding `day` (the first span for a day before every effective date)."""
    starts = [s.first_day or date.min for s in spans]
    return max(bisect.bisect_right(starts, day) - 1, 0)


def in_force(versions: Sequence[V], day: date) -> V:
    spans = version_spans(versions)
    return spans[span_index(spans, day)].item
