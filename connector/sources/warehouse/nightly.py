"""A billing export in a warehouse (BigQuery, Athena, Snowflake, DuckDB), pulled nightly like the API sources.

Each night the source runs the ONE bucket query (`aggregation.bucket_query`), printed in its engine's
dialect, over the window's rows only: the table is read through a subquery that keeps the rows whose
charge period starts within the window (and, when the table is partitioned, names the partitions the
window touches, so the engine prunes the rest), of the one billing account the source stands for. The
daily groups it returns go through the FOCUS importer's own checks and step 2 (`focus_duckdb` does the
same for files), so a warehouse gives the facts a FOCUS import of the same rows gives.

What a nightly pull does not do that an import does:
- a row the engine cannot vouch for (not a plain decimal, a repeated line id) is fetched and read by the
  importer's row loop; a row (or a group of rows) that a check refuses is not quarantined with the rest
  of its day booked, as an import does: it refuses the days it is charged on (`Problem.days`), whose facts stay as an earlier pull
  stored them, while the window's other days are stored (the pull service: `service/pull.py`); the run
  says which rows, which days and why, and every night reads those days again until they are corrected.
  A bad row would otherwise stop every night of the open month, which each night re-reads. A refusal that
  names no day (a charge period that cannot be read) refuses the whole window, as any API source's bad
  page does;
- purchases (credit lots) and invoice totals are not booked by a pull (`tokenbooks import focus` and the
  invoice inbox keep them); a window holding a purchase says so in a warning.

A dataset flavour says which columns the table has: FOCUS 1.0, 1.1, 1.2 (the columns the importer reads
that each version defines, Tags included), AWS CUR 2.0, read through a FOCUS view written here
(`CUR_AS_FOCUS`), or Google Cloud's standard usage cost export to BigQuery, read the same way
(`GCP_STANDARD_AS_FOCUS`), each credit nested in a row becoming a Credit row of its own. Warehouses type
Tags as a map (Athena), JSON (BigQuery) or VARIANT (Snowflake), GCP's labels as key/value records: the
query turns them into JSON object text in the engine's own dialect (`_tags_text`, `_labels_text`), and the
importer parses that text into the tag dimensions, so key order and spacing do not change a fact.

Restatements: each night reads again its lag days and, by default (`RESTATES=billing_period`), the whole
open billing month, and the month before until its bill is final (`FINAL_AFTER_DAY`): cloud exports
restate the month until then. Days that did not change store nothing (facts compare per day).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from connector.domain.errors import ConfigError, InputError, Problem, Severity, refused_days
from connector.domain.imports import QuarantinedRow
from connector.domain.money import exact_sums
from connector.retrying import RetryPolicy
from connector.sources.base import Progress, PullResult, RawPage, StreamingSource, Window, gathered
from connector.sources.focus import FileReader, FocusBatch, FocusFileError, FocusOptions, Refusal, book_batch
from connector.sources.focus_aggregate import PURCHASE, FocusAggregate, StaticPart, charge_days
from connector.sources.warehouse.aggregation import (
    INLINE,
    PER_GROUP,
    RESULT_COLUMNS,
    bucket_query,
    group_width,
    render,
    review_query,
)
from connector.sources.warehouse.duckdb_engine import Typed
from connector.sources.warehouse.engines import Answer, DuckDBWarehouse, WarehouseEngine
from connector.sources.warehouse.focus_duckdb import FileGroups, bucket_spec, grouped_day

GCP_STANDARD = "gcp-standard"
FLAVOURS = ("focus-1.0", "focus-1.1", "focus-1.2", "cur-2.0", GCP_STANDARD)
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
# DuckDB's names of the types the typed path reads (`WarehouseSource.typed_columns`); the session is in UTC
TIMESTAMP_KINDS = ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP")
DECIMAL_KIND = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
# every integer type: the typed path compares each value with ±10^18 exactly, whatever its width or sign
INTEGER_KINDS = (
    *("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"),
    *("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"),
)
# a value's text as the text path writes it (`aggregation._texts`: DuckDB's own CAST), NULL as ''
CAST_TEXT = "COALESCE(CAST({} AS VARCHAR), '')"
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
# line_item_product_code values a CUR pull keeps (the settings' default): Bedrock's own models, and the
# Marketplace-listed ones (Claude 4.x, Cohere …) that AWS bills under product codes of their own (the Price
# List offers AmazonBedrockFoundationModels and AmazonBedrockService beside AmazonBedrock)
CUR_SERVICES = ("AmazonBedrock", "AmazonBedrockFoundationModels", "AmazonBedrockService")
# Google Cloud's standard usage cost export (`gcp_billing_export_v1_<BILLING_ACCOUNT_ID>`) as the FOCUS
# columns the importer reads. The fields and their types are Google's: the standard page
# https://docs.cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/standard-usage and the
# detailed page (…/detailed-usage), which lists every standard field with its type (cost, credits.amount
# and usage.amount are Float; labels and credits repeated records). Every row is a charge at its `cost`:
# cost_type "regular" is Usage, "tax" Tax, and "adjustment", "rounding_error" (the values of the
# detailed page's example query) or anything else Adjustment, so the window's total is the bill's
# (Google's own total is SUM(cost) + SUM(credits.amount)). FOCUS has no quantity on a row that is not
# Usage (../shared/specs/focus-1.2/columns/consumedquantity.md). The export has no line id.
GCP_ROW = "gcp"  # the table's alias in the query
GCP_STANDARD_AS_FOCUS = {
    "BilledCost": f"{GCP_ROW}.cost",
    "BillingAccountId": f"{GCP_ROW}.billing_account_id",
    "BillingCurrency": f"{GCP_ROW}.currency",
    # invoice.month is YYYYMM ("201901" is January 2019): the first moment of that month, as FOCUS text
    "BillingPeriodStart": (
        f"SUBSTR({GCP_ROW}.invoice.month, 1, 4) || '-' || SUBSTR({GCP_ROW}.invoice.month, 5, 2) "
        "|| '-01T00:00:00Z'"
    ),
    "ChargeCategory": (
        f"CASE LOWER({GCP_ROW}.cost_type) WHEN 'regular' THEN 'Usage' WHEN 'tax' THEN 'Tax' "
        "ELSE 'Adjustment' END"
    ),
    "ChargeDescription": f"{GCP_ROW}.sku.description",
    "ChargePeriodStart": f"{GCP_ROW}.usage_start_time",
    "ChargePeriodEnd": f"{GCP_ROW}.usage_end_time",
    "ConsumedQuantity": f"CASE WHEN LOWER({GCP_ROW}.cost_type) = 'regular' THEN {GCP_ROW}.usage.amount END",
    "ConsumedUnit": f"CASE WHEN LOWER({GCP_ROW}.cost_type) = 'regular' THEN {GCP_ROW}.usage.unit END",
    "ProviderName": "'Google Cloud'",  # the importer's alias for gcp (focus.PROVIDER_ALIASES)
    "RegionId": f"{GCP_ROW}.location.region",
    "ServiceName": f"{GCP_ROW}.service.description",
    "SkuId": f"{GCP_ROW}.sku.id",
    "SkuMeter": f"{GCP_ROW}.sku.description",
    "SubAccountId": f"{GCP_ROW}.project.id",
    "SubAccountName": f"{GCP_ROW}.project.name",
    # the resource labels (key/value records) as a JSON object, keyed as the export writes them
    "Tags": f"TOKENBOOKS_LABELS({GCP_ROW}.labels)",
}
GCP_CREDIT = "credit"  # one element of a row's credits[], unnested
# A credit is its own Credit row (FOCUS writes credits as rows; Google nests them in the row they
# reduce), with that row's dimensions and day; it names the credit and has no quantity.
GCP_CREDIT_AS_FOCUS = {
    **GCP_STANDARD_AS_FOCUS,
    "BilledCost": f"{GCP_CREDIT}.amount",
    "ChargeCategory": "'Credit'",
    "ChargeDescription": f"{GCP_CREDIT}.name",
    "ConsumedQuantity": "NULL",
    "ConsumedUnit": "NULL",
}
GCP_SERVICES = ("Vertex AI",)  # service.description values a gcp-standard pull keeps (the settings' default)
# columns a mapping writes as FOCUS text already (not a timestamp or a JSON value to turn into text)
TEXT_ALREADY = {GCP_STANDARD: ("BillingPeriodStart", "Tags")}
# the column a flavour's SERVICES filter compares in SQL (a FOCUS table is filtered by the importer)
SERVICE_COLUMNS = {"cur-2.0": "line_item_product_code", GCP_STANDARD: f"{GCP_ROW}.service.description"}
AS_FOCUS = {"cur-2.0": CUR_AS_FOCUS, GCP_STANDARD: GCP_STANDARD_AS_FOCUS}
# where the standard export lives (BigQuery), and the embedded engine its tests and copies run on
GCP_DIALECTS = ("bigquery", "duckdb")


@dataclass(frozen=True)
class Dataset:
    """What the table holds and how it is laid out."""

    table: str  # as the engine names it: project.dataset.view, database.table, DB.SCHEMA.TABLE
    flavour: str = "focus-1.2"
    columns: tuple[str, ...] = ()  # the FOCUS columns to read; empty: the flavour's
    timestamps_as_text: bool = False  # the charge period columns hold ISO 8601 text, not timestamps
    # the cost columns are DOUBLE (AWS's exports, GCP's standard export): read as DECIMAL(38, 10);
    # None: the flavour's default (on for gcp-standard, whose cost is Float, off otherwise)
    double_amounts: bool | None = None
    partition_column: str | None = None  # e.g. billing_period (AWS exports), named with the window's values
    partition_format: str = "%Y-%m"  # strftime of a partition's value
    services: tuple[str, ...] | None = (
        None  # CUR: line_item_product_code values; gcp-standard: service.description; FOCUS: the importer's
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
        if self.flavour in AS_FOCUS:
            return tuple(AS_FOCUS[self.flavour])
        return COLUMNS[self.flavour]

    def reads_doubles(self) -> bool:
        """Whether each amount is cast from a DOUBLE to DECIMAL(38, 10) in the engine (the one rounding)."""
        return self.double_amounts if self.double_amounts is not None else self.flavour == GCP_STANDARD


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
        if dataset.flavour in SERVICE_COLUMNS:
            services = None  # no ServiceCategory: the flavour's service column is filtered in SQL
        if dataset.flavour == GCP_STANDARD and warehouse.dialect not in GCP_DIALECTS:
            raise ConfigError(
                f"warehouse.{name}: the gcp-standard flavour is read on BigQuery (where Google writes the "
                f"export) or DuckDB, not on {warehouse.kind}",
                fix=f"set {warehouse.variable}ENGINE=bigquery for the standard export, or load a "
                "FOCUS export into this engine and use a focus flavour",
            )
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

    def source_sql(self, window: Window, typed: Mapping[str, Typed] | None = None) -> str:
        """The window's rows of the table, their columns under FOCUS names (DuckDB's dialect, with the
        dialect-specific parts as placeholders `render_for` fills); the `typed` columns also as themselves."""
        typed = typed or {}
        data = self.dataset
        mapping = AS_FOCUS.get(data.flavour, {})
        where = " AND ".join(self._where(window, mapping))
        parts = _table_parts(data.table, self.warehouse.dialect, self.warehouse.variable)
        table = ".".join(_name(part) for part in parts)
        if data.flavour != GCP_STANDARD:
            select = self._select(mapping, typed)
            return f"(SELECT {select} FROM {table} WHERE {where}) AS window_rows"
        # one query: the rows at their cost, then each credit of those rows as a row of its own
        charges = f"SELECT {self._select(mapping, typed)} FROM {table} AS {GCP_ROW} WHERE {where}"
        credits = (
            f"SELECT {self._select(GCP_CREDIT_AS_FOCUS, typed)} FROM {table} AS {GCP_ROW} "
            f"CROSS JOIN UNNEST({GCP_ROW}.credits) AS credit_list({GCP_CREDIT}) WHERE {where}"
        )
        return f"({charges} UNION ALL {credits}) AS window_rows"

    def _select(self, mapping: dict[str, str], typed: Mapping[str, Typed]) -> str:
        """The FOCUS columns, each read from its column (or the flavour's expression) as the importer reads
        it; a `typed` one also as itself, `r<i>` (the bucket query's typed path: its text is written only
        where it is needed, an engine computing only the columns a query uses)."""
        data = self.dataset
        text_already = TEXT_ALREADY.get(data.flavour, ())
        parts = []
        for i, column in enumerate(data.focus_columns()):
            raw = mapping.get(column, _name(column))
            if column in typed:
                parts.append(f"{raw} AS r{i}")
            if column in text_already:
                pass
            elif column in TIMESTAMP_COLUMNS and not data.timestamps_as_text:
                raw = f"TOKENBOOKS_ISO({raw})"
            elif column in AMOUNT_COLUMNS and data.reads_doubles():
                raw = f"TOKENBOOKS_DECIMAL({raw})"
            elif column == "Tags":
                raw = f"TOKENBOOKS_TAGS({raw})"
            parts.append(f"{raw} AS {_quoted(column)}")
        return ", ".join(parts)

    def _where(self, window: Window, mapping: dict[str, str]) -> list[str]:
        """The window (by charge period start, end exclusive), the account, its partitions, its services."""
        data = self.dataset
        start = mapping.get("ChargePeriodStart", _name("ChargePeriodStart"))
        account = mapping.get("BillingAccountId", _name("BillingAccountId"))
        first, end = window.first_day, window.last_day + timedelta(days=1)
        if data.timestamps_as_text:
            where = [f"{start} >= '{first.isoformat()}'", f"{start} < '{end.isoformat()}'"]
        else:
            where = [f"{start} >= TOKENBOOKS_MOMENT('{first}')", f"{start} < TOKENBOOKS_MOMENT('{end}')"]
        where.append(f"{account} = {_literal(self.provider_account)}")
        if data.partition_column:
            where.append(_partitions(data, first, end))
        if data.flavour in SERVICE_COLUMNS and data.services:
            where.append(f"{SERVICE_COLUMNS[data.flavour]} IN ({', '.join(map(_literal, data.services))})")
        return where

    def queries(
        self, window: Window, numbered: bool = False, typed: Mapping[str, Typed] | None = None
    ) -> tuple[str, str]:
        """The bucket query and the review query (rows left to Python), in the engine's dialect. The
        bucket query numbers no rows unless `numbered` (`_window` says when it must)."""
        typed = self.typed_columns() if typed is None else typed
        reader = self._reader(FocusBatch(), FocusAggregate())
        return self._queries(window, numbered, typed, self._spec(reader, typed))

    def _queries(
        self, window: Window, numbered: bool, typed: Mapping[str, Typed], spec: Any
    ) -> tuple[str, str]:
        """`queries`, of the bucket spec the caller built (`_booked` checks the groups with the same one)."""
        source = self.source_sql(window, typed)
        order = next((n for n in ("x_LineItemId", "x_RowId") if n in spec.columns), "ChargePeriodStart")
        # a warehouse reads in no fixed order: number the rows by what names them, so the two queries agree
        row_number = f"ROW_NUMBER() OVER (ORDER BY {_quoted(order)}, {_quoted('BilledCost')})"
        dialect = self.warehouse.dialect
        repeated = _repeat_check(spec)
        buckets = render_for(bucket_query(spec, source, row_number if numbered else "0", repeated), dialect)
        # the review reads the rows that are not clean: a repeat within a group is not among them
        review = render_for(review_query(spec, source, row_number, None, repeated), dialect)
        return buckets, review

    def _spec(self, reader: FileReader, typed: Mapping[str, Typed]) -> Any:
        """The bucket query's columns, from the importer's reading of the table's FOCUS columns (`reader`)."""
        names = tuple(self.dataset.focus_columns())
        positions = tuple((i, typed[name]) for i, name in enumerate(names) if name in typed)
        return bucket_spec(reader.col, names, self.options, positions)

    def typed_columns(self) -> dict[str, Typed]:
        """The columns the embedded engine reads in their own type (`duckdb_engine.Typed`: the typed path,
        no text written and matched by a regular expression per row): a FOCUS table's TIMESTAMP charge
        and billing periods and its DECIMAL (of at most 10 fraction digits), DOUBLE or integer amounts, as
        a FOCUS view or a typed Parquet export (AWS's DOUBLE costs) holds them. Another engine, a mapped
        flavour, text columns, or amounts cast from DOUBLE to DECIMAL(38, 10) (`reads_doubles`): none."""
        data, engine = self.dataset, self.warehouse
        if engine.dialect != "duckdb" or not isinstance(engine, DuckDBWarehouse) or data.flavour in AS_FOCUS:
            return {}
        table = ".".join(_name(part) for part in _table_parts(data.table, "duckdb", engine.variable))
        kinds = engine.column_types(table)
        typed: dict[str, Typed] = {}
        for column in data.focus_columns():
            kind = kinds.get(column, "")
            if column in TIMESTAMP_COLUMNS and not data.timestamps_as_text and kind in TIMESTAMP_KINDS:
                typed[column] = Typed("timestamp", f"COALESCE(STRFTIME({{}}, '{ISO_SECONDS}'), '')")
            elif column in AMOUNT_COLUMNS and not data.reads_doubles() and (amount := _typed_amount(kind)):
                typed[column] = amount
        return typed

    def _reader(self, batch: FocusBatch, aggregate: FocusAggregate) -> FileReader:
        reader = FileReader(Path(self.name), self.options, batch, aggregate, None)
        try:
            reader.begin(list(self.dataset.focus_columns()))
        except FocusFileError as exc:  # a column the importer needs is not among the columns named
            raise ConfigError(
                f"{self.name}: {exc.problem.field}: {exc.problem.message}",
                fix=f"name the table's FOCUS columns in {self.warehouse.variable}COLUMNS, or pick its "
                f"flavour ({self.warehouse.variable}FLAVOUR)",
            ) from None
        return reader

    # ------------------------------------------------------------------------------------------ window

    @exact_sums()
    def _window(self, window: Window) -> PullResult:
        """The window's facts, from its groups. The bucket query first numbers no rows: numbering them in
        the order of their line ids is a sort of the whole window at its full width (in DuckDB, a month of
        5M rows failed at 1GB with it and took 13–16 s without it, against 30–48 s; a warehouse runs such a
        sort on one worker). Its groups are checked in any order, which gives the outcome the rows' order
        gives when every check passes (the reasoning of `FileGroups._in_order`); the rows the engine cannot
        vouch for are read by the review query, numbered, as before. When a check refuses a group or a row,
        the window is read again, numbered, so that the run names rows as the review query numbers them
        and an account's currency is decided by its first row."""
        typed = self.typed_columns()  # once a window: its queries read the table alike
        piece, settled = self._booked(window, typed, numbered=False)
        if not settled:
            spent = piece.stats  # the first query's cost is the run's too (the audit log's events)
            piece, settled = self._booked(window, typed, numbered=True)
            piece.stats[:0] = spent
        return piece

    def _booked(self, window: Window, typed: Mapping[str, Typed], numbered: bool) -> tuple[PullResult, bool]:
        """The window booked from one bucket query, and whether that settles it: not when it numbered
        no rows and a check refused a group or a row."""
        piece = PullResult(self.name, self.provider, self.provider_account, window)
        batch, aggregate = FocusBatch(), FocusAggregate()
        reader = self._reader(batch, aggregate)
        spec = self._spec(reader, typed)
        buckets_sql, review_sql = self._queries(window, numbered, typed, spec)
        answer = self.run_query(buckets_sql, "bucket query, numbered" if numbered else "bucket query", piece)
        reviewed = _WarehouseGroups(self, reader, spec, review_sql, piece, numbered)
        width = group_width(spec)
        groups = [_typed_group(row, width, reviewed.counted) for row in answer.rows]
        if not numbered:  # in a fixed order all the same: the same rows give the same raw page each night
            groups.sort(key=lambda group: tuple(map(str, group[:width])))
        piece.pages.append(self.raw_page("bucket query", buckets_sql, answer, groups))
        reviewed.add(groups)
        if not numbered and (reviewed.problems or batch.quarantined):
            return piece, False  # what it says names rows: by the numbers the review query gives them
        piece.received = sum(group[group_width(spec) + RESULT_COLUMNS.index("row_count")] for group in groups)
        piece.problems += reviewed.problems
        piece.problems += [reviewed.quarantined(row) for row in batch.quarantined]
        if piece.refused_days is None:  # an error that names no day: the window is refused whole
            return piece, True
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
        return piece.refused_if_bad(), True  # the facts of the days a row refuses are not stored

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
    the days it is charged on (a pull stores a day whole or keeps it as it was), not rows read again."""

    def __init__(
        self,
        source: WarehouseSource,
        reader: FileReader,
        spec: Any,
        review_sql: str,
        piece: PullResult,
        numbered: bool = True,
    ) -> None:
        self.reader, self.spec, self.owner = reader, spec, source
        self.review_sql, self.piece = review_sql, piece
        self.numbered = numbered  # False: the groups' first rows are 0 (a refusal reads the window again)
        self.problems: list[Problem] = []
        self.reviewed: dict[int, list[str]] = {}  # the rows read one by one, by row number
        # checked per group, each group carries `repeats` (the only one of COUNTED_COLUMNS it has)
        self.counted = _repeat_check(spec) == PER_GROUP

    def add(self, groups: list[tuple]) -> None:
        self._add(groups)

    def _accept(self, group: tuple, part: StaticPart | Refusal) -> bool:
        accepted = super()._accept(group, part)
        if not accepted:
            self.problems.append(self._refused(group, part))
        return accepted

    def _review(self, marked: list[tuple], unclean: bool) -> None:
        # the review query reads the rows that are not clean, only (a refused group's rows refuse its days)
        if not unclean or (not self.numbered and self.problems):
            return  # no row to read (a query that reads the window, billed), or not yet: read again numbered
        if refused_days(self.problems) is None:
            return  # the window is refused whole already: the rows need not be fetched
        answer = self.owner.run_query(self.review_sql, "review query", self.piece)
        rows = [(int(row[0]), [_text(value) for value in row[1:]]) for row in answer.rows]
        self.piece.pages.append(self.owner.raw_page("review query", self.review_sql, answer, rows))
        self.reviewed = dict(rows)
        self.reader.take(iter(rows))

    def quarantined(self, row: QuarantinedRow) -> Problem:
        """A row the importer's loop refused, as a problem of the days it is charged on."""
        values = self.reviewed.get(row.number) if row.number is not None else None
        days = frozenset[date]()
        if values is not None:
            col = self.reader.col
            assert col.start is not None  # a table without it was refused before its rows are read
            days = self._charged_days(None, values[col.start], values[col.end] if col.end is not None else "")
        problem = row.problem
        return _dated(Problem(self.owner.name, problem.location, problem.field, problem.message), days)

    def _repeats_within(self, group: tuple, marked: list[tuple]) -> None:
        """Rows of one group that repeat exactly (every column read the same: a duplicated line) refuse
        the group's days; the rows are not fetched one by one (a warehouse bills every read)."""
        reason = (
            "some of these rows are exact repeats of one another (every column the same): a duplicated line"
        )
        self.problems.append(self._of_group(group, "", reason))

    def _charged_days(self, day: int | str | None, start: str, end: str) -> frozenset[date]:
        """The provider days a group's (or a row's) charge is booked on: its UTC day, or the days its
        period is spread over; none when its charge period cannot be read."""
        if type(day) is int or day:
            found = grouped_day(day)
            return frozenset({found}) if found else frozenset()
        span = self._span(start, end)
        if type(span) is Refusal:
            return frozenset()
        charged = span[3]
        return frozenset(charge_days(*charged) if type(charged) is tuple else (charged,))

    def _refused(self, group: tuple, part: StaticPart | Refusal) -> Problem:
        """Why a clean group's rows cannot be booked."""
        width = len(self.spec.static)
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
        return self._of_group(group, column, reason)

    def _of_group(self, group: tuple, column: str, reason: str) -> Problem:
        """A problem of a group's rows, named by its first row and row count, refusing the days they are
        charged on."""
        width = len(self.spec.static)
        first, count = group[self._at("first_row")], group[self._at("row_count")]
        where = f"row {first}" + (f" and {count - 1} more" if count > 1 else "")
        return _dated(
            Problem(self.owner.name, where, column, reason), self._charged_days(*group[width : width + 3])
        )


def _typed_amount(kind: str) -> Typed | None:
    """How the typed path reads an amount column of DuckDB's type `kind` (None: as text). Its text is the
    text path's, DuckDB's own CAST (a DOUBLE's `1.0`, `1e-07`: its shortest round-trip digits), so that
    a table gives the facts its text gives, exponents included. (The file importer decides by pyarrow's
    types and reads pyarrow's text, `duckdb_engine._parquet_typed`: another text, so its own mapping.)"""
    if kind == "DOUBLE":
        return Typed("double", CAST_TEXT, cast_text=True)
    if kind in INTEGER_KINDS:
        return Typed("integer", CAST_TEXT)
    found = DECIMAL_KIND.match(kind)
    if found is None or int(found[2]) > 10:
        return None
    precision, scale = int(found[1]), int(found[2])
    return Typed("decimal", CAST_TEXT, scale=scale, integer_digits=precision - scale)


def _dated(problem: Problem, days: frozenset[date]) -> Problem:
    """A refused row's problem, naming the days it refuses (none: it refuses the whole window) and the fix."""
    if not days:
        return replace(problem, fix=_FIX_WINDOW)
    first, last = min(days), max(days)
    on = f"charged {first}" if first == last else f"charged {first}..{last}"
    where = f"{problem.location}, {on}" if problem.location else on
    return replace(problem, location=where, days=days, fix=_FIX_DAYS)


_FIX_DAYS = (
    "correct the rows in the warehouse table (or the export it is loaded from); the window's other days were "
    "stored, these days keep what an earlier pull stored, and every run reads them again until they are "
    "corrected"
)
_FIX_WINDOW = (
    "correct the rows in the warehouse table (or the export it is loaded from); nothing of this window was "
    "stored, and the next run reads it again"
)


def _partitions(data: Dataset, first: date, end: date) -> str:
    """The partitions a window's rows may be in. A partition of the rows' own period (AWS's
    `billing_period`) is named by the window's values. BigQuery's ingestion-time partitions
    (`_PARTITIONTIME`, `_PARTITIONDATE`: the day a row was loaded) are bounded below only: a row is loaded
    on or after the day it is charged for, and a late or restated row lands in a later partition, so an
    upper bound, or the window's days alone, would leave it out. The day before the window's first
    allows for a table partitioned by a day that is not UTC's."""
    column = data.partition_column or ""
    since = first - timedelta(days=1)
    if column.upper() == "_PARTITIONTIME":
        return f"{column} >= TOKENBOOKS_MOMENT('{since}')"
    if column.upper() == "_PARTITIONDATE":
        return f"{column} >= CAST('{since}' AS DATE)"
    values = sorted({day.strftime(data.partition_format) for day in _days(first, end)})
    return f"{_name(column)} IN ({', '.join(map(_literal, values))})"


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
        if isinstance(node, exp.Anonymous) and node.name.upper() == "TOKENBOOKS_LABELS":
            return _labels_text(node.expressions[0], dialect)
        if isinstance(node, exp.Anonymous) and node.name.upper() == "TOKENBOOKS_DECIMAL":
            return _exact_decimal(node.expressions[0], dialect)
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


def _labels_text(column: exp.Expression, dialect: str) -> exp.Expr:
    """GCP's labels (an array of key/value records) as JSON object text, which the importer parses as a
    FOCUS export's Tags (`focus._parse_tags`): each key and value JSON-encoded by the engine, a null value
    as null, no labels as {} (a row without the array: no tags)."""
    labels = column.sql(dialect=dialect)
    # BigQuery's JSON text of a value:
    # https://cloud.google.com/bigquery/docs/reference/standard-sql/json_functions#to_json_string
    if dialect == "bigquery":
        text = (
            "(SELECT CONCAT('{', COALESCE(STRING_AGG(CONCAT(TO_JSON_STRING(label.key), ':', "
            f"TO_JSON_STRING(label.value)), ','), ''), '}}') FROM UNNEST({labels}) AS label)"
        )
    elif dialect == "duckdb":
        text = (
            f"CASE WHEN {labels} IS NOT NULL THEN '{{' || ARRAY_TO_STRING(LIST_TRANSFORM({labels}, label -> "
            "CAST(TO_JSON(label.key) AS VARCHAR) || ':' || COALESCE(CAST(TO_JSON(label.value) AS VARCHAR), "
            "'null')), ',') || '}' END"
        )
    else:  # refused when the source is built (GCP_DIALECTS)
        raise ConfigError(f"GCP labels are not read on {dialect}", fix="use BigQuery or DuckDB")
    return sqlglot.parse_one(text, read=dialect)


def _exact_decimal(value: exp.Expression, dialect: str) -> exp.Expression:
    """A DOUBLE as an exact DECIMAL of 10 fraction digits, rounded once, half away from zero, in the
    engine. BigQuery: sqlglot prints DECIMAL(38, 10) as BIGNUMERIC, whose scale is 38, so the value is
    cast and then rounded to 10 places (ROUND: https://cloud.google.com/bigquery/docs/reference/standard-sql/mathematical_functions#round;
    a FLOAT64 cast to BIGNUMERIC keeps 38 places: …/conversion_functions#cast_bignumeric)."""
    decimal = exp.Cast(this=value.copy(), to=exp.DataType.build("DECIMAL(38, 10)"))
    if dialect != "bigquery":
        return decimal
    return exp.Anonymous(this="ROUND", expressions=[decimal, exp.Literal.number(10)])


def _moment(day: str, dialect: str) -> exp.Expression:
    """Midnight UTC of `day`, as a timestamp the table's column compares with (and prunes by)."""
    if dialect == "bigquery":  # a BigQuery TIMESTAMP; CAST(… AS TIMESTAMP) would print as DATETIME
        return exp.Anonymous(this="TIMESTAMP", expressions=[exp.Literal.string(f"{day} 00:00:00+00")])
    return exp.Cast(this=exp.Literal.string(f"{day} 00:00:00"), to=exp.DataType.build("TIMESTAMP"))


def _repeat_check(spec: Any) -> str:
    """How the query finds repeated rows: per group without line ids (identical rows share a group, so
    one read of the table does; the survey read every value of every row once more, and a warehouse bills
    each read's bytes), else INLINE (a repeated line id may join rows of any groups)."""
    return PER_GROUP if spec.row_id is None else INLINE


def _typed_group(row: tuple, width: int, per_group: bool = False) -> tuple:
    """A group as the engine returned it (text, or typed values) with Python's types: the key columns as
    text, the flags as bool, the sums as Decimal (never float), the counts and scales as int."""
    # a typed day is its number (days since 1970, `grouped_day`); every other key is text
    keys = tuple(value if type(value) is int else _text(value) for value in row[:width])
    values: list[bool | Decimal | int | None] = []
    names = (*RESULT_COLUMNS, "repeats") if per_group else RESULT_COLUMNS
    for name, value in zip(names, row[width:], strict=True):
        if name in ("effective_missing", "clean", "repeats"):
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


def _name(name: str) -> str:
    """A column or table name as written in the table's engine: bare when it is a plain identifier (so
    that Snowflake matches it case-insensitively, as it stores unquoted names), quoted otherwise."""
    return name if PLAIN_NAME.match(name) else _quoted(name)


PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _table_parts(table: str, dialect: str, variable: str) -> list[str]:
    """`project.dataset.table` (or with quotes) as its parts, or a ConfigError naming the setting."""
    try:
        parsed = exp.to_table(table, dialect=dialect)
    except sqlglot.errors.ParseError:
        parsed = None
    parts = [part.name for part in parsed.parts] if parsed is not None else []
    if not parts or not all(parts):
        raise ConfigError(
            f"the table {table!r} cannot be read as a {dialect} table name",
            fix=f"set {variable}TABLE to project.dataset.table (BigQuery), database.table "
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
