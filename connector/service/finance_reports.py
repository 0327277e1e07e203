"""Reports: load the books and the facts of a range of months and compute the figures (domain/finance_figures.py).

`tokenbooks report spend|costs|tokens|prepaid|breakage|margin` prints each as a table or `--json`.
Figures from the books are what tokenbooks posted (or holds in its outbox on the way to the ledger);
figures from facts are the current provider data, classified by the mapping version of each day.
The spend report says both views a controller needs: spend by the month it belongs to, and what the
ledger holds each month by posting date, the difference explained journal by journal (`ledger_ties`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from connector.domain.close import lot_lines
from connector.domain.desired import lot_positions
from connector.domain.errors import ConfigError
from connector.domain.finance_figures import (
    PROMOTIONAL_CREDITS,
    LedgerTie,
    Row,
    breakage_rates,
    cost_by,
    cost_per_thousand_tokens,
    gross_margin,
    spend_and_ledger,
)
from connector.domain.mapping import CATEGORY_LABELS, CATEGORY_ROLE
from connector.domain.periods import Period
from connector.service.books import books_on, role_targets
from connector.service.mappings import mapping_history
from connector.service.policies import load_policy_history

# short names, as `ledger_ties` has them: they are the --json keys too (the title says what each counts)
SPEND_COLUMN = "spend"
LEDGER_COLUMN = "ledger"
REPORTS = {
    "spend": (
        "AI spend by month and category (the month it belongs to), and what the ledger holds (by posting date)",
        ("month", "category", "currency", SPEND_COLUMN, LEDGER_COLUMN),
    ),
    "costs": ("Cost by {by}", ("month", "{by}", "currency", "amount")),
    "tokens": (
        "Average cost per 1,000 tokens by model",
        ("model", "currency", "cost", "tokens", "per 1k tokens"),
    ),
    "prepaid": (
        "Prepaid credit utilization on {day}",
        (
            "lot",
            "account",
            "currency",
            "expires",
            "expires within",
            "amount",
            "used",
            "written off",
            "balance",
            "used %",
        ),
    ),
    "breakage": (
        "Breakage on credits sold, {day}",
        ("product", "currency", "sold", "redeemed", "breakage", "realized % (expired)", "expected %"),
    ),
    "margin": ("Gross margin on AI usage", ("month", "currency", "revenue", "AI COGS", "margin", "margin %")),
}


@dataclass
class Report:
    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)
    # the spend report's months: spend tied to what the ledger holds, each difference explained
    ledger_ties: list[LedgerTie] = field(default_factory=list)


def run_report(
    ctx, name: str, *, entity: str, first: Period, last: Period, by: str = "project", day: date | None = None
) -> Report:
    if name not in REPORTS:
        raise ConfigError(f"there is no report {name!r}", fix=f"use one of: {', '.join(REPORTS)}")
    title, columns = REPORTS[name]
    day = day or min(last.last_day, ctx.clock().date())
    fill = {"by": by, "day": day}
    report = Report(name, title.format(**fill), tuple(c.format(**fill) for c in columns))
    if name == "spend":
        report.rows, report.ledger_ties = spend_and_ledger(
            _posted_lines(ctx, entity, first, last), _labels(ctx, entity), first, last
        )
    else:
        report.rows = _ROWS[name](ctx, entity, first, last, by, day)
    return report


def _labels(ctx, entity: str) -> dict[str, str]:
    """The spend report's category of each account a role binds (a month-end reversal is labelled by it)."""
    mapping, _ = ctx.mapping()
    ledger = mapping.entity(entity).ledger
    roles = {role: CATEGORY_LABELS[category] for category, role in CATEGORY_ROLE.items()}
    roles["promotional_credits"] = PROMOTIONAL_CREDITS
    return {
        mapping.role_target(role, ledger).account: label
        for role, label in roles.items()
        if mapping.has_role(role, ledger)
    }


def _posted(ctx, entity: str, first: Period, last: Period):
    with ctx.store.unit_of_work() as uow:
        return uow.outbox.posted_by_bucket(entity, first_day=first.first_day, last_day=last.last_day)


def _allocations(ctx, entity: str, first: Period, last: Period):
    with ctx.store.unit_of_work() as uow:
        stored = uow.facts.current(entity, first.first_day, last.last_day)
    return mapping_history(ctx).classifier().classify_all(s.fact for s in stored)


def _posted_lines(ctx, entity: str, first: Period, last: Period):
    with ctx.store.unit_of_work() as uow:
        return uow.outbox.posted_lines(entity, first.first_day, last.last_day)


def _costs(ctx, entity, first, last, by, day) -> list[Row]:
    return cost_by(_allocations(ctx, entity, first, last), by)


def _tokens(ctx, entity, first, last, by, day) -> list[Row]:
    with ctx.store.unit_of_work() as uow:
        usage = uow.usage.current(entity, first.first_day, last.last_day)
    return cost_per_thousand_tokens(_allocations(ctx, entity, first, last), usage)


def _books(ctx, entity: str, day: date):
    """The books as of `day`: every usage bucket posted through it as history (nothing to classify)."""
    mapping, _ = ctx.mapping()
    policies_file, text = ctx.policies()
    policies = load_policy_history(ctx.store, policies_file, text)
    with ctx.store.unit_of_work() as uow:
        return books_on(
            uow,
            entity=entity,
            day=day,
            policies=policies,
            role_target=role_targets(mapping, mapping.entity(entity).ledger),
        )


def _prepaid(ctx, entity, first, last, by, day) -> list[Row]:
    rows = []
    for lot in lot_lines(lot_positions(_books(ctx, entity, day), day), Period.of(day)):
        within = f"{lot.expires_within} days" if lot.expires_within else ""
        keys = (
            lot.lot_id,
            f"{lot.provider} {lot.provider_account}",
            lot.currency,
            str(lot.expires_on or "never"),
            within,
        )
        rows.append(
            Row(keys, (lot.amount, lot.used, lot.written_off, lot.balance, _percent(lot.used, lot.amount)))
        )
    return rows


def _percent(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part * 100 / whole).quantize(Decimal("0.1")) if whole else None


def _breakage(ctx, entity, first, last, by, day) -> list[Row]:
    return breakage_rates(_books(ctx, entity, day), day)


def _margin(ctx, entity, first, last, by, day) -> list[Row]:
    mapping, _ = ctx.mapping()
    ledger = mapping.entity(entity).ledger
    return gross_margin(_posted(ctx, entity, first, last), {mapping.role_target("ai_cogs", ledger).account})


_ROWS = {  # the spend report's rows come with its ledger ties (run_report)
    "costs": _costs,
    "tokens": _tokens,
    "prepaid": _prepaid,
    "breakage": _breakage,
    "margin": _margin,
}
