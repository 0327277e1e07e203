"""Anthropic cost and usage reports: cents to dollars, per-key splits, priority tier estimates, headers."""

from datetime import date
from decimal import Decimal

import responses

from connector.domain.facts import CostBasis
from connector.domain.usage import SPLIT_BASIS
from connector.sources.anthropic import COST_PATH, USAGE_PATH, AnthropicSource
from connector.sources.base import Window
from connector.sources.prices import load_catalog
from tests.sources.builders import (
    ANTHROPIC,
    anthropic_bucket,
    anthropic_cost,
    anthropic_page,
    anthropic_source,
    anthropic_usage,
    client,
)

DAY = date(2025, 8, 1)
ONE_DAY = Window(DAY, DAY)
COST_URL, USAGE_URL = ANTHROPIC + COST_PATH, ANTHROPIC + USAGE_PATH


def source(timezone: str = "UTC") -> AnthropicSource:
    return anthropic_source(timezone)


def serve(costs: list, usage: list) -> None:
    responses.get(COST_URL, json=anthropic_page(anthropic_bucket(DAY, *costs)))
    responses.get(USAGE_URL, json=anthropic_page(anthropic_bucket(DAY, *usage)))


@responses.activate
def test_a_cost_amount_in_cents_becomes_exact_dollars_before_any_rounding():
    serve([anthropic_cost("123.78912")], [])
    [fact] = source().pull(ONE_DAY).facts
    assert fact.amount == Decimal("1.2378912")  # never 123.79, never 1.24
    assert fact.currency == "USD"
    assert fact.cost_basis is CostBasis.BILLED
    assert fact.dimensions.get("token_type") == "uncached_input_tokens"


@responses.activate
def test_requests_use_the_array_bracket_form_and_utc_days():
    serve([], [])
    source().pull(ONE_DAY)
    cost_query = responses.calls[0].request.url.split("?", 1)[1]
    usage_query = responses.calls[1].request.url.split("?", 1)[1]
    assert "group_by%5B%5D=workspace_id&group_by%5B%5D=description" in cost_query
    assert "starting_at=2025-08-01T00%3A00%3A00Z" in cost_query
    assert "ending_at=2025-08-02T00%3A00%3A00Z" in cost_query
    for field in ("api_key_id", "workspace_id", "model", "service_tier", "context_window"):
        assert f"group_by%5B%5D={field}" in usage_query


@responses.activate
def test_a_billed_bucket_is_split_across_api_keys_by_usage_and_keeps_its_total():
    serve(
        [anthropic_cost("300")],  # $3.00 of uncached input in workspace wrkspc_01
        [
            anthropic_usage("apikey_a", uncached=1000),
            anthropic_usage("apikey_b", uncached=2000),
            anthropic_usage(None, uncached=0),  # Console: no input tokens of this kind
            anthropic_usage("apikey_c", uncached=9000, workspace="wrkspc_other"),  # another workspace
        ],
    )
    pulled = source().pull(ONE_DAY)
    shares = {f.dimensions.get("api_key"): f.amount for f in pulled.facts if f.cost_basis is CostBasis.BILLED}
    assert shares == {"apikey_a": Decimal("1.00"), "apikey_b": Decimal("2.00")}
    assert {f.dimensions.get(SPLIT_BASIS) for f in pulled.facts} == {"api_key by usage (priced from catalog)"}
    assert len(pulled.usage) == 4


@responses.activate
def test_null_workspace_is_the_default_workspace_and_null_key_is_the_console():
    serve(
        [anthropic_cost("100", workspace=None)],
        [anthropic_usage(None, workspace=None, uncached=10)],
    )
    pulled = source().pull(ONE_DAY)
    [fact] = pulled.facts
    assert fact.dimensions.get("workspace") is None
    assert fact.dimensions.get("api_key") is None
    assert fact.amount == Decimal(1)
    [usage] = pulled.usage
    assert usage.metric("cache_creation.ephemeral_1h_input_tokens") == 1000  # read from the nested object
    assert usage.metric("cache_creation.ephemeral_5m_input_tokens") == 500


@responses.activate
def test_a_cost_no_usage_explains_stays_whole():
    serve(
        [anthropic_cost("250", cost_type="code_execution", description="Code Execution Usage")],
        [anthropic_usage("apikey_a")],
    )
    [fact] = source().pull(ONE_DAY).facts
    assert fact.amount == Decimal("2.5")
    assert fact.dimensions.get("api_key") is None


@responses.activate
def test_priority_tier_usage_is_priced_from_the_catalog_and_flagged_estimated():
    serve(
        [],
        [
            anthropic_usage(
                "apikey_a",
                tier="priority",
                uncached=1_000_000,
                output=100_000,
                cache_read=0,
                cache_1h=0,
                cache_5m=0,
            )
        ],
    )
    pulled = source().pull(ONE_DAY)
    estimates = {f.dimensions.get("token_type"): f for f in pulled.facts}
    assert {f.cost_basis for f in pulled.facts} == {CostBasis.ESTIMATED}
    assert estimates["uncached_input_tokens"].amount == Decimal(3)  # 1M × $3/M (Sonnet 4 list price)
    assert estimates["output_tokens"].amount == Decimal("1.5")  # 100k × $15/M
    assert estimates["output_tokens"].quantity == 100_000
    assert "catalog" in estimates["output_tokens"].dimensions.get("price_basis")


# The usage report's service_tier is "standard", "batch", "priority", "priority_on_demand", "flex" or
# "flex_discount"; the cost report's is "standard" or "batch" (Admin API reference, "Get Messages Usage
# Report" and "Get Cost Report"), and Priority Tier costs are not in the cost report (Usage and Cost API).


@responses.activate
def test_priority_on_demand_usage_is_priority_tier_and_estimated_like_priority():
    serve([], [anthropic_usage("apikey_a", tier="priority_on_demand", uncached=1_000_000, output=0)])
    pulled = source().pull(ONE_DAY)
    assert pulled.problems == []
    by_type = {f.dimensions.get("token_type"): f for f in pulled.facts}
    assert by_type["uncached_input_tokens"].amount == Decimal(3)  # 1M × $3/M, as priority is
    assert {f.cost_basis for f in pulled.facts} == {CostBasis.ESTIMATED}
    assert {f.dimensions.get("service_tier") for f in pulled.facts} == {"priority_on_demand"}


@responses.activate
def test_usage_of_a_tier_the_cost_report_does_not_name_is_said_once_not_dropped_in_silence():
    flex = [anthropic_usage(key, tier="flex") for key in ("apikey_a", "apikey_b")]
    serve([anthropic_cost("100")], [*flex, anthropic_usage("apikey_c", tier="flex_discount")])
    pulled = source().pull(ONE_DAY)
    assert pulled.errors == []
    assert [f.cost_basis for f in pulled.facts] == [CostBasis.BILLED]  # the billed bucket, still booked
    warned = sorted(p.message.split("'")[1] for p in pulled.problems)
    assert warned == ["flex", "flex_discount"]  # once per tier, however many keys used it
    assert all(p.field == "service_tier" and "invoice" in p.fix for p in pulled.problems)


@responses.activate
def test_priority_usage_of_an_unpriced_model_is_a_warning_not_a_refusal():
    serve([anthropic_cost("100")], [anthropic_usage("k", tier="priority", model="claude-unknown-9")])
    pulled = source().pull(ONE_DAY)
    assert pulled.errors == []
    warnings = [p for p in pulled.problems if not p.is_error]
    assert warnings
    assert "no price in the catalog" in warnings[0].message
    assert [f.cost_basis for f in pulled.facts] == [CostBasis.BILLED]


@responses.activate
def test_pages_are_followed_in_both_reports_and_kept_for_lineage():
    responses.get(COST_URL, json=anthropic_page(anthropic_bucket(DAY, anthropic_cost("100")), next_page="c2"))
    responses.get(COST_URL, json=anthropic_page(anthropic_bucket(date(2025, 8, 2), anthropic_cost("50"))))
    responses.get(USAGE_URL, json=anthropic_page(anthropic_bucket(DAY, anthropic_usage("k1"))))
    pulled = source().pull(Window(DAY, date(2025, 8, 2)))
    assert sum(f.amount for f in pulled.facts) == Decimal("1.5")
    assert len(pulled.pages) == 3
    cost_calls = [c.request.url for c in responses.calls if c.request.url.startswith(COST_URL)]
    assert len(cost_calls) == 2
    assert "page=c2" in cost_calls[1]
    keyed = {k for p in pulled.pages for k in p.natural_keys}
    assert {f.natural_key for f in pulled.facts} | {u.natural_key for u in pulled.usage} <= keyed


TIERED_PRICES = """\
anthropic:
  - model: "claude-sonnet-4*"
    effective_from: 2025-05-22
    rates: {input: [{from: 0, price: "60"}, {from: 1000000, price: "50"}, {from: 5000000, price: "40"}]}
    tier_period: month
"""


def tiered_source(tmp_path) -> AnthropicSource:
    """The catalog as a user configures it: a prices file (TOKENBOOKS_PRICES_FILE), read by load_catalog."""
    path = tmp_path / "prices.yaml"
    path.write_text(TIERED_PRICES)
    return AnthropicSource(
        client(ANTHROPIC, "Anthropic"),
        organization="org-1",
        entity="acme-us",
        timezone="UTC",
        catalog=load_catalog(path),
    )


def three_million(day: date) -> dict:
    usage = anthropic_usage(
        "k", tier="priority", uncached=3_000_000, output=0, cache_read=0, cache_1h=0, cache_5m=0
    )
    return anthropic_bucket(day, usage)


@responses.activate
def test_tiered_priority_usage_accumulates_over_the_month_3m_and_3m_cost_300(tmp_path):
    second = date(2025, 8, 2)
    responses.get(COST_URL, json=anthropic_page())
    responses.get(USAGE_URL, json=anthropic_page(three_million(DAY), three_million(second)))
    pulled = tiered_source(tmp_path).pull(Window(DAY, second))
    by_day = {f.charge_date: f.amount for f in pulled.facts}
    assert by_day == {DAY: Decimal(160), second: Decimal(140)}  # 60 + 2M × 50, then 2M × 50 + 1M × 40
    assert sum(by_day.values()) == Decimal("300.00")


@responses.activate
def test_a_window_starting_mid_month_continues_the_tiers_from_the_months_earlier_usage(tmp_path):
    second = date(2025, 8, 2)
    responses.get(COST_URL, json=anthropic_page())
    responses.get(USAGE_URL, json=anthropic_page(three_million(DAY)))  # the month before it, read first
    responses.get(USAGE_URL, json=anthropic_page(three_million(second)))  # the window
    [fact] = tiered_source(tmp_path).pull(Window(second, second)).facts
    assert (fact.charge_date, fact.amount) == (second, Decimal(140))  # as when pulled with 1 August
    lead_in = responses.calls[0].request.url
    assert "starting_at=2025-08-01T00%3A00%3A00Z" in lead_in
    assert "ending_at=2025-08-02T00%3A00%3A00Z" in lead_in
