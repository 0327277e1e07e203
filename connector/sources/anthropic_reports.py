"""Anthropic Admin API report pages, parsed: the cost report into billed facts, the usage report into usage.

Cost report (`/v1/organizations/cost_report`, `group_by[]=workspace_id&group_by[]=description`): `amount`
is a **decimal string in cents** — `"123.78912"` USD is $1.2378912, divided by 100 before anything is
rounded. Usage report (`/v1/organizations/usage_report/messages`): token counts per day × API key ×
workspace × model × service tier × context window; cache writes are in the nested `cache_creation` object
(there is no flat `cache_creation_input_tokens` here: reading that name would silently give zero).
A null workspace is the Default Workspace; a null API key is Console/Workbench usage. Both are values,
kept as None. Facts: ../shared/reference/providers.md §2.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from connector.domain.errors import Problem
from connector.domain.facts import (
    ChargeCategory,
    CostBasis,
    Dimensions,
    Fact,
    natural_key,
    posting_date_for_bucket,
)
from connector.domain.money import MoneyError, currency_code, parse_amount
from connector.domain.usage import Usage
from connector.sources.base import PROVIDER_FIX, parse_report_page

CENTS_PER_UNIT = Decimal(100)
COST_DIMENSIONS = (
    "workspace_id",
    "description",
    "cost_type",
    "context_window",
    "model",
    "service_tier",
    "token_type",
)
USAGE_DIMENSIONS = ("api_key_id", "workspace_id", "model", "service_tier", "context_window")
# usage metric (as the report names it) → the nested path it is read from
USAGE_METRICS = {
    "uncached_input_tokens": ("uncached_input_tokens",),
    "cache_read_input_tokens": ("cache_read_input_tokens",),
    "cache_creation.ephemeral_5m_input_tokens": ("cache_creation", "ephemeral_5m_input_tokens"),
    "cache_creation.ephemeral_1h_input_tokens": ("cache_creation", "ephemeral_1h_input_tokens"),
    "output_tokens": ("output_tokens",),
    "server_tool_use.web_search_requests": ("server_tool_use", "web_search_requests"),
}
OPTIONAL_METRICS = {"server_tool_use.web_search_requests"}  # added after the first version of the report
# our dimension names for the report's group-by fields
DIMENSION_NAMES = {
    "workspace_id": "workspace",
    "api_key_id": "api_key",
    "description": "line_item",
    "cost_type": "cost_type",
    "context_window": "context_window",
    "model": "model",
    "service_tier": "service_tier",
    "token_type": "token_type",
}


class ReportContext:
    """Who the parsed facts belong to, and how they are named."""

    def __init__(self, *, source: str, account: str, entity: str, timezone: str) -> None:
        self.source = source
        self.account = account
        self.entity = entity
        self.timezone = timezone


def parse_cost_page(
    data: Any, endpoint: str, page_no: int, ctx: ReportContext
) -> tuple[list[Fact], list[Problem], int]:
    """Billed facts (day × workspace × description) from one cost report page; problems refuse the window."""
    source = f"Anthropic cost report ({endpoint})"
    return parse_report_page(data, source, page_no, _bounds, partial(_cost_fact, ctx))


def parse_usage_page(
    data: Any, endpoint: str, page_no: int, ctx: ReportContext
) -> tuple[list[Usage], list[Problem], int]:
    """Usage buckets (day × key × workspace × model × tier × context window) from one usage report page."""
    source = f"Anthropic usage report ({endpoint})"
    return parse_report_page(data, source, page_no, _bounds, partial(_usage, ctx))


def _bounds(
    bucket: Any, source: str, where: str, problems: list[Problem]
) -> tuple[datetime, datetime] | None:
    if not isinstance(bucket, dict):
        problems.append(Problem(source, where, "", "a bucket is not an object", PROVIDER_FIX))
        return None
    parsed = []
    for name in ("starting_at", "ending_at"):
        value = bucket.get(name)
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            problems.append(
                Problem(source, where, name, f"{value!r} is not an RFC 3339 date-time", PROVIDER_FIX)
            )
            return None
        parsed.append(moment.astimezone(UTC))
    if parsed[1] <= parsed[0]:
        problems.append(Problem(source, where, "ending_at", "is not after starting_at", PROVIDER_FIX))
        return None
    return parsed[0], parsed[1]


def _cost_fact(
    ctx: ReportContext,
    item: dict,
    bounds: tuple[datetime, datetime],
    source: str,
    where: str,
    problems: list[Problem],
) -> Fact | None:
    raw_amount = item.get("amount")
    if not isinstance(raw_amount, str):
        problems.append(
            Problem(source, where, "amount", f"{raw_amount!r} is not a decimal string (cents)", PROVIDER_FIX)
        )
        return None
    # each field parsed on its own, so the problem names the field that is wrong (an amount's message
    # mentions "currency symbols": telling them apart by the text named the wrong one)
    try:
        cents = parse_amount(raw_amount)
    except MoneyError as exc:
        problems.append(Problem(source, where, "amount", str(exc), PROVIDER_FIX))
        return None
    try:
        currency = currency_code(item.get("currency"))
    except MoneyError as exc:
        problems.append(Problem(source, where, "currency", str(exc), PROVIDER_FIX))
        return None
    values = {name: _text(item.get(name)) for name in COST_DIMENSIONS}
    start, end = bounds
    return Fact(
        entity=ctx.entity,
        provider="anthropic",
        provider_account=ctx.account,
        charge_date=start.date(),
        posting_date=posting_date_for_bucket(start, end, ctx.timezone),
        amount=cents / CENTS_PER_UNIT,  # exact: 123.78912 cents is 1.2378912 dollars
        currency=currency,
        natural_key=natural_key("anthropic", ctx.account, "cost", start.date(), *values.values()),
        dimensions=Dimensions.of({DIMENSION_NAMES[k]: v for k, v in values.items()}),
        cost_basis=CostBasis.BILLED,
        charge_category=ChargeCategory.USAGE,
        source=ctx.source,
    )


def _usage(
    ctx: ReportContext,
    item: dict,
    bounds: tuple[datetime, datetime],
    source: str,
    where: str,
    problems: list[Problem],
) -> Usage | None:
    metrics: list[tuple[str, Decimal]] = []
    before = len(problems)
    for name, path in USAGE_METRICS.items():
        value: Any = item
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        if value is None and name in OPTIONAL_METRICS:
            continue
        if path[0] == "cache_creation" and not isinstance(item.get("cache_creation"), dict):
            problems.append(
                Problem(
                    source,
                    where,
                    "cache_creation",
                    "missing or not an object: cache writes are reported only in the nested cache_creation",
                    PROVIDER_FIX,
                )
            )
            break
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append(
                Problem(
                    source, where, name, f"{value!r} is not a token count (a whole number ≥ 0)", PROVIDER_FIX
                )
            )
            continue
        metrics.append((name, Decimal(value)))
    if len(problems) > before:
        return None
    values = {name: _text(item.get(name)) for name in USAGE_DIMENSIONS}
    start, end = bounds
    return Usage(
        entity=ctx.entity,
        provider="anthropic",
        provider_account=ctx.account,
        usage_date=start.date(),
        posting_date=posting_date_for_bucket(start, end, ctx.timezone),
        natural_key=natural_key("anthropic", ctx.account, "usage", start.date(), *values.values()),
        dimensions=Dimensions.of({DIMENSION_NAMES[k]: v for k, v in values.items()}),
        metrics=tuple(sorted(metrics)),
        source=ctx.source,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
