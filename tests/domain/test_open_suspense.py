"""The suspense of the open months, from the coverage each successful sync recorded (the metric's figure)."""

from datetime import date
from decimal import Decimal

from connector.domain.coverage import suspense_in_open_months


def coverage(period: str, suspense: str, provider: str = "openai", currency: str = "USD") -> dict:
    return {"provider": provider, "period": period, "currency": currency, "suspense": suspense}


def test_a_month_keeps_the_figures_of_the_last_plan_that_reached_it():
    runs = [
        {"coverage": [coverage("2026-09", "4.00"), coverage("2026-10", "1.00")]},
        {"coverage": [coverage("2026-10", "2.50"), coverage("2026-10", "1.00", provider="anthropic")]},
        {},  # a skipped plan: nothing changed, no coverage recorded
        {"coverage": [coverage("2026-11", "0")]},
    ]
    assert suspense_in_open_months(runs, None) == {
        ("openai", "USD"): Decimal("6.50"),
        ("anthropic", "USD"): Decimal("1.00"),
    }


def test_a_month_planned_again_is_replaced_whole_a_provider_gone_included():
    runs = [
        {"coverage": [coverage("2026-10", "2.50"), coverage("2026-10", "3.00", provider="anthropic")]},
        {"coverage": [coverage("2026-10", "0.50")]},  # Anthropic's October spend was withdrawn
    ]
    assert suspense_in_open_months(runs, None) == {("openai", "USD"): Decimal("0.50")}


def test_locked_months_are_left_out_and_a_month_locked_part_way_is_still_open():
    runs = [
        {"coverage": [coverage("2026-09", "4.00"), coverage("2026-10", "1.00"), coverage("2026-11", "2")]}
    ]
    assert suspense_in_open_months(runs, date(2026, 10, 31)) == {("openai", "USD"): Decimal("2")}
    assert suspense_in_open_months(runs, date(2026, 10, 15)) == {("openai", "USD"): Decimal("3.00")}
    assert suspense_in_open_months([{}], None) is None  # nothing recorded coverage yet
