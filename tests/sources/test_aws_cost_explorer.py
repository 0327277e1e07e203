"""AWS Cost Explorer source against a real boto3 `ce` client with botocore's Stubber: paging, throttling,
errors naming the fix, Estimated days, and every group's dollars conserved as exact Decimals."""

from datetime import date
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.errors import ConfigError, InputError
from connector.domain.facts import CostBasis
from connector.retrying import RetryPolicy, no_sleep
from connector.sources.aws_cost_explorer import AwsCostExplorerSource
from connector.sources.base import Window

WINDOW = Window(date(2026, 11, 1), date(2026, 11, 3))


def ce_client():
    return boto3.client(
        "ce", region_name="us-east-1", aws_access_key_id="AKIATEST", aws_secret_access_key="test-secret"
    )


def group(service, usage_type, amount, quantity="1000"):
    return {
        "Keys": [service, usage_type],
        "Metrics": {
            "UnblendedCost": {"Amount": amount, "Unit": "USD"},
            "UsageQuantity": {"Amount": quantity, "Unit": "N/A"},
        },
    }


def day(start, end, *groups, estimated=False):
    return {
        "TimePeriod": {"Start": start, "End": end},
        "Total": {},
        "Groups": list(groups),
        "Estimated": estimated,
    }


PAGE_1 = {
    "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    "ResultsByTime": [
        day(
            "2026-11-01",
            "2026-11-02",
            group("Amazon Bedrock", "USE1-Claude3.5Sonnet-input-tokens", "12.3456789012"),
            group("Amazon Bedrock", "USE1-Claude3.5Sonnet-output-tokens", "0.0000000001"),
        ),
        day("2026-11-02", "2026-11-03"),  # a day with no groups
    ],
    "NextPageToken": "token-2",
    "DimensionValueAttributes": [],
}
PAGE_2 = {
    "GroupDefinitions": PAGE_1["GroupDefinitions"],
    "ResultsByTime": [
        day(
            "2026-11-03",
            "2026-11-04",
            group("Amazon Bedrock", "USE1-TitanEmbeddings-input-tokens", "7.10"),
            group("Amazon SageMaker", "USE1-ml.g5.xlarge-hosting", "-0.25"),
            estimated=True,
        )
    ],
    "DimensionValueAttributes": [],
}


def source(client, attempts=3):
    return AwsCostExplorerSource(
        client,
        account="123456789012",
        entity="acme",
        timezone="America/New_York",
        retry=RetryPolicy(attempts, sleep=no_sleep),
    )


def expected(token=None):
    params = source(None).request(WINDOW)
    return {**params, "NextPageToken": token} if token else params


def test_two_pages_conserve_every_group_to_the_cent():
    client = ce_client()
    with Stubber(client) as stub:
        stub.add_response("get_cost_and_usage", PAGE_1, expected())
        stub.add_response("get_cost_and_usage", PAGE_2, expected("token-2"))
        result = source(client).pull(WINDOW)
        stub.assert_no_pending_responses()
    assert not result.problems
    amounts = [
        Decimal(g["Metrics"]["UnblendedCost"]["Amount"])
        for page in (PAGE_1, PAGE_2)
        for period in page["ResultsByTime"]
        for g in period["Groups"]
    ]
    assert sum(f.amount for f in result.facts) == sum(amounts) == Decimal("19.1956789013")
    assert all(type(f.amount) is Decimal for f in result.facts)
    assert result.received == 4
    assert len(result.pages) == 2
    assert {f.charge_date for f in result.facts} == {date(2026, 11, 1), date(2026, 11, 3)}
    assert [f.provider for f in result.facts] == ["aws"] * 4
    assert {f.dimension("usage_type") for f in result.facts if f.cost_basis is CostBasis.ESTIMATED} == {
        "USE1-TitanEmbeddings-input-tokens",
        "USE1-ml.g5.xlarge-hosting",
    }
    assert len({f.natural_key for f in result.facts}) == 4


def test_the_request_is_daily_with_an_exclusive_end_and_filtered_to_ai_services():
    params = expected()
    assert params["TimePeriod"] == {"Start": "2026-11-01", "End": "2026-11-04"}
    assert params["Filter"]["Dimensions"]["Key"] == "SERVICE"
    assert "Amazon Bedrock" in params["Filter"]["Dimensions"]["Values"]


def test_natural_keys_do_not_change_when_a_day_is_restated():
    restated = {**PAGE_2, "ResultsByTime": [dict(PAGE_2["ResultsByTime"][0], Estimated=False)]}
    restated["ResultsByTime"][0]["Groups"] = [
        group("Amazon Bedrock", "USE1-TitanEmbeddings-input-tokens", "7.35")
    ]
    keys = []
    for page in (PAGE_2, restated):
        client = ce_client()
        with Stubber(client) as stub:
            stub.add_response("get_cost_and_usage", page, expected())
            keys.append({f.natural_key: f for f in source(client).pull(WINDOW).facts})
    shared = set(keys[0]) & set(keys[1])
    assert len(shared) == 1
    (key,) = shared
    assert (keys[0][key].amount, keys[1][key].amount) == (Decimal("7.10"), Decimal("7.35"))
    assert keys[1][key].cost_basis is CostBasis.BILLED


def test_a_throttled_call_is_retried_then_succeeds():
    client = ce_client()
    with Stubber(client) as stub:
        stub.add_client_error("get_cost_and_usage", "ThrottlingException", "Rate exceeded", 400)
        stub.add_client_error("get_cost_and_usage", "LimitExceededException", "Limit exceeded", 400)
        stub.add_response("get_cost_and_usage", PAGE_2, expected())
        result = source(client).pull(WINDOW)
        stub.assert_no_pending_responses()
    assert sum(f.amount for f in result.facts) == Decimal("6.85")


def test_access_denied_names_the_window_and_the_permission():
    client = ce_client()
    with Stubber(client) as stub:
        stub.add_client_error("get_cost_and_usage", "AccessDeniedException", "User is not authorized", 400)
        with pytest.raises(ConfigError) as raised:
            source(client).pull(WINDOW)
    assert "2026-11-01..2026-11-03" in raised.value.message
    assert "aws.cost_explorer" in raised.value.message
    assert "ce:GetCostAndUsage" in raised.value.fix


@pytest.mark.parametrize("code", ["DataUnavailableException", "BillExpirationException"])
def test_data_errors_are_input_errors_with_a_fix(code):
    client = ce_client()
    with Stubber(client) as stub:
        stub.add_client_error("get_cost_and_usage", code, "no", 400)
        with pytest.raises(InputError) as raised:
            source(client).pull(WINDOW)
    assert code in raised.value.message
    assert raised.value.fix


@pytest.mark.parametrize("code", ["InvalidNextTokenException", "RequestChangedException"])
def test_a_page_token_cost_explorer_no_longer_takes_says_the_next_run_starts_the_window_again(code):
    """Both are GetCostAndUsage's documented errors (botocore's ce service model): the token of the second
    page is refused, so the window stops without storing anything and is pulled again whole."""
    client = ce_client()
    with Stubber(client) as stub:
        stub.add_response("get_cost_and_usage", PAGE_1, expected())
        stub.add_client_error("get_cost_and_usage", code, "The token is no longer valid", 400)
        with pytest.raises(InputError) as raised:
            source(client).pull(WINDOW)
    assert code in raised.value.message
    assert "first page" in raised.value.fix


def test_a_float_like_bad_amount_refuses_the_window():
    bad = {
        **PAGE_2,
        "ResultsByTime": [day("2026-11-03", "2026-11-04", group("Amazon Bedrock", "x", "1,000.00"))],
    }
    client = ce_client()
    with Stubber(client) as stub:
        stub.add_response("get_cost_and_usage", bad, expected())
        result = source(client).pull(WINDOW)
    assert not result.facts
    assert result.quarantined == 1
    assert "Groups[0]" in result.errors[0].location


amounts = st.decimals(min_value=Decimal("-1000"), max_value=Decimal("100000"), places=10, allow_nan=False)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(amounts, max_size=4), min_size=1, max_size=3))
def test_every_group_amount_reaches_a_fact_exactly(pages_of_amounts):
    """Σ facts = Σ group amounts, to the last digit, however the groups fall into pages and days."""
    client = ce_client()
    with Stubber(client) as stub:
        for p_index, page_amounts in enumerate(pages_of_amounts):
            groups = [
                group("Amazon Bedrock", f"usage-{p_index}-{i}", str(a)) for i, a in enumerate(page_amounts)
            ]
            more = p_index + 1 < len(pages_of_amounts)
            answer = {"ResultsByTime": [day("2026-11-01", "2026-11-02", *groups)]}
            stub.add_response(
                "get_cost_and_usage",
                answer | ({"NextPageToken": f"t{p_index + 1}"} if more else {}),
                expected(f"t{p_index}" if p_index else None),
            )
        result = source(client).pull(WINDOW)
    sent = [a for page in pages_of_amounts for a in page]
    assert sum(f.amount for f in result.facts) == sum(sent)
    assert len(result.facts) == len(sent)


# ---------------------------------------------------------------------------- Marketplace models on Bedrock

# Claude 4.x (and other models sold through AWS Marketplace) is billed under a SERVICE of its own, not
# "Amazon Bedrock" (providers.md §3.1: "Claude Sonnet 4.6 (Amazon Bedrock Edition)"; grafana/cloudcost-exporter
# #933: "Claude 4.x … billed through Bedrock Marketplace … under a separate service code"). A Billing
# console's list of service names (copied into a public repository) holds "Amazon Bedrock", "Amazon Bedrock
# AgentCore", "Amazon Bedrock Service" and "AmazonBedrockFoundationModels" side by side.
CLAUDE = "Claude Sonnet 4.6 (Amazon Bedrock Edition)"
BEDROCK_NAMES = ("Amazon Bedrock AgentCore", "Amazon Bedrock Service", "AmazonBedrockFoundationModels")
SEARCH = {
    "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-04"},
    "Dimension": "SERVICE",
    "SearchString": "Bedrock",
    "Context": "COST_AND_USAGE",
}


def searching_source(client):
    return AwsCostExplorerSource(
        client,
        account="123456789012",
        entity="acme",
        timezone="America/New_York",
        retry=RetryPolicy(3, sleep=no_sleep),
        service_search=("Bedrock",),
    )


def test_claude_billed_as_a_marketplace_service_is_found_and_pulled_with_the_configured_services():
    client = ce_client()
    found = {
        "DimensionValues": [
            {"Value": "Amazon Bedrock", "Attributes": {}},
            {"Value": CLAUDE, "Attributes": {}},
            *({"Value": name, "Attributes": {}} for name in BEDROCK_NAMES),
        ],
        "ReturnSize": 5,
        "TotalSize": 5,
    }
    claude_day = {
        "ResultsByTime": [
            day("2026-11-01", "2026-11-02", group(CLAUDE, "USE1-MP:USE1_InputTokenCount-Units", "41.25"))
        ]
    }
    wanted = searching_source(None).request(WINDOW, (*source(None).services, CLAUDE, *BEDROCK_NAMES))
    with Stubber(client) as stub:
        stub.add_response("get_dimension_values", found, SEARCH)
        stub.add_response("get_cost_and_usage", claude_day, wanted)
        result = searching_source(client).pull(WINDOW)
        stub.assert_no_pending_responses()
    assert not result.problems
    assert [(f.dimension("service"), f.amount) for f in result.facts] == [(CLAUDE, Decimal("41.25"))]


def test_credentials_not_allowed_to_search_services_pull_the_configured_ones_and_say_what_may_be_missing():
    client = ce_client()
    with Stubber(client) as stub:
        stub.add_client_error("get_dimension_values", "AccessDeniedException", "not authorized", 400)
        stub.add_response("get_cost_and_usage", PAGE_2, expected())
        result = searching_source(client).pull(WINDOW)
        stub.assert_no_pending_responses()
    assert sum(f.amount for f in result.facts) == Decimal("6.85")
    (warning,) = result.problems
    assert not warning.is_error
    assert "Amazon Bedrock Edition" in warning.message
    assert "ce:GetDimensionValues" in warning.fix
