"""Azure Cost Management Query source over HTTP (`responses`): the documented request, paging by
nextLink, 429 waits from the Cost Management headers, error bodies, and costs as exact Decimals."""

import json
from datetime import date
from decimal import Decimal

import pytest
import responses
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.errors import ConfigError, InputError, ReconnectNeeded
from connector.retrying import RetryPolicy
from connector.sources.azure_cost_management import AzureCostManagementSource, AzureCredentials
from connector.sources.base import Window

SCOPE = "subscriptions/00000000-0000-0000-0000-000000000001"
QUERY = (
    f"https://management.azure.com/{SCOPE}/providers/Microsoft.CostManagement/query?api-version=2023-11-01"
)
NEXT = QUERY + "&$skiptoken=page2"
TOKEN_URL = "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"
SECRET = "client-secret-never-logged"
WINDOW = Window(date(2026, 11, 1), date(2026, 11, 2))
COLUMNS = [
    {"name": "Cost", "type": "Number"},
    {"name": "UsageDate", "type": "Number"},
    {"name": "ServiceName", "type": "String"},
    {"name": "Meter", "type": "String"},
    {"name": "Currency", "type": "String"},
]


def page(rows, next_link=None):
    """A query answer as text, so the costs reach the parser exactly as Azure writes them (JSON numbers)."""
    rows_text = ",".join("[" + ",".join(cells) + "]" for cells in rows)
    return (
        '{"id": "q", "name": "q", "type": "Microsoft.CostManagement/query", "properties": {'
        f'"nextLink": {json.dumps(next_link)}, "columns": {json.dumps(COLUMNS)}, "rows": [{rows_text}]}}}}'
    )


def row(cost, day="20261101", meter="gpt-4o-0513 Input global Tokens", service="Azure OpenAI"):
    return [cost, day, json.dumps(service), json.dumps(meter), '"USD"']


PAGE_1 = page([row("12.345678901234"), row("0.000001", meter="gpt-4o-0513 Output global Tokens")], NEXT)
PAGE_2 = page([row("3.1", day="20261102"), row("-0.10", day="20261102", service="Cognitive Services")])


class Waits(list):
    def __call__(self, seconds):
        self.append(seconds)


def source(waits=None):
    credentials = AzureCredentials(tenant_id="tenant-1", client_id="app-1", client_secret=SECRET)
    return AzureCostManagementSource(
        credentials,
        scope=SCOPE,
        entity="acme",
        timezone="Europe/London",
        retry=RetryPolicy(3, sleep=waits if waits is not None else Waits()),
    )


def token():
    responses.add(
        responses.POST, TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "tok"}
    )


@responses.activate
def test_two_pages_by_next_link_conserve_every_row_exactly():
    token()
    responses.add(
        responses.POST,
        QUERY,
        body=PAGE_1,
        match=[responses.matchers.query_param_matcher({"api-version": "2023-11-01"})],
    )
    responses.add(responses.POST, NEXT, body=PAGE_2)
    result = source().pull(WINDOW)
    assert not result.problems
    assert [f.amount for f in result.facts] == [
        Decimal("12.345678901234"),
        Decimal("0.000001"),
        Decimal("3.1"),
        Decimal("-0.10"),
    ]
    assert sum(f.amount for f in result.facts) == Decimal("15.345679901234")
    assert {f.charge_date for f in result.facts} == {date(2026, 11, 1), date(2026, 11, 2)}
    assert {f.provider for f in result.facts} == {"azure"}
    assert len(result.pages) == 2
    assert result.received == 4
    assert len({f.natural_key for f in result.facts}) == 4
    query = json.loads(responses.calls[1].request.body)
    assert query["type"] == "ActualCost"
    assert query["timeframe"] == "Custom"
    assert query["timePeriod"] == {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T23:59:59Z"}
    assert query["dataset"]["granularity"] == "Daily"
    assert json.loads(responses.calls[2].request.body) == query  # the next page is the same query again
    assert responses.calls[1].request.headers["Authorization"] == "Bearer tok"
    form = responses.calls[0].request.body
    assert "client_credentials" in form
    assert "management.azure.com%2F.default" in form
    assert len([c for c in responses.calls if c.request.url == TOKEN_URL]) == 1


@responses.activate
def test_a_429_waits_as_long_as_the_cost_management_header_says_then_succeeds():
    token()
    responses.add(
        responses.POST,
        QUERY,
        status=429,
        json={"error": {"code": "429", "message": "Too many requests. Please retry."}},
        headers={"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "17", "Retry-After": "5"},
    )
    responses.add(responses.POST, QUERY, body=PAGE_2)
    waits = Waits()
    result = source(waits).pull(WINDOW)
    assert waits == [17.0]
    assert sum(f.amount for f in result.facts) == Decimal("3.0")


@responses.activate
def test_authorization_failed_says_which_role_to_grant_and_never_the_secret():
    token()
    responses.add(
        responses.POST,
        QUERY,
        status=403,
        json={
            "error": {
                "code": "AuthorizationFailed",
                "message": "The client 'app-1' does not have authorization",
            }
        },
    )
    with pytest.raises(ConfigError) as raised:
        source().pull(WINDOW)
    text = f"{raised.value.message} {raised.value.fix}"
    assert "AuthorizationFailed" in text
    assert "2026-11-01..2026-11-02" in text
    assert "Cost Management Reader" in text
    assert SECRET not in text
    assert SECRET not in repr(source().credentials)


@responses.activate
def test_a_bad_request_is_an_input_error_with_azures_message():
    token()
    responses.add(
        responses.POST,
        QUERY,
        status=400,
        json={"error": {"code": "BadRequest", "message": "Invalid dataset grouping"}},
    )
    with pytest.raises(InputError, match="BadRequest: Invalid dataset grouping"):
        source().pull(WINDOW)


@responses.activate
def test_a_refused_token_asks_to_check_the_app_credentials():
    responses.add(
        responses.POST,
        TOKEN_URL,
        status=401,
        json={
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided.",
        },
    )
    with pytest.raises(ReconnectNeeded) as raised:
        source().pull(WINDOW)
    assert "invalid_client" in raised.value.message
    assert SECRET not in raised.value.message


@responses.activate
def test_a_row_with_a_bad_date_refuses_the_window():
    token()
    responses.add(responses.POST, QUERY, body=page([row("1.00"), row("2.00", day="20261131")]))
    result = source().pull(WINDOW)
    assert not result.facts
    assert result.errors[0].field == "UsageDate"
    assert "rows[1]" in result.errors[0].location


costs = st.decimals(min_value=Decimal("-1000"), max_value=Decimal("100000"), places=12, allow_nan=False)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(costs, max_size=4), min_size=1, max_size=3))
def test_every_row_cost_reaches_a_fact_exactly(pages_of_costs):
    """Σ facts = Σ row costs written as JSON numbers, to the last digit, however rows fall into pages."""
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, TOKEN_URL, json={"access_token": "tok"})
        for p_index, page_costs in enumerate(pages_of_costs):
            link = f"{QUERY}&$skiptoken={p_index + 1}" if p_index + 1 < len(pages_of_costs) else None
            url = f"{QUERY}&$skiptoken={p_index}" if p_index else QUERY
            rows = [row(format(cost, "f"), meter=f"meter-{p_index}-{i}") for i, cost in enumerate(page_costs)]
            mock.add(responses.POST, url, body=page(rows, link))
        result = source().pull(WINDOW)
    sent = [cost for page_costs in pages_of_costs for cost in page_costs]
    assert sum(f.amount for f in result.facts) == sum(sent)
    assert len(result.facts) == len(sent)


class Clock:
    def __init__(self) -> None:
        self.at = 1_800_000_000.0

    def __call__(self) -> float:
        return self.at


def refreshing_source(clock: Clock) -> AzureCostManagementSource:
    credentials = AzureCredentials(tenant_id="tenant-1", client_id="app-1", client_secret=SECRET, now=clock)
    return AzureCostManagementSource(
        credentials, scope=SCOPE, entity="acme", timezone="Europe/London", retry=RetryPolicy(1, sleep=Waits())
    )


def two_tokens() -> None:
    for name in ("tok-1", "tok-2"):
        responses.add(
            responses.POST, TOKEN_URL, json={"token_type": "Bearer", "expires_in": 300, "access_token": name}
        )


def bearer(call) -> str:
    return call.request.headers["Authorization"]


@responses.activate
def test_a_token_that_expires_mid_pull_is_refreshed_before_the_next_page():
    clock = Clock()
    two_tokens()
    pulled = refreshing_source(clock)

    def first_page(request):
        clock.at += 600  # the first page took longer than the token lives
        return 200, {}, PAGE_1

    responses.add_callback(responses.POST, QUERY, callback=first_page)
    responses.add(responses.POST, NEXT, body=PAGE_2)
    result = pulled.pull(WINDOW)
    assert result.errors == []
    assert sum(f.amount for f in result.facts) == Decimal("15.345679901234")
    queries = [c for c in responses.calls if c.request.url != TOKEN_URL]
    assert [bearer(c) for c in queries] == ["Bearer tok-1", "Bearer tok-2"]
    assert pulled.credentials.fetched == 2


@responses.activate
def test_a_401_expired_token_gets_a_new_token_and_the_same_page_again():
    two_tokens()
    pulled = refreshing_source(Clock())  # the clock says the token is fresh; Azure says otherwise
    expired = {
        "error": {
            "code": "ExpiredAuthenticationToken",
            "message": "The access token expiry UTC time '11/2/2026 1:00:00 AM' is earlier than current UTC time.",
        }
    }
    responses.add(responses.POST, QUERY, body=PAGE_1)
    responses.add(responses.POST, NEXT, json=expired, status=401)
    responses.add(responses.POST, NEXT, body=PAGE_2)
    result = pulled.pull(WINDOW)
    assert result.errors == []
    assert sum(f.amount for f in result.facts) == Decimal("15.345679901234")
    queries = [c for c in responses.calls if c.request.url != TOKEN_URL]
    assert [bearer(c) for c in queries] == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


@responses.activate
def test_a_401_that_is_not_an_expired_token_is_not_retried():
    two_tokens()
    denied = {"error": {"code": "AuthenticationFailed", "message": "Authentication failed."}}
    responses.add(responses.POST, QUERY, json=denied, status=401)
    with pytest.raises(ConfigError, match="AuthenticationFailed"):
        refreshing_source(Clock()).pull(WINDOW)
    assert len([c for c in responses.calls if c.request.url == TOKEN_URL]) == 1


# The Query API's answers as its OpenAPI spec documents them: Azure/azure-rest-api-specs
# specification/cost-management/resource-manager/Microsoft.CostManagement/stable/2023-11-01/examples/
# ResourceGroupQueryGrouping.json ("responses": {"200": {...}, "204": {}}).


@responses.activate
def test_the_documented_204_no_content_is_a_window_without_cost_not_a_json_error():
    token()
    responses.add(responses.POST, QUERY, status=204)
    result = source().pull(WINDOW)
    assert not result.problems
    assert result.facts == []
    assert len(result.pages) == 1


@responses.activate
def test_the_documented_daily_answer_reads_usage_date_numbers_and_long_costs_exactly():
    """The spec example's own rows (PreTaxCost as a 15-digit JSON number, UsageDate the number 20180417,
    "nextLink": null), in the columns this source asks for (the aggregation's `name` is the column's)."""
    token()
    answer = """{
        "id": "subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/ScreenSharingTest-peer/providers/Microsoft.CostManagement/Query/9af9459d-441d-4055-9ed0-83d4c4a363fb",
        "name": "9af9459d-441d-4055-9ed0-83d4c4a363fb",
        "type": "microsoft.costmanagement/Query",
        "properties": {
          "nextLink": null,
          "columns": [
            {"name": "Cost", "type": "Number"},
            {"name": "UsageDate", "type": "Number"},
            {"name": "ServiceName", "type": "String"},
            {"name": "Meter", "type": "String"},
            {"name": "Currency", "type": "String"}
          ],
          "rows": [
            [2.10333307059661, 20180417, "Azure OpenAI", "gpt-4o-0806-Inp-glbl Tokens", "USD"],
            [20.10333307059661, 20180418, "Azure OpenAI", "gpt-4o-0806-Outp-glbl", "USD"]
          ]
        }
    }"""
    responses.add(responses.POST, QUERY, body=answer)
    result = source().pull(Window(date(2018, 4, 17), date(2018, 4, 18)))
    assert not result.problems
    assert [(f.charge_date, f.amount, f.currency) for f in result.facts] == [
        (date(2018, 4, 17), Decimal("2.10333307059661"), "USD"),
        (date(2018, 4, 18), Decimal("20.10333307059661"), "USD"),
    ]


def test_azure_openai_billed_under_foundry_models_is_in_the_default_query():
    """Azure OpenAI meters are priced under serviceName "Foundry Models" (Retail Prices API; providers.md
    §4.2), no longer only "Cognitive Services": the default filter must hold it or their cost is not read."""
    values = source().request(WINDOW)["dataset"]["filter"]["dimensions"]["values"]
    assert {"Azure OpenAI", "Cognitive Services", "Foundry Models"} <= set(values)
