"""Classifying facts under one mapping version: the first matching rule decides, else suspense.

Pure, and cached per distinct dimension tuple, so a million facts cost as many rule evaluations as there
are distinct tuples; the rules are reached through an index instead of being tried one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from connector.domain.facts import Fact
from connector.domain.journals import LedgerTarget
from connector.domain.mapping import (
    SUSPENSE_RULE_ID,
    Allocation,
    Category,
    Condition,
    Destination,
    MappingSet,
    MatchKind,
    Rule,
    fact_values,
)
from connector.domain.money import allocate, split_quantum
from connector.domain.regex_samples import regex_guarantee

# Decisions remembered per classifier, at most: a plan classifies a month a day at a time and the same
# dimension sets recur day after day, so a day's distinct sets (32,000 at a million facts a month, 97,000
# at three million) are decided once a month; beyond this many (a day of a ten-million month) the memory
# is bounded and the decisions are made again (issue 17, docs/performance.md).
REMEMBERED = 250_000


class Classifier:
    """Classifies facts under one mapping version, deciding once per distinct dimension tuple.

    The hot path is one dictionary lookup per fact and one `Allocation` per share: the rules are
    evaluated only the first time a tuple is seen, through an index that goes straight to the rules
    that name the fact's values, so a 200-rule mapping costs about as much as a 5-rule one.
    """

    def __init__(self, mapping: MappingSet) -> None:
        self.mapping = mapping
        self._decisions: dict[tuple, _Decision] = {}
        self._shares: dict[tuple, tuple] = {}  # the same decisions, keyed for the hot path
        self._ledgers = {e.id: e.ledger for e in mapping.entities}
        self._index = _RuleIndex(mapping.rules)

    def decide(self, fact: Fact) -> tuple[str, tuple[Destination, ...]]:
        """The rule id and destinations for a fact (first match wins; else suspense)."""
        decision = self._decision(fact)
        return decision.rule_id, decision.destinations

    def _decision(self, fact: Fact) -> _Decision:
        signature = (
            fact.entity,
            fact.provider,
            fact.provider_account,
            fact.dimensions,
            fact.cost_basis,
            fact.charge_category,
            fact.currency,
        )
        decision = self._decisions.get(signature)
        if decision is None:
            if len(self._decisions) >= REMEMBERED:
                self._decisions.clear()
            decision = self._decisions[signature] = self._decide(fact)
        return decision

    def _decide(self, fact: Fact) -> _Decision:
        ledger = self._ledgers.get(fact.entity)
        if ledger is None:
            raise KeyError(f"fact {fact.natural_key} is for entity {fact.entity!r}, not in the mapping")
        rule = self._index.first_match(fact)
        rule_id, destinations = (
            (rule.id, rule.destinations) if rule else (SUSPENSE_RULE_ID, (self.mapping.suspense,))
        )
        shares = tuple(
            (
                d.category,
                d.target_for(ledger) or self.mapping.role_target("suspense", ledger),
                rule_id,
                self.mapping.version,
                d.percent,
            )
            for d in destinations
        )
        return _Decision(rule_id, destinations, shares)

    def classify(self, fact: Fact) -> list[Allocation]:
        """Split a fact into allocations that sum exactly to its amount."""
        out: list[Allocation] = []
        self.classify_into(fact, out)
        return out

    def classify_all(self, facts: Iterable[Fact]) -> list[Allocation]:
        out: list[Allocation] = []
        classify_into = self.classify_into
        for fact in facts:
            classify_into(fact, out)
        return out

    def classify_into(self, fact: Fact, out: list[Allocation]) -> None:
        """Append a fact's allocations to `out` (the hot path: one lookup, one tuple per share)."""
        signature = (
            fact.entity,
            fact.provider,
            fact.provider_account,
            fact.dimensions.items,
            fact.cost_basis,
            fact.charge_category,
            fact.currency,
        )
        shares = self._shares.get(signature)
        if shares is None:
            if len(self._shares) >= REMEMBERED:
                self._shares.clear()
            shares = self._shares[signature] = self._decide(fact).shares
        if len(shares) == 1:
            out.append(Allocation(fact, fact.amount, *shares[0]))
            return
        unit = split_quantum(fact.amount, fact.currency)
        amounts = allocate(fact.amount, [share[4] for share in shares], unit)
        out.extend(Allocation(fact, amount, *share) for share, amount in zip(shares, amounts, strict=True))


@dataclass(frozen=True, slots=True)
class _Decision:
    rule_id: str
    destinations: tuple[Destination, ...]
    # per share, the Allocation fields after (fact, amount): category, target, rule id, version, percent
    shares: tuple[tuple[Category, LedgerTarget, str, int, Decimal], ...]


class _RuleIndex:
    """Finds the first matching rule without trying every rule.

    Each rule is filed under one of its conditions: the exact values it requires, or else the literal
    text its glob or regex requires the value to start with. Rules with neither are always tried. For
    a fact, the candidates are the rules filed under its values and value prefixes plus the
    always-tried ones, tried in file order: the first that matches wins, exactly as if every rule had
    been tried from the top (filing only skips rules that cannot match).
    """

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        self.by_value: dict[str, dict[str | None, list[int]]] = {}
        self.by_prefix: dict[str, dict[int, dict[str, list[int]]]] = {}
        self.always: list[int] = []
        for position, rule in enumerate(rules):
            condition, prefix = _anchor(rule)
            if condition is None:
                self.always.append(position)
            elif prefix is None:
                by_value = self.by_value.setdefault(condition.dimension, {})
                for value in set(condition.values):
                    by_value.setdefault(value, []).append(position)
            else:
                by_length = self.by_prefix.setdefault(condition.dimension, {})
                by_length.setdefault(len(prefix), {}).setdefault(prefix, []).append(position)

    def first_match(self, fact: Fact) -> Rule | None:
        values = fact_values(fact)
        candidates = list(self.always)
        for dimension, by_value in self.by_value.items():
            candidates.extend(by_value.get(values.get(dimension), ()))
        for dimension, by_length in self.by_prefix.items():
            value = values.get(dimension)
            if value is None:
                continue  # globs and regexes never match a missing value
            for length, by_start in by_length.items():
                candidates.extend(by_start.get(value[:length], ()))
        for position in sorted(candidates):
            if self.rules[position].matches_values(values):
                return self.rules[position]
        return None


# Fields shared by many facts (every OpenAI cost has provider "openai"): poor keys for the rule index.
_COARSE = frozenset(["provider", "account", "provider_account", "entity", "currency", "cost_basis"])


def _anchor(rule: Rule) -> tuple[Condition | None, str | None]:
    """The condition a rule is filed under, and for a pattern the literal start it requires."""
    finite = [c for c in rule.conditions if c.kind in (MatchKind.EXACT, MatchKind.ONE_OF)]
    best = min(finite, key=lambda c: (c.dimension in _COARSE, len(c.values)), default=None)
    if best is not None and best.dimension not in _COARSE:
        return best, None
    for condition in rule.conditions:
        prefix = _required_start(condition)
        if prefix:
            return condition, prefix
    return best, None


def _required_start(condition: Condition) -> str | None:
    """The literal text every value matched by a glob or regex starts with (None if it has none)."""
    if condition.kind is MatchKind.GLOB:
        return re.split(r"[*?\[]", condition.values[0] or "", maxsplit=1)[0] or None
    if condition.kind is MatchKind.REGEX and condition.pattern is not None:
        return regex_guarantee(condition.pattern)[0] or None
    return None
