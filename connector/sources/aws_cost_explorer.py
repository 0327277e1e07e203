"""AWS Cost Explorer: Bedrock (and other AI services') dollars per UTC day × service × usage type, pulled
without any export.

`ce.get_cost_and_usage` with daily granularity, grouped by SERVICE and USAGE_TYPE, filtered to the AI
services, paged with `NextPageToken`. Models sold through AWS Marketplace (Claude 4.x and others) are billed
under a SERVICE of their own, "Claude Sonnet 4.6 (Amazon Bedrock Edition)", which an exact list of names
never holds: the SERVICE values of the window that contain a search word ("Bedrock") are found first with
`ce.get_dimension_values` and pulled too. `Metrics.UnblendedCost.Amount` is a decimal string (read as Decimal,
never float); a day marked `Estimated: true` is restated later, which the lag days re-read (the natural key
holds no amount, so the restated bucket versions the fact). Each request costs $0.01.
Shapes: https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_GetCostAndUsage.html
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any, cast

from connector.domain.errors import ConfigError, InputError, Problem, RateLimited, Retriable, Severity
from connector.domain.facts import (
    ChargeCategory,
    CostBasis,
    Dimensions,
    Fact,
    natural_key,
    posting_date_for_bucket,
    utc_day_bounds,
)
from connector.domain.money import MoneyError, currency_code, parse_amount, parse_quantity
from connector.retrying import RetryPolicy
from connector.sources.base import (
    PROVIDER_FIX,
    CursorPages,
    Progress,
    PullResult,
    RawPage,
    StreamingSource,
    Window,
    gathered,
)

ENDPOINT = "ce:GetCostAndUsage"
AI_SERVICES = ("Amazon Bedrock", "Amazon SageMaker", "Amazon Q")  # the settings' default (settings.py)
# words a SERVICE value is searched for (the settings' default): Marketplace models on Bedrock are billed
# as "<model> (Amazon Bedrock Edition)" (providers.md §3.1)
SERVICE_SEARCH = ("Bedrock",)
THROTTLED = {
    "ThrottlingException",
    "LimitExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
}
_FIXES = {
    "AccessDeniedException": "grant the credentials the IAM permission ce:GetCostAndUsage (Cost Explorer "
    "must also be enabled for the payer account)",
    "UnrecognizedClientException": "check TOKENBOOKS_AWS_COST_EXPLORER__ACCESS_KEY_ID and its secret",
    "DataUnavailableException": "Cost Explorer has no data for these days yet (it can take 24 hours after "
    "enabling it); the next run pulls them",
    "BillExpirationException": "Cost Explorer keeps 14 months (38 with multi-year data enabled): set "
    "TOKENBOOKS_AWS_COST_EXPLORER__START_DATE to a later day",
    # a page token Cost Explorer no longer takes (it expired, or the data changed between pages): nothing
    # of the window was stored, and only a pull from its first page can go on
    "InvalidNextTokenException": "nothing to do: the next run pulls the window again from its first page",
    "RequestChangedException": "nothing to do: the next run pulls the window again from its first page",
}


class AwsCostExplorerSource(StreamingSource):
    """Pulls Cost Explorer for one AWS (payer) account."""

    provider = "aws"
    name = "aws.cost_explorer"

    def __init__(
        self,
        client: Any,  # a boto3 "ce" client
        *,
        account: str,
        entity: str,
        timezone: str,
        retry: RetryPolicy,
        lag_days: int = 3,
        services: tuple[str, ...] = AI_SERVICES,
        service_search: tuple[str, ...] = (),
    ) -> None:
        self.client = client
        self.provider_account = account
        self.entity = entity
        self.timezone = timezone
        self.retry = retry
        self.lag_days = lag_days
        self.services = services
        self.service_search = service_search

    def pull(self, window: Window, progress: Progress | None = None) -> PullResult:
        return gathered(self, window, self.stream(window, progress))

    def stream(self, window: Window, progress: Progress | None = None) -> Iterator[PullResult]:
        """The window a page at a time; stops after a page with an error."""
        notes: list[Problem] = []
        request = self.request(window, self.services_of(window, notes))
        pages = CursorPages(self.name, ENDPOINT)

        def fetch(token: str | None) -> tuple[object, str | None]:
            if progress:
                progress(pages.count, f"AWS Cost Explorer page {pages.count + 1}")
            params = {**request, "NextPageToken": token} if token else request
            answer = self.retry.call(lambda: self._call("get_cost_and_usage", params, window))
            return (params, answer), answer.get("NextPageToken") or None

        for page_no, fetched in enumerate(pages.iterate(fetch), start=1):
            params, answer = cast(tuple[dict, dict], fetched)
            piece = self._page(window, params, answer, page_no)
            piece.problems[:0], notes = notes, []
            yield piece
            if piece.errors:
                return

    def services_of(self, window: Window, notes: list[Problem]) -> tuple[str, ...]:
        """The SERVICE values to pull: the configured ones, and those of the window that contain a search
        word. Credentials not allowed ce:GetDimensionValues pull the configured ones, with a warning."""
        found: list[str] = []
        for word in self.service_search:
            pages = CursorPages(self.name, "ce:GetDimensionValues")
            params = {
                "TimePeriod": _time_period(window),
                "Dimension": "SERVICE",
                "SearchString": word,
                "Context": "COST_AND_USAGE",
            }

            def fetch(token: str | None, params: dict = params) -> tuple[object, str | None]:
                ask = {**params, "NextPageToken": token} if token else params
                answer = self.retry.call(lambda: self._call("get_dimension_values", ask, window))
                return answer, answer.get("NextPageToken") or None

            try:
                for answer in pages.iterate(fetch):
                    found += _dimension_values(answer)
            except ConfigError as exc:
                if "AccessDeniedException" not in str(exc):  # no credentials at all: the pull says so
                    raise
                notes.append(_search_refused(word, exc))
                return self.services
        return tuple(dict.fromkeys([*self.services, *found]))

    def request(self, window: Window, services: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The GetCostAndUsage request for a window (End is exclusive), for `services` (the configured
        ones when None)."""
        return {
            "TimePeriod": _time_period(window),
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost", "UsageQuantity"],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
            "Filter": {"Dimensions": {"Key": "SERVICE", "Values": list(services or self.services)}},
        }

    def _call(self, operation: str, params: dict[str, Any], window: Window) -> dict[str, Any]:
        from botocore.exceptions import (  # the AWS stack only when AWS is pulled
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        try:
            return getattr(self.client, operation)(**params)
        except ClientError as exc:
            raise _client_error(exc, window, operation) from None
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise ConfigError(
                f"{self.name}: no usable AWS credentials for GetCostAndUsage ({exc})",
                fix="set TOKENBOOKS_AWS_COST_EXPLORER__ACCESS_KEY_ID and __SECRET_ACCESS_KEY, or run with a "
                "role allowed ce:GetCostAndUsage",
            ) from None
        except BotoCoreError as exc:  # endpoint unreachable, read timeout …
            raise Retriable(
                f"{self.name}: Cost Explorer could not be reached ({type(exc).__name__})"
            ) from None

    # ------------------------------------------------------------------------------------------ parsing

    def _page(self, window: Window, params: dict, answer: dict, page_no: int) -> PullResult:
        piece = PullResult(self.name, self.provider, self.provider_account, window)
        where = f"page {page_no}"
        results = answer.get("ResultsByTime")
        if not isinstance(results, list):
            piece.problems.append(
                Problem(self.name, where, "ResultsByTime", "missing or not a list", PROVIDER_FIX)
            )
            return piece
        for t_index, period in enumerate(results):
            self._period(period, f"{where}, ResultsByTime[{t_index}]", piece)
        body = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
        piece.pages.append(RawPage(ENDPOINT, params, json.dumps(body, sort_keys=True)).producing(piece.facts))
        return piece

    def _period(self, period: Any, where: str, piece: PullResult) -> None:
        try:
            day = date.fromisoformat(period["TimePeriod"]["Start"])
        except (TypeError, KeyError, ValueError):
            piece.problems.append(
                Problem(self.name, where, "TimePeriod.Start", "missing or not a day", PROVIDER_FIX)
            )
            return
        basis = CostBasis.ESTIMATED if period.get("Estimated") is True else CostBasis.BILLED
        for g_index, group in enumerate(period.get("Groups") or []):
            piece.received += 1
            fact = self._fact(group, day, basis, f"{where}.Groups[{g_index}]", piece.problems)
            if fact is not None:
                piece.facts.append(fact)

    def _fact(
        self, group: Any, day: date, basis: CostBasis, where: str, problems: list[Problem]
    ) -> Fact | None:
        keys = group.get("Keys") if isinstance(group, dict) else None
        if not isinstance(keys, list) or len(keys) != 2 or not all(isinstance(k, str) for k in keys):
            problems.append(Problem(self.name, where, "Keys", "not [service, usage type]", PROVIDER_FIX))
            return None
        metrics = group.get("Metrics") or {}
        cost = metrics.get("UnblendedCost") or {}
        try:
            amount = parse_amount(cost.get("Amount"))
            currency = currency_code(cost.get("Unit"))
        except MoneyError as exc:
            problems.append(Problem(self.name, where, "Metrics.UnblendedCost", str(exc), PROVIDER_FIX))
            return None
        usage = metrics.get("UsageQuantity") or {}
        service, usage_type = keys
        start, end = utc_day_bounds(day)
        return Fact(
            entity=self.entity,
            provider=self.provider,
            provider_account=self.provider_account,
            charge_date=day,
            posting_date=posting_date_for_bucket(start, end, self.timezone),
            amount=amount,
            currency=currency,
            natural_key=natural_key(
                self.provider, self.provider_account, "cost-explorer", day, service, usage_type
            ),
            dimensions=Dimensions.of(service=service, usage_type=usage_type),
            cost_basis=basis,
            charge_category=ChargeCategory.USAGE,
            quantity=parse_quantity(usage.get("Amount")),
            unit=usage.get("Unit") if isinstance(usage.get("Unit"), str) else None,
            source=self.name,
        )


def _time_period(window: Window) -> dict[str, str]:
    """Cost Explorer's TimePeriod of a window: its first day, and the day after its last (End is exclusive)."""
    return {"Start": window.first_day.isoformat(), "End": (window.last_day + timedelta(days=1)).isoformat()}


def _dimension_values(answer: Any) -> list[str]:
    """The values of a GetDimensionValues answer (`DimensionValues[].Value`)."""
    values = answer.get("DimensionValues") if isinstance(answer, dict) else None
    return [
        item["Value"]
        for item in values or []
        if isinstance(item, dict) and isinstance(item.get("Value"), str) and item["Value"]
    ]


def _search_refused(word: str, exc: ConfigError) -> Problem:
    return Problem(
        "aws.cost_explorer",
        "ce:GetDimensionValues",
        "SERVICE",
        f"the SERVICE values containing {word!r} could not be searched ({exc.message}); only "
        "TOKENBOOKS_AWS_COST_EXPLORER__SERVICES were pulled, so models sold on AWS Marketplace (billed as "
        "'<model> (Amazon Bedrock Edition)') may be missing",
        "grant the credentials ce:GetDimensionValues too, or list those services in "
        "TOKENBOOKS_AWS_COST_EXPLORER__SERVICES (and set __SERVICE_SEARCH=[] to stop searching)",
        Severity.WARNING,
    )


def _client_error(exc: Any, window: Window, operation: str = "get_cost_and_usage") -> Exception:
    """A botocore ClientError as the tokenbooks error that says how to recover."""
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), error.get("Message", "")
    action = "GetDimensionValues" if operation == "get_dimension_values" else "GetCostAndUsage"
    what = f"aws.cost_explorer: {action} for {window.first_day}..{window.last_day} failed: {code}: {message}"
    if code in THROTTLED:
        return RateLimited(what)
    if code in ("AccessDeniedException", "UnrecognizedClientException"):
        return ConfigError(what, fix=_FIXES[code])
    return InputError(what, fix=_FIXES.get(code, "check the AWS Cost Explorer settings; retry later"))


def cost_explorer_client(settings: Any) -> Any:
    """A boto3 `ce` client from the settings (see `aws_client`)."""
    return aws_client("ce", settings)


def aws_client(service: str, settings: Any) -> Any:
    """A boto3 client of `service` from a settings section's keys (or boto3's own credential chain when
    they are empty), region and timeout, with botocore's own retries off: retries happen in one place
    (`connector/retrying.py`). Cost Explorer and the Athena warehouse source share it."""
    import boto3  # the AWS stack only when AWS is pulled
    from botocore.config import Config

    secret = settings.secret_access_key
    token = settings.session_token
    return boto3.client(
        service,
        region_name=settings.region,
        aws_access_key_id=settings.access_key_id or None,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        aws_session_token=token.get_secret_value() if token else None,
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=settings.timeout_seconds,
            read_timeout=settings.timeout_seconds,
        ),
    )
