"""A billing export in a warehouse (BigQuery, Athena, Snowflake, DuckDB), pulled nightly like the API sources.

Each night the source runs the ONE bucket query (`aggregation.bucket_query`), printed in its engine's
dialect, over the window's rows only: the table is read through a subquery that keeps the rows whose
charge period starts within the window (and, when the table is partitioned, names the partitions the
window touches, so the engine prunes the rest), of the one billing account the source stands for. The
daily groups it returns go through the FOCUS importer's own checks and step 2 (`focus_duckdb` does the
same for files), so a warehouse gives the facts a FOCUS import of the same rows gives.

What a nightly pull does not do that an import does:
- a row the engine cannot vouch for (not a plain decimal, a repeated line id) is fetched and read by the
  importer's row loop; a row (or a group of rows) that a check refuses refuses the whole window, as any
  API source's bad page does: nothing of it is stored, and the run says which rows and why;
- purchases (credit lots) and invoice totals are not booked by a pull (`tokenbooks import focus` and the
  invoice inbox keep them); a window holding a purchase says so in a warning.

A dataset flavour says which columns the table has: FOCUS 1.0, 1.1, 1.2 (the columns the importer reads
that each version defines, Tags included) or AWS CUR 2.0, read through a FOCUS view written here
(`CUR_AS_FOCUS`). Warehouses type Tags as a map (Athena), JSON (BigQuery) or VARIANT (Snowflake): the query
turns it into JSON object text in the engine's own dialect (`_tags_text`), and the importer parses that
text into the tag dimensions, so key order and spacing do not change a fact.

Restatements: each night reads again its lag days and, by default (`RESTATES=billing_period`), the whole
open billing month, and the month before until its bill is final (`FINAL_AFTER_DAY`): cloud exports
restate the month until then. Days that did not change store nothing (facts compare per day).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from connector.domain.errors import ConfigError, InputError, Problem, Severity
from connector.domain.imports import QuarantinedRow
from connector.domain.money import exact_sums
from connector.retrying import RetryPolicy
from connector.sources.base import Progress, PullResult, RawPage, StreamingSource, Window, gathered
from connector.sources.focus import FileReader, FocusBatch, FocusFileError, FocusOptions, Refusal, book_batch
from connector.sources.focus_aggregate import PURCHASE, FocusAggregate, StaticPart
from connector.sources.warehouse.aggregation import (
    RESULT_COLUMNS,
    bucket_query,
    group_width,
    render,
    review_query,
)
from connector.sources.warehouse.engines import Answer, WarehouseEngine
from connector.sources.warehouse.focus_duckdb import FileGroups, bucket_spec

FLAVOURS = ("focus-1.0", "focus-1.1", "focus-1.2", "cur-2.0")
FOCUS_1_0 = (
    "BilledCost",
    "EffectiveCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "CommitmentDiscountId",
    "CommitmentDiscountStatus",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ProviderName",
    "RegionId",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "Tags",
)
# what each version added (the "Introduced (version)" of each column in ../shared/specs/focus-1.2/columns)
COLUMNS = {
    "focus-1.0": FOCUS_1_0,
    "focus-1.1": (*FOCUS_1_0, "ServiceSubcategory", "SkuMeter"),
    "focus-1.2": (*FOCUS_1_0, "ServiceSubcategory", "SkuMeter", "InvoiceId", "PricingCurrency"),
}
TIMESTAMP_COLUMNS = ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart")
AMOUNT_COLUMNS = ("BilledCost", "EffectiveCost", "ConsumedQuantity")
ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
# AWS CUR 2.0 (https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2.html) as the FOCUS
# columns the importer reads. Every line item is booked at its unblended cost, so the window's total is
# the bill's: usage-like types are Usage, credits and refunds Credit, tax Tax, and the rest (fees,
# Savings Plan negations, discounts) Adjustment. A line item's id repeats across the hours it spans:
# its id with its time interval names one row.
CUR_AS_FOCUS = {
    "BilledCost": "line_item_unblended_cost",
    "BillingAccountId": "bill_payer_account_id",
    "BillingCurrency": "line_item_currency_code",
    "BillingPeriodStart": "bill_billing_period_start_date",
    "ChargeCategory": (
        "CASE WHEN line_item_line_item_type IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage') "
        "THEN 'Usage' WHEN line_item_line_item_type IN ('Credit', 'Refund') THEN 'Credit' "
        "WHEN line_item_line_item_type = 'Tax' THEN 'Tax' ELSE 'Adjustment' END"
    ),
    "ChargeDescription": "line_item_line_item_description",
    "ChargePeriodStart": "line_item_usage_start_date",
    "ChargePeriodEnd": "line_item_usage_end_date",
    "ConsumedQuantity": "line_item_usage_amount",
    "ConsumedUnit": "pricing_unit",
    "InvoiceId": "bill_invoice_id",
    "ProviderName": "'AWS'",
    "RegionId": "product_region_code",
    "ServiceName": "line_item_product_code",
    "SkuId": "product_sku",
    "SkuMeter": "line_item_usage_type",
    "SubAccountId": "line_item_usage_account_id",
    "x_LineItemId": "CONCAT(identity_line_item_id, '/', identity_time_interval)",
    # a MAP of the cost allocation tags, keyed as CUR 2.0 names them (user_project for the tag project):
    # mapping rules of a CUR source match `tag:user_project`
    "Tags": "resource_tags",
}
CUR_SERVICES = ("AmazonBedrock",)  # line_item_product_code values a CUR pull keeps (the settings' default)


@dataclass(frozen=True)
class Dataset:
    """What the table holds and how it is laid out."""

    table: str  # as the engine names it: project.dataset.view, database.table, DB.SCHEMA.TABLE
    flavour: str = "focus-1.2"
    columns: tuple[str, ...] = ()  # the FOCUS columns to read; empty: the flavour's
    timestamps_as_text: bool = False  # the charge period columns hold ISO 8601 text, not timestamps
    double_amounts: bool = False  # the cost columns are DOUBLE (AWS's exports): read as DECIMAL(38, 10)
    partition_column: str | None = None  # e.g. billing_period (AWS exports), named with the window's values
    partition_format: str = "%Y-%m"  # strftime of a partition's value
    services: tuple[str, ...] | None = (
        None  # CUR: line_item_product_code values; FOCUS: the importer's filter
    )
    # the provider writes each line id once (`FocusOptions.unique_line_ids`): the query does not look
    # for a repeated one, which spares it a pass over every id
    unique_line_ids: bool = False

    def __post_init__(self) -> None:
        if self.flavour not in FLAVOURS:
            raise ConfigError(
                f"the dataset flavour {self.flavour!r} is not one tokenbooks reads",
                fix=f"use one of: {', '.join(FLAVOURS)}",
            )

    def focus_columns(self) -> tuple[str, ...]:
        if self.columns:
            return self.columns
        if self.flavour == "cur-2.0":
            return tuple(CUR_AS_FOCUS)
        return COLUMNS[self.flavour]


class WarehouseSource(StreamingSource):
    """One table (or view) of one billing account in one warehouse, pulled a window at a time."""

    def __init__(
        self,
        warehouse: WarehouseEngine,
        dataset: Dataset,
        *,
        name: str,
        provider: str,
        account: str,
        entity: str,
        timezone: str,
        retry: RetryPolicy,
        lag_days: int = 3,
        start_date: date | None = None,
        restates: str = "billing_period",
        final_after_day: int = 5,
    ) -> None:
        self.warehouse = warehouse
        self.start_date = start_date  # where a first pull starts (None: the month being booked)
        self.dataset = dataset
        self.name = f"warehouse.{name}"
        self.provider = provider
        self.provider_account = account
        self.entity = entity
        self.timezone = timezone
        self.retry = retry
        self.lag_days = lag_days
        self.restates = restates  # "billing_period" or "lag_days" (settings: RESTATES)
        self.final_after_day = final_after_day
        services = dataset.services
        if dataset.flavour == "cur-2.0":
            services = None  # CUR has no ServiceCategory: the product codes are filtered in SQL
        self.options = FocusOptions(
            entity=entity,
            timezone=timezone,
            services=services if services is None else tuple(services),
            account=account,
            row_id=None,
            unique_line_ids=dataset.unique_line_ids,
        )

    def pull(self, window: Window, progress: Progress | None = None) -> PullResult:
        return gathered(self, window, self.stream(window, progress))

    def stream(self, window: Window, progress: Progress | None = None) -> Iterator[PullResult]:
        """The window as one piece: the groups of one query (and the rows it leaves to Python)."""
        if progress:
            progress(0, f"{self.name}: the bucket query on {self.warehouse.kind}")
        yield self._window(window)

    def restated_from(self, until: date) -> date | None:
        """The first day a night ending on `until` reads again besides its lag days: the first day of
        the open billing period(s), which the cloud restates until the bill is final. A `start_date`
        bounds it (a source told to start on the 15th does not read the 1st). None: the lag days only."""
        if self.restates != "billing_period":
            return None
        first = open_billing_period(until, self.final_after_day)
        return max(first, self.start_date) if self.start_date else first

    # ----------------------------------------------------------------------------------------- queries

    def source_sql(self, window: Window) -> str:
        """The window's rows of the table, their columns under FOCUS names (DuckDB's dialect, with the
        dialect-specific parts as placeholders `render_for` fills)."""
        data = self.dataset
        cur = data.flavour == "cur-2.0"
        parts = []
        for column in data.focus_columns():
            raw = CUR_AS_FOCUS.get(column, _name(column)) if cur else _name(column)
            if column in TIMESTAMP_COLUMNS and not data.timestamps_as_text:
                raw = f"TOKENBOOKS_ISO({raw})"
            elif column in AMOUNT_COLUMNS and data.double_amounts:
                raw = f"CAST({raw} AS DECIMAL(38, 10))"
            elif column == "Tags":
                raw = f"TOKENBOOKS_TAGS({raw})"
            parts.append(f"{raw} AS {_quoted(column)}")
        start = CUR_AS_FOCUS["ChargePeriodStart"] if cur else _name("ChargePeriodStart")
        account = CUR_AS_FOCUS["BillingAccountId"] if cur else _name("BillingAccountId")
        first, end = window.first_day, window.last_day + timedelta(days=1)
        if data.timestamps_as_text:
            where = [f"{start} >= '{first.isoformat()}'", f"{start} < '{end.isoformat()}'"]
        else:
            where = [f"{start} >= TOKENBOOKS_MOMENT('{first}')", f"{start} < TOKENBOOKS_MOMENT('{end}')"]
        where.append(f"{account} = {_literal(self.provider_account)}")
        if data.partition_column:
            values = sorted({day.strftime(data.partition_format) for day in _days(first, end)})
            where.append(f"{_name(data.partition_column)} IN ({', '.join(map(_literal, values))})")
        if cur and data.services:
            where.append(f"line_item_product_code IN ({', '.join(map(_literal, data.services))})")
        table = ".".join(_name(part) for part in _table_parts(data.table, self.warehouse.dialect))
        return f"(SELECT {', '.join(parts)} FROM {table} WHERE {' AND '.join(where)}) AS window_rows"

    def queries(self, window: Window) -> tuple[str, str]:
        """The bucket query and the review query (rows left to Python), in the engine's dialect."""
        source = self.source_sql(window)
        names = tuple(self.dataset.focus_columns())
        spec = self._spec(names)
        order = next((n for n in ("x_LineItemId", "x_RowId") if n in names), "ChargePeriodStart")
        # a warehouse reads in no fixed order: number the rows by what names them, so the two queries agree
        row_number = f"ROW_NUMBER() OVER (ORDER BY {_quoted(order)}, {_quoted('BilledCost')})"
        dialect = self.warehouse.dialect
        buckets = render_for(bucket_query(spec, source, row_number), dialect)
        review = render_for(review_query(spec, source, row_number, None), dialect)
        return buckets, review

    def _spec(self, names: tuple[str, ...]) -> Any:
        reader = self._reader(FocusBatch(), FocusAggregate())
        return bucket_spec(reader.col, names, self.options)

    def _reader(self, batch: FocusBatch, aggregate: FocusAggregate) -> FileReader:
        reader = FileReader(Path(self.name), self.options, batch, aggregate, None)
        try:
            reader.begin(list(self.dataset.focus_columns()))
        except FocusFileError as exc:  # a column the importer needs is not among the columns named
            raise ConfigError(
                f"{self.name}: {exc.problem.field}: {exc.problem.message}",
                fix="name the table's FOCUS columns in TOKENBOOKS_WAREHOUSE__<NAME>__COLUMNS, or pick its "
                "flavour (TOKENBOOKS_WAREHOUSE__<NAME>__FLAVOUR)",
            ) from None
        return reader

    # ------------------------------------------------------------------------------------------ window

    @exact_sums()
    def _window(self, window: Window) -> PullResult:
        piece = PullResult(self.name, self.provider, self.provider_account, window)
        buckets_sql, review_sql = self.queries(window)
        batch, aggregate = FocusBatch(), FocusAggregate()
        reader = self._reader(batch, aggregate)
        spec = self._spec(tuple(self.dataset.focus_columns()))
        answer = self.run_query(buckets_sql, "bucket query", piece)
        groups = [_typed_group(row, group_width(spec)) for row in answer.rows]
        piece.pages.append(self.raw_page("bucket query", buckets_sql, answer, groups))
        reviewed = _WarehouseGroups(self, reader, spec, review_sql, piece)
        reviewed.add(groups)
        piece.received = sum(group[group_width(spec) + RESULT_COLUMNS.index("row_count")] for group in groups)
        piece.problems += reviewed.problems
        piece.problems += [_quarantined(self.name, row) for row in batch.quarantined]
        if piece.errors:
            return piece
        book_batch(batch, aggregate, reader.accepted, self.options)
        piece.facts = [
            replace(fact, source=self.name, provider_account=self.provider_account) for fact in batch.facts
        ]
        piece.pages[0] = piece.pages[0].producing(piece.facts)
        if batch.lots:  # (a window's invoice totals are partial by nature: the invoice inbox books invoices)
            piece.problems.append(
                Problem(
                    self.name,
                    f"{window.first_day}..{window.last_day}",
                    "",
                    f"{len(batch.lots)} purchase(s) (credit lots) in the window are not booked by a nightly pull",
                    "import the month's export with `tokenbooks import focus` to book its credit lots",
                    Severity.WARNING,
                )
            )
        return piece

    def run_query(self, sql: str, label: str, piece: PullResult) -> Answer:
        """One query through the one retry policy; its statistics (bytes scanned …) go to the run's events."""
        answer = self.retry.call(lambda: self.warehouse.run(sql, f"{self.name} {label}"))
        piece.stats.append(
            {"source": self.name, "engine": self.warehouse.kind, "query": label, **answer.stats}
        )
        return answer

    def raw_page(self, label: str, sql: str, answer: Answer, rows: list[tuple]) -> RawPage:
        body = json.dumps({"stats": answer.stats, "rows": rows}, default=str, sort_keys=True)
        return RawPage(f"{self.warehouse.kind}:{label}", {"sql": sql}, body)


class _WarehouseGroups(FileGroups):
    """`focus_duckdb`'s group checks, on groups an engine returned; what a check refuses is a problem of
    the window (a pull stores a window whole or not at all), not rows read again."""

    def __init__(
        self,
        source: WarehouseSource,
        reader: FileReader,
        spec: Any,
        review_sql: str,
        piece: PullResult,
    ) -> None:
        self.reader, self.spec, self.owner = reader, spec, source
        self.review_sql, self.piece = review_sql, piece
        self.problems: list[Problem] = []

    def add(self, groups: list[tuple]) -> None:
        self._add(groups)

    def _accept(self, group: tuple, part: StaticPart | Refusal) -> bool:
        accepted = super()._accept(group, part)
        if not accepted:
            self.problems.append(self._refused(group, part))
        return accepted

    def _review(self, marked: list[tuple]) -> None:
        if self.problems:
            return  # the window is refused already: the rows need not be fetched
        answer = self.owner.run_query(self.review_sql, "review query", self.piece)
        rows = [(int(row[0]), [_text(value) for value in row[1:]]) for row in answer.rows]
        self.piece.pages.append(self.owner.raw_page("review query", self.review_sql, answer, rows))
        self.reader.take(iter(rows))

    def _refused(self, group: tuple, part: StaticPart | Refusal) -> Problem:
        """Why a clean group's rows cannot be booked, named by its first row and row count."""
        width = len(self.spec.static)
        first, count = group[self._at("first_row")], group[self._at("row_count")]
        where = f"row {first}" + (f" and {count - 1} more" if count > 1 else "")
        column, reason = "", "a check refused the group"
        if type(part) is Refusal:
            column, reason = part.column, part.reason
        elif isinstance(part, StaticPart):
            day, start, end = group[width : width + 3]
            span = self.reader.spans.get((start, end)) if not day else None
            if type(span) is Refusal:
                column, reason = span.column, span.reason
            elif day:
                column, reason = "ChargePeriodStart", f"{day!r} is not a calendar day"
            elif part.category is not PURCHASE:
                column = "EffectiveCost"
                reason = "is empty, but the row names what paid for it: its cost cannot be known"
        return Problem(self.owner.name, where, column, reason, _FIX_ROWS)


_FIX_ROWS = (
    "correct the rows in the warehouse table (or the export it is loaded from); nothing of this window was "
    "stored, and the next run reads it again"
)


def open_billing_period(until: date, final_after_day: int) -> date:
    """The first day of the billing months still open on `until`: its own month, and the month before
    until `final_after_day` (AWS finalizes a month's CUR/FOCUS data days after it ends; GCP's export
    writes late rows for a few days). Billing months are calendar months in UTC, as both clouds bill."""
    first = until.replace(day=1)
    if until.day < final_after_day:
        first = (first - timedelta(days=1)).replace(day=1)
    return first


def render_for(query: exp.Expr, dialect: str) -> str:
    """The query in `dialect`, with the placeholders of `WarehouseSource.source_sql` written in it."""

    def fill(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Anonymous) and node.name.upper() == "TOKENBOOKS_ISO":
            return _iso_text(node.expressions[0], dialect)
        if isinstance(node, exp.Anonymous) and node.name.upper() == "TOKENBOOKS_MOMENT":
            return _moment(node.expressions[0].name, dialect)
        if isinstance(node, exp.Anonymous) and node.name.upper() == "TOKENBOOKS_TAGS":
            return _tags_text(node.expressions[0], dialect)
        return node

    return render(query.transform(fill), dialect)


def _iso_text(column: exp.Expression, dialect: str) -> exp.Expression:
    """A timestamp as the text a FOCUS CSV export holds (2026-11-01T00:00:00Z), in UTC."""
    call = {
        "duckdb": ("STRFTIME", [column, exp.Literal.string(ISO_SECONDS)]),
        # FORMAT_TIMESTAMP(format, timestamp, time zone): https://cloud.google.com/bigquery/docs/reference/standard-sql/timestamp_functions#format_timestamp
        "bigquery": (
            "FORMAT_TIMESTAMP",
            [exp.Literal.string(ISO_SECONDS), column, exp.Literal.string("UTC")],
        ),
        # Trino's date_format takes MySQL's specifiers (%i minutes, %s seconds)
        "athena": ("DATE_FORMAT", [column, exp.Literal.string("%Y-%m-%dT%H:%i:%sZ")]),
        "snowflake": ("TO_CHAR", [column, exp.Literal.string('YYYY-MM-DD"T"HH24:MI:SS"Z"')]),
    }[dialect]
    return exp.Anonymous(this=call[0], expressions=call[1])


def _tags_text(column: exp.Expression, dialect: str) -> exp.Expression:
    """Tags as JSON object text, which the importer parses (`focus._parse_tags`) into sorted (key, value)
    pairs: key order and whitespace, which differ between engines, do not change a fact. A group keyed
    by two spellings of the same tags is two groups in the engine and one bucket in Python."""
    column = column.copy()
    if dialect == "athena":  # Trino: MAP(varchar, varchar) → JSON → its text
        cast = exp.Cast(this=column, to=exp.DataType.build("JSON"))
        return exp.Anonymous(this="JSON_FORMAT", expressions=[cast])
    if (
        dialect == "bigquery"
    ):  # the FOCUS view's JSON column: https://cloud.google.com/bigquery/docs/reference/standard-sql/json_functions#to_json_string
        return exp.Anonymous(this="TO_JSON_STRING", expressions=[column])
    if (
        dialect == "snowflake"
    ):  # VARIANT / OBJECT: https://docs.snowflake.com/en/sql-reference/functions/to_json
        return exp.Anonymous(this="TO_JSON", expressions=[column])
    # DuckDB: a table loaded from CSV holds the export's JSON text (read as is); a MAP or JSON column
    # becomes JSON text
    text = exp.DataType.build("VARCHAR")
    return exp.Case(
        ifs=[
            exp.If(
                this=exp.EQ(
                    this=exp.Anonymous(this="TYPEOF", expressions=[column]),
                    expression=exp.Literal.string("VARCHAR"),
                ),
                true=exp.Cast(this=column.copy(), to=text),
            )
        ],
        default=exp.Cast(this=exp.Anonymous(this="TO_JSON", expressions=[column.copy()]), to=text),
    )


def _moment(day: str, dialect: str) -> exp.Expression:
    """Midnight UTC of `day`, as a timestamp the table's column compares with (and prunes by)."""
    if dialect == "bigquery":  # a BigQuery TIMESTAMP; CAST(… AS TIMESTAMP) would print as DATETIME
        return exp.Anonymous(this="TIMESTAMP", expressions=[exp.Literal.string(f"{day} 00:00:00+00")])
    return exp.Cast(this=exp.Literal.string(f"{day} 00:00:00"), to=exp.DataType.build("TIMESTAMP"))


def _typed_group(row: tuple, width: int) -> tuple:
    """A group as the engine returned it (text, or typed values) with Python's types: the key columns as
    text, the flags as bool, the sums as Decimal (never float), the counts and scales as int."""
    keys = tuple(_text(value) for value in row[:width])
    values: list[bool | Decimal | int | None] = []
    for name, value in zip(RESULT_COLUMNS, row[width:], strict=True):
        if name in ("effective_missing", "clean"):
            values.append(value if isinstance(value, bool) else str(value).lower() in ("true", "1"))
        elif name in ("billed", "billed_negative", "effective", "quantity"):
            values.append(_decimal(value))
        else:
            values.append(None if value is None else int(value))
    return keys + tuple(values)


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):  # an engine that typed a sum as a float: refuse rather than round
        raise InputError(
            f"the warehouse returned a sum as a float ({value!r}); tokenbooks books exact decimals only",
            fix="report it: the query casts every amount to DECIMAL(38, 10)",
        )
    return Decimal(str(value))


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _quarantined(source: str, row: QuarantinedRow) -> Problem:
    problem = row.problem
    return Problem(source, problem.location, problem.field, problem.message, _FIX_ROWS)


def _name(name: str) -> str:
    """A column or table name as written in the table's engine: bare when it is a plain identifier (so
    that Snowflake matches it case-insensitively, as it stores unquoted names), quoted otherwise."""
    return name if PLAIN_NAME.match(name) else _quoted(name)


PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _table_parts(table: str, dialect: str) -> list[str]:
    """`project.dataset.table` (or with quotes) as its parts, or a ConfigError naming the setting."""
    try:
        parsed = exp.to_table(table, dialect=dialect)
    except sqlglot.errors.ParseError:
        parsed = None
    parts = [part.name for part in parsed.parts] if parsed is not None else []
    if not parts or not all(parts):
        raise ConfigError(
            f"the table {table!r} cannot be read as a {dialect} table name",
            fix="set TOKENBOOKS_WAREHOUSE__<NAME>__TABLE to project.dataset.table (BigQuery), database.table "
            "(Athena) or DATABASE.SCHEMA.TABLE (Snowflake)",
        )
    return parts


def _quoted(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _days(first: date, end: date) -> Iterator[date]:
    day = first
    while day < end:
        yield day
        day += timedelta(days=1)
