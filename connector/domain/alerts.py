"""Alerts, decided purely: what deserves a person's attention, each with what to do about it.

An `Alert` has a deduplication key (kind, entity, subject, period): the same alert is raised and sent
once for the same subject and period. Spend spikes compare a day with the trailing average of its
dimension value (project, workspace or a tag such as team); budgets compare a cost center's month to
date with its monthly budget at soft thresholds. Budgets are read from a YAML file beside the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from connector.domain.errors import Problem
from connector.domain.money import ZERO
from connector.domain.yaml_lines import LineDict, load_yaml


@dataclass(frozen=True, slots=True)
class Alert:
    kind: (
        str  # run_failed | run_partial | run_stuck | reconnect_needed | suspense | reconciliation_variance |
    )
    # spend_spike | budget | held_for_approval | missing_day
    entity: str | None
    subject: str
    period: str  # the day (YYYY-MM-DD) or month (YYYY-MM) the alert is about
    message: str
    action: str  # what to do about it
    severity: str = "warning"
    data: Mapping[str, object] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        return "|".join([self.kind, self.entity or "", self.subject, self.period])


# --------------------------------------------------------------------------------------------- spikes


@dataclass(frozen=True, slots=True)
class Spike:
    value: str  # the dimension value, e.g. a project id
    day: date
    amount: Decimal
    average: Decimal  # trailing average over the window before `day` (days with no spend count as zero)


def spikes(
    daily: Mapping[str, Mapping[date, Decimal]],
    day: date,
    *,
    window_days: int,
    factor: Decimal,
    min_amount: Decimal,
) -> list[Spike]:
    """Dimension values whose spend on `day` exceeds factor × their trailing average (and min_amount).

    A value with no history (average zero) spikes once it passes min_amount: new spend is news too.
    """
    found = []
    for value, by_day in sorted(daily.items()):
        amount = by_day.get(day, ZERO)
        if amount < min_amount or amount <= 0:
            continue
        history = [by_day.get(day - timedelta(days=n), ZERO) for n in range(1, window_days + 1)]
        average = sum(history, ZERO) / window_days
        if amount > factor * average:
            found.append(Spike(value, day, amount, average.quantize(Decimal("0.01"))))
    return found


# -------------------------------------------------------------------------------------------- budgets


@dataclass(frozen=True, slots=True)
class Budget:
    cost_center: str  # a QuickBooks class or department, or a Xero tracking option, as in the mapping
    monthly: Decimal
    thresholds: tuple[Decimal, ...]  # percents of the monthly budget, ascending (soft: alerts only)


@dataclass(frozen=True, slots=True)
class BudgetCrossing:
    budget: Budget
    spent: Decimal
    threshold: Decimal  # the highest threshold reached


def crossings(spent: Mapping[str, Decimal], budgets: list[Budget]) -> list[BudgetCrossing]:
    """For each cost center, the highest threshold its month-to-date spend has reached."""
    found = []
    for budget in budgets:
        amount = spent.get(budget.cost_center, ZERO)
        reached = [t for t in budget.thresholds if amount * 100 >= budget.monthly * t]
        if reached:
            found.append(BudgetCrossing(budget, amount, max(reached)))
    return found


DEFAULT_THRESHOLDS = (Decimal(80), Decimal(100))


def parse_budgets(text: str, source: str) -> tuple[list[Budget], list[Problem]]:
    """Read a budgets file (see docs/alerts.md); every problem says file:line and the fix."""
    doc, problems = load_yaml(text, source)
    if problems:
        return [], problems
    if not isinstance(doc, LineDict) or not isinstance(doc.get("cost_centers"), LineDict):
        return [], [Problem(source, "1", "cost_centers", "no cost_centers mapping", "see docs/alerts.md")]
    defaults = (
        _thresholds(doc.get("thresholds"), source, doc.line_of("thresholds"), problems) or DEFAULT_THRESHOLDS
    )
    budgets = []
    centers: LineDict = doc["cost_centers"]
    for name, spec in centers.items():
        line = str(centers.line_of(name))
        if not isinstance(spec, LineDict) or "monthly" not in spec:
            problems.append(
                Problem(
                    source,
                    line,
                    str(name),
                    "a cost center needs a monthly budget",
                    'write {monthly: "5000.00"}',
                )
            )
            continue
        monthly = _amount(spec["monthly"])
        if monthly is None or monthly <= 0:
            problems.append(
                Problem(
                    source,
                    line,
                    f"{name}.monthly",
                    f"{spec['monthly']!r} is not a positive amount",
                    'write the amount as a quoted decimal, e.g. "5000.00"',
                )
            )
            continue
        own = _thresholds(spec.get("thresholds"), source, spec.line_of("thresholds"), problems)
        budgets.append(Budget(str(name), monthly, own or defaults))
    return budgets, problems


def _amount(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None  # floats are refused: an amount is written as a quoted decimal
    try:
        return Decimal(str(value).strip())
    except ArithmeticError:
        return None


def _thresholds(value: object, source: str, line: int, problems: list[Problem]) -> tuple[Decimal, ...]:
    if value is None:
        return ()
    amounts = [_amount(v) for v in value] if isinstance(value, list) else [None]
    if any(a is None or a <= 0 for a in amounts):
        problems.append(
            Problem(
                source, str(line), "thresholds", "thresholds are percents above zero", "write e.g. [80, 100]"
            )
        )
        return ()
    return tuple(sorted(a for a in amounts if a is not None))
