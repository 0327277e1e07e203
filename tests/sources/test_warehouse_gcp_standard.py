"""Google Cloud's standard usage cost export read nightly (`gcp-standard`, DuckDB as the engine): each row at
its cost and each nested credit as a Credit row give the facts the FOCUS importer gives for the same
charges written as FOCUS rows, to the last digit; the window's SQL per dialect is golden text."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.domain.errors import ConfigError
from connector.sources.focus import FocusOptions, read_focus
from connector.sources.warehouse.engines import DuckDBWarehouse
from connector.sources.warehouse.nightly import GCP_STANDARD_AS_FOCUS, render_for
from tests.sources.builders import focus_csv, focus_row
from tests.sources.test_warehouse_nightly import Transpiling
from tests.sources.warehouse_support import (
    GCP_ACCOUNT,
    WINDOW,
    gcp_row,
    gcp_source,
    gcp_table,
    same_money,
)

GCP_COLUMNS = list(GCP_STANDARD_AS_FOCUS)
NOV = date(2026, 11, 1)
SEARCH = ("proj-search", "Search")
SUPPORT = ("proj-support", "Support")
GEMINI_IN = ("A1B2-C3D4-E5F6", "Gemini 2.5 Pro input tokens")
GEMINI_OUT = ("B1B2-C3D4-E5F6", "Gemini 2.5 Pro output tokens")
ML = (("team", "ml"), ("env", "prod"))

# Vertex rows with credits, tax, rounding and an adjustment, over two projects, with labels; and rows
# the window does not read: another service (with a credit), another account, days outside the window
EXPORT = [
    gcp_row(12.345678, day=NOV + timedelta(1), hour=3, project=SEARCH, labels=ML,
            credits=(("Free tier", -1.5), ("Spend-based milestone credit", -0.25)), usage=(1_000_000.0, "count")),
    gcp_row(0.1, day=NOV + timedelta(1), hour=4, project=SEARCH, labels=(("env", "prod"), ("team", "ml")),
            usage=(8000.0, "count")),
    gcp_row(7.000001, day=NOV + timedelta(2), hour=0, project=SUPPORT, sku=GEMINI_OUT,
            labels=(("cost_centre", "CC-7"), ("owner", 'Zoë "Z"')), credits=(("Committed use discount", -0.7),), usage=(500.0, "count")),
    gcp_row(1.23, day=NOV + timedelta(2), hour=0, cost_type="tax", project=SEARCH, usage=(0.0, "")),
    gcp_row(-0.000003, day=NOV + timedelta(2), hour=1, cost_type="rounding_error", project=SUPPORT, usage=(0.0, "")),
    gcp_row(-2.5, day=NOV + timedelta(3), hour=5, cost_type="adjustment", project=SUPPORT, sku=GEMINI_OUT),
    gcp_row(5.0, day=NOV + timedelta(1), hour=3, service="Compute Engine", project=SEARCH,
            credits=(("Free tier", -5.0),)),
    gcp_row(3.0, day=NOV + timedelta(1), hour=3, account="FFFFFF-FFFFFF-FFFFFF", credits=(("Free tier", -1.0),)),
    gcp_row(9.0, day=NOV, hour=23, project=SEARCH, credits=(("Free tier", -1.0),)),
    gcp_row(4.0, day=NOV + timedelta(4), hour=0, project=SEARCH),
]  # fmt: skip


def charge(cost: str, category: str, day: int, hour: int, project: tuple[str, str], **columns: str) -> dict:
    """One FOCUS row as a FOCUS export of the same charges would hold it (November 2026, Vertex AI)."""
    sku = columns.pop("sku", GEMINI_IN)
    return focus_row(
        cost,
        day=NOV + timedelta(day - 1),
        hour=hour,
        category=category,
        account=GCP_ACCOUNT,
        sub_account=project[0],
        service="Vertex AI",
        sku=sku[1],
        **{
            "ProviderName": "Google Cloud",
            "SubAccountName": project[1],
            "SkuId": sku[0],
            "ChargeDescription": sku[1],
            "RegionId": "us-central1",
            "BillingPeriodStart": "2026-11-01T00:00:00Z",
            "ConsumedQuantity": "",
            "ConsumedUnit": "",
            "Tags": "{}",
            **columns,
        },
    )


ML_TAGS = '{"team": "ml", "env": "prod"}'
CC7_TAGS = '{"cost_centre": "CC-7", "owner": "Zo\\u00eb \\"Z\\""}'  # escaped as a JSON export may write it
# EXPORT's window, account and service, written by hand as FOCUS rows: one per charge, one per credit
FOCUS_ROWS = [
    charge("12.345678", "Usage", 2, 3, SEARCH, Tags=ML_TAGS, ConsumedQuantity="1000000", ConsumedUnit="count"),
    charge("-1.5", "Credit", 2, 3, SEARCH, Tags=ML_TAGS, ChargeDescription="Free tier"),
    charge("-0.25", "Credit", 2, 3, SEARCH, Tags=ML_TAGS, ChargeDescription="Spend-based milestone credit"),
    charge("0.1", "Usage", 2, 4, SEARCH, Tags=ML_TAGS, ConsumedQuantity="8000", ConsumedUnit="count"),
    charge("7.000001", "Usage", 3, 0, SUPPORT, sku=GEMINI_OUT, Tags=CC7_TAGS,
           ConsumedQuantity="500", ConsumedUnit="count"),
    charge("-0.7", "Credit", 3, 0, SUPPORT, sku=GEMINI_OUT, Tags=CC7_TAGS,
           ChargeDescription="Committed use discount"),
    charge("1.23", "Tax", 3, 0, SEARCH),
    charge("-0.000003", "Adjustment", 3, 1, SUPPORT),
    charge("-2.5", "Adjustment", 4, 5, SUPPORT, sku=GEMINI_OUT),
]  # fmt: skip


def imported(rows: list[dict], tmp_path: Path) -> list:
    """What the FOCUS importer makes of the FOCUS rows (the filter on services is the SQL's)."""
    path = focus_csv(tmp_path / "gcp_as_focus.csv", rows, columns=GCP_COLUMNS)
    return read_focus([path], FocusOptions(entity="main", services=None)).facts


def window_total(rows: list[dict], service: str = "Vertex AI") -> Decimal:
    """Google's own net total of the window's rows of the account and service: cost + its credits."""
    kept = [
        row
        for row in rows
        if row["billing_account_id"] == GCP_ACCOUNT
        and row["service"]["description"] == service
        and WINDOW.first_day <= row["usage_start_time"].date() <= WINDOW.last_day
    ]
    return sum(
        (Decimal(repr(row["cost"])) + sum((Decimal(repr(c["amount"])) for c in row["credits"]), Decimal(0)))
        for row in kept
    ) or Decimal(0)


def test_the_standard_export_gives_the_facts_of_the_same_charges_as_focus_rows(tmp_path: Path) -> None:
    pulled = gcp_source(DuckDBWarehouse(connection=gcp_table(EXPORT))).pull(WINDOW)
    assert pulled.errors == []
    reference = imported(FOCUS_ROWS, tmp_path)
    same_money(pulled.facts, reference)
    # conservation: the facts are the bill's net total of the window's Vertex rows of the account
    total = sum(f.amount for f in pulled.facts)
    assert total == window_total(EXPORT) == Decimal("15.725676")
    assert {f.provider for f in pulled.facts} == {"gcp"}
    assert {f.provider_account for f in pulled.facts} == {GCP_ACCOUNT}
    by_category: dict[str, Decimal] = {}
    for fact in pulled.facts:
        by_category[fact.charge_category.value] = by_category.get(fact.charge_category.value, 0) + fact.amount
    assert by_category == {
        "usage": Decimal("19.445679"),
        "credit": Decimal("-2.45"),
        "tax": Decimal("1.23"),
        "adjustment": Decimal("-2.500003"),
    }
    # a credit keeps its row's dimensions (project, SKU, labels, day) and names itself
    [free] = [f for f in pulled.facts if f.dimensions.get("line_item") == "Free tier"]
    assert (free.charge_date, free.dimensions.get("sub_account"), free.dimensions.get("tag:team")) == (
        date(2026, 11, 2),
        "proj-search",
        "ml",
    )
    assert free.dimensions.get("sku") == "Gemini 2.5 Pro input tokens"
    assert free.dimensions.get("sub_account_name") == "Search"


def test_credits_of_other_services_and_rows_of_other_accounts_are_not_read() -> None:
    pulled = gcp_source(DuckDBWarehouse(connection=gcp_table(EXPORT))).pull(WINDOW)
    assert {f.dimensions.get("service") for f in pulled.facts} == {"Vertex AI"}
    # the Compute Engine row and its credit (5.0 - 5.0) and the other account's row (3.0 - 1.0) would
    # change the Credit total; the days outside the window (9.0 - 1.0, 4.0) the total
    credits = sum(f.amount for f in pulled.facts if f.charge_category.value == "credit")
    assert credits == Decimal("-2.45")
    assert {f.charge_date for f in pulled.facts} == {date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)}
    every = gcp_source(
        DuckDBWarehouse(connection=gcp_table(EXPORT)), services=("Vertex AI", "Compute Engine")
    )
    both = every.pull(WINDOW)
    compute = [f for f in both.facts if f.dimensions.get("service") == "Compute Engine"]
    assert sorted(f.amount for f in compute) == [Decimal("-5"), Decimal("5")]
    assert sum(f.amount for f in both.facts) == window_total(EXPORT) + window_total(EXPORT, "Compute Engine")


def test_the_bigquery_text_computes_the_same_facts(tmp_path: Path) -> None:
    """The query as BigQuery receives it (labels as TO_JSON_STRING pairs, the amounts rounded once as
    BIGNUMERIC, the credits unnested), transpiled back to DuckDB and run on the same table."""
    engine = Transpiling(connection=gcp_table(EXPORT))
    engine.dialect = "bigquery"  # type: ignore[misc]
    pulled = gcp_source(engine).pull(WINDOW)
    assert pulled.errors == []
    same_money(pulled.facts, imported(FOCUS_ROWS, tmp_path))


def test_an_exact_repeat_refuses_the_window_as_in_any_export_without_line_ids() -> None:
    twice = [EXPORT[1], dict(EXPORT[1])]
    pulled = gcp_source(DuckDBWarehouse(connection=gcp_table(twice))).pull(WINDOW)
    assert pulled.facts == []
    assert len(pulled.errors) == 1


def test_the_standard_export_is_read_on_bigquery_or_duckdb_only() -> None:
    engine = DuckDBWarehouse()
    engine.dialect = "athena"  # type: ignore[misc]
    with pytest.raises(ConfigError, match="gcp-standard"):
        gcp_source(engine)


GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("dialect", ["duckdb", "bigquery"])
def test_the_gcp_standard_window_is_the_golden_text(dialect: str) -> None:
    """The window's rows and credits as each engine receives them (docs/warehouses.md); a change shows
    up as a diff to review."""
    engine = DuckDBWarehouse()
    engine.dialect = dialect  # type: ignore[misc]
    source = gcp_source(engine)
    text = render_for(sqlglot.parse_one(f"SELECT * FROM {source.source_sql(WINDOW)}", read="duckdb"), dialect)
    golden = GOLDEN / f"gcp_standard_window.{dialect}.sql"
    if os.environ.get("TOKENBOOKS_UPDATE_GOLDEN"):
        golden.write_text(text + "\n")
    assert text + "\n" == golden.read_text()
    for sql in (text, *source.queries(WINDOW)):
        sqlglot.parse_one(sql, read=dialect)  # each parses back in its own dialect
    assert "UNION ALL" in text
    assert "UNNEST(gcp.credits)" in text
    assert "FLOAT" not in text.upper()
    if dialect == "bigquery":
        assert "ROUND(CAST(gcp.cost AS BIGNUMERIC), 10)" in text  # the one rounding, at 10 places
        assert "TO_JSON_STRING(label.key)" in text


# random rows: amounts of up to 6 fraction digits (Google's micros), any cost type, credits, services,
# accounts, projects, labels and days around the window
amounts = st.decimals(min_value=Decimal("-500"), max_value=Decimal("50000"), places=6)
labels = st.sampled_from(
    [
        (),
        ML,
        (("team", "ml"),),
        (("cost_centre", "CC-7"), ("team", "search")),
        (("owner", 'Zoë "Z"'), ("empty", "")),
    ]
)
rows = st.lists(
    st.tuples(
        amounts,
        st.sampled_from(["regular", "regular", "tax", "adjustment", "rounding_error"]),
        st.lists(amounts.map(lambda a: -abs(a)), max_size=3),
        st.sampled_from(["Vertex AI", "Vertex AI", "Compute Engine"]),
        st.sampled_from([GCP_ACCOUNT, GCP_ACCOUNT, "FFFFFF-FFFFFF-FFFFFF"]),
        st.sampled_from([SEARCH, SUPPORT, None]),
        labels,
        st.integers(0, 4),
    ),
    min_size=1,
    max_size=14,
)


def as_focus(drawn: list[tuple]) -> tuple[list[dict], list[dict]]:
    """The drawn rows as the export holds them, and the same charges as FOCUS rows (window, account and
    service kept, as the SQL keeps them)."""
    export, focus = [], []
    categories = {"regular": "Usage", "tax": "Tax"}
    for hour, (cost, cost_type, credits, service, account, project, tags, day) in enumerate(drawn):
        credit_pairs = tuple((f"credit {hour}-{n}", float(a)) for n, a in enumerate(credits))
        export.append(
            gcp_row(float(cost), day=NOV + timedelta(day), hour=hour, cost_type=cost_type, service=service,
                    account=account, project=project, labels=tags, credits=credit_pairs)
        )  # fmt: skip
        if service != "Vertex AI" or account != GCP_ACCOUNT or not 1 <= day <= 3:
            continue
        names = project or ("", "")
        text = json.dumps(dict(tags))
        usage = {"ConsumedQuantity": "1000", "ConsumedUnit": "count"} if cost_type == "regular" else {}
        category = categories.get(cost_type, "Adjustment")
        focus.append(charge(str(cost), category, day + 1, hour, names, Tags=text, **usage))
        for name, amount in credit_pairs:
            focus.append(
                charge(repr(amount), "Credit", day + 1, hour, names, Tags=text, ChargeDescription=name)
            )
    return export, focus


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=rows)
def test_any_rows_and_credits_give_the_importers_facts(tmp_path_factory, drawn) -> None:
    """Whatever the rows, costs, credits, services and accounts, the pulled facts are the importer's facts
    for the same charges as FOCUS rows, and their total the window's SUM(cost) + SUM(credits.amount)."""
    export, focus = as_focus(drawn)
    pulled = gcp_source(DuckDBWarehouse(connection=gcp_table(export))).pull(WINDOW)
    assert pulled.errors == []
    reference = imported(focus, tmp_path_factory.mktemp("gcp")) if focus else []

    def key(fact) -> tuple:
        return (fact.charge_date, fact.charge_category, fact.dimensions.items, fact.amount)

    assert Counter(map(key, pulled.facts)) == Counter(map(key, reference))  # None and text do not sort
    assert sum(f.amount for f in pulled.facts) == window_total(export)
