"""The policy file: YAML a controller reads in a pull request, parsed with file:line problems.

    policy_version: 2
    effective_from: 2026-11-01
    change_note: Fine-tuning of the support model is capitalized from November (approved by J. Rivera).
    defaults:                      # every entity and provider account, unless said otherwise
      billing: arrears             # arrears | prepaid
      accrual: daily               # daily | month_end_reversing
      granularity: daily           # daily | monthly
      invoice_tolerance: {absolute: 5.00, percent: 0.5}
      locked_period: next_open_period   # next_open_period | hold
      posting_mode: auto           # auto | draft | approve
      capitalization: {fine_tuning: expense, useful_life_months: 36, amortization_start: month_after,
                       amortization_role: amortization_expense,
                       projects: {capitalize-billing-v2: {in_service: 2026-06-01, expensed_as: rnd}}}
      expected_breakage_percent: {default: 0, api-credits: 8}
      fx: {source: table, rates_file: fx_rates.csv}
    entities:
      acme-us:
        accounts:                  # first match wins; provider and account are globs
          - {provider: openai, account: org-acme-analytics, billing: arrears, accrual: daily}
          - {provider: aws, account: "123456789012", no_cost_days: [2026-11-30]}  # confirmed: no spend

An entity inherits the defaults and overrides what it names; an account entry inherits the entity's
account keys. Every problem names file:line, the key and the fix, like the mapping's.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from connector.domain.accounting_policy import (
    AccountPolicy,
    AccrualStyle,
    AmortizationStart,
    Billing,
    CapitalizationPolicy,
    CapitalizedProject,
    EntityPolicy,
    FineTuning,
    FxSource,
    PolicySet,
    PostingMode,
    Tolerance,
)
from connector.domain.errors import Problem, errors_only
from connector.domain.mapping import ROLES
from connector.domain.planner import LockedBehaviour
from connector.domain.posting_buckets import Granularity
from connector.domain.versioned_file import FileReader, read_document, read_effective_from, read_version
from connector.domain.yaml_lines import LineDict, LineList

SEE_GUIDE = "see docs/accounting-policies.md and mappings/policies.yaml"
TOP_KEYS = ("policy_version", "effective_from", "change_note", "defaults", "entities")
ACCOUNT_KEYS = ("billing", "accrual", "granularity", "invoice_tolerance")
ENTITY_KEYS = (
    *ACCOUNT_KEYS,
    "posting_mode",
    "locked_period",
    "capitalization",
    "expected_breakage_percent",
    "fx",
    "accounts",
)
CAPITALIZATION_KEYS = (
    "fine_tuning",
    "fine_tuning_patterns",
    "useful_life_months",
    "amortization_start",
    "amortization_role",
    "projects",
)
PROJECT_KEYS = ("in_service", "useful_life_months", "expensed_as")
EXPENSE_CATEGORIES = ("cogs", "rnd", "sales_marketing", "g_and_a")  # where a project's spend goes once live
E = TypeVar("E", bound=StrEnum)


class _Reader(FileReader):
    """Collects problems while reading a policy file, and reads its choices and numbers."""

    def choice(self, node: LineDict, key: str, kind: type[E], default: E, where: str) -> E:
        if key not in node:
            return default
        try:
            return kind(node[key])
        except ValueError:
            self.problem(
                node.line_of(key),
                f"{where}.{key}",
                f"{node[key]!r} is not one of {', '.join(k.value for k in kind)}",
                f"write one of: {', '.join(k.value for k in kind)}",
            )
            return default

    def decimal(
        self, node: LineDict, key: str, where: str, *, low: Decimal, high: Decimal | None
    ) -> Decimal | None:
        value = node.get(key)
        try:
            number = None if isinstance(value, bool) else Decimal(str(value))
        except (InvalidOperation, ValueError):
            number = None
        if number is None or not number.is_finite() or number < low or (high is not None and number > high):
            bounds = f"from {low}" + (f" to {high}" if high is not None else "")
            self.problem(
                node.line_of(key), f"{where}.{key}", f"{value!r} is not a number {bounds}", "write e.g. 5.00"
            )
            return None
        return number


def parse_policies(text: str, source: str) -> tuple[PolicySet | None, list[Problem]]:
    """Parse a policy file; the policies only when there is no error (warnings come along)."""
    reader = _Reader(source)
    document = read_document(text, reader, "policy file", SEE_GUIDE)
    if document is None:
        return None, reader.problems
    reader.known_keys(document, TOP_KEYS, "the top level")
    version = read_version(reader, document, "policy_version")
    effective_from = read_effective_from(reader, document)
    change_note = document.get("change_note")
    if not isinstance(change_note, str) or not change_note.strip():
        reader.problem(
            document.line_of("change_note"),
            "change_note",
            "missing",
            "say in a sentence why this version exists",
        )
    defaults = EntityPolicy("*")
    node = document.get("defaults")
    if node is not None:
        defaults = _entity(reader, node, defaults, "defaults", document.line_of("defaults"))
    entities = _entities(reader, document, defaults)
    if errors_only(reader.problems) or version is None or effective_from is None:
        return None, reader.problems
    return (
        PolicySet(
            version=version,
            effective_from=effective_from,
            change_note=str(change_note),
            entities=tuple(entities),
            defaults=defaults,
            source=source,
            content_hash=hashlib.sha256(text.encode()).hexdigest(),
        ),
        reader.problems,
    )


def _entities(reader: _Reader, doc: LineDict, defaults: EntityPolicy) -> list[EntityPolicy]:
    node = doc.get("entities")
    if node is None:
        return []
    if not isinstance(node, LineDict):
        reader.problem(
            doc.line_of("entities"), "entities", "must map entity ids to their policies", SEE_GUIDE
        )
        return []
    return [
        _entity(
            reader,
            spec,
            replace(defaults, entity=str(entity_id)),
            f"entities.{entity_id}",
            node.line_of(entity_id),
        )
        for entity_id, spec in node.items()
    ]


def _entity(reader: _Reader, node: Any, base: EntityPolicy, where: str, line: int) -> EntityPolicy:
    if not isinstance(node, LineDict):
        reader.problem(line, where, "must be a mapping of policy keys", SEE_GUIDE)
        return base
    reader.known_keys(node, ENTITY_KEYS, where)
    template = _account(reader, node, base.accounts[-1], where)
    own = _accounts(reader, node, template, where) if "accounts" in node else []
    accounts = [*own, *base.accounts[:-1], template]  # the entity's entries, then the defaults' entries
    return replace(
        base,
        posting_mode=reader.choice(node, "posting_mode", PostingMode, PostingMode.AUTO, where)
        if "posting_mode" in node
        else base.posting_mode,
        locked_period=reader.choice(node, "locked_period", LockedBehaviour, base.locked_period, where),
        accounts=tuple(accounts),
        capitalization=_capitalization(reader, node, base.capitalization, where),
        **_breakage(reader, node, base, where),
        **_fx(reader, node, base, where),
    )


def _account(reader: _Reader, node: LineDict, base: AccountPolicy, where: str) -> AccountPolicy:
    """The account keys of an entity, defaults or account entry, over `base`."""
    account = replace(
        base,
        billing=reader.choice(node, "billing", Billing, base.billing, where),
        accrual=reader.choice(node, "accrual", AccrualStyle, base.accrual, where),
        granularity=reader.choice(node, "granularity", Granularity, base.granularity, where),
        invoice_tolerance=_tolerance(reader, node, base.invoice_tolerance, where),
        line=node.line,
    )
    if (
        "granularity" in node
        and account.granularity is Granularity.DAILY
        and account.accrual is AccrualStyle.MONTH_END_REVERSING
    ):
        reader.problem(
            node.line_of("granularity"),
            f"{where}.granularity",
            "month_end_reversing books one accrual per month; it cannot be daily",
            "remove `granularity` or write `granularity: monthly`",
        )
    if (
        "granularity" in node
        and account.granularity is Granularity.MONTHLY
        and account.billing is Billing.PREPAID
    ):
        reader.problem(
            node.line_of("granularity"),
            f"{where}.granularity",
            "prepaid credits are drawn and expire by the day; prepaid consumption is always daily",
            "remove `granularity` for a prepaid account",
        )
    return account


def _accounts(reader: _Reader, node: LineDict, template: AccountPolicy, where: str) -> list[AccountPolicy]:
    items = node["accounts"]
    if not isinstance(items, LineList):
        reader.problem(
            node.line_of("accounts"),
            f"{where}.accounts",
            "must be a list",
            "start each entry with `- provider:`",
        )
        return []
    found = []
    for index, item in enumerate(items):
        at = f"{where}.accounts[{index}]"
        if not isinstance(item, LineDict):
            reader.problem(
                items.line_of(index),
                at,
                "must be a mapping",
                "write {provider: openai, account: …, billing: …}",
            )
            continue
        reader.known_keys(item, ("provider", "account", *ACCOUNT_KEYS, "no_cost_days"), at)
        provider = item.get("provider")
        if not isinstance(provider, str) or not provider:
            reader.problem(
                item.line, f"{at}.provider", "missing", "name the provider (openai, anthropic, aws …) or `*`"
            )
            continue
        account = str(item.get("account", "*"))
        entry = replace(_account(reader, item, template, at), provider=provider, account=account)
        found.append(replace(entry, no_cost_days=_no_cost_days(reader, item, at)))
    return found


def _no_cost_days(reader: _Reader, item: LineDict, at: str) -> tuple[date, ...]:
    """`no_cost_days:` the days the controller confirms the account had no spend (the close's check)."""
    if "no_cost_days" not in item:
        return ()
    days = item["no_cost_days"]
    fix = "write the days the account had no spend, e.g. [2026-11-28, 2026-11-29]"
    if not isinstance(days, LineList):
        reader.problem(item.line_of("no_cost_days"), f"{at}.no_cost_days", "must be a list of days", fix)
        return ()
    for index, day in enumerate(days):
        if not isinstance(day, date):
            where = f"{at}.no_cost_days[{index}]"
            reader.problem(days.line_of(index), where, f"{day!r} is not a date", fix)
    return tuple(sorted(day for day in days if isinstance(day, date)))


def _tolerance(reader: _Reader, node: LineDict, base: Tolerance, where: str) -> Tolerance:
    value = node.get("invoice_tolerance")
    if value is None:
        return base
    if not isinstance(value, LineDict):
        absolute = reader.decimal(node, "invoice_tolerance", where, low=Decimal(0), high=None)
        return Tolerance(absolute, Decimal(0)) if absolute is not None else base
    reader.known_keys(value, ("absolute", "percent"), f"{where}.invoice_tolerance")
    at = f"{where}.invoice_tolerance"
    absolute = (
        reader.decimal(value, "absolute", at, low=Decimal(0), high=None)
        if "absolute" in value
        else Decimal(0)
    )
    percent = (
        reader.decimal(value, "percent", at, low=Decimal(0), high=Decimal(100))
        if "percent" in value
        else Decimal(0)
    )
    return Tolerance(absolute or Decimal(0), percent or Decimal(0))


def _capitalization(
    reader: _Reader, node: LineDict, base: CapitalizationPolicy, where: str
) -> CapitalizationPolicy:
    spec = node.get("capitalization")
    if spec is None:
        return base
    at = f"{where}.capitalization"
    if not isinstance(spec, LineDict):
        reader.problem(node.line_of("capitalization"), at, "must be a mapping", SEE_GUIDE)
        return base
    reader.known_keys(spec, CAPITALIZATION_KEYS, at)
    life = _months(reader, spec, base.useful_life_months, at)
    patterns = spec.get("fine_tuning_patterns", base.fine_tuning_patterns)
    if not isinstance(patterns, list | tuple) or not all(isinstance(p, str) and p for p in patterns):
        reader.problem(
            spec.line_of("fine_tuning_patterns"),
            f"{at}.fine_tuning_patterns",
            "must be a list of globs",
            'write e.g. ["*fine-tun*", "ft:*"]',
        )
        patterns = base.fine_tuning_patterns
    role = spec.get("amortization_role", base.amortization_role)
    if role not in ROLES:
        reader.problem(
            spec.line_of("amortization_role"),
            f"{at}.amortization_role",
            f"{role!r} is not a mapping role",
            "write amortization_expense, or ai_cogs when the capitalized software serves customers",
        )
        role = base.amortization_role
    return CapitalizationPolicy(
        fine_tuning=reader.choice(spec, "fine_tuning", FineTuning, base.fine_tuning, at),
        fine_tuning_patterns=tuple(p.lower() for p in patterns),
        useful_life_months=life,
        amortization_start=reader.choice(
            spec, "amortization_start", AmortizationStart, base.amortization_start, at
        ),
        amortization_role=role,
        projects=_projects(reader, spec, base.projects, at) if "projects" in spec else base.projects,
    )


def _months(reader: _Reader, spec: LineDict, default: int, at: str) -> int:
    life = spec.get("useful_life_months", default)
    if isinstance(life, bool) or not isinstance(life, int) or not 1 <= life <= 600:
        reader.problem(
            spec.line_of("useful_life_months"),
            f"{at}.useful_life_months",
            f"{life!r} is not 1..600 months",
            "write e.g. 36",
        )
        return default
    return life


def _projects(
    reader: _Reader, spec: LineDict, base: tuple[CapitalizedProject, ...], at: str
) -> tuple[CapitalizedProject, ...]:
    """`projects:` maps the id of each capitalize rule of the mapping to its project: go-live, life, and
    the category its spend goes to once live."""
    node = spec["projects"]
    if not isinstance(node, LineDict):
        reader.problem(
            spec.line_of("projects"),
            f"{at}.projects",
            "must map capitalize rule ids to their projects",
            "write e.g. {capitalize-billing-v2: {in_service: 2026-06-01, expensed_as: rnd}}",
        )
        return base
    projects = []
    for rule, entry in node.items():
        where = f"{at}.projects.{rule}"
        if not isinstance(entry, LineDict):
            reader.problem(
                node.line_of(rule),
                where,
                "must be a mapping",
                "write {in_service: 2026-06-01, expensed_as: rnd}",
            )
            continue
        reader.known_keys(entry, PROJECT_KEYS, where)
        in_service = entry.get("in_service")
        if in_service is not None and not isinstance(in_service, date):
            reader.problem(
                entry.line_of("in_service"),
                f"{where}.in_service",
                f"{in_service!r} is not a date",
                "write the day the software was ready for its intended use, e.g. 2026-06-01",
            )
            in_service = None
        expensed_as = entry.get("expensed_as")
        if expensed_as not in EXPENSE_CATEGORIES:
            reader.problem(
                entry.line_of("expensed_as") or entry.line,
                f"{where}.expensed_as",
                "missing" if expensed_as is None else f"{expensed_as!r} is not an expense category",
                f"say where the project's spend goes once it is in service: one of {', '.join(EXPENSE_CATEGORIES)}",
            )
            expensed_as = "rnd"
        life = _months(reader, entry, 0, where) if "useful_life_months" in entry else None
        projects.append(
            CapitalizedProject(str(rule), in_service, life or None, str(expensed_as), line=node.line_of(rule))
        )
    return tuple(projects)


def _breakage(reader: _Reader, node: LineDict, base: EntityPolicy, where: str) -> dict[str, Any]:
    spec = node.get("expected_breakage_percent")
    if spec is None:
        return {}
    at = f"{where}.expected_breakage_percent"
    if not isinstance(spec, LineDict):
        reader.problem(
            node.line_of("expected_breakage_percent"),
            at,
            "must map products to percentages",
            "write e.g. {default: 0, api-credits: 8}",
        )
        return {}
    rates = {}
    for product in spec:
        percent = reader.decimal(spec, product, at, low=Decimal(0), high=Decimal(100))
        if percent is not None:
            rates[str(product)] = percent / 100
    default = rates.pop("default", base.default_breakage)
    return {"breakage": tuple(sorted({**dict(base.breakage), **rates}.items())), "default_breakage": default}


def _fx(reader: _Reader, node: LineDict, base: EntityPolicy, where: str) -> dict[str, Any]:
    spec = node.get("fx")
    if spec is None:
        return {}
    at = f"{where}.fx"
    if not isinstance(spec, LineDict):
        reader.problem(
            node.line_of("fx"), at, "must be a mapping", "write {source: table, rates_file: fx_rates.csv}"
        )
        return {}
    reader.known_keys(spec, ("source", "rates_file"), at)
    rates_file = spec.get("rates_file", base.rates_file)
    if rates_file is not None and not isinstance(rates_file, str):
        reader.problem(
            spec.line_of("rates_file"), f"{at}.rates_file", "must be a file path", "write e.g. fx_rates.csv"
        )
        rates_file = base.rates_file
    return {
        "fx_source": reader.choice(spec, "source", FxSource, base.fx_source, at),
        "rates_file": rates_file,
    }
