"""Price catalog: tiered prices, effective dates, model precedence, and the shipped catalog."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.domain.errors import ConfigError
from connector.domain.pricing import MILLION, ModelPrice, PriceCatalog, Rate, Tier, price_usage, tiered_cost
from connector.sources.prices import SHIPPED_PRICES, load_catalog, parse_catalog

TIERS = (
    Tier(Decimal(0), Decimal(60)),
    Tier(Decimal(1_000_000), Decimal(50)),
    Tier(Decimal(5_000_000), Decimal(40)),
)


def test_the_published_tiered_example_costs_300_dollars():
    # 1M at $60/M, the next 4M at $50/M, above 5M at $40/M: 6M tokens = 60 + 200 + 40
    assert tiered_cost(Decimal(6_000_000), TIERS) == Decimal(300)


def test_tiers_continue_from_volume_already_bought_in_the_period():
    assert tiered_cost(Decimal(1_000_000), TIERS, already=Decimal(4_500_000)) == Decimal(25) + Decimal(20)


@given(st.integers(0, 10**8), st.integers(0, 10**8))
def test_pricing_in_two_parts_equals_pricing_at_once(first, second):
    whole = tiered_cost(Decimal(first + second), TIERS)
    parts = tiered_cost(Decimal(first), TIERS) + tiered_cost(Decimal(second), TIERS, already=Decimal(first))
    assert parts == whole


def entry(model: str, day: date, input_price: str, **kw) -> ModelPrice:
    return ModelPrice("anthropic", model, day, "USD", (("input", Rate.flat(input_price)),), **kw)


def test_the_entry_in_force_wins_and_an_exact_name_beats_a_longer_or_newer_glob():
    catalog = PriceCatalog(
        (
            entry("claude-*", date(2025, 1, 1), "1"),
            entry("claude-sonnet-4*", date(2025, 1, 1), "3"),
            entry("claude-sonnet-4*", date(2026, 1, 1), "2"),
            entry("claude-sonnet-4-20250514", date(2024, 1, 1), "9"),
        )
    )
    assert (
        catalog.price_for("anthropic", "claude-sonnet-4-5", date(2025, 6, 1)).rate("input").tiers[0].price
        == 3
    )
    assert (
        catalog.price_for("anthropic", "claude-sonnet-4-5", date(2026, 6, 1)).rate("input").tiers[0].price
        == 2
    )
    assert (
        catalog.price_for("anthropic", "claude-sonnet-4-20250514", date(2026, 6, 1)).model
        == "claude-sonnet-4-20250514"
    )
    assert catalog.price_for("anthropic", "claude-haiku", date(2025, 6, 1)).model == "claude-*"
    assert catalog.price_for("anthropic", "claude-haiku", date(2024, 6, 1)) is None
    assert catalog.price_for("openai", "claude-haiku", date(2025, 6, 1)) is None


def test_batch_and_tier_multipliers_and_unpriced_kinds_are_reported():
    price = entry(
        "m",
        date(2025, 1, 1),
        "3",
        batch_multiplier=Decimal("0.5"),
        tier_multipliers=(("priority", Decimal(2)),),
    )
    assert price_usage(price, {"input": MILLION}).amount == 3
    assert price_usage(price, {"input": MILLION}, batch=True).amount == Decimal("1.5")
    assert price_usage(price, {"input": MILLION}, service_tier="priority").amount == 6
    partial = price_usage(price, {"input": MILLION, "output": Decimal(5)})
    assert partial.unpriced == ("output",)
    assert not partial.complete
    assert price_usage(None, {"input": Decimal(1)}).unpriced == ("input",)


def test_the_shipped_catalog_loads_and_prices_sonnet_4_long_context_separately():
    catalog = load_catalog()
    assert catalog.source == str(SHIPPED_PRICES)
    standard = catalog.price_for("anthropic", "claude-sonnet-4-20250514", date(2026, 1, 1))
    long = catalog.price_for("anthropic", "claude-sonnet-4-20250514@200k-1M", date(2026, 1, 1))
    assert standard.rate("input").cost(MILLION) == Decimal(3)
    assert long.rate("input").cost(MILLION) == Decimal(6)
    assert catalog.price_for("openai", "gpt-4o-mini-2024-07-18", date(2025, 1, 1)).model == "gpt-4o-mini*"


def test_a_tiered_catalog_entry_and_its_mistakes(tmp_path):
    text = """
acme:
  - model: big-model
    effective_from: 2026-01-01
    rates:
      input: [{from: 0, price: "60"}, {from: 1000000, price: "50"}, {from: 5000000, price: "40"}]
"""
    catalog, problems = parse_catalog(text, "prices.yaml")
    assert problems == []
    found = catalog.price_for("acme", "big-model", date(2026, 2, 1))
    assert price_usage(found, {"input": Decimal(6_000_000)}).amount == 300
    bad = tmp_path / "bad.yaml"
    bad.write_text("acme:\n  - model: m\n    effective_from: someday\n    rates: {input: 0.1}\n")
    with pytest.raises(ConfigError) as caught:
        load_catalog(bad)
    fields = {p.field for p in caught.value.problems}
    assert "effective_from" in fields
    assert any("quoted" in p.message for p in caught.value.problems) or "rates" in fields


def test_3m_and_3m_tiered_tokens_cost_what_6m_cost_together_within_the_price_lists_month():
    from connector.domain.pricing import TierMeter

    entry = ModelPrice("anthropic", "m", date(2025, 1, 1), "USD", (("input", Rate(TIERS)),))
    meter = TierMeter()
    first = meter.price(entry, {"input": Decimal(3_000_000)}, date(2025, 8, 1)).amount
    second = meter.price(entry, {"input": Decimal(3_000_000)}, date(2025, 8, 20)).amount
    assert (first, second, first + second) == (Decimal(160), Decimal(140), Decimal("300"))
    assert meter.price(entry, {"input": Decimal(1_000_000)}, date(2025, 9, 1)).amount == 60  # a new month
    daily = ModelPrice(
        "anthropic", "m", date(2025, 1, 1), "USD", (("input", Rate(TIERS)),), tier_period="day"
    )
    assert TierMeter().price(daily, {"input": Decimal(3_000_000)}, date(2025, 8, 1)).amount == 160


def test_a_catalog_file_declares_tiers_and_their_period_and_refuses_an_unknown_period(tmp_path):
    text = """
anthropic:
  - model: "claude-sonnet-4*"
    effective_from: 2025-05-22
    rates: {input: [{from: 0, price: "60"}, {from: 1000000, price: "50"}, {from: 5000000, price: "40"}]}
    tier_period: month
"""
    catalog, problems = parse_catalog(text, "prices.yaml")
    assert problems == []
    assert catalog.tiered("anthropic")
    _, bad = parse_catalog(text.replace("tier_period: month", "tier_period: quarter"), "prices.yaml")
    assert [(p.field, p.message) for p in bad] == [("tier_period", "'quarter' is not a tier period")]
