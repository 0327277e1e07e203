"""Azure Cost Management Query API: Azure OpenAI dollars per day × service × meter, pulled without any
export.

`POST {scope}/providers/Microsoft.CostManagement/query` (ActualCost, Custom timeframe, Daily granularity,
grouped by ServiceName and Meter, filtered to the AI services), paged by POSTing the same body to
`properties.nextLink`. The answer is `properties.columns` + `properties.rows` (rows are arrays; `UsageDate`
a number such as 20261101; the cost a JSON number, parsed straight into Decimal). 429 carries its wait in
`x-ms-ratelimit-microsoft.costmanagement-*-retry-after` headers. A 204 with no body (the spec's other
answer: nothing in the scope and period) is a page without rows. Token: OAuth client credentials.
Shapes: https://learn.microsoft.com/rest/api/cost-management/query/usage (api-version 2023-11-01) and
https://learn.microsoft.com/azure/cost-management-billing/automate/manage-automation#error-code-429
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any, cast

import requests

from connector.domain.errors import ConfigError, InputError, Problem, RateLimited, ReconnectNeeded, Retriable
from connector.domain.facts import (
    ChargeCategory,
    Dimensions,
    Fact,
    natural_key,
    posting_date_for_bucket,
    utc_day_bounds,
)
from connector.domain.money import MoneyError, currency_code, parse_amount
from connector.retrying import RetryPolicy, parse_retry_after
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

API_VERSION = "2023-11-01"
NO_CONTENT = 204  # the Query API's documented answer when the scope has no cost in the period (no body)
MANAGEMENT = "https://management.azure.com"
LOGIN = "https://login.microsoftonline.com"
# the settings' default (settings.py): Azure OpenAI meters moved from "Cognitive Services" to "Foundry Models"
# (the Retail Prices API's serviceName, providers.md §4.2); a filter without it left their cost out
AI_SERVICES = ("Azure OpenAI", "Cognitive Services", "Foundry Models")
RETRY_AFTER_HEADERS = (  # the documented throttling headers, then the standard one
    "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
    "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after",
    "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after",
    "x-ms-ratelimit-microsoft.costmanagement-clienttype-retry-after",
    "Retry-After",
)
# the 401 codes of an access token that is no longer valid: a new token may pass where retrying cannot
EXPIRED_TOKEN_CODES = {"ExpiredAuthenticationToken", "InvalidAuthenticationTokenExpired"}
EXPIRY_MARGIN_SECONDS = 120  # refresh this long before the token says it expires (clock skew, a slow page)
ROLE_FIX = (
    "give the app registration (TOKENBOOKS_AZURE_COST__CLIENT_ID) the role Cost Management Reader on "
    "the scope TOKENBOOKS_AZURE_COST__SCOPE"
)


class AzureCredentials:
    """An Entra ID app's client-credentials token for the management API, fetched when first needed and
    again when it is about to expire (`expires_in`, or `expires_on` as some endpoints write it) or when the
    API says it has (`invalidate`): a long pull outlives a token (about an hour) and goes on."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        login_url: str = LOGIN,
        now: Callable[[], float] = time.time,  # float ok: seconds since the epoch
    ) -> None:
        self.url = f"{login_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": f"{MANAGEMENT}/.default",
        }
        self._token: str | None = None
        self._expires_at: float | None = None  # float ok: seconds since the epoch
        self.now = now
        self.fetched = 0  # tokens fetched (a refresh is the second)

    def invalidate(self) -> None:
        """Forget the token: the API refused it as expired (clocks differ, or it was revoked)."""
        self._token = None

    def __repr__(self) -> str:  # the secret never prints
        return f"AzureCredentials({self.url})"

    def token(self, session: requests.Session, timeout: float) -> str:  # float ok: seconds
        expired = self._expires_at is not None and self.now() >= self._expires_at - EXPIRY_MARGIN_SECONDS
        if self._token is None or expired:
            response = _post(session, self.url, timeout, data=self._form)
            if response.status_code >= 400:
                raise ReconnectNeeded(
                    f"azure.cost_management: the token endpoint {self.url} refused the app (HTTP "
                    f"{response.status_code}){_error_detail(response)}",
                    fix="check TOKENBOOKS_AZURE_COST__TENANT_ID, __CLIENT_ID and __CLIENT_SECRET",
                )
            answer = _json(response, self.url)
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise InputError(f"azure.cost_management: {self.url} answered without an access_token")
            self._token, self._expires_at = token, _expiry(answer, self.now())
            self.fetched += 1
        return self._token


class AzureCostManagementSource(StreamingSource):
    """Pulls the Cost Management Query API for one scope (subscription, resource group, billing account)."""

    provider = "azure"
    name = "azure.cost_management"

    def __init__(
        self,
        credentials: AzureCredentials,
        *,
        scope: str,
        account: str = "default",
        entity: str,
        timezone: str,
        retry: RetryPolicy,
        timeout: float = 30.0,  # float ok: seconds
        lag_days: int = 3,
        services: tuple[str, ...] = AI_SERVICES,
        base_url: str = MANAGEMENT,
        session: requests.Session | None = None,
    ) -> None:
        self.credentials = credentials
        self.scope = scope.strip("/")
        self.provider_account = account  # a label; the scope is in every natural key
        self.entity = entity
        self.timezone = timezone
        self.retry = retry
        self.timeout = timeout
        self.lag_days = lag_days
        self.services = services
        self.url = f"{base_url.rstrip('/')}/{self.scope}/providers/Microsoft.CostManagement/query?api-version={API_VERSION}"
        self.session = session or requests.Session()

    def pull(self, window: Window, progress: Progress | None = None) -> PullResult:
        return gathered(self, window, self.stream(window, progress))

    def stream(self, window: Window, progress: Progress | None = None) -> Iterator[PullResult]:
        """The window a page at a time; stops after a page with an error."""
        body = self.request(window)
        pages = CursorPages(self.name, self.url)

        def fetch(link: str | None) -> tuple[object, str | None]:
            if progress:
                progress(pages.count, f"Azure Cost Management page {pages.count + 1}")
            url = link or self.url
            response = self.retry.call(lambda: self._post_once(url, body, window))
            if response.status_code == NO_CONTENT:  # documented: no cost in the scope and period
                return (url, response.text, None), None
            data = _json(response, url)
            properties = data.get("properties") if isinstance(data, dict) else None
            next_link = properties.get("nextLink") if isinstance(properties, dict) else None
            return (url, response.text, data), next_link or None

        for page_no, fetched in enumerate(pages.iterate(fetch), start=1):
            url, text, data = cast(tuple[str, str, Any], fetched)
            piece = self._page(window, url, body, text, data, page_no)
            yield piece
            if piece.errors:
                return

    def request(self, window: Window) -> dict[str, Any]:
        """The query body for a window (both days included, as Azure's timePeriod reads them)."""
        return {
            "type": "ActualCost",
            "timeframe": "Custom",
            "timePeriod": {
                "from": f"{window.first_day.isoformat()}T00:00:00Z",
                "to": f"{window.last_day.isoformat()}T23:59:59Z",
            },
            "dataset": {
                "granularity": "Daily",
                "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
                "grouping": [
                    {"type": "Dimension", "name": "ServiceName"},
                    {"type": "Dimension", "name": "Meter"},
                ],
                "filter": {
                    "dimensions": {"name": "ServiceName", "operator": "In", "values": list(self.services)}
                },
            },
        }

    def _post_once(self, url: str, body: dict, window: Window) -> requests.Response:
        response = self._post_with_token(url, body)
        if response.status_code == 401 and _error_code(response) in EXPIRED_TOKEN_CODES:
            # the token ran out mid-pull (or the clocks disagree): a new one, and the same page again
            self.credentials.invalidate()
            response = self._post_with_token(url, body)
        status = response.status_code
        if status < 400:
            return response
        what = (
            f"{self.name}: the query of {self.scope} for {window.first_day}..{window.last_day} failed "
            f"(HTTP {status}){_error_detail(response)}"
        )
        if status == 429:
            raise RateLimited(what, retry_after=_retry_after(response))
        if status >= 500:
            raise Retriable(what, retry_after=_retry_after(response))
        if status in (401, 403):
            raise ConfigError(what, fix=ROLE_FIX)
        if status == 404:
            raise ConfigError(what, fix="check TOKENBOOKS_AZURE_COST__SCOPE (e.g. subscriptions/<id>)")
        raise InputError(what, fix="check the Azure Cost Management settings; report it if it persists")

    def _post_with_token(self, url: str, body: dict) -> requests.Response:
        token = self.credentials.token(self.session, self.timeout)
        return _post(self.session, url, self.timeout, json=body, headers={"Authorization": f"Bearer {token}"})

    # ------------------------------------------------------------------------------------------ parsing

    def _page(self, window: Window, url: str, body: dict, text: str, data: Any, page_no: int) -> PullResult:
        piece = PullResult(self.name, self.provider, self.provider_account, window)
        where = f"page {page_no}"
        if data is None:  # a 204: no rows, kept as received for lineage
            piece.pages.append(RawPage(url, body, text))
            return piece
        properties = data.get("properties") if isinstance(data, dict) else None
        columns = properties.get("columns") if isinstance(properties, dict) else None
        rows = properties.get("rows") if isinstance(properties, dict) else None
        if not isinstance(columns, list) or not isinstance(rows, list):
            piece.problems.append(
                Problem(self.name, where, "properties", "columns or rows missing or not lists", PROVIDER_FIX)
            )
            return piece
        names = [c.get("name") if isinstance(c, dict) else None for c in columns]
        missing = [n for n in ("Cost", "UsageDate", "ServiceName", "Meter", "Currency") if n not in names]
        if missing:
            piece.problems.append(
                Problem(self.name, where, "properties.columns", f"lacks {', '.join(missing)}", PROVIDER_FIX)
            )
            return piece
        index = {
            name: names.index(name) for name in ("Cost", "UsageDate", "ServiceName", "Meter", "Currency")
        }
        for r_index, row in enumerate(rows):
            piece.received += 1
            fact = self._fact(row, index, f"{where}, rows[{r_index}]", piece.problems)
            if fact is not None:
                piece.facts.append(fact)
        piece.pages.append(RawPage(url, body, text).producing(piece.facts))
        return piece

    def _fact(self, row: Any, index: dict[str, int], where: str, problems: list[Problem]) -> Fact | None:
        if not isinstance(row, list) or len(row) <= max(index.values()):
            problems.append(
                Problem(self.name, where, "", "a row is not an array of every column", PROVIDER_FIX)
            )
            return None
        day = _usage_date(row[index["UsageDate"]])
        if day is None:
            problems.append(
                Problem(
                    self.name, where, "UsageDate", f"{row[index['UsageDate']]!r} is not a day", PROVIDER_FIX
                )
            )
            return None
        try:  # each field on its own: an amount's message mentions "currency symbols"
            amount = parse_amount(row[index["Cost"]])
        except MoneyError as exc:
            problems.append(Problem(self.name, where, "Cost", str(exc), PROVIDER_FIX))
            return None
        try:
            currency = currency_code(row[index["Currency"]])
        except MoneyError as exc:
            problems.append(Problem(self.name, where, "Currency", str(exc), PROVIDER_FIX))
            return None
        service, meter = row[index["ServiceName"]], row[index["Meter"]]
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
                self.provider, self.scope, "cost-management", day, service, meter, currency
            ),
            dimensions=Dimensions.of(service=_text(service), meter=_text(meter)),
            charge_category=ChargeCategory.USAGE,
            source=self.name,
        )


def _post(
    session: requests.Session,
    url: str,
    timeout: float,  # float ok: seconds, not money
    **kwargs: Any,
) -> requests.Response:
    try:
        return session.post(url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise Retriable(f"azure.cost_management: {url} did not answer within {timeout:g}s") from None
    except requests.ConnectionError as exc:
        raise Retriable(f"azure.cost_management: cannot reach {url} ({type(exc).__name__})") from None


def _json(response: requests.Response, url: str) -> Any:
    try:
        return json.loads(response.text, parse_float=Decimal)  # no float ever holds a cost
    except json.JSONDecodeError as exc:
        raise InputError(
            f"azure.cost_management: {url} answered with a body that is not JSON ({exc.msg} at {exc.pos})",
            fix="retry later; if it persists the API has changed",
        ) from None


def _retry_after(response: requests.Response) -> float | None:  # float ok: seconds
    """The longest wait any of Cost Management's throttling headers asks for."""
    waits = [parse_retry_after(response.headers.get(name)) for name in RETRY_AFTER_HEADERS]
    known = [w for w in waits if w is not None]
    return max(known) if known else None


def _expiry(answer: dict, now: float) -> float | None:  # float ok: seconds since the epoch
    """When a token answer says the token expires: `expires_in` seconds from now (the v2.0 endpoint), or
    the moment `expires_on` (v1 and managed identities); None when it says neither."""
    for name, base in (("expires_in", now), ("expires_on", 0.0)):
        value = answer.get(name)
        if isinstance(value, int | str | Decimal) and not isinstance(value, bool) and str(value).isdigit():
            return base + int(value)
    return None


def _error_code(response: requests.Response) -> str | None:
    """The `error.code` of an ARM error body (https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/common-deployment-errors)."""
    try:
        body = json.loads(response.text)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _error_detail(response: requests.Response) -> str:
    """`{"error": {"code", "message"}}` as a short, secret-free excerpt."""
    try:
        body = json.loads(response.text)
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):  # the token endpoint's OAuth shape: error + error_description
        error = {"code": error, "message": body.get("error_description")}
    if not isinstance(error, dict):
        return ""
    code, message = error.get("code"), error.get("message") or ""
    return f": {code}: {str(message)[:300]}"


def _usage_date(value: Any) -> date | None:
    """`UsageDate` as Azure sends it: the number 20261101 (or its text)."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
