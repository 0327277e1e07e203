"""The chart-of-accounts mapping: where each kind of AI spend lands in the ledger (the model).

Controllers write it as YAML (see mappings/example.yaml and docs/mapping-guide.md). It binds account
*roles* (AI COGS, R&D, Accrued AI costs, suspense …) to each ledger's real accounts, and holds an ordered
list of rules: the first rule whose conditions all match a fact decides its category and target; a rule
may split the fact by percentages (penny-exact, largest remainder). What no rule matches goes to the
mandatory suspense target, so nothing is ever dropped.

This module holds the parsed mapping's types; `domain/mapping_parser.py` reads and checks the file
(problems as values, each with file:line and a fix) and `domain/classifier.py` classifies facts.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from connector.domain.facts import STANDARD_DIMENSIONS, Fact
from connector.domain.journals import LedgerTarget


class Category(StrEnum):
    COGS = "cogs"
    RND = "rnd"
    SALES_MARKETING = "sales_marketing"
    G_AND_A = "g_and_a"
    CAPITALIZE = "capitalize"
    SUSPENSE = "suspense"


CATEGORY_ROLE: dict[Category, str] = {
    Category.COGS: "ai_cogs",
    Category.RND: "rnd",
    Category.SALES_MARKETING: "sales_marketing",
    Category.G_AND_A: "g_and_a",
    Category.CAPITALIZE: "capitalized_software",
    Category.SUSPENSE: "suspense",
}

CATEGORY_LABELS: dict[Category, str] = {
    Category.COGS: "AI COGS",
    Category.RND: "R&D",
    Category.SALES_MARKETING: "Sales & Marketing",
    Category.G_AND_A: "G&A",
    Category.CAPITALIZE: "Capitalized software",
    Category.SUSPENSE: "Suspense (unallocated)",
}

ROLES: dict[str, str] = {
    "ai_cogs": "AI COGS: tokens that serve paying customers",
    "rnd": "R&D: engineering, coding tools, experiments",
    "sales_marketing": "Sales & Marketing: trials, demos, website chat, marketing content",
    "g_and_a": "G&A: finance, HR, legal, enterprise licences",
    "capitalized_software": "Capitalized software (ASC 350-40 development stage)",
    "accrued_ai_costs": "Accrued AI costs (liability for usage billed in arrears)",
    "prepaid_ai_credits": "Prepaid AI credits (asset until used)",
    "loss_on_expired_credits": "Loss on expired credits",
    "deferred_revenue": "Deferred revenue (credits you sold, not yet used)",
    "ai_usage_revenue": "AI usage revenue",
    "breakage_revenue": "Breakage revenue (ASC 606-10-55-48)",
    "amortization_expense": "Amortization of capitalized software",
    "accumulated_amortization": "Accumulated amortization",
    "suspense": "Suspense: spend no rule matched, to be mapped",
    "promotional_credits": "Promotional AI credits applied (reduces AI expense; free credits from providers)",
}

REQUIRED_ROLES = ("ai_cogs", "rnd", "sales_marketing", "g_and_a", "accrued_ai_costs", "suspense")


# What a rule may test, beyond tags ("tags:" or "tag:<name>").
MATCHABLE = (
    "provider",
    "account",
    "cost_basis",
    "charge_category",
    "currency",
    "entity",
    *STANDARD_DIMENSIONS,
)

HUNDRED = Decimal(100)


class MatchKind(StrEnum):
    EXACT = "exact"
    GLOB = "glob"
    REGEX = "regex"
    ONE_OF = "one_of"


@dataclass(frozen=True, slots=True)
class Condition:
    """One test on one dimension. A `None` value tests for "not grouped / default" (e.g. null workspace)."""

    dimension: str
    kind: MatchKind
    values: tuple[str | None, ...]
    pattern: re.Pattern[str] | None = field(default=None, compare=False)
    line: int = field(default=0, compare=False)

    def matches(self, value: str | None) -> bool:
        if self.kind is MatchKind.EXACT:
            return value == self.values[0]
        if self.kind is MatchKind.ONE_OF:
            return value in self.values
        if value is None:
            return False
        if self.kind is MatchKind.GLOB:
            return fnmatch.fnmatchcase(value, self.values[0] or "")
        return bool(self.pattern and self.pattern.search(value))


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a share of a fact lands: a category and a target in each ledger."""

    percent: Decimal
    category: Category
    targets: tuple[tuple[str, LedgerTarget], ...]
    line: int = field(default=0, compare=False)

    def target_for(self, ledger: str) -> LedgerTarget | None:
        return dict(self.targets).get(ledger)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    conditions: tuple[Condition, ...]
    destinations: tuple[Destination, ...]
    line: int = 0

    def matches(self, fact: Fact) -> bool:
        return self.matches_values(fact_values(fact))

    def matches_values(self, values: Mapping[str, str | None]) -> bool:
        """Match against a fact's values as `fact_values` gives them (read once per fact, not per rule)."""
        return all(c.matches(values.get(c.dimension)) for c in self.conditions)


def fact_values(fact: Fact) -> dict[str, str | None]:
    """Every value a rule can test on a fact: its dimensions and tags, and its own fields."""
    values = fact.dimensions.as_dict()
    values.update(
        provider=fact.provider,
        account=fact.provider_account,
        provider_account=fact.provider_account,
        cost_basis=fact.cost_basis.value,
        charge_category=fact.charge_category.value,
        currency=fact.currency,
        entity=fact.entity,
    )
    return values


@dataclass(frozen=True, slots=True)
class Entity:
    id: str
    name: str
    ledger: str
    currency: str
    timezone: str


@dataclass(frozen=True, slots=True)
class MappingSet:
    """One version of the mapping file, parsed and checked."""

    version: int
    effective_from: date
    change_note: str
    entities: tuple[Entity, ...]
    roles: tuple[tuple[str, tuple[tuple[str, LedgerTarget], ...]], ...]
    rules: tuple[Rule, ...]
    suspense: Destination
    source: str = ""
    content_hash: str = ""
    role_lines: tuple[tuple[str, int], ...] = ()

    def entity(self, entity_id: str) -> Entity:
        for e in self.entities:
            if e.id == entity_id:
                return e
        raise KeyError(f"entity {entity_id!r} is not in the mapping {self.source}")

    def role_target(self, role: str, ledger: str) -> LedgerTarget:
        targets = dict(dict(self.roles)[role])
        return targets[ledger]

    def has_role(self, role: str, ledger: str) -> bool:
        return ledger in dict(dict(self.roles).get(role, ()))

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


SUSPENSE_RULE_ID = "suspense"


class Allocation(NamedTuple):
    """A share of one fact, placed by one rule of one mapping version.

    Immutable like the domain's dataclasses, but a NamedTuple: one is built for every fact classified,
    and a tuple is built three times faster than a frozen dataclass (see docs/performance.md).
    """

    fact: Fact
    amount: Decimal
    category: Category
    target: LedgerTarget
    rule_id: str
    mapping_version: int
    percent: Decimal = HUNDRED

    @property
    def is_suspense(self) -> bool:
        return self.rule_id == SUSPENSE_RULE_ID
