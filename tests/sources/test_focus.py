"""FOCUS exports: the spec's own samples, messy real-world files, aggregation, purchases, corrections."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connector.domain.facts import ChargeCategory
from connector.sources.focus import FocusFileError, FocusOptions, read_focus
from tests.sources.builders import FOCUS_COLUMNS, focus_csv, focus_row
from tests.support import SHARED

SAMPLES = SHARED / "specs" / "focus-1.2" / "data"
AI = FocusOptions(entity="acme-us", timezone="America/New_York")
EVERYTHING = FocusOptions(entity="acme-us", services=None, provider="acme", account="acct-1", currency="USD")
ANY_SERVICE = FocusOptions(entity="acme-us", services=None)
COMMITMENT = "commitment:<my-commitment-discount-id>"


def test_the_spec_usage_samples_import_and_their_null_literals_are_nulls():
    batch = read_focus(
        [SAMPLES / "commitment_discount_scenarios/commitment_discount_usage_scenario_4.csv"], EVERYTHING
    )
    assert batch.quarantined == []
    by_pool = {f.dimensions.get("prepaid_pool"): f.amount for f in batch.facts}
    # the covered hour at its EffectiveCost, drawn from the commitment; the on-demand hour as billed
    assert by_pool == {COMMITMENT: Decimal("1.00"), None: Decimal("0.50")}
    assert {f.charge_category for f in batch.facts} == {ChargeCategory.USAGE}
    assert {f.charge_date for f in batch.facts} == {date(2023, 1, 1)}
    [covered] = [f for f in batch.facts if f.dimensions.get("prepaid_pool")]
    assert (covered.dimensions.get("commitment_status"), covered.quantity) == ("Used", Decimal("1.00"))


def test_the_spec_usage_samples_used_and_unused_both_draw_the_commitment():
    batch = read_focus(
        [SAMPLES / "commitment_discount_scenarios/commitment_discount_usage_scenario_3.csv"], EVERYTHING
    )
    drawn = {f.dimensions.get("commitment_status"): f.amount for f in batch.facts}
    assert drawn == {"Used": Decimal("0.75"), "Unused": Decimal("0.25")}  # Σ = the hour's commitment
    assert {f.dimensions.get("prepaid_pool") for f in batch.facts} == {COMMITMENT}
    assert batch.tally.amounts["accepted"] == {"USD": Decimal("0.00")}  # nothing new was billed


def test_the_spec_purchase_samples_become_credit_lots_and_the_impossible_hour_is_quarantined():
    batch = read_focus(
        [SAMPLES / "commitment_discount_scenarios/commitment_discount_purchase_scenario_3.csv"], EVERYTHING
    )
    assert batch.facts == []  # a purchase is a prepaid asset, not an expense
    assert sorted(lot.amount for lot in batch.lots) == [Decimal("0.50"), Decimal("0.50"), Decimal("4380.00")]
    one_time = next(lot for lot in batch.lots if lot.amount == Decimal("4380.00"))
    assert one_time.expires_on == date(2024, 1, 1)  # the commitment's term ends with its charge period
    assert {lot.pool for lot in batch.lots} == {COMMITMENT}  # drawn only by the usage it covers
    assert len({lot.lot_id for lot in batch.lots}) == 3  # one lot per purchase, never merged
    [bad] = batch.quarantined
    assert (bad.problem.location, bad.problem.field) == ("row 5", "ChargePeriodEnd")
    assert "2023-02-01T30:00:00Z" in bad.problem.message
    assert "2023-02-01T30:00:00Z" in bad.raw


@pytest.mark.parametrize("sample", sorted((SAMPLES / "saas_examples").rglob("*.csv")), ids=lambda p: p.name)
def test_the_spec_saas_samples_are_quarantined_for_what_the_spec_forbids(sample):
    batch = read_focus([sample], ANY_SERVICE)
    assert batch.facts == []
    assert batch.lots == []
    assert len(batch.quarantined) == batch.rows_read > 0
    for row in batch.quarantined:  # 4/1/25 dates, "$50,000.00 " amounts
        assert row.problem.field in ("BillingPeriodStart", "ChargePeriodStart", "BilledCost")
        assert row.problem.location.startswith("row ")
    assert batch.tally.balances(batch.rows_read)


def test_the_spec_saas_samples_are_skipped_by_the_ai_services_filter():
    sample = SAMPLES / "saas_examples/simple_agreements/simple_saas_agreements_c.csv"
    batch = read_focus([sample], AI)
    assert batch.quarantined == []
    assert batch.facts == []
    assert batch.tally.as_dict()["rows"] == {"input": 3, "accepted": 0, "quarantined": 0, "skipped": 3}


def test_a_sample_without_billing_currency_is_refused_naming_the_column():
    sample = SAMPLES / "commitment_discount_scenarios/commitment_discount_usage_scenario_1.csv"
    with pytest.raises(FocusFileError) as caught:
        read_focus([sample], FocusOptions(entity="acme-us", services=None, provider="acme", account="a"))
    assert caught.value.problem.field == "BillingCurrency"
    assert "--currency" in caught.value.problem.fix


def test_hourly_rows_become_one_fact_per_day_and_bucket(tmp_path: Path):
    rows = [focus_row("0.10", hour=h, quantity="100") for h in range(24)]
    rows += [focus_row("0.05", hour=h, sku="USE1-Claude4.6Sonnet-output-tokens") for h in range(2)]
    rows += [focus_row("1.00", day=date(2026, 10, 2))]
    batch = read_focus([focus_csv(tmp_path / "export.csv", rows)], AI)
    by_key = {(f.charge_date, f.dimensions.get("sku")): f for f in batch.facts}
    input_day = by_key[(date(2026, 10, 1), "USE1-Claude4.6Sonnet-input-tokens")]
    assert input_day.amount == Decimal("2.40")
    assert input_day.quantity == 2400
    assert input_day.unit == "Tokens"
    assert by_key[(date(2026, 10, 1), "USE1-Claude4.6Sonnet-output-tokens")].amount == Decimal("0.10")
    assert len(batch.facts) == 3
    assert input_day.provider == "aws"
    assert input_day.provider_account == "123456789012"
    assert input_day.dimensions.get("tag:team") == "support"
    assert input_day.dimensions.get("service") == "Amazon Bedrock"
    assert input_day.posting_date == date(2026, 10, 1)
    assert input_day.source == "focus/2026-10"


def test_messy_files_bom_e_notation_stray_spaces_missing_optional_columns_gzip(tmp_path: Path):
    rows = [
        focus_row(" 1.5E-2 ", tags=""),
        focus_row("2.5e1 ", ChargeCategory=" Usage ", BillingCurrency=" usd "),
    ]
    columns = [c for c in FOCUS_COLUMNS if c not in ("Tags", "InvoiceId", "ChargeClass", "SkuMeter")]
    path = focus_csv(tmp_path / "part_0.csv.gz", rows, columns=columns, bom=True, gz=True)
    batch = read_focus([path], AI)
    assert batch.quarantined == []
    assert sum(f.amount for f in batch.facts) == Decimal("25.015")


def test_parquet_exports_read_like_csv_and_floats_keep_their_written_digits(tmp_path: Path):
    rows = [focus_row("0.1", hour=h) for h in range(3)]
    table = pa.table({c: [r[c] for r in rows] for c in FOCUS_COLUMNS})
    table = table.set_column(0, "BilledCost", pa.array([0.1, 0.2, 0.3], pa.float64()))  # AWS writes doubles
    path = tmp_path / "export.parquet"
    pq.write_table(table, path)
    batch = read_focus([path], AI)
    [fact] = batch.facts
    assert fact.amount == Decimal("0.6")  # 0.1 + 0.2 + 0.3 exactly, not 0.6000000000000001


def test_purchase_credit_tax_adjustment_and_corrections(tmp_path: Path):
    rows = [
        focus_row("100.00", invoice="INV-9"),
        focus_row("-10.00", category="Credit", invoice="INV-9"),
        focus_row("8.10", category="Tax", invoice="INV-9"),
        focus_row("-1.00", category="Adjustment", invoice="INV-9"),
        focus_row("1000.00", category="Purchase", CommitmentDiscountId="tokens-2026", end_hours=24 * 365),
        focus_row(
            "-3.00", day=date(2026, 9, 15), charge_class="Correction", period_start="2026-10-01T00:00:00Z"
        ),
    ]
    batch = read_focus([focus_csv(tmp_path / "export.csv", rows)], AI)
    categories = {
        f.charge_category: f.amount for f in batch.facts if f.dimensions.get("charge_class") is None
    }
    assert categories == {
        ChargeCategory.USAGE: Decimal("100.00"),
        ChargeCategory.CREDIT: Decimal("-10.00"),
        ChargeCategory.TAX: Decimal("8.10"),
        ChargeCategory.ADJUSTMENT: Decimal("-1.00"),
    }
    [correction] = [f for f in batch.facts if f.dimensions.get("charge_class") == "correction"]
    assert correction.charge_date == date(2026, 9, 15)  # the corrected period …
    assert correction.dimensions.get("billing_period") == "2026-10"  # … carried by October's bill
    assert correction.source == "focus/2026-10"
    [lot] = batch.lots
    assert (lot.amount, lot.purchase_date, lot.expires_on) == (
        Decimal("1000.00"),
        date(2026, 10, 1),
        date(2027, 10, 1),
    )
    [invoice] = batch.invoices
    assert invoice.number == "INV-9"
    assert invoice.total == Decimal("97.10")
    assert invoice.period == "2026-10"
