"""Every mapping version ever used, and which one is in force on a given day.

Controllers change the mapping over time; each version has an effective date. The version in force on
a day is the *newest* version (highest `mapping_version`) whose effective date is on or before that day.
So a newer version with an earlier effective date "reaches into the past": from its date on it
overrides every older version, and the planner turns the changed classification of those days into
reclass journals (never edits of what was posted).

Before the earliest effective date, the earliest version applies: a fact is always classified, and
nothing is dropped. An entity added in a later version is classified by the versions that declare it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from connector.domain.classifier import Classifier
from connector.domain.facts import Fact
from connector.domain.mapping import Allocation, MappingSet
from connector.domain.periods import Period
from connector.domain.versions import span_index, version_spans

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class VersionSpan:
    """The days [first_day, last_day] on which `mapping` is in force (None: open-ended)."""

    first_day: date | None
    last_day: date | None
    mapping: MappingSet


@dataclass(frozen=True, slots=True)
class MappingHistory:
    """Mapping versions, oldest first (ordered by `mapping_version`)."""

    versions: tuple[MappingSet, ...]

    def __post_init__(self) -> None:
        if not self.versions:
            raise ValueError("a mapping history needs at least one version")
        numbers = [m.version for m in self.versions]
        if numbers != sorted(set(numbers)):
            raise ValueError(f"mapping versions must be distinct and in order, got {numbers}")

    @classmethod
    def of(cls, versions: Iterable[MappingSet]) -> MappingHistory:
        """A history from versions in any order; the last one given wins a tie on the version number."""
        by_number = {m.version: m for m in versions}
        return cls(tuple(by_number[n] for n in sorted(by_number)))

    @property
    def current(self) -> MappingSet:
        return self.versions[-1]

    def with_newest(self, candidate: MappingSet) -> MappingHistory:
        """This history as if `candidate` were applied now: versions it would supersede are dropped."""
        kept = [m for m in self.versions if m.version < candidate.version]
        return MappingHistory((*kept, candidate))

    def spans(self, entity: str) -> list[VersionSpan]:
        """The versions in force for `entity`, as consecutive spans of days (oldest first)."""
        declaring = [m for m in self.versions if any(e.id == entity for e in m.entities)]
        if not declaring:
            raise KeyError(f"entity {entity!r} is in no version of the mapping")
        return [VersionSpan(s.first_day, s.last_day, s.item) for s in version_spans(declaring)]

    def in_force(self, entity: str, day: date) -> MappingSet:
        spans = self.spans(entity)
        return spans[span_index(spans, day)].mapping

    def classifier(self) -> HistoryClassifier:
        return HistoryClassifier(self)

    def describe_change(self, entity: str, days: Sequence[date], placed: Mapping[date, set[int]]) -> str:
        """What moved the spend of `days` (a reclass): the versions that placed it before (`placed`: the
        stored allocations' versions per day), the version in force now, and its change note. "" when no
        mapping version changed there (the accounting policies did)."""
        months = {Period.of(day) for day in days}
        before = sorted({v for day, versions in placed.items() if Period.of(day) in months for v in versions})
        now = sorted({self.in_force(entity, day).version for day in days})
        if not before or before == now:
            return ""
        by_number = {m.version: m for m in self.versions}
        notes = "; ".join(
            f"version {v} effective {by_number[v].effective_from}: {by_number[v].change_note}" for v in now
        )
        return (
            f"Reclass for a mapping change: version {', '.join(map(str, before))} → "
            f"{', '.join(map(str, now))} ({notes})"
        )


class HistoryClassifier:
    """Classifies each fact under the version in force on its posting date (one Classifier per version)."""

    def __init__(self, history: MappingHistory) -> None:
        self.history = history
        self._classifiers = {m.version: Classifier(m) for m in history.versions}
        self._spans: dict[str, list[VersionSpan]] = {}
        self._by_day: dict[tuple[str, date], Classifier] = {}

    def for_fact(self, fact: Fact) -> Classifier:
        key = (fact.entity, fact.posting_date)
        classifier = self._by_day.get(key)
        if classifier is None:
            spans = self._spans.get(fact.entity)
            if spans is None:
                spans = self._spans[fact.entity] = self.history.spans(fact.entity)
            mapping = spans[span_index(spans, fact.posting_date)].mapping
            classifier = self._by_day[key] = self._classifiers[mapping.version]
        return classifier

    def classify(self, fact: Fact) -> list[Allocation]:
        return self.for_fact(fact).classify(fact)

    def classify_keyed(self, items: Iterable[tuple[K, Fact]]) -> tuple[list[K], list[Allocation]]:
        """The allocations of many (key, fact) pairs, and beside each the key of its fact (e.g. the stored
        fact's id): two parallel lists, without a list per fact."""
        keys: list[K] = []
        out: list[Allocation] = []
        last_day, classifier = None, None
        for key, fact in items:
            day = (fact.entity, fact.posting_date)
            if day != last_day:  # facts come day by day: most of the time the day has not changed
                last_day, classifier = day, self.for_fact(fact)
            before = len(out)
            classifier.classify_into(fact, out)  # type: ignore[union-attr]
            keys.extend([key] * (len(out) - before))
        return keys, out

    def classify_all(self, facts: Iterable[Fact]) -> list[Allocation]:
        out: list[Allocation] = []
        if len(self._classifiers) == 1:
            (only,) = self._classifiers.values()
            for fact in facts:
                only.classify_into(fact, out)
            return out
        last_key, classifier = None, None
        for fact in facts:
            key = (fact.entity, fact.posting_date)
            if key != last_key:  # facts come day by day: most of the time the day has not changed
                last_key, classifier = key, self.for_fact(fact)
            classifier.classify_into(fact, out)  # type: ignore[union-attr]
        return out
