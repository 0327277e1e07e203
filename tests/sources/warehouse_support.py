"""A FOCUS billing table for the warehouse sources' tests, and the reference they must agree with.

The same rows are written twice: as a FOCUS CSV export, which the DuckDB file importer reads (the
reference: `read_focus_duckdb`), and as a typed warehouse table in an in-memory DuckDB (timestamps as
TIMESTAMPTZ, money as DECIMAL(38, 10), as a FOCUS view types them). The engines' fakes answer a query by
running the SQL they received on that table, after sqlglot transpiles it from their dialect back to
DuckDB's — so what a test checks is what the source really sent, run.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import sqlglot

from connector.retrying import RetryPolicy, no_sleep
from connector.settings import WarehouseSettings
from connector.sources.base import PullResult, Window
from connector.sources.focus import FocusOptions
from connector.sources.warehouse.engines import WarehouseEngine, section_variable
from connector.sources.warehouse.focus_duckdb import read_focus_duckdb
from connector.sources.warehouse.nightly import (
    AMOUNT_COLUMNS,
    COLUMNS,
    TIMESTAMP_COLUMNS,
    Dataset,
    WarehouseSource,
)
from tests.sources.builders import focus_csv, focus_row

BILLING = section_variable("billing")  # the variables of the tests' section, `warehouse.billing`
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "999999999999"
WINDOW = Window(date(2026, 11, 2), date(2026, 11, 4))
COLUMNS_12 = list(COLUMNS["focus-1.2"])
TABLE = "billing.focus_export"


# Tags as exports write them: the same tags in two key orders and spacings (one bucket), none, and others
TAGS = (
    '{"project": "proj_eng_search", "team": "ml"}',
    '{"team":"ml","project":"proj_eng_search"}',
    '{"project": "proj_support_assistant", "cost_centre": "CC-7"}',
    "{}",
    "",
)


def random_rows(seed: int = 7, count: int = 120) -> list[dict]:
    """Rows over the window and the day before it, of the account and of another one, with amounts of
    up to 10 fraction digits (what an exact sum must keep)."""
    pick = random.Random(seed)
    rows = []
    for n in range(count):
        day = date(2026, 11, pick.randint(1, 4))
        scale = pick.choice([2, 4, 6, 10])
        cost = Decimal(pick.randint(-50, 5_000_000)).scaleb(-scale)
        rows.append(
            focus_row(
                str(cost),
                day=day,
                hour=pick.randint(0, 22),
                account=ACCOUNT if n % 9 else OTHER_ACCOUNT,
                sku=pick.choice(["USE1-Claude-input-tokens", "USE1-Claude-output-tokens", "USE1-Titan"]),
                sub_account=pick.choice(["prod", "staging"]),
                quantity=str(pick.randint(1, 10_000)),
                SkuId=f"sku-{n % 3}",
                ServiceSubcategory="Generative AI",
                EffectiveCost=str(cost),
                tags=pick.choice(TAGS),
            )
        )
    return rows


def reference_facts(rows: list[dict], tmp_path: Path) -> list:
    """What the FOCUS importer (DuckDB reader) makes of the window's rows of the account."""
    kept = [
        row
        for row in rows
        if row["BillingAccountId"] == ACCOUNT
        and WINDOW.first_day <= date.fromisoformat(row["ChargePeriodStart"][:10]) <= WINDOW.last_day
    ]
    path = focus_csv(tmp_path / "reference.csv", kept, columns=COLUMNS_12)
    return read_focus_duckdb([path], FocusOptions(entity="main")).facts


def warehouse_table(
    rows: list[dict], tmp_path: Path, database: str = ":memory:", amounts: str = "DECIMAL(38, 10)"
) -> duckdb.DuckDBPyConnection:
    """The rows as a typed table `billing.focus_export` of a DuckDB (in memory, or the file `database`),
    its amounts of the type `amounts` (DOUBLE: AWS's FOCUS Parquet; an integer type), each cast from
    its text."""
    path = focus_csv(tmp_path / "table.csv", rows, columns=COLUMNS_12)
    connection = duckdb.connect(database)
    connection.execute("SET TimeZone = 'UTC'")
    select = []
    for column in COLUMNS_12:
        quoted = f"NULLIF(\"{column}\", '')"
        if column in TIMESTAMP_COLUMNS:
            select.append(f'CAST({quoted} AS TIMESTAMPTZ) AS "{column}"')
        elif column in AMOUNT_COLUMNS:
            select.append(f'CAST({quoted} AS {amounts}) AS "{column}"')
        elif column == "Tags":  # typed as the warehouses type it: JSON (BigQuery), a map or VARIANT
            select.append(f'CAST({quoted} AS JSON) AS "{column}"')
        else:
            select.append(f'"{column}"')
    connection.execute("CREATE SCHEMA billing")
    connection.execute(
        f"CREATE TABLE {TABLE} AS SELECT {', '.join(select)} FROM read_csv('{path}', all_varchar = true)"
    )
    return connection


SNOWFLAKE_ISO = re.compile(r"""TO_CHAR\(([^()]+), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'\)""")


def run_received(connection: duckdb.DuckDBPyConnection, sql: str, dialect: str) -> tuple[list, list]:
    """Run SQL received in `dialect` on the DuckDB table: (column names, rows)."""
    if dialect == "snowflake":  # sqlglot cannot carry Snowflake's quoted format literals to DuckDB
        sql = SNOWFLAKE_ISO.sub(r"STRFTIME(\1, '%Y-%m-%dT%H:%M:%SZ')", sql)
    if dialect == "bigquery":  # BIGNUMERIC holds 38 fraction digits; sqlglot would give DuckDB 5
        sql = sql.replace("AS BIGNUMERIC)", "AS BIGNUMERIC(38, 10))")
    text = sqlglot.transpile(sql, read=dialect, write="duckdb")[0]
    cursor = connection.execute(text)
    names = [d[0] for d in cursor.description]
    return names, cursor.fetchall()


def source_on(engine: WarehouseEngine, attempts: int = 3, **dataset: object) -> WarehouseSource:
    return WarehouseSource(
        engine,
        Dataset(TABLE, **dataset),  # type: ignore[arg-type]
        name="billing",
        provider="aws",
        account=ACCOUNT,
        entity="main",
        timezone="UTC",
        retry=RetryPolicy(attempts, sleep=no_sleep),
        lag_days=2,
    )


def same_money(facts: list, reference: list) -> None:
    """The same facts as the reference, amount for amount (to the last digit, whatever the exponent)."""

    def key(fact) -> tuple:
        return (fact.charge_date, fact.charge_category, fact.dimensions.items, fact.currency)

    got = sorted((key(f), f.amount) for f in facts)
    want = sorted((key(f), f.amount) for f in reference)
    assert [k for k, _ in got] == [k for k, _ in want]
    assert all(a == b for (_, a), (_, b) in zip(got, want, strict=True))
    assert sum(f.amount for f in facts) == sum(f.amount for f in reference)
    assert len(reference) > 3


@dataclass
class Export:
    """What each engine's test starts from: random rows in the DuckDB table its fake answers from, and
    the check that a pull of `WINDOW` gave the importer's facts for them."""

    rows: list[dict]
    table: duckdb.DuckDBPyConnection
    tmp_path: Path

    def pulled_as_imported(self, pulled: PullResult) -> None:
        assert pulled.errors == []
        same_money(pulled.facts, reference_facts(self.rows, self.tmp_path))


def random_export(tmp_path: Path, seed: int, count: int = 120) -> Export:
    rows = random_rows(seed, count)
    return Export(rows, warehouse_table(rows, tmp_path), tmp_path)


CUR_TABLE = "cur.cur2_daily"


def cur_table(rows: list[dict], connection: duckdb.DuckDBPyConnection) -> None:
    """The same rows as an AWS CUR 2.0 table (`cur.cur2_daily`, costs and amounts as DOUBLE, as AWS's
    Parquet export and its Athena table type them), beside the FOCUS table."""
    connection.execute(
        """CREATE SCHEMA cur; CREATE TABLE cur.cur2_daily AS SELECT
             CONCAT('li-', CAST(ROW_NUMBER() OVER () AS VARCHAR)) AS identity_line_item_id,
             CONCAT(STRFTIME("ChargePeriodStart", '%Y-%m-%dT%H:%M:%SZ'), '/',
                    STRFTIME("ChargePeriodEnd", '%Y-%m-%dT%H:%M:%SZ')) AS identity_time_interval,
             "BillingAccountId" AS bill_payer_account_id,
             "SubAccountId" AS line_item_usage_account_id,
             "BillingPeriodStart" AS bill_billing_period_start_date,
             "ChargePeriodStart" AS line_item_usage_start_date,
             "ChargePeriodEnd" AS line_item_usage_end_date,
             'Usage' AS line_item_line_item_type,
             "ChargeDescription" AS line_item_line_item_description,
             CAST("BilledCost" AS DOUBLE) AS line_item_unblended_cost,
             "BillingCurrency" AS line_item_currency_code,
             CAST("ConsumedQuantity" AS DOUBLE) AS line_item_usage_amount,
             "ConsumedUnit" AS pricing_unit,
             'AmazonBedrock' AS line_item_product_code,
             "SkuId" AS product_sku,
             "SkuMeter" AS line_item_usage_type,
             "RegionId" AS product_region_code,
             "InvoiceId" AS bill_invoice_id,
             -- resource_tags: a map keyed user_<tag> (CUR 2.0's names for user-defined tags)
             map_from_entries(list_transform(map_entries(CAST("Tags" AS MAP(VARCHAR, VARCHAR))), lambda e:
                                             {'key': 'user_' || e.key, 'value': e.value})) AS resource_tags
           FROM billing.focus_export"""
    )


def per_day_and_meter(facts: list) -> dict:
    totals: dict = {}
    for fact in facts:
        key = (fact.charge_date, fact.dimensions.get("sku"), fact.dimensions.get("sub_account"))
        totals[key] = totals.get(key, 0) + fact.amount
    return totals


def per_tag(facts: list, tag: str) -> dict:
    totals: dict = {}
    for fact in facts:
        key = fact.dimensions.get(tag)
        totals[key] = totals.get(key, 0) + fact.amount
    return totals


# Google Cloud's standard usage cost export, shaped as BigQuery holds it (the fields tokenbooks reads, and
# a few it does not): records as STRUCTs, repeated records as lists, costs as DOUBLE (FLOAT64), times as
# TIMESTAMPs (https://docs.cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/standard-usage)
GCP_ACCOUNT = "0A1B2C-3D4E5F-6A7B8C"
GCP_TABLE = "billing.gcp_billing_export_v1_0A1B2C_3D4E5F_6A7B8C"
GCP_SCHEMA = """
    billing_account_id VARCHAR,
    service STRUCT(id VARCHAR, description VARCHAR),
    sku STRUCT(id VARCHAR, description VARCHAR),
    usage_start_time TIMESTAMPTZ,
    usage_end_time TIMESTAMPTZ,
    project STRUCT(id VARCHAR, number VARCHAR, name VARCHAR),
    labels STRUCT(key VARCHAR, value VARCHAR)[],
    system_labels STRUCT(key VARCHAR, value VARCHAR)[],
    location STRUCT(location VARCHAR, country VARCHAR, region VARCHAR, zone VARCHAR),
    cost DOUBLE,
    currency VARCHAR,
    usage STRUCT(amount DOUBLE, unit VARCHAR),
    credits STRUCT(name VARCHAR, amount DOUBLE, full_name VARCHAR, id VARCHAR, type VARCHAR)[],
    invoice STRUCT(month VARCHAR),
    cost_type VARCHAR,
    adjustment_info STRUCT(id VARCHAR, description VARCHAR, type VARCHAR, mode VARCHAR)
"""
GCP_FIELDS = [line.strip().split(" ")[0] for line in GCP_SCHEMA.strip().splitlines()]


def gcp_row(
    cost: float,
    *,
    day: date,
    hour: int = 0,
    cost_type: str = "regular",
    service: str = "Vertex AI",
    sku: tuple[str, str] = ("A1B2-C3D4-E5F6", "Gemini 2.5 Pro input tokens"),
    project: tuple[str, str] | None = ("proj-search", "Search"),
    labels: tuple[tuple[str, str | None], ...] = (),
    credits: tuple[tuple[str, float], ...] = (),
    account: str = GCP_ACCOUNT,
    usage: tuple[float, str] = (1000.0, "count"),
) -> dict:
    """One row of the standard export; `credits` as (name, amount) pairs."""
    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    return {
        "billing_account_id": account,
        "service": {"id": f"id-{service}", "description": service},
        "sku": {"id": sku[0], "description": sku[1]},
        "usage_start_time": start,
        "usage_end_time": start + timedelta(hours=1),
        "project": {"id": project[0], "number": "1234", "name": project[1]} if project else None,
        "labels": [{"key": key, "value": value} for key, value in labels],
        "system_labels": [{"key": "compute.googleapis.com/machine_spec", "value": "n1-standard-1"}],
        "location": {"location": "us-central1", "country": "US", "region": "us-central1", "zone": None},
        "cost": cost,
        "currency": "USD",
        "usage": {"amount": usage[0], "unit": usage[1]},
        "credits": [
            {"name": name, "amount": amount, "full_name": "", "id": f"credit-{n}", "type": "PROMOTION"}
            for n, (name, amount) in enumerate(credits)
        ],
        "invoice": {"month": f"{day:%Y%m}"},
        "cost_type": cost_type,
        "adjustment_info": None,
    }


def gcp_table(rows: list[dict]) -> duckdb.DuckDBPyConnection:
    """The rows as `GCP_TABLE` in an in-memory DuckDB."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"CREATE SCHEMA billing; CREATE TABLE {GCP_TABLE} ({GCP_SCHEMA})")
    if rows:
        marks = ", ".join("?" for _ in GCP_FIELDS)
        connection.executemany(
            f"INSERT INTO {GCP_TABLE} VALUES ({marks})", [[row[f] for f in GCP_FIELDS] for row in rows]
        )
    return connection


def gcp_source(engine: WarehouseEngine, **dataset: object) -> WarehouseSource:
    return WarehouseSource(
        engine,
        Dataset(GCP_TABLE, **{"flavour": "gcp-standard", "services": ("Vertex AI",), **dataset}),  # type: ignore[arg-type]
        name="vertex",
        provider="gcp",
        account=GCP_ACCOUNT,
        entity="main",
        timezone="UTC",
        retry=RetryPolicy(1, sleep=no_sleep),
        lag_days=2,
    )


def settings_named(fix: str | None) -> list[str]:
    """The `TOKENBOOKS_WAREHOUSE__BILLING__…` variables a fix names, each checked to be a setting a
    warehouse section has (a fix that names a variable nobody can set sends the user nowhere)."""
    named = re.findall(re.escape(BILLING) + r"([A-Z_]+[A-Z])", fix or "")
    fields = {name.upper() for name in WarehouseSettings.model_fields}
    assert named, f"the fix names no variable of the section: {fix!r}"
    assert set(named) <= fields | {f"{name}_FILE" for name in fields}, named
    return named
