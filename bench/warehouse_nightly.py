"""Benchmark: a nightly warehouse pull (`WarehouseSource`, DuckDB as the engine) of a month-long typed FOCUS
table: the lag window (a new day and the 3 lag days, `RESTATES=lag_days`) beside the open billing month
(`RESTATES=billing_period`, the default: what a night reads on the month's last day, and a first pull).

    python -m bench.warehouse_nightly [--streams 768] [--days 30] [--threads 2] [--types decimal|double]
                                      [--all-text]

The table is generated inside DuckDB (`range(n)`): `--streams` hourly line-item streams (2 accounts × sub
accounts × SKU meters × regions, as bench/warehouse_duckdb.py: their dimensions repeat every 768 rows,
so more than 768 streams are more line items per combination and hour, not more buckets — one account
books 384 facts a day whatever `--streams`) over `--days` days, costs and quantities DECIMAL(38, 10)
(`--types decimal`, the default) or DOUBLE (`--types double`: AWS's FOCUS Parquet; each cost the double
nearest a decimal of at most 6 fraction digits, as a cost written from one) and timestamps TIMESTAMPTZ
as a warehouse types them, Tags a MAP (as Athena types it); the source reads one of the two accounts.
`--all-text` declines the typed path (every column read as text, as a DuckDB warehouse read a DOUBLE
before 2026-12-07). What is timed is `source.pull(window)`: the SQL window, the bucket query, the group
checks and step 2 into facts. Wall and CPU seconds (DuckDB's threads included); the rows the window
selects. Results: stdout and bench/results/warehouse_nightly.json. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from connector.retrying import RetryPolicy
from connector.sources.base import Window
from connector.sources.warehouse.engines import DuckDBWarehouse
from connector.sources.warehouse.nightly import Dataset, WarehouseSource

RESULTS = Path(__file__).with_name("results")
FIRST = date(2026, 9, 1)
# the amounts' types: a cost of (i % 1000) × 0.000731 exactly (DECIMAL), or the double nearest it
COST = "CAST(((i % 1000) * 0.000731) AS DECIMAL(38, 10))"
AMOUNTS = {
    "decimal": {"cost": COST, "quantity": "CAST(i % 5000 AS DECIMAL(38, 10))"},
    "double": {"cost": f"CAST({COST} AS DOUBLE)", "quantity": "CAST(i % 5000 AS DOUBLE)"},
}
TABLE = """
CREATE TABLE billing.focus AS SELECT
  {cost} AS BilledCost,
  {cost} AS EffectiveCost,
  CASE i % 2 WHEN 0 THEN '111122223333' ELSE '444455556666' END AS BillingAccountId,
  'USD' AS BillingCurrency,
  CAST(date_trunc('month', TIMESTAMP '2026-09-01' + to_hours(i // {streams})) AS TIMESTAMPTZ) AS BillingPeriodStart,
  'Usage' AS ChargeCategory, '' AS ChargeClass, 'model ' || ((i // 16) % 16) AS ChargeDescription,
  'Usage-Based' AS ChargeFrequency,
  CAST(TIMESTAMP '2026-09-01' + to_hours(i // {streams}) AS TIMESTAMPTZ) AS ChargePeriodStart,
  CAST(TIMESTAMP '2026-09-01' + to_hours(i // {streams}) + INTERVAL 30 MINUTE AS TIMESTAMPTZ) AS ChargePeriodEnd,
  '' AS CommitmentDiscountId, '' AS CommitmentDiscountStatus,
  {quantity} AS ConsumedQuantity, 'Tokens' AS ConsumedUnit, 'AWS' AS ProviderName,
  ['us-east-1', 'us-west-2', 'eu-west-1'][(i // 256) % 3 + 1] AS RegionId,
  'AI and Machine Learning' AS ServiceCategory, 'Amazon Bedrock' AS ServiceName,
  'SKU-' || ((i // 16) % 16) AS SkuId, '' AS SkuPriceId, ((i % 2) || '-' || ((i // 2) % 8)) AS SubAccountId,
  'Generative AI' AS ServiceSubcategory, '' AS InvoiceId, 'USD' AS PricingCurrency,
  'SKU-' || ((i // 16) % 16) || '-' || ((i // 256) % 3) AS SkuMeter,
  MAP(['project', 'team'], ['proj-' || ((i // 4) % 4), 'team-' || ((i // 64) % 2)]) AS Tags
FROM range({rows}) AS t(i)
"""


class AllText(DuckDBWarehouse):
    """DuckDB with the typed path declined (`--all-text`): every column read as text."""

    def column_types(self, table: str) -> dict[str, str]:
        return {}


def measure(source: WarehouseSource, window: Window, connection: duckdb.DuckDBPyConnection) -> dict:
    wall, cpu = time.perf_counter(), os.times()
    pulled = source.pull(window)
    after = os.times()
    assert not pulled.errors, pulled.errors[:3]
    # conservation: the facts hold exactly what a plain SUM of the window's rows of the account gives (a
    # DOUBLE's value is its text's, DuckDB's shortest round-trip digits, as the source reads it)
    (expected,) = connection.execute(
        "SELECT SUM(CAST(CAST(BilledCost AS VARCHAR) AS DECIMAL(38, 10))) FROM billing.focus "
        "WHERE BillingAccountId = '111122223333' AND "
        f"ChargePeriodStart >= TIMESTAMPTZ '{window.first_day}' AND "
        f"ChargePeriodStart < TIMESTAMPTZ '{window.last_day + timedelta(days=1)}'"
    ).fetchone()
    assert sum(f.amount for f in pulled.facts) == expected, (expected, sum(f.amount for f in pulled.facts))
    return {
        "window": f"{window.first_day}..{window.last_day}",
        "days": window.days,
        "rows_in_window": pulled.received,
        "facts": len(pulled.facts),
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(after.user + after.system - cpu.user - cpu.system, 2),
        "total": str(sum(f.amount for f in pulled.facts)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=768)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--types", choices=sorted(AMOUNTS), default="decimal", help="the amounts' type")
    parser.add_argument("--all-text", action="store_true", help="decline the typed path")
    args = parser.parse_args()
    rows = args.streams * 24 * args.days
    connection = duckdb.connect()
    connection.execute(f"SET threads = {args.threads}")
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("CREATE SCHEMA billing")
    started = time.perf_counter()
    connection.execute(TABLE.format(streams=args.streams, rows=rows, **AMOUNTS[args.types]))
    generated = round(time.perf_counter() - started, 1)
    engine = (AllText if args.all_text else DuckDBWarehouse)(connection=connection)
    source = WarehouseSource(
        engine,
        Dataset("billing.focus"),
        name="bench",
        provider="aws",
        account="111122223333",
        entity="main",
        timezone="UTC",
        retry=RetryPolicy(1),
        lag_days=3,
    )
    last = FIRST + timedelta(days=args.days - 1)
    windows = [Window(last - timedelta(days=3), last), Window(FIRST, last)]
    runs = [measure(source, window, connection) for window in windows]
    report = {
        "table_rows": rows,
        "types": args.types,
        "typed_columns": sorted(source.typed_columns()),
        "generated_s": generated,
        "load": os.getloadavg(),
        "runs": runs,
    }
    print(json.dumps(report, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "warehouse_nightly.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
