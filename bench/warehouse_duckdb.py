"""Benchmark: FOCUS rows aggregated by DuckDB, beside DuckDB's bare scan of the same files (the floor),
and a CSV import by DuckDB beside today's Python importer.

    python -m bench.warehouse_duckdb [--rows 1000000 10000000 ...] [--types decimal double text]
        [--text-rows N] [--csv-rows N] [--memory 1GB] [--line-ids checked unique]

Parquet: `--rows` FOCUS rows are generated inside DuckDB (`range(n)`, streamed to a Parquet file, so
100,000,000 rows need no Python loop and about 3 GB of disk), shaped like bench/focus_import.py's
hourly AWS Bedrock export (768 line-item streams: 2 accounts × 8 sub accounts × 16 SKU meters × 3
regions, 5 % of the streams other services, a Tax line per account each day) over one billing month,
September 2026: 720 hours × 768 streams is 552,960 rows, so a larger file has several line items (ids)
per stream and hour, as a busy account's export does. The buckets are the month's (streams × 30 days,
about 23,000), whatever the size: the cost grows with the rows, not with the facts. (Until 2026-12-06
evening the generator kept one row per stream and hour and ran 100M rows over 15 years, so the buckets
grew with the rows — 4 million facts for 100M rows — which no export of a month looks like.)
`--types` says how the columns are typed (`TYPES`): `decimal` (the default: amounts DECIMAL(38, 10),
periods TIMESTAMPTZ, as FOCUS defines them and a warehouse holds them), `double` (amounts DOUBLE, as
AWS's FOCUS Parquet), `text` (every value a string, as the benchmark wrote them until 2026-12-06).
For each size and type, each in a fresh process (peak memory is its own):

- the floor: DuckDB reading every value of the file (`SELECT count(*), max(length(col)) …` for a
  string, `max(hash(col))` for a typed value), nothing else;
- the aggregation: `read_focus_duckdb` — the bucket query, the checks per group, step 2 (facts …);
  `--line-ids` says how: `checked` (the default: a survey finds every line id given twice), `unique`
  (`FocusOptions.unique_line_ids`: the provider's ids are trusted to be unique within the file, no
  survey), or both, each in its own process.

CSV: a `--csv-rows` file (bench/focus_import.py's generator) read by `read_focus` (Python) and by
`read_focus_duckdb`. Times are wall seconds (DuckDB runs on every thread it is given, so CPU seconds
would overstate it) and CPU seconds; peak memory is the child's own high-water mark (`bench/memory.py`). Results: stdout and
bench/results/warehouse_duckdb.json. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.memory import peak_rss_mb

RESULTS = Path(__file__).with_name("results")
TARGET_RATIO, TARGET_PEAK_MB, TARGET_CSV_SPEEDUP = 2.0, 2048, 5.0
# how line ids are read (`--line-ids`) → the child's mode, and the result's key
LINE_IDS = {"checked": "duckdb", "unique": "duckdb-unique"}
AGGREGATION = {"checked": "aggregation", "unique": "aggregation_unique_line_ids"}
GENERATE = """
COPY (
  SELECT
    {amount} AS BilledCost,
    CASE i % 2 WHEN 0 THEN '111122223333' ELSE '444455556666' END AS BillingAccountId,
    'USD' AS BillingCurrency,
    {billing_period} AS BillingPeriodStart,
    CASE WHEN (i // 768) % 24 = 23 AND i % 768 < 2 THEN 'Tax' ELSE 'Usage' END AS ChargeCategory,
    '' AS ChargeClass,
    'model ' || ((i // 16) % 16) AS ChargeDescription,
    {end} AS ChargePeriodEnd,
    {start} AS ChargePeriodStart,
    {quantity} AS ConsumedQuantity,
    'Tokens' AS ConsumedUnit,
    {amount} AS EffectiveCost,
    'INV-' || (i % 2) || '-202609' AS InvoiceId,
    'AWS' AS ProviderName,
    ['us-east-1', 'us-west-2', 'eu-west-1'][(i // 256) % 3 + 1] AS RegionId,
    CASE WHEN i % 768 % 20 = 7 THEN 'Compute' ELSE 'AI and Machine Learning' END AS ServiceCategory,
    CASE WHEN i % 768 % 20 = 7 THEN 'Amazon EC2' ELSE 'Amazon Bedrock' END AS ServiceName,
    'SKU-' || ((i // 16) % 16) || '-' || ((i // 256) % 3) AS SkuMeter,
    ((i % 2) || '-' || ((i // 2) % 8)) AS SubAccountId,
    ['{"team": "support"}', '{"team": "research"}', '{"team": "sales"}', ''][(i // 2) % 4 + 1] AS Tags,
    'l-' || i AS x_LineItemId
  FROM range({rows}) AS t(i)
) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
"""


# The columns' types: text (every value a string, as a CSV export), or typed as the clouds write FOCUS —
# amounts DECIMAL(38, 10) (FOCUS's Decimal; a warehouse's NUMERIC) or DOUBLE (AWS's FOCUS Parquet, the
# AWS FOCUS 1.2 columns page), the periods TIMESTAMP WITH TIME ZONE (UTC, microseconds)
HOUR = "TIMESTAMP '2026-09-01' + to_hours((i // 768) % 720{plus})"
TYPES = {
    "text": {
        "amount": "printf('%.6f', (i % 1000) * 0.000731)",
        "quantity": "CAST(i % 5000 AS VARCHAR)",
        "start": f"strftime({HOUR.format(plus='')}, '%Y-%m-%dT%H:%M:%SZ')",
        "end": f"strftime({HOUR.format(plus=' + 1')}, '%Y-%m-%dT%H:%M:%SZ')",
        "billing_period": "'2026-09-01T00:00:00Z'",
    },
    "decimal": {
        "amount": "CAST((i % 1000) * 0.000731 AS DECIMAL(38, 10))",
        "quantity": "CAST(i % 5000 AS DECIMAL(38, 10))",
        "start": f"CAST({HOUR.format(plus='')} AS TIMESTAMPTZ)",
        "end": f"CAST({HOUR.format(plus=' + 1')} AS TIMESTAMPTZ)",
        "billing_period": "TIMESTAMPTZ '2026-09-01 00:00:00+00'",
    },
}
TYPES["double"] = TYPES["decimal"] | {
    "amount": "CAST((i % 1000) * 0.000731 AS DOUBLE)",
    "quantity": "CAST(i % 5000 AS DOUBLE)",
}


def generate_parquet(path: Path, rows: int, memory: str, types: str = "text") -> None:
    import duckdb

    sql = GENERATE.replace("{rows}", str(int(rows))).replace("{path}", str(path))
    for name, expression in TYPES[types].items():
        sql = sql.replace("{" + name + "}", expression)
    connection = duckdb.connect()
    connection.execute(f"SET memory_limit = '{memory}'")
    connection.execute("SET TimeZone = 'UTC'")  # the TIMESTAMPTZ casts: the hours are UTC's
    connection.execute("SET enable_progress_bar = false")
    connection.execute(sql)
    connection.close()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(mode: str, path: Path, memory: str) -> dict:
    from connector.sources.focus import FocusOptions, read_focus
    from connector.sources.warehouse.duckdb_engine import DuckDBLimits, connect
    from connector.sources.warehouse.focus_duckdb import read_focus_duckdb

    limits = DuckDBLimits(memory)
    unique = mode == "duckdb-unique"
    options = FocusOptions(entity="acme-us", timezone="America/New_York", unique_line_ids=unique)
    began, cpu = time.perf_counter(), cpu_seconds()
    if mode == "scan":
        connection = connect(limits)
        described = connection.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        # max(length(…)) decodes every string, max(hash(…)) every typed value (a bare max() may be
        # answered from the file's statistics; writing a typed value as text would be work the
        # aggregation does not do)
        maxima = ", ".join(
            f'max(length("{name}"))' if kind == "VARCHAR" else f'max(hash("{name}"))'
            for name, kind, *_ in described
        )
        connection.execute(f"SELECT count(*), {maxima} FROM read_parquet('{path}')").fetchall()
        result: dict = {}
    else:
        batch = (
            read_focus([path], options) if mode == "python" else read_focus_duckdb([path], options, limits)
        )
        result = {
            "facts": len(batch.facts),
            "quarantined": len(batch.quarantined),
            "readers": list(batch.readers.values()),
            "accepted": {k: str(v) for k, v in batch.tally.amounts[next(iter(batch.tally.amounts))].items()},
        }
    result |= {"seconds": time.perf_counter() - began, "cpu_seconds": cpu_seconds() - cpu}
    result["peak_mb"] = peak_rss_mb()  # this process's own (ru_maxrss carries the parent's across exec)
    return result


def _run(mode: str, path: Path, memory: str) -> dict:
    load = os.getloadavg()[0]  # the machine is shared: each child's figures say how busy it was
    output = subprocess.run(
        [sys.executable, "-m", "bench.warehouse_duckdb", "--child", mode, str(path), "--memory", memory],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1]) | {"load_average_1min": round(load, 2)}


def _figures(run: dict) -> dict:
    return {
        "wall_seconds": round(run["seconds"], 2),
        "cpu_seconds": round(run["cpu_seconds"], 2),
        "peak_mb": round(run["peak_mb"]),
    } | {k: run[k] for k in ("facts", "quarantined", "readers", "accepted", "load_average_1min") if k in run}


def run(
    sizes: list[int] | None = None,
    csv_rows: int = 1_000_000,
    memory: str = "1GB",
    python_rows: int = 1_000_000,
    out: Path | None = None,
    types: tuple[str, ...] = ("decimal",),
    text_rows: int = 0,
    line_ids: tuple[str, ...] = ("checked",),
) -> dict:
    """`sizes` rows of each of `types` (and, if `text_rows`, that many of text columns), aggregated with
    each of `line_ids` (LINE_IDS)."""
    sizes = [1_000_000, 10_000_000] if sizes is None else sizes  # `--rows` alone: the CSV part only
    workdir = Path(tempfile.mkdtemp(prefix="tb-warehouse-"))
    result: dict = {
        "memory_limit": memory,
        "parquet": [],
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
    }
    runs = [(kind, rows) for rows in sizes for kind in types] + ([("text", text_rows)] if text_rows else [])
    for kind, rows in runs:
        path = workdir / f"focus-{kind}-{rows}.parquet"
        began = time.perf_counter()
        generate_parquet(path, rows, memory, kind)
        generated = time.perf_counter() - began
        load = os.getloadavg()[0]
        # the floor and the aggregations back to back, so all see the same load
        scan = _run("scan", path, memory)
        entry: dict = {
            "rows": rows,
            "types": kind,
            "load_average_1min": round(load, 2),
            "file_mb": round(path.stat().st_size / 1e6, 1),
            "generate_seconds": round(generated, 1),
            "bare_scan": _figures(scan),
        }
        for how in line_ids:
            aggregate = _run(LINE_IDS[how], path, memory)
            entry[AGGREGATION[how]] = _figures(aggregate) | {
                "ratio_to_floor": round(aggregate["seconds"] / scan["seconds"], 2),
                "cpu_ratio_to_floor": round(aggregate["cpu_seconds"] / scan["cpu_seconds"], 2),
                "rows_per_second": round(rows / aggregate["seconds"]),
            }
        python = _run("python", path, memory) if rows <= python_rows else None
        result["parquet"].append(entry | ({"python_importer": _figures(python)} if python else {}))
        path.unlink()
    if csv_rows:
        from bench.focus_import import generate

        path = workdir / "focus.csv"
        generate(path, csv_rows)
        load = os.getloadavg()[0]
        python, duck = _run("python", path, memory), _run("duckdb", path, memory)
        result["csv"] = {
            "rows": csv_rows,
            "load_average_1min": round(load, 2),
            "file_mb": round(path.stat().st_size / 1e6, 1),
            "python_importer": _figures(python),
            "duckdb": _figures(duck),
            "speedup": round(python["seconds"] / duck["seconds"], 2),
            "cpu_speedup": round(python["cpu_seconds"] / duck["cpu_seconds"], 2),
        }
        path.unlink()
    result["meets_targets"] = (
        all(
            size[AGGREGATION[how]]["ratio_to_floor"] <= TARGET_RATIO
            and size[AGGREGATION[how]]["peak_mb"] < TARGET_PEAK_MB
            for size in result["parquet"]
            for how in line_ids
        )
        and result.get("csv", {}).get("speedup", TARGET_CSV_SPEEDUP) >= TARGET_CSV_SPEEDUP
    )
    RESULTS.mkdir(exist_ok=True)
    (out or RESULTS / "warehouse_duckdb.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def report(result: dict) -> str:
    lines = [f"DuckDB aggregation of FOCUS rows (memory_limit {result['memory_limit']})"]
    for size in result["parquet"]:
        scan = size["bare_scan"]
        for how, key in AGGREGATION.items():
            if key not in size:
                continue
            agg = size[key]
            lines.append(
                f"  {size['rows']:>12,} rows Parquet, {size['types']} ({size['file_mb']} MB), line ids {how}: "
                f"bare scan {scan['wall_seconds']} s (peak {scan['peak_mb']} MB); aggregation "
                f"{agg['wall_seconds']} s (peak {agg['peak_mb']} MB); {agg['ratio_to_floor']}× the floor "
                f"(target ≤ {TARGET_RATIO}×), {agg['rows_per_second']:,} rows/s [CPU {scan['cpu_seconds']} s / "
                f"{agg['cpu_seconds']} s, {agg['cpu_ratio_to_floor']}×; load {size['load_average_1min']}]"
            )
    if "csv" in result:
        csv = result["csv"]
        lines.append(
            f"  {csv['rows']:>12,} rows CSV ({csv['file_mb']} MB): Python importer "
            f"{csv['python_importer']['wall_seconds']} s ({csv['python_importer']['cpu_seconds']} CPU), DuckDB "
            f"{csv['duckdb']['wall_seconds']} s ({csv['duckdb']['cpu_seconds']} CPU): {csv['speedup']}× "
            f"(target ≥ {TARGET_CSV_SPEEDUP}×), {csv['cpu_speedup']}× in CPU [load {csv['load_average_1min']}]"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--csv-rows", type=int, default=1_000_000)
    parser.add_argument("--memory", default="1GB", help="DuckDB's memory_limit")
    parser.add_argument(
        "--python-rows", type=int, default=1_000_000, help="Parquet sizes the Python importer reads too"
    )
    parser.add_argument(
        "--types", nargs="*", default=["decimal"], choices=sorted(TYPES), help="the Parquet columns' types"
    )
    parser.add_argument("--text-rows", type=int, default=0, help="also a text-column file of this size")
    parser.add_argument(
        "--line-ids", nargs="*", default=["checked"], choices=sorted(LINE_IDS), help="how line ids are read"
    )
    parser.add_argument("--out", type=Path, help="results file (default bench/results/warehouse_duckdb.json)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sys.stdout.write(json.dumps(child(args.child[0], Path(args.child[1]), args.memory)) + "\n")
        return 0
    result = run(
        args.rows,
        args.csv_rows,
        args.memory,
        args.python_rows,
        args.out,
        tuple(args.types),
        args.text_rows,
        tuple(args.line_ids),
    )
    print(report(result))
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
