"""FOCUS exports: the spec's own samples, messy real-world files, aggregation, purchases, corrections."""

import csv
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.domain.facts import ChargeCategory
from connector.sources.focus import FocusFileError, FocusOptions, read_focus
from connector.sources.focus_aggregate import BucketKey, BucketSums, book_buckets, in_repr_order
from tests.sources.builders import FOCUS_COLUMNS, FOCUS_COMMITMENT_COLUMNS, focus_csv, focus_row
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


def test_a_number_tag_is_its_value_not_its_spelling(tmp_path: Path):
    """1.50 and 1.5 (and 1E+3 and 1000.0) are one tag: a warehouse's JSON column keeps no spelling, and the
    file importer and the warehouse source must give one export the same facts (test_warehouse_nightly)."""
    rows = [
        focus_row("0.10", hour=0, tags='{"batch": 1.50, "size": 1E+3, "code": "1.50"}'),
        focus_row("0.20", hour=1, tags='{"size": 1000.0, "batch": 1.5, "code": "1.50"}'),
        focus_row("0.40", hour=2, tags='{"size": 1e400, "batch": 15e-1, "code": "1.50"}'),
    ]
    batch = read_focus([focus_csv(tmp_path / "export.csv", rows)], AI)
    tags = {
        (f.dimensions.get("tag:batch"), f.dimensions.get("tag:size"), f.dimensions.get("tag:code")): f.amount
        for f in batch.facts
    }
    # a string keeps its text; a number beyond 10^30 keeps its exponent (written whole it is 401 digits)
    assert tags == {("1.5", "1000", "1.50"): Decimal("0.30"), ("1.5", "1E+400", "1.50"): Decimal("0.40")}


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


# ------------------------------------------------------------------ issue 13: commitments and bad input


def test_a_cleaned_spec_saas_subscription_billed_after_its_term_is_amortized_over_that_term(tmp_path: Path):
    """simple_saas_agreements_b: a 12-month license paid at the end of the contract. With its US dates and
    "$50,000.00" amounts written as FOCUS requires, it is a lot amortized over April 2025 – March 2026."""
    sample = SAMPLES / "saas_examples/simple_agreements/simple_saas_agreements_b.csv"
    text = sample.read_text()
    for us, iso in (
        ("4/1/25", "2025-04-01T00:00:00Z"),
        ("3/1/26", "2026-03-01T00:00:00Z"),
        ("4/1/26", "2026-04-01T00:00:00Z"),
    ):
        text = text.replace(us, iso)
    text = text.replace('"$50,000.00 "', "50000.00").replace("$100.00 ", "100.00")
    cleaned = tmp_path / "saas_b.csv"
    cleaned.write_text(text)
    batch = read_focus([cleaned], ANY_SERVICE)
    assert batch.quarantined == []
    [lot] = batch.lots
    assert (lot.amount, lot.purchase_date, lot.expires_on) == (
        Decimal("50000.00"),
        date(2025, 4, 1),
        date(2026, 4, 1),
    )
    assert lot.pool == f"purchase:{lot.lot_id}"
    assert lot.lot_id.startswith("ACL-123-1120@")
    days = sorted(f.charge_date for f in batch.facts)
    assert (days[0], days[-1], len(days)) == (date(2025, 4, 1), date(2026, 3, 31), 365)
    assert sum(f.amount for f in batch.facts) == Decimal("50000.00")  # drawn from the lot, day by day
    assert {f.dimensions.get("prepaid_pool") for f in batch.facts} == {lot.pool}
    assert {f.dimensions.get("billing_period") for f in batch.facts} == {"2026-03"}  # on March 2026's bill


def test_buckets_are_a_group_by_over_the_export_and_book_the_same_facts_lots_and_invoices(tmp_path: Path):
    """The seam a warehouse aggregation (issue 16) relies on: buckets computed independently, by grouping
    the rows on the documented columns, give read_focus's facts, lots and invoices."""
    rows = [focus_row("0.10", hour=h, invoice="INV-1", quantity="10") for h in range(5)]
    rows += [
        focus_row(
            "0",
            hour=h,
            EffectiveCost="0.30",
            CommitmentDiscountId="sp-1",
            CommitmentDiscountStatus="Used",
            invoice="INV-1",
        )
        for h in range(3)
    ]
    rows += [
        focus_row(
            "0.10",
            hour=h,
            category="Purchase",
            CommitmentDiscountId="sp-1",
            ChargeFrequency="Recurring",
            EffectiveCost="0",
            invoice="INV-1",
        )
        for h in range(3)
    ]
    rows += [
        focus_row(
            "900.00",
            category="Purchase",
            CommitmentDiscountId="sp-1",
            ChargeFrequency="One-Time",
            end_hours=24 * 90,
            EffectiveCost="0",
            invoice="INV-1",
        )
    ]
    rows += [focus_row("31.00", end_hours=24 * 31, day=date(2026, 10, 1), sku="monthly-seat")]
    path = focus_csv(tmp_path / "export.csv", rows, columns=FOCUS_COMMITMENT_COLUMNS)
    batch = read_focus([path], AI)

    names = (
        "sub_account",
        "service",
        "sku",
        "region",
        "line_item",
        "unit",
        "commitment",
        "commitment_status",
    )
    dims = {
        "sub_account": "SubAccountId",
        "service": "ServiceName",
        "sku": "SkuMeter",
        "region": "RegionId",
        "line_item": "ChargeDescription",
        "unit": "ConsumedUnit",
        "commitment": "CommitmentDiscountId",
        "commitment_status": "CommitmentDiscountStatus",
    }
    buckets: dict[BucketKey, BucketSums] = {}
    with path.open() as handle:
        for r in csv.DictReader(handle):
            start = datetime.fromisoformat(r["ChargePeriodStart"])
            end = datetime.fromisoformat(r["ChargePeriodEnd"])
            short = r["ChargeCategory"] != "Purchase" and end - start <= timedelta(days=1)
            key = BucketKey(
                "aws",
                r["BillingAccountId"],
                r["BillingPeriodStart"][:7],
                False,
                ChargeCategory(r["ChargeCategory"].lower()),
                r["BillingCurrency"],
                tuple(r[dims[n]] or None for n in names),
                tuple(sorted(json.loads(r["Tags"]).items())),
                r["InvoiceId"] or None,
                r["CommitmentDiscountId"] or None,
                (r["ChargeFrequency"] or "").lower() or None,
                None,
                None,
                start.date() if short else None,
                None if short else start,
                None if short else end,
            )
            sums = buckets.setdefault(key, BucketSums())
            cost = Decimal(r["BilledCost"])
            sums.add(
                BucketSums(
                    cost,
                    min(cost, Decimal(0)),
                    Decimal(r["EffectiveCost"] or cost),
                    Decimal(r["ConsumedQuantity"] or 0),
                    1 if r["ConsumedQuantity"] else 0,
                    1,
                )
            )
    books = book_buckets(buckets, names, entity="acme-us", timezone="America/New_York", source="focus")
    assert _fact_view(books.facts) == _fact_view(batch.facts)
    assert books.lots == batch.lots
    assert books.invoices == batch.invoices
    assert {f.charge_date for f in batch.facts if f.dimensions.get("sku") == "monthly-seat"} == {
        date(2026, 10, d) for d in range(1, 32)
    }


def _fact_view(facts) -> list:
    return sorted((f.natural_key, f.charge_date, f.amount, f.quantity, f.dimensions) for f in facts)


def test_a_header_that_names_a_column_twice_is_refused_naming_both(tmp_path: Path):
    path = focus_csv(tmp_path / "export.csv", [focus_row("1.00")], columns=[*FOCUS_COLUMNS, "BilledCost"])
    with pytest.raises(FocusFileError) as caught:
        read_focus([path], AI)
    problem = caught.value.problem
    assert (problem.location, problem.field) == ("row 1 (header)", "BilledCost")
    assert "columns 1 and 21" in problem.message


def test_a_row_in_another_currency_than_its_billing_account_is_quarantined(tmp_path: Path):
    rows = [focus_row("1.00"), focus_row("2.00", hour=1, BillingCurrency="EUR"), focus_row("3.00", hour=2)]
    batch = read_focus([focus_csv(tmp_path / "export.csv", rows)], AI)
    [bad] = batch.quarantined
    assert (bad.problem.location, bad.problem.field) == ("row 3", "BillingCurrency")
    assert "billed in USD" in bad.problem.message
    assert "row 2" in bad.problem.message
    [fact] = batch.facts
    assert fact.amount == Decimal("4.00")


def test_currency_and_account_options_check_the_columns_and_fill_empty_cells(tmp_path: Path):
    rows = [
        focus_row("1.00"),
        focus_row("2.00", hour=1, BillingCurrency=""),
        focus_row("4.00", hour=2, BillingCurrency="EUR"),
    ]
    path = focus_csv(tmp_path / "export.csv", rows)
    batch = read_focus([path], FocusOptions(entity="acme-us", currency="usd"))
    [bad] = batch.quarantined
    assert (bad.problem.location, bad.problem.field) == ("row 4", "BillingCurrency")
    assert "differs from --currency usd" in bad.problem.message
    assert sum(f.amount for f in batch.facts) == Decimal("3.00")  # the empty cell took --currency
    batch = read_focus(
        [focus_csv(tmp_path / "one.csv", rows[:1])], FocusOptions(entity="acme-us", account="999")
    )
    [bad] = batch.quarantined
    assert (bad.problem.field, batch.facts) == ("BillingAccountId", [])
    assert "'123456789012' differs from --account 999" in bad.problem.message


def test_identical_rows_with_their_own_line_ids_are_two_charges_and_a_repeated_id_is_a_duplicate(
    tmp_path: Path,
):
    columns = [*FOCUS_COLUMNS, "x_LineItemId"]
    rows = [
        focus_row("1.00", x_LineItemId="a"),
        focus_row("1.00", x_LineItemId="b"),
        focus_row("1.00", x_LineItemId="a"),
    ]
    batch = read_focus([focus_csv(tmp_path / "export.csv", rows, columns=columns)], AI)
    [fact] = batch.facts
    assert fact.amount == Decimal("2.00")
    [duplicate] = batch.quarantined
    assert (duplicate.problem.location, duplicate.problem.field) == ("row 4", "x_LineItemId")
    assert "already given by row 2" in duplicate.problem.message


def test_identical_rows_are_duplicates_unless_the_export_is_said_to_hold_identical_charges(tmp_path: Path):
    path = focus_csv(tmp_path / "export.csv", [focus_row("1.00"), focus_row("1.00")])
    refused = read_focus([path], AI)
    assert "--accept-duplicates" in refused.quarantined[0].problem.message
    accepted = read_focus([path], FocusOptions(entity="acme-us", accept_duplicates=True))
    assert (accepted.quarantined, [f.amount for f in accepted.facts]) == ([], [Decimal("2.00")])


def test_a_stray_quote_that_swallows_the_rest_of_the_file_refuses_it_naming_the_row(tmp_path: Path):
    path = focus_csv(tmp_path / "export.csv", [focus_row("1.00", hour=h, tags="") for h in range(4)])
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace("Claude input tokens", '"Claude input tokens')  # row 3 opens a quote
    path.write_text("".join(lines))
    with pytest.raises(FocusFileError) as caught:
        read_focus([path], AI)
    problem = caught.value.problem
    assert problem.location == "row 3"
    assert "4 data lines but reads as 2 rows" in problem.message
    assert "runs to line 5" in problem.message


def test_a_file_that_is_not_utf8_is_refused_saying_to_save_it_as_utf8(tmp_path: Path):
    path = focus_csv(tmp_path / "export.csv", [focus_row("1.00", sub_account="Zürich")])
    path.write_bytes(path.read_bytes().decode().encode("latin-1"))
    with pytest.raises(FocusFileError) as caught:
        read_focus([path], AI)
    assert "not UTF-8" in caught.value.problem.message
    assert "save the file as UTF-8" in caught.value.problem.fix


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.csv", "no such file"),
        (lambda d: d, "is a directory"),
        (lambda d: (d / "empty.csv").write_text("") or d / "empty.csv", "empty"),
    ],
    ids=["missing", "directory", "empty"],
)
def test_a_path_that_is_not_an_export_is_refused_in_plain_words(tmp_path: Path, make, message):
    with pytest.raises(FocusFileError) as caught:
        read_focus([make(tmp_path)], AI)
    assert message in caught.value.problem.message


_TEXTS = st.one_of(st.none(), st.sampled_from(["a", "a ", "a'", 'a"', "b", "", "a\\", "é", "a-b"]))
_WHENS = st.one_of(
    st.dates(date(2026, 1, 1), date(2026, 1, 3)).map(lambda d: (d, None, None)),
    st.tuples(st.none(), st.sampled_from([datetime(2026, 1, 1, tzinfo=UTC)]), st.none()),
    st.tuples(
        st.none(),
        st.sampled_from([datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 5, tzinfo=UTC)]),
        st.sampled_from([datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 1, 31, 23, 59, tzinfo=UTC)]),
    ),
)
_KEYS = st.builds(
    lambda provider, account, period, correction, category, dims, tags, texts, when: BucketKey(
        provider, account, period, correction, category, "USD", dims, tags, *texts, *when
    ),
    st.sampled_from(["aws", "aws-x", "aws "]),
    st.sampled_from(["1", "1'", "10"]),
    _TEXTS,
    st.booleans(),
    st.sampled_from(list(ChargeCategory)),
    st.tuples(_TEXTS, _TEXTS),
    st.lists(st.tuples(st.sampled_from(["team", "env"]), _TEXTS), max_size=2).map(tuple),
    st.tuples(_TEXTS, _TEXTS, _TEXTS, _TEXTS, _TEXTS),
    _WHENS,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_KEYS, max_size=30, unique=True))
def test_buckets_are_booked_in_the_order_of_their_repr_written_from_cached_parts(keys: list[BucketKey]):
    buckets = {key: BucketSums() for key in keys}
    assert [key for key, _ in in_repr_order(buckets)] == sorted(keys, key=repr)
