"""The bucket query in each dialect: golden text (tests/sources/golden/), parsed back by sqlglot, and run.

The query is built once (`aggregation.bucket_query`) for a FOCUS table whose columns are the spec's own
names, and printed for DuckDB, BigQuery, Athena (Trino) and Snowflake. The golden files are what a
FinOps engineer reviews and what docs/warehouses.md quotes; a change to the query shows up here as a diff.
The DuckDB text is also run on a table of a FOCUS sample, and gives the groups the embedded engine gives.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import pytest
import sqlglot

from connector.sources.focus import Columns, FocusOptions
from connector.sources.warehouse.aggregation import DIALECTS, RESULT_COLUMNS, bucket_query, render
from connector.sources.warehouse.focus_duckdb import bucket_spec
from tests.sources.builders import FOCUS_COMMITMENT_COLUMNS, focus_csv, focus_row

GOLDEN = Path(__file__).parent / "golden"
HEADER = [*FOCUS_COMMITMENT_COLUMNS, "x_LineItemId"]
TABLE = "billing.focus_export"


def focus_query():
    options = FocusOptions(entity="main")
    spec = bucket_spec(Columns(HEADER, Path(TABLE), options), tuple(HEADER), options)
    return bucket_query(spec, TABLE, "ROW_NUMBER() OVER ()")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_query_in_each_dialect_is_the_golden_text_and_parses_back(dialect) -> None:
    text = render(focus_query(), dialect) + "\n"
    golden = GOLDEN / f"focus_buckets.{dialect}.sql"
    if os.environ.get("TOKENBOOKS_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()
    parsed = sqlglot.parse_one(text, read=dialect)
    assert render(parsed, dialect) + "\n" == text  # nothing lost in the round trip
    assert [s.alias_or_name for s in parsed.selects][-len(RESULT_COLUMNS) :] == list(RESULT_COLUMNS)


def test_the_money_is_cast_to_an_exact_decimal_in_every_dialect() -> None:
    for dialect in DIALECTS:
        text = render(focus_query(), dialect)
        assert "FLOAT" not in text.upper()
        assert "DOUBLE" not in text.upper()
        assert ("BIGNUMERIC" if dialect == "bigquery" else "DECIMAL(38, 10)") in text


def test_the_duckdb_golden_text_runs_on_a_focus_table(tmp_path) -> None:
    rows = [
        focus_row("1.25"),
        focus_row("2.5", hour=1),
        focus_row("x", hour=2),
        focus_row("0.25", hour=23),  # ends at the next midnight: still 1 October's
        focus_row("0.5", hour=12, end_hours=24),  # a whole day from noon: 1 October's too
        focus_row("8", hour=12, end_hours=25),  # longer than a day: a group of its own period
        focus_row("4", day=date(2026, 10, 2)),
    ]
    path = focus_csv(tmp_path / "export.csv", rows, columns=HEADER)
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA billing")
    connection.execute(f"CREATE TABLE {TABLE} AS SELECT * FROM read_csv('{path}', all_varchar = true)")
    groups = connection.execute((GOLDEN / "focus_buckets.duckdb.sql").read_text()).fetchall()
    at = {name: len(groups[0]) - len(RESULT_COLUMNS) + i for i, name in enumerate(RESULT_COLUMNS)}
    clean = [g for g in groups if g[at["clean"]]]
    # the periods of at most a day that start on 1 October are one group (their day), whether or not they
    # end on it; 2 October is another; a period longer than a day keeps its own
    assert sorted(str(g[at["billed"]]) for g in clean) == ["4.0000000000", "4.5000000000", "8.0000000000"]
    by_sum = {str(g[at["billed"]]): g[: at["effective_missing"]] for g in clean}
    assert by_sum["4.5000000000"][-3:] == ("2026-10-01", "", "")  # p_day, p_start, p_end
    assert by_sum["8.0000000000"][-3:] == ("", "2026-10-01T12:00:00Z", "2026-10-02T13:00:00Z")
    assert [g[at["row_count"]] for g in groups if not g[at["clean"]]] == [1]  # "x": left to Python
    assert [g[at["first_row"]] for g in groups if not g[at["clean"]]] == [3]
