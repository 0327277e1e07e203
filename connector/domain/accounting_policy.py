"""Accounting policies: the choices a company makes once and keeps, per entity and provider account.

Controllers declare them in a YAML file beside the mapping (`mappings/policies.yaml`, parsed by
`domain/policy_file.py`, guide in docs/accounting-policies.md). A policy file is versioned like the
mapping: a number, an effective date and a change note; the version in force on a day is the newest whose
effective date has come (`domain/versions.py`), so a change applies from its date on and is never
retroactive by accident.

What a policy decides:
- per provider account (first matching entry, then the entity's and the file's defaults): the billing
  arrangement (`arrears` or `prepaid`), the accrual style (`daily`, or `month_end_reversing`), the posting
  granularity (`daily` or `monthly`) and the invoice tolerance for true-ups;
- per entity: the posting mode (`auto`, `draft`, `approve`), what to do with a journal dated in a locked
  period (`next_open_period` or `hold`), capitalization (ASC 350-40: fine-tuning capitalized or expensed,
  useful life, when amortization starts, which role takes the amortization expense), the expected
  breakage per product of credits the company sells (ASC 606-10-55-48), and where exchange rates come from.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache

from connector.domain.facts import Fact
from connector.domain.journals import Bucket
from connector.domain.money import format_money
from connector.domain.periods import Period
from connector.domain.planner import LockedBehaviour
from connector.domain.posting_buckets import Granularity
from connector.domain.versions import Span, span_index, version_spans


class Billing(StrEnum):
    ARREARS = "arrears"  # the provider bills usage after the fact: accrue it
    PREPAID = "prepaid"  # usage draws down credits bought in advance (lots), FIFO by expiry


class AccrualStyle(StrEnum):
    DAILY = "daily"  # delta accruals per usage day (or per month, by granularity); the AP bill relieves them
    MONTH_END_REVERSING = "month_end_reversing"  # one accrual on the last day, mirrored on the next first day


class PostingMode(StrEnum):
    AUTO = "auto"  # post as planned
    DRAFT = "draft"  # Xero: DRAFT manual journals; QuickBooks (no drafts): kept in the outbox as drafts
    APPROVE = "approve"  # held in the outbox until `tokenbooks approve`


class FineTuning(StrEnum):
    EXPENSE = "expense"  # fine-tuning spend stays where the mapping puts it
    CAPITALIZE = "capitalize"  # fine-tuning spend goes to Capitalized software (ASC 350-40)


class AmortizationStart(StrEnum):
    MONTH_AFTER = "month_after"  # placed in service the month after it was capitalized
    SAME_MONTH = "same_month"


class FxSource(StrEnum):
    TABLE = "table"  # the effective-dated rates file
    LEDGER = "ledger"  # the ledger's own rate for the day, where it offers one; else the table


@dataclass(frozen=True, slots=True)
class Tolerance:
    """The invoice variance a true-up books without review: the larger of an amount and a percentage."""

    absolute: Decimal = Decimal("1.00")
    percent: Decimal = Decimal(0)

    def allows(self, variance: Decimal, invoiced: Decimal) -> bool:
        return abs(variance) <= max(self.absolute, abs(invoiced) * self.percent / 100)

    def describe(self, currency: str | None = None) -> str:
        """For people, as money in the invoice's currency ('25.00 USD', not the policy file's '25.0');
        without a currency, as the policy file gives it (a run's recorded inputs)."""
        if currency is None:
            return f"{self.absolute}" + (f" or {self.percent}% of the invoice" if self.percent else "")
        amount = format_money(self.absolute, currency)
        return amount + (f" or {self.percent}% of the invoice (the larger)" if self.percent else "")


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    """How one provider account is booked. `provider` and `account` are globs (`*` matches any)."""

    provider: str = "*"
    account: str = "*"
    billing: Billing = Billing.ARREARS
    accrual: AccrualStyle = AccrualStyle.DAILY
    granularity: Granularity = Granularity.DAILY
    invoice_tolerance: Tolerance = field(default_factory=Tolerance)
    # days a controller confirms the account had no spend: the close names no missing day for them
    # (`domain/missing_days.py`); its acknowledgement, reviewed and versioned with the rest of the file
    no_cost_days: tuple[date, ...] = ()
    line: int = field(default=0, compare=False)

    def matches(self, provider: str, account: str) -> bool:
        return fnmatch.fnmatchcase(provider, self.provider) and fnmatch.fnmatchcase(account, self.account)

    @property
    def bucket_granularity(self) -> Granularity:
        """Reversing accruals and monthly granularity book one amount per month; prepaid draws are daily."""
        if self.billing is Billing.PREPAID:
            return Granularity.DAILY
        if self.accrual is AccrualStyle.MONTH_END_REVERSING:
            return Granularity.MONTHLY
        return self.granularity


FINE_TUNING_PATTERNS = ("*fine-tun*", "*fine_tun*", "*finetun*", "ft:*", "ft-*")


@dataclass(frozen=True, slots=True)
class CapitalizedProject:
    """An internal-use software project whose spend the mapping's `capitalize` rule `rule` places.

    ASC 350-40: its cost is capitalized until the software is ready for its intended use (`in_service`,
    its go-live; 350-40-25-14); from then on the project's spend is an expense of `expensed_as`
    (post-implementation, 350-40-25-6); its capitalized cost is amortized straight line over
    `useful_life_months` from the month it went into service (350-40-35-4 and 35-6). Until the
    controller records `in_service`, the software is being built: nothing is amortized.
    """

    rule: str  # the mapping rule (category capitalize) whose spend is this project's
    in_service: date | None = None
    useful_life_months: int | None = None  # None: the policy's useful life
    expensed_as: str = "rnd"  # the category (cogs, rnd, sales_marketing, g_and_a) once in service
    line: int = field(default=0, compare=False)

    def in_service_on(self, day: date) -> bool:
        return self.in_service is not None and day >= self.in_service


@dataclass(frozen=True, slots=True)
class CapitalizationPolicy:
    """ASC 350-40: what is capitalized beyond the mapping's `capitalize` rules, and how it is amortized."""

    fine_tuning: FineTuning = FineTuning.EXPENSE
    fine_tuning_patterns: tuple[str, ...] = FINE_TUNING_PATTERNS  # globs on line_item, sku and model
    useful_life_months: int = 36
    amortization_start: AmortizationStart = AmortizationStart.MONTH_AFTER
    amortization_role: str = "amortization_expense"  # `ai_cogs` when the software serves customers
    projects: tuple[CapitalizedProject, ...] = ()

    def project(self, rule: str) -> CapitalizedProject | None:
        return next((p for p in self.projects if p.rule == rule), None)

    def is_fine_tuning(self, fact: Fact) -> bool:
        values = [fact.dimensions.get(name) for name in ("line_item", "sku", "model")]
        return any(
            v is not None and fnmatch.fnmatchcase(v.lower(), p)
            for v in values
            for p in self.fine_tuning_patterns
        )

    def capitalizes(self, fact: Fact) -> bool:
        return self.fine_tuning is FineTuning.CAPITALIZE and self.is_fine_tuning(fact)


@dataclass(frozen=True, slots=True)
class EntityPolicy:
    entity: str
    posting_mode: PostingMode | None = None  # None: the TOKENBOOKS_LEDGER_MODE setting
    locked_period: LockedBehaviour = LockedBehaviour.NEXT_OPEN_DAY
    accounts: tuple[AccountPolicy, ...] = (AccountPolicy(),)  # first match wins; the last matches all
    capitalization: CapitalizationPolicy = field(default_factory=CapitalizationPolicy)
    breakage: tuple[tuple[str, Decimal], ...] = ()  # product → expected breakage rate (0.08 for 8 %)
    default_breakage: Decimal = Decimal(0)
    fx_source: FxSource = FxSource.TABLE
    rates_file: str | None = None  # as written in the policy file (relative to it)

    def account(self, provider: str, account: str) -> AccountPolicy:
        for policy in self.accounts:
            if policy.matches(provider, account):
                return policy
        return AccountPolicy()

    def breakage_rate(self, product: str) -> Decimal:
        return dict(self.breakage).get(product, self.default_breakage)

    def unknown_product(self, product: str) -> str:
        """Why credits sold as `product` would get no breakage of their own ("" when the policies know it).

        Once the policies name expected breakage per product, a product sold under any other name (a
        typo, "API credits" for `api-credits`) would silently take the default rate: it is refused."""
        keys = sorted(p for p, _ in self.breakage)
        if not keys or product in keys:
            return ""
        return (
            f"product {product!r} has no expected breakage in the accounting policies of {self.entity} "
            f"(expected_breakage_percent names: {', '.join(keys)})"
        )

    def summary(self) -> dict:
        """What a run records in its audit inputs (issue 7's run.inputs)."""
        return {
            "posting_mode": self.posting_mode.value if self.posting_mode else None,
            "locked_period": self.locked_period.value,
            "accounts": [
                {
                    "provider": a.provider,
                    "account": a.account,
                    "billing": a.billing.value,
                    "accrual": a.accrual.value,
                    "granularity": a.granularity.value,
                    "invoice_tolerance": a.invoice_tolerance.describe(),
                }
                for a in self.accounts
            ],
            "fine_tuning": self.capitalization.fine_tuning.value,
            "useful_life_months": self.capitalization.useful_life_months,
            "amortization_start": self.capitalization.amortization_start.value,
            "amortization_role": self.capitalization.amortization_role,
            "projects": {
                p.rule: {
                    "in_service": p.in_service.isoformat() if p.in_service else None,
                    "useful_life_months": p.useful_life_months,
                    "expensed_as": p.expensed_as,
                }
                for p in self.capitalization.projects
            },
            "breakage": {p: str(r) for p, r in self.breakage} | {"*": str(self.default_breakage)},
            "fx_source": self.fx_source.value,
            "rates_file": self.rates_file,
        }


@dataclass(frozen=True, slots=True)
class PolicySet:
    """One version of the policy file."""

    version: int
    effective_from: date
    change_note: str
    entities: tuple[EntityPolicy, ...] = ()
    defaults: EntityPolicy = field(default_factory=lambda: EntityPolicy("*"))
    source: str = ""
    content_hash: str = ""

    def entity(self, entity_id: str) -> EntityPolicy:
        """The entity's policy; an entity the file does not name follows its defaults."""
        for policy in self.entities:
            if policy.entity == entity_id:
                return policy
        return replace(self.defaults, entity=entity_id)


BUILT_IN = PolicySet(
    version=0,
    effective_from=date(1970, 1, 1),
    change_note="built-in defaults: arrears, daily accruals, next open period, no capitalization beyond "
    "the mapping, no breakage expected",
    source="(built-in defaults: no policies file configured)",
)


@lru_cache(maxsize=32)
def _spans(versions: tuple[PolicySet, ...]) -> tuple[Span[PolicySet], ...]:
    """The spans of a history, computed once (a plan asks for the policy of every fact's day)."""
    return tuple(version_spans(versions))


@dataclass(frozen=True, slots=True)
class PolicyHistory:
    """Every policy version used, oldest first; the policy in force on a day is looked up per entity."""

    versions: tuple[PolicySet, ...]

    def __post_init__(self) -> None:
        if not self.versions:
            raise ValueError("a policy history needs at least one version")

    @classmethod
    def of(cls, versions: Sequence[PolicySet]) -> PolicyHistory:
        by_number = {p.version: p for p in versions}
        return cls(tuple(by_number[n] for n in sorted(by_number)))

    @property
    def current(self) -> PolicySet:
        return self.versions[-1]

    def spans(self) -> list[Span[PolicySet]]:
        return list(_spans(self.versions))

    def in_force(self, entity: str, day: date) -> EntityPolicy:
        return self.version_on(day).entity(entity)

    def version_on(self, day: date) -> PolicySet:
        """The version of the file in force on `day`."""
        spans = _spans(self.versions)
        return spans[span_index(spans, day)].item

    def account(self, entity: str, provider: str, account: str, day: date) -> AccountPolicy:
        return self.in_force(entity, day).account(provider, account)

    def bucket_days(self, bucket: Bucket) -> list[date]:
        """The usage days a posting bucket sums, as the planner built it (`desired.py`): its own day; and,
        for a month's last day, every day of the month booked monthly (reversing accruals, monthly
        granularity) under the policies in force that day. Prepaid draws (a pool) are daily."""
        month = Period.of(bucket.period)
        if bucket.pool or bucket.period != month.last_day:
            return [bucket.period]
        return [
            day
            for day in month.days()
            if day == bucket.period
            or self.account(bucket.entity, bucket.provider, bucket.provider_account, day).bucket_granularity
            is Granularity.MONTHLY
        ]

    def prepaid(self, entity: str, provider: str, account: str, day: date) -> bool:
        """Whether the provider account's usage of `day` is drawn from its prepaid credit lots."""
        return self.account(entity, provider, account, day).billing is Billing.PREPAID

    def project(self, entity: str, rule: str) -> CapitalizedProject | None:
        """A capitalized project as the newest version that declares it knows it: its go-live is a fact
        about the project, recorded once known, whatever day a version takes effect."""
        for version in reversed(self.versions):
            found = version.entity(entity).capitalization.project(rule)
            if found is not None:
                return found
        return None

    def change_days(self) -> list[date]:
        """The days a newer version takes over (a change of estimate is booked on such a day)."""
        return [s.first_day for s in self.spans() if s.first_day is not None]
