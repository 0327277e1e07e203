"""The FOCUS → bucket query, written once as a sqlglot tree and printed in each engine's dialect.

It is step 1 of the FOCUS importer (`focus_aggregate`: rows → buckets) pushed into an engine. Every row
is read as text — what a CSV export holds — and sorted into one of two kinds:

- **clean** rows: amounts a plain decimal (at most 18 integer and 10 fraction digits, no sign but a
  leading minus, not a negative zero), ConsumedQuantity empty or the same, and no other row sharing its
  line id (or, without one, all its values). Their money is summed in the engine, exactly, as
  DECIMAL(38, 10), grouped by the raw text of every column that repeats across a bucket (the columns the
  importer checks once per distinct combination), the charge period's text, and whether EffectiveCost is
  empty;
- every other row is counted in a group of its own kind and fetched, with its row number, for the
  Python importer's row-by-row checks (it is accepted or quarantined exactly as `read_focus` would).

Each group also carries the largest number of fraction digits of each sum's values, so that the caller
can give every sum the exponent Python's `Decimal` addition gives it (`1.50 + 2.5 = 4.00`), and its first
row number, so that checks that depend on order (an account's one billing currency) see the groups in
the order of the file.

Rounding: nothing is rounded. Clean values have at most 10 fraction digits, which DECIMAL(38, 10) holds
exactly (BigQuery: BIGNUMERIC, 38 fraction digits; Athena/Trino and Snowflake: DECIMAL(38, 10); DuckDB:
DECIMAL(38, 10), an exact 128-bit integer); a sum of 18-digit values needs 10¹⁰ rows to overflow, and an
engine raises an overflow error rather than round. A value with more digits is not clean: Python reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

DIALECTS = ("duckdb", "bigquery", "athena", "snowflake")
CHARGES = "('Usage', 'Credit', 'Tax', 'Adjustment')"  # as FOCUS writes them: never a Purchase (kept exact)
MOMENT = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$"
DECIMAL = "DECIMAL(38, 10)"
PLAIN_DECIMAL = r"^-?[0-9]{1,18}(\.[0-9]{1,10})?$"
NEGATIVE_ZERO = r"^-[0.]*$"
# What a FOCUS null is in text (`focus.NULLS`): compared exactly, as the importer does.
NULL_TEXTS = ("", "null", "NULL", "Null")
# A line id is compared without its whitespace (Python's str.strip removes it). The engine removes the
# ASCII whitespace (REPLACE exists in every dialect); an id holding any other whitespace or control
# character is flagged, and the caller reads such a file the Python way.
ASCII_SPACE = (" ", "\t", "\n", "\r", "\x0b", "\x0c")
ODD_SPACE = "[\\x1c-\\x1f\\x85\\xa0\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}]"


@dataclass(frozen=True)
class BucketSpec:
    """Which source column (by position in `columns`) plays each part in the query."""

    columns: tuple[str, ...]  # the source's column names, in order
    static: tuple[int, ...]  # the columns that repeat across a bucket (grouped by their text)
    category: int
    start: int
    end: int | None
    billed: int
    effective: int | None
    quantity: int | None
    row_id: int | None
    accept_duplicates: bool = False


# the columns of the query's result, after the static columns and the charge period's two
RESULT_COLUMNS = (
    "effective_missing",
    "clean",
    "billed",
    "billed_negative",
    "effective",
    "quantity",
    "quantity_rows",
    "row_count",
    "billed_scale",
    "negative_scale",
    "effective_scale",
    "quantity_scale",
    "first_row",
    "odd_ids",
)


def bucket_query(spec: BucketSpec, source: str, row_number: str) -> exp.Expr:
    """The query over `source` (a table, or a table function in DuckDB's dialect) whose rows are the
    groups described in the module docstring. `row_number` is the expression numbering the rows."""
    billed = f"s{spec.billed}"
    group = [*_group_keys(spec), "effective_missing", "clean"]
    sql = f"""
        {_checked(spec, source, row_number)}
        SELECT {", ".join(group)},
          SUM(CASE WHEN clean THEN CAST({billed} AS {DECIMAL}) END) AS billed,
          SUM(CASE WHEN clean AND {billed} LIKE '-%' THEN CAST({billed} AS {DECIMAL}) END) AS billed_negative,
          SUM(CASE WHEN clean THEN CAST(effective_text AS {DECIMAL}) END) AS effective,
          SUM(CASE WHEN clean AND has_quantity THEN CAST(quantity_text AS {DECIMAL}) END) AS quantity,
          COUNT(CASE WHEN has_quantity THEN 1 END) AS quantity_rows,
          COUNT(*) AS row_count,
          MAX({_scale(billed)}) AS billed_scale,
          MAX(CASE WHEN {billed} LIKE '-%' THEN {_scale(billed)} END) AS negative_scale,
          MAX({_scale("effective_text")}) AS effective_scale,
          MAX(CASE WHEN has_quantity THEN {_scale("quantity_text")} END) AS quantity_scale,
          MIN(row_no) AS first_row,
          MAX(CASE WHEN odd_id THEN 1 ELSE 0 END) AS odd_ids
        FROM checked
        GROUP BY {", ".join(group)}
        ORDER BY first_row
    """
    return sqlglot.parse_one(sql, read="duckdb")


def review_query(spec: BucketSpec, source: str, row_number: str, marked: str | None) -> exp.Expr:
    """The rows the Python importer reads one by one, in file order: those that are not clean, and those
    of the groups in the table `marked` (clean rows that a check of their group refused)."""
    keys = [*_group_keys(spec), "effective_missing"]
    where = "NOT clean"
    if marked:
        same = " AND ".join(f"m.{key} = checked.{key}" for key in keys)
        where += f" OR EXISTS (SELECT 1 FROM {marked} AS m WHERE {same})"
    text = ", ".join(f"s{i}" for i in range(len(spec.columns)))
    sql = f"{_checked(spec, source, row_number)} SELECT row_no, {text} FROM checked WHERE {where} ORDER BY row_no"
    return sqlglot.parse_one(sql, read="duckdb")


def group_width(spec: BucketSpec) -> int:
    """How many key columns a group has before RESULT_COLUMNS: the static ones and the charge period's."""
    return len(spec.static) + 3


def _group_keys(spec: BucketSpec) -> list[str]:
    return [*(f"g{n}" for n in range(len(spec.static))), "p_day", "p_start", "p_end"]


def _checked(spec: BucketSpec, source: str, row_number: str) -> str:
    """The common part: each row's text, whether it is clean, and its group's keys."""
    text = [f"s{i}" for i in range(len(spec.columns))]
    reads = ", ".join(
        f"COALESCE(CAST({_quoted(name)} AS VARCHAR), '') AS {alias}"
        for name, alias in zip(spec.columns, text, strict=True)
    )
    billed = text[spec.billed]
    effective = text[spec.effective] if spec.effective is not None else None
    missing = f"({effective} IN {_nulls()} AND {effective} <> {billed})" if effective else "FALSE"
    effective_text = (
        f"CASE WHEN {missing} OR {effective} = {billed} THEN {billed} ELSE {effective} END"
        if effective
        else billed
    )
    quantity = text[spec.quantity] if spec.quantity is not None else "''"
    has_quantity = f"({quantity} NOT IN {_nulls()})"
    line_id = "''"
    if spec.row_id is not None:
        line_id = text[spec.row_id]
        for space in ASCII_SPACE:
            line_id = f"REPLACE({line_id}, {_char(space)}, '')"
    repeated, repeats = _repeated(spec)
    clean = " AND ".join(
        (
            _plain(billed),
            f"({missing} OR {_plain('effective_text')})",
            f"(NOT has_quantity OR {_plain('quantity_text')})",
            f"NOT {repeated}",
        )
    )
    statics = [f"{text[i]} AS g{n}" for n, i in enumerate(spec.static)]
    start, end = text[spec.start], text[spec.end] if spec.end is not None else "''"
    category = text[spec.category]
    # a charge within one UTC day, written as FOCUS writes it: grouped by its day (an hourly export's 24
    # periods are one group); any other period keeps its own group, checked by the importer's code
    within_day = (
        f"({category} IN {CHARGES} AND REGEXP_LIKE({start}, '{MOMENT}') AND REGEXP_LIKE({end}, '{MOMENT}') "
        f"AND SUBSTR({start}, 1, 10) = SUBSTR({end}, 1, 10) AND {end} > {start})"
    )
    odd = f"REGEXP_LIKE({text[spec.row_id]}, '{ODD_SPACE}')" if spec.row_id is not None else "FALSE"
    return f"""
        WITH src AS (SELECT {row_number} AS row_no, {reads} FROM {source}),
        rows AS (
          SELECT src.*, {effective_text} AS effective_text, {missing} AS effective_missing,
                 {has_quantity} AS has_quantity, {quantity} AS quantity_text, {odd} AS odd_id,
                 {line_id} AS line_id, HASH({", ".join(text)}) AS fingerprint, {within_day} AS within_day
          FROM src
        ),
        {repeats}
        checked AS (
          SELECT rows.*, {", ".join(statics)},
                 CASE WHEN within_day THEN SUBSTR({start}, 1, 10) ELSE '' END AS p_day,
                 CASE WHEN within_day THEN '' ELSE {start} END AS p_start,
                 CASE WHEN within_day THEN '' ELSE {end} END AS p_end,
                 {clean} AS clean
          FROM rows
        )
    """


def render(query: exp.Expr, dialect: str) -> str:
    """The query in an engine's dialect ("athena" is Trino's, as Athena engine 3 speaks it). A row's
    fingerprint is DuckDB's HASH of its values; elsewhere, the MD5 of their text joined by a unit
    separator (every warehouse has MD5; a collision only sends rows to the importer's own checks)."""
    if dialect != "duckdb":
        query = query.transform(_md5_fingerprint)
    return query.sql(dialect=dialect, pretty=True)


def _md5_fingerprint(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Anonymous) and node.name.upper() == "HASH":
        return sqlglot.parse_one(f"MD5(CONCAT_WS(CHR(31), {', '.join(e.sql() for e in node.expressions)}))")
    return node


def _quoted(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def _nulls() -> str:
    return "(" + ", ".join(f"'{value}'" for value in NULL_TEXTS) + ")"


def _plain(column: str) -> str:
    """A plain decimal the engine sums exactly (anything else is left to Python)."""
    return f"(REGEXP_LIKE({column}, '{PLAIN_DECIMAL}') AND NOT REGEXP_LIKE({column}, '{NEGATIVE_ZERO}'))"


def _scale(column: str) -> str:
    """How many fraction digits a clean value has."""
    return f"CASE WHEN STRPOS({column}, '.') > 0 THEN LENGTH({column}) - STRPOS({column}, '.') ELSE 0 END"


def _repeated(spec: BucketSpec) -> tuple[str, str]:
    """Whether another row shares this row's line id (or, for a row without one, all its values), and the
    common table expressions that find them: such rows are read by Python, which keeps the first and
    quarantines the others, naming the first. A fingerprint collision only sends more rows to Python."""
    ids = "(line_id <> '' AND line_id IN (SELECT line_id FROM repeated_ids))"
    whole = "(line_id = '' AND fingerprint IN (SELECT fingerprint FROM repeated_rows))"
    find_ids = (
        "repeated_ids AS (SELECT line_id FROM rows WHERE line_id <> '' GROUP BY line_id HAVING COUNT(*) > 1),"
    )
    find_rows = "repeated_rows AS (SELECT fingerprint FROM rows GROUP BY fingerprint HAVING COUNT(*) > 1),"
    checks, ctes = [], []
    if spec.row_id is not None:
        checks.append(ids)
        ctes.append(find_ids)
    if not spec.accept_duplicates:
        checks.append(whole)
        ctes.append(find_rows)
    return ("(" + " OR ".join(checks) + ")" if checks else "FALSE"), "\n".join(ctes)


def _char(character: str) -> str:
    return "' '" if character == " " else f"CHR({ord(character)})"
