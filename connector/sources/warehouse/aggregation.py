"""The FOCUS → bucket query, written once as a sqlglot tree and printed in each engine's dialect.

It is step 1 of the FOCUS importer (`focus_aggregate`: rows → buckets) pushed into an engine. Every row
is read as text — what a CSV export holds — and sorted into one of two kinds:

- **clean** rows: amounts a plain decimal (at most 18 integer and 10 fraction digits, no sign but a
  leading minus; a cost may be a negative zero, whose sign each group reports), ConsumedQuantity empty or
  the same (not a negative zero), and no other row sharing its
  line id (or, without one, all its values). Their money is summed in the engine, exactly, as
  DECIMAL(38, 10), grouped by the raw text of every column that repeats across a bucket (the columns the
  importer checks once per distinct combination), the charge period — its UTC day for a charge of at
  most a day written as FOCUS writes it (an hourly export's 24 periods, the one ending at the next
  midnight included, are one group), else its text —, and whether EffectiveCost is empty;
- every other row is counted in a group of its own kind and fetched, with its row number, for the
  Python importer's row-by-row checks (it is accepted or quarantined exactly as `read_focus` would).

Repeated rows are found by one aggregate over a fingerprint per row (`survey_query`: the line id, else
every value), not by reading the rows twice. A warehouse runs it inside the bucket query (a common table
expression); the embedded engine runs it first, keeps the few repeated fingerprints in a table, and skips
the fingerprint altogether in the bucket query when there are none — the usual case.

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
# a FOCUS moment as an export writes it: seconds, or (a Parquet timestamp in ms or µs) their fraction
MOMENT = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?Z$"
DECIMAL = "DECIMAL(38, 10)"
PLAIN_DECIMAL = r"^-?[0-9]{1,18}(\.[0-9]{1,10})?$"
NEGATIVE_ZERO = r"^-[0.]*$"
# What a FOCUS null is in text (`focus.NULLS`): compared exactly, as the importer does.
NULL_TEXTS = ("", "null", "NULL", "Null")
# A line id is compared without the whitespace at its edges (Python's str.strip removes it). The engine
# trims the ASCII whitespace str.strip knows; an id with other whitespace at an edge is flagged, and the
# caller reads such a file the Python way.
ASCII_SPACES = " || ".join(("' '", *(f"CHR({ord(c)})" for c in "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f")))
ASCII_CLASS = "[\\t-\\r\\x1c-\\x1f ]"
UNICODE_SPACE = "[\\x85\\xa0\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}]"
ODD_EDGE = f"^{ASCII_CLASS}*{UNICODE_SPACE}|{UNICODE_SPACE}{ASCII_CLASS}*$"
INLINE = "inline"  # `bucket_query`'s repeated rows found by the query itself
PER_GROUP = "per group"  # `bucket_query`'s repeated rows flagged per group (DuckDB, no line ids)


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
    "billed_negative_zero",
    "effective_negative_zero",
)
# what a `counted` bucket query adds after RESULT_COLUMNS: whether the group holds repeated rows
# (PER_GROUP), and how many rows the source has (on every group: the first one tells)
COUNTED_COLUMNS = ("repeats", "total_rows")


def bucket_query(
    spec: BucketSpec, source: str, row_number: str, repeated: str | None = INLINE, counted: bool = False
) -> exp.Expr:
    """The query over `source` (a table, or a table expression in DuckDB's dialect) whose rows are the
    groups described in the module docstring. `row_number` is the expression numbering the rows.

    `repeated` says where the fingerprints of repeated rows come from: INLINE (the default, one statement
    for a warehouse: a common table expression aggregates the fingerprints first), the name of a table
    holding them (`survey_query`, run first by the embedded engine), None when the survey found none —
    then no row's fingerprint is computed at all —, or PER_GROUP (DuckDB, a source without line ids):
    each group says whether its rows' fingerprints repeat (`COUNTED_COLUMNS`), so the file is read once.
    Identical rows always fall in one group, since every grouping column is a row's value or made from
    them; the caller has such a group's rows read by the importer's loop, which quarantines the repeats
    by row number. A repeated line id may join rows of different groups: that needs the survey.

    `counted` (DuckDB) adds COUNTED_COLUMNS to each group and gives its four sums as text."""
    billed = f"s{spec.billed}"
    group = [*_group_keys(spec), "effective_missing", "clean"]
    odd = "MAX(CASE WHEN odd_id THEN 1 ELSE 0 END)" if repeated == INLINE else "0"
    assert repeated != PER_GROUP or (counted and spec.row_id is None), "PER_GROUP: counted, no line ids"
    extra = ""
    if counted:
        repeats = "FALSE"
        if repeated == PER_GROUP and _checks_repeats(spec):
            repeats = f"LENGTH(LIST_DISTINCT(LIST({_fingerprint(spec)}))) < COUNT(*)"
        extra = f", {repeats} AS repeats, CAST(SUM(COUNT(*)) OVER () AS BIGINT) AS total_rows"

    def total(value: str) -> str:
        # counted (DuckDB): the exact sum as its text, which Python reads as a Decimal in a tenth of the
        # time DuckDB's own conversion of a DECIMAL takes (0.16 s for 53,000 groups' four sums)
        return f"CAST(SUM({value}) AS VARCHAR)" if counted else f"SUM({value})"

    negative = f"({billed} LIKE '-%' AND NOT {_negative_zero(billed)})"  # Python's `amount < 0`
    sql = f"""
        {_checked(spec, source, row_number, repeated)}
        SELECT {", ".join(group)},
          {total(f"CASE WHEN clean THEN CAST({billed} AS {DECIMAL}) END")} AS billed,
          {total(f"CASE WHEN clean AND {negative} THEN CAST({billed} AS {DECIMAL}) END")} AS billed_negative,
          {total(f"CASE WHEN clean THEN CAST(effective_text AS {DECIMAL}) END")} AS effective,
          {total(f"CASE WHEN clean AND has_quantity THEN CAST(quantity_text AS {DECIMAL}) END")} AS quantity,
          COUNT(CASE WHEN has_quantity THEN 1 END) AS quantity_rows,
          COUNT(*) AS row_count,
          MAX({_scale(billed)}) AS billed_scale,
          MAX(CASE WHEN {negative} THEN {_scale(billed)} END) AS negative_scale,
          MAX({_scale("effective_text")}) AS effective_scale,
          MAX(CASE WHEN has_quantity THEN {_scale("quantity_text")} END) AS quantity_scale,
          MIN(row_no) AS first_row,
          {odd} AS odd_ids,
          MIN(CASE WHEN {_negative_zero(billed)} THEN 1 ELSE 0 END) AS billed_negative_zero,
          MIN(CASE WHEN {_negative_zero("effective_text")} THEN 1 ELSE 0 END) AS effective_negative_zero
          {extra}
        FROM checked
        GROUP BY {", ".join(group)}
        ORDER BY first_row
    """
    return sqlglot.parse_one(sql, read="duckdb")


def survey_query(spec: BucketSpec, source: str) -> exp.Expr:
    """One pass over `source` before the bucket query: how many rows it has, the fingerprints that more
    than one row shares (their rows are left to Python, which keeps the first and quarantines the others),
    and whether a line id has Unicode whitespace at an edge (Python's `str.strip` removes it; the engine
    does not, so such a file is read by Python). Rows: one per repeated or odd fingerprint, and the total
    (fingerprint NULL, `total` TRUE)."""
    fingerprint, odd = _fingerprint(spec), _odd_id(spec)
    sql = f"""
        SELECT fingerprint, COUNT(*) AS row_count, MAX(CASE WHEN odd THEN 1 ELSE 0 END) AS odd,
               GROUPING(fingerprint) = 1 AS total
        FROM (SELECT {fingerprint} AS fingerprint, {odd} AS odd FROM ({_texts(spec, source, "0")}) AS src)
        GROUP BY GROUPING SETS ((fingerprint), ())
        HAVING GROUPING(fingerprint) = 1
          OR (fingerprint IS NOT NULL AND (COUNT(*) > 1 OR MAX(CASE WHEN odd THEN 1 ELSE 0 END) = 1))
    """
    return sqlglot.parse_one(sql, read="duckdb")


def review_query(
    spec: BucketSpec, source: str, row_number: str, marked: str | None, repeated: str | None = INLINE
) -> exp.Expr:
    """The rows the Python importer reads one by one, in file order: those that are not clean, and those
    of the groups in the table `marked` (clean rows that a check of their group refused). `repeated` as
    for `bucket_query` (the same, so that a row is clean in both)."""
    keys = [*_group_keys(spec), "effective_missing"]
    where = "NOT clean"
    if marked:
        same = " AND ".join(f"m.{key} = checked.{key}" for key in keys)
        where += f" OR EXISTS (SELECT 1 FROM {marked} AS m WHERE {same})"
    text = ", ".join(f"s{i}" for i in range(len(spec.columns)))
    checked = _checked(spec, source, row_number, repeated)
    sql = f"{checked} SELECT row_no, {text} FROM checked WHERE {where} ORDER BY row_no"
    return sqlglot.parse_one(sql, read="duckdb")


def group_width(spec: BucketSpec) -> int:
    """How many key columns a group has before RESULT_COLUMNS: the static ones and the charge period's."""
    return len(spec.static) + 3


def _group_keys(spec: BucketSpec) -> list[str]:
    return [*(f"g{n}" for n in range(len(spec.static))), "p_day", "p_start", "p_end"]


def _texts(spec: BucketSpec, source: str, row_number: str) -> str:
    """Each row of `source` as text (s0…sN, as a CSV export holds it) and its number."""
    reads = ", ".join(
        f"COALESCE(CAST({_quoted(name)} AS VARCHAR), '') AS s{i}" for i, name in enumerate(spec.columns)
    )
    return f"SELECT {row_number} AS row_no, {reads} FROM {source}"


def _checked(spec: BucketSpec, source: str, row_number: str, repeated: str | None) -> str:
    """The common part: each row's text, whether it is clean, and its group's keys. Every check is made
    per row but costs little: an amount is matched by one regular expression (a second only for a
    leading minus), EffectiveCost only when its text differs from BilledCost, a charge period's moments
    by one expression each, and a row's fingerprint only when the survey found repeated rows."""
    text = [f"s{i}" for i in range(len(spec.columns))]
    billed = text[spec.billed]
    effective = text[spec.effective] if spec.effective is not None else None
    missing = f"({effective} IN {_nulls()} AND {effective} <> {billed})" if effective else "FALSE"
    effective_text = (
        f"CASE WHEN {missing} OR {effective} = {billed} THEN {billed} ELSE {effective} END"
        if effective
        else billed
    )
    effective_clean = (
        f"({missing} OR {effective} = {billed} OR {_plain(effective, signed_zero=True)})"
        if effective
        else "TRUE"
    )
    quantity = text[spec.quantity] if spec.quantity is not None else "''"
    has_quantity = f"({quantity} NOT IN {_nulls()})"
    ctes, is_repeated = [], "FALSE"
    if repeated not in (None, PER_GROUP) and _checks_repeats(spec):
        table = repeated
        if repeated == INLINE:
            table = "repeated"
            ctes.append(f"repeated AS ({render(survey_query(spec, source), 'duckdb')}),")
        # NULL (a row not checked) is not repeated: without COALESCE, `clean` would be NULL
        is_repeated = (
            f"COALESCE({_fingerprint(spec)} IN (SELECT fingerprint FROM {table} WHERE fingerprint IS NOT NULL), "
            "FALSE)"
        )
    clean = " AND ".join(
        (
            _plain(billed, signed_zero=True),
            effective_clean,
            f"(NOT has_quantity OR {_plain('quantity_text')})",
            f"NOT {is_repeated}",
        )
    )
    statics = [f"{text[i]} AS g{n}" for n, i in enumerate(spec.static)]
    start, end = text[spec.start], text[spec.end] if spec.end is not None else "''"
    category = text[spec.category]
    # a charge of at most a day, written as FOCUS writes it, is grouped by the UTC day it starts on (an
    # hourly export's 24 periods are one group, the last one ending at the next midnight included); any
    # other period keeps its own group, checked by the importer's code
    next_day = (
        f"TRY_CAST(CAST(SUBSTR({end}, 1, 10) AS VARCHAR) AS DATE) = "
        f"TRY_CAST(CAST(SUBSTR({start}, 1, 10) AS VARCHAR) AS DATE) + INTERVAL 1 DAY"
    )
    within_day = (
        f"({category} IN {CHARGES} AND REGEXP_LIKE({start}, '{MOMENT}') AND REGEXP_LIKE({end}, '{MOMENT}') "
        f"AND LENGTH({end}) = LENGTH({start}) AND {end} > {start} "  # one format: text order is time order
        f"AND (SUBSTR({start}, 1, 10) = SUBSTR({end}, 1, 10) "
        f"OR ({next_day} AND SUBSTR({end}, 12) <= SUBSTR({start}, 12))))"
    )
    odd = _odd_id(spec) if repeated == INLINE else "FALSE"
    return f"""
        WITH {" ".join(ctes)}
        src AS ({_texts(spec, source, row_number)}),
        rows AS (
          SELECT src.*, {effective_text} AS effective_text, {missing} AS effective_missing,
                 {has_quantity} AS has_quantity, {quantity} AS quantity_text, {odd} AS odd_id,
                 {within_day} AS within_day
          FROM src
        ),
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


def _plain(column: str, signed_zero: bool = False) -> str:
    """A plain decimal the engine sums exactly (anything else is left to Python). A negative zero is one
    for a cost (`signed_zero`: a group whose costs are all negative zeros says so, and the caller gives
    its sum the sign Python's addition gives it, -0.00); a quantity of -0 is left to Python."""
    plain = f"REGEXP_LIKE({column}, '{PLAIN_DECIMAL}')"
    return plain if signed_zero else f"({plain} AND NOT {_negative_zero(column)})"


def _negative_zero(column: str) -> str:
    # the regular expression only for a leading minus: the engine evaluates it for those rows alone
    return f"(SUBSTR({column}, 1, 1) = '-' AND REGEXP_LIKE({column}, '{NEGATIVE_ZERO}'))"


def _scale(column: str) -> str:
    """How many fraction digits a clean value has."""
    return f"CASE WHEN STRPOS({column}, '.') > 0 THEN LENGTH({column}) - STRPOS({column}, '.') ELSE 0 END"


def _checks_repeats(spec: BucketSpec) -> bool:
    return spec.row_id is not None or not spec.accept_duplicates


def _fingerprint(spec: BucketSpec) -> str:
    """A row's identity for the repeated-row check, as the importer's `_repeat` has it: its line id
    (stripped of whitespace at its edges), else — an empty id, unless duplicates are accepted — all its
    values; NULL for a row not checked. A collision only sends more rows to Python."""
    text = [f"s{i}" for i in range(len(spec.columns))]
    whole = "NULL" if spec.accept_duplicates else f"HASH({', '.join(text)})"
    if spec.row_id is None:
        return whole
    line_id = text[spec.row_id]
    # most ids have no space at an edge: only those pay for the trim (Unicode spaces: `_odd_id`)
    stripped = f"CASE WHEN {_spaced_edge(line_id)} THEN TRIM({line_id}, {ASCII_SPACES}) ELSE {line_id} END"
    return f"CASE WHEN {stripped} <> '' THEN HASH({stripped}) ELSE {whole} END"


def _odd_id(spec: BucketSpec) -> str:
    """Whether a row's line id has, at an edge, whitespace beyond ASCII's (that Python's strip removes)."""
    if spec.row_id is None:
        return "FALSE"
    line_id = f"s{spec.row_id}"
    return f"({_spaced_edge(line_id)} AND REGEXP_LIKE({line_id}, '{ODD_EDGE}'))"


def _spaced_edge(column: str) -> str:
    """Whether a value starts or ends with a character that may be whitespace (an ASCII control or space,
    or anything beyond ASCII): two comparisons, where a regular expression would cost a row far more."""
    first, last = f"SUBSTR({column}, 1, 1)", f"SUBSTR({column}, LENGTH({column}), 1)"
    return f"({first} <= ' ' OR {first} > '~' OR {last} <= ' ' OR {last} > '~')"


def _char(character: str) -> str:
    return "' '" if character == " " else f"CHR({ord(character)})"
