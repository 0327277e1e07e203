"""Reconciliation invariants (hypothesis): whatever the days' exact costs, a month accrued per day (each
day rounded once), invoiced at its cost and trued up to the invoice reconciles with nothing unexplained."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connector.domain.money import quantize
from connector.domain.reconcile import ReconInput, ReconStatus, Tolerance, reconcile

DAY_COSTS = st.lists(
    st.decimals(min_value=Decimal("0"), max_value=Decimal("5000"), places=5, allow_nan=False),
    min_size=1,
    max_size=31,
)


@given(DAY_COSTS)
def test_an_invoice_equal_to_the_cost_is_matched_once_trued_up_whatever_the_daily_rounding(days):
    exact = sum(days, Decimal(0))
    accrued = sum((quantize(d, "USD") for d in days), Decimal(0))
    invoice = quantize(exact, "USD")
    true_up = invoice - accrued  # what the true-up books: the invoice less what was accrued
    result = reconcile(
        ReconInput(
            entity="acme-us",
            provider="openai",
            provider_account="org-1",
            period="2026-11",
            currency="USD",
            provider_cost_exact=exact,
            provider_cost_rounded_by_bucket=accrued,
            estimated_cost=Decimal(0),
            posted_total=accrued + true_up,
            queued_total=Decimal(0),
            invoice_total=invoice,
            ledger_total=accrued + true_up,
            tolerance=Tolerance(absolute=None),  # an exact match only: any unexplained cent is a variance
            true_up_total=true_up,
        )
    )
    assert result.unexplained == 0
    assert sum((amount for _, amount in result.explained), Decimal(0)) == invoice - result.provider_cost
    assert result.status is ReconStatus.MATCHED
