"""OpenAI Costs API: the authoritative dollars, per UTC day × project × line item.

`GET /v1/organization/costs` with daily buckets aligned to UTC midnight, paged with `next_page`, grouped
by project, line item and API key (an API that predates the api_key_id group-by refuses it with a 400:
the pull then goes on without it and says so in a warning).
`amount.value` is a JSON number in dollars (read as Decimal, never float); `amount.currency` is lower
case; group-by fields not requested, or not known, come back null (a value, not an error); `line_item` is
free text and is kept as it is. Facts, schema: ../shared/reference/providers.md §1.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connector.domain.errors import Problem, Severity
from connector.domain.facts import (
    ChargeCategory,
    CostBasis,
    Dimensions,
    Fact,
    natural_key,
    posting_date_for_bucket,
)
from connector.domain.money import MoneyError, currency_code, parse_amount, parse_quantity
from connector.sources.base import (
    PROVIDER_FIX as _FIX_PROVIDER,
)
from connector.sources.base import (
    Chunker,
    Progress,
    PullResult,
    StreamingSource,
    Window,
    gathered,
    iter_report,
    parse_report_page,
)
from connector.sources.http import HttpClient, JsonResponse

COSTS_PATH = "/organization/costs"
# the usage endpoints' maximum for daily buckets; costs allow 180, but a month per page keeps pages small
MAX_DAYS_PER_PAGE = 31


class OpenAICostsSource(StreamingSource):
    """Pulls the Costs API for one OpenAI organization."""

    provider = "openai"

    def __init__(
        self,
        client: HttpClient,
        *,
        organization: str,
        entity: str,
        timezone: str,
        lag_days: int = 3,
        group_by: tuple[str, ...] = ("project_id", "line_item", "api_key_id"),
    ) -> None:
        self.client = client
        self.provider_account = organization
        self.entity = entity
        self.timezone = timezone
        self.lag_days = lag_days
        self.group_by = group_by
        self.name = "openai.costs"
        ZoneInfo(timezone)  # fail early on a bad zone

    def pull(self, window: Window, progress: Progress | None = None) -> PullResult:
        return gathered(self, window, self.stream(window, progress))

    def stream(self, window: Window, progress: Progress | None = None) -> Iterator[PullResult]:
        """The window a page at a time. An API older than the api_key_id group-by (2026) answers its
        first page 400: the window is read again without it, and from now on."""
        answered: list[JsonResponse] = []
        yield from self._stream(window, progress, answered)
        if answered:
            self.group_by = tuple(g for g in self.group_by if g != "api_key_id")
            yield from self._stream(window, progress, [])
            warning = PullResult(self.name, self.provider, self.provider_account, window)
            warning.problems.append(_group_by_refused(answered[0].url))
            yield warning

    def _stream(self, window: Window, progress: Progress | None, answered: list) -> Iterator[PullResult]:
        tally = PullResult(self.name, self.provider, self.provider_account, window)
        by_key = "api_key_id" in self.group_by
        pieces = Chunker(tally)
        for page, facts in iter_report(
            self.client,
            COSTS_PATH,
            daily_buckets(window, self.group_by),
            self._parse_page,
            tally,
            label="OpenAI costs",
            progress=progress,
            accept=lambda page_no: (400,) if by_key and page_no == 1 else (),
            answered=answered,
        ):
            yield pieces.chunk([page.producing(facts)], facts=facts)

    # ------------------------------------------------------------------------------------------ parsing

    def _parse_page(self, data: Any, url: str, page_no: int) -> tuple[list[Fact], list[Problem], int]:
        return parse_report_page(data, f"OpenAI Costs API ({url})", page_no, bucket_bounds, self._fact)

    def _fact(
        self,
        item: Any,
        bounds: tuple[datetime, datetime],
        source: str,
        where: str,
        problems: list[Problem],
    ) -> Fact | None:
        amount_field = item.get("amount")
        if not isinstance(amount_field, dict):
            problems.append(Problem(source, where, "amount", "missing or not an object", _FIX_PROVIDER))
            return None
        try:  # each field on its own: an amount's message mentions "currency symbols"
            amount = parse_amount(amount_field.get("value"))
        except MoneyError as exc:
            problems.append(Problem(source, where, "amount.value", str(exc), _FIX_PROVIDER))
            return None
        try:
            currency = currency_code(amount_field.get("currency"))
        except MoneyError as exc:
            problems.append(Problem(source, where, "amount.currency", str(exc), _FIX_PROVIDER))
            return None
        start, end = bounds
        project, line_item, api_key = item.get("project_id"), item.get("line_item"), item.get("api_key_id")
        return Fact(
            entity=self.entity,
            provider=self.provider,
            provider_account=self.provider_account,
            charge_date=start.date(),
            posting_date=posting_date_for_bucket(start, end, self.timezone),
            amount=amount,
            currency=currency,
            natural_key=natural_key(
                self.provider, self.provider_account, "costs", start.date(), project, line_item, api_key
            ),
            dimensions=Dimensions.of(project=project, line_item=line_item, api_key=api_key),
            cost_basis=CostBasis.BILLED,
            charge_category=ChargeCategory.USAGE,
            quantity=_quantity(item.get("quantity"), source, where, problems),
            unit=_unit(item.get("quantity_unit"), source, where, problems),
            source=self.name,
        )


def _quantity(value: Any, source: str, where: str, problems: list[Problem]) -> Decimal | None:
    """`quantity` as an exact Decimal. The spec types it `number` and its own example is the integer
    10000, so integers (and the Decimals JSON floats are parsed into) are what arrives; a decimal string
    is read too. It only describes the cost, so anything else is dropped with a warning, never refused."""
    if value is None:
        return None
    number = parse_quantity(value)
    if number is None:
        problems.append(_ignored(source, where, "quantity", value))
    return number


def _unit(value: Any, source: str, where: str, problems: list[Problem]) -> str | None:
    if value is None or isinstance(value, str):
        return value
    problems.append(_ignored(source, where, "quantity_unit", value))
    return None


def _ignored(source: str, where: str, field_name: str, value: Any) -> Problem:
    return Problem(
        source,
        where,
        field_name,
        f"{value!r} is not what the Costs API documents; the cost is booked without it",
        "nothing to do: the amount is unaffected; report it if it persists",
        Severity.WARNING,
    )


def _group_by_refused(url: str) -> Problem:
    return Problem(
        f"OpenAI Costs API ({url})",
        "page 1",
        "group_by",
        "this organization's API refused group_by=api_key_id (HTTP 400); costs were pulled per project "
        "and line item only",
        "nothing to do: per-key costs appear once OpenAI offers them to the organization",
        Severity.WARNING,
    )


def daily_buckets(window: Window, group_by: tuple[str, ...]) -> dict[str, Any]:
    """The request for a window's daily buckets, which the Costs and Usage APIs share."""
    start, end = window.utc_bounds()
    return {
        "start_time": int(start.timestamp()),
        "end_time": int(end.timestamp()),
        "bucket_width": "1d",
        "group_by": list(group_by),
        "limit": min(MAX_DAYS_PER_PAGE, window.days),
    }


def bucket_bounds(
    bucket: Any, source: str, where: str, problems: list[Problem]
) -> tuple[datetime, datetime] | None:
    if not isinstance(bucket, dict):
        problems.append(Problem(source, where, "", "a bucket is not an object", _FIX_PROVIDER))
        return None
    start, end = bucket.get("start_time"), bucket.get("end_time")
    for name, value in (("start_time", start), ("end_time", end)):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(
                Problem(source, where, name, f"{value!r} is not a Unix time in seconds", _FIX_PROVIDER)
            )
            return None
    assert isinstance(start, int)  # checked just above, for the type checker
    assert isinstance(end, int)
    try:
        start_at = datetime.fromtimestamp(start, UTC)
        end_at = datetime.fromtimestamp(end, UTC)
    except (ValueError, OverflowError, OSError):  # beyond the years a datetime holds
        problems.append(
            Problem(source, where, "start_time", f"{start!r}..{end!r} is not a time", _FIX_PROVIDER)
        )
        return None
    if end_at <= start_at:
        problems.append(Problem(source, where, "end_time", "is not after start_time", _FIX_PROVIDER))
        return None
    return start_at, end_at
