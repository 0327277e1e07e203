"""FOCUS 1.0–1.2 exports (AWS Bedrock, Azure OpenAI, Google Vertex AI, any FOCUS provider) into facts.

Rows are streamed (see `focus_files`), checked one by one and summed into buckets (`focus_aggregate`,
step 1: what a `GROUP BY` over the export gives), which become facts, credit lots and invoice totals
(step 2) — so an hourly export of millions of rows becomes a few thousand facts.

What each row becomes is decided by FOCUS's own columns (docs/focus.md, with each case's journal):
- Usage / Credit / Tax / Adjustment → facts; usage a commitment or virtual currency paid for is booked at
  its EffectiveCost, the part beyond BilledCost drawn from that purchase's prepaid pool;
- Purchase → a credit lot of the commitment, virtual currency or term it buys (a negative one refunds
  it); a recurring commitment fee consumed the same day is expense, not a lot;
- a charge period longer than a day is spread over its days;
- ChargeClass Correction → a fact of its own in the *corrected* period (its charge day), tagged with the
  billing period that carries it, so it adds to the original bucket instead of replacing it;
- InvoiceId + BilledCost → invoice totals (the part of each invoice this import covers).

Rows of services outside the filter (default: ServiceCategory "AI and Machine Learning") are skipped and
counted. A bad row is quarantined with its row, column and reason; the rest go on. A file the import
cannot read whole — a missing or repeated column, a damaged archive, a stray quote that swallows lines,
text that is not UTF-8 — is refused, and nothing of it is stored.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import cast, final

from connector.bulk_work import paused_gc
from connector.domain.credits import CreditLot
from connector.domain.errors import Problem
from connector.domain.facts import ChargeCategory, Fact
from connector.domain.imports import Disposition, QuarantinedRow, Tally
from connector.domain.invoices import Invoice
from connector.domain.money import (
    QUANTITY_READ,
    ZERO,
    MoneyError,
    currency_code,
    exact_sums,
    parse_amount,
    parse_quantity,
)
from connector.sources.base import dimension_text
from connector.sources.focus_aggregate import (
    PURCHASE,
    FocusAggregate,
    StaticPart,
    book_buckets,
    check_stored,
)
from connector.sources.focus_files import (
    FileLineage,
    RowStream,
    UnreadableRow,
    fingerprint,
    first_multiline_row,
    open_rows,
)

AI_SERVICES = ("AI and Machine Learning",)
SOURCE = "focus"
PROVIDER_ALIASES = {"amazon web services": "aws", "aws": "aws", "microsoft": "azure", "google cloud": "gcp"}
CATEGORIES = {c.value: c for c in ChargeCategory}
FREQUENCIES = {"one-time": "one-time", "recurring": "recurring", "usage-based": "usage-based"}
STATUSES = ("used", "unused")
NULLS = frozenset(("", "null", "NULL", "Null"))
PROGRESS_EVERY = 50_000
DAY = timedelta(days=1)
# Columns that name each row of an export (a provider line id): two rows with different ids are two
# charges even when every other value is the same. `--row-id` names another.
ROW_ID_COLUMNS = ("x_LineItemId", "x_RowId")
# Joins a row's static values into one cache key. A value holding a NUL is quarantined (`_check_static`),
# so two different rows never share a key.
SEPARATOR = "\x00"
SKIPPED = StaticPart(ChargeCategory.USAGE, "USD", "", "", None, False, (), None, (), skip=True)
# fact dimension → the FOCUS columns it is read from, first present wins
DIMENSION_COLUMNS: dict[str, tuple[str, ...]] = {
    "sub_account": ("SubAccountId",),
    "sub_account_name": ("SubAccountName",),
    "service": ("ServiceName",),
    "service_subcategory": ("ServiceSubcategory",),
    "sku": ("SkuMeter", "x_SkuMeterName", "SkuId"),
    "sku_id": ("SkuId",),
    "region": ("RegionId", "RegionName"),
    "resource": ("ResourceId",),
    "publisher": ("PublisherName",),
    "line_item": ("ChargeDescription",),
    "unit": ("ConsumedUnit", "PricingUnit"),
    "commitment": ("CommitmentDiscountId",),
    "commitment_status": ("CommitmentDiscountStatus",),
    "capacity_reservation": ("CapacityReservationId",),
    "capacity_reservation_status": ("CapacityReservationStatus",),
}
FIX_ROW = (
    "correct the row in the export (or ask the provider for a corrected export) and import the file again"
)
FIX_UTF8 = "save the file as UTF-8 (Excel: Save As → CSV UTF-8) and import it again"


class FocusFileError(Exception):
    """A file the import cannot read at all (a missing column, a damaged archive); nothing of it is stored."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True)
class FocusOptions:
    entity: str
    timezone: str = "UTC"
    services: tuple[str, ...] | None = AI_SERVICES  # None: every service
    provider: str | None = None  # when the export has no ProviderName
    account: str | None = None  # when the export has no BillingAccountId (else: a check of it)
    currency: str | None = None  # when the export has no BillingCurrency (else: a check of it)
    accept_duplicates: bool = False  # identical rows are distinct charges (an export without line ids)
    row_id: str | None = None  # the column naming each row (a provider line id), beyond ROW_ID_COLUMNS
    # the provider writes each line id once per file (AWS: `identity_line_item_id` is unique within a
    # partition): a row with an id is not looked for again (no memory of every id, no survey of them);
    # a row without one is still checked for an exact repeat
    unique_line_ids: bool = False


def checks_repeats(has_line_ids: bool, accept_duplicates: bool, unique_line_ids: bool) -> bool:
    """Whether any row of a file is compared with the others: one with a line id (unless the ids are
    unique), or one without (unless identical rows are accepted). Both readers ask this."""
    return (has_line_ids and not unique_line_ids) or not accept_duplicates


@dataclass
class FocusBatch:
    """What one import of one or more FOCUS files produced, before anything is stored."""

    files: list[FileLineage] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    lots: list[CreditLot] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    rows_read: int = 0
    readers: dict[str, str] = field(default_factory=dict)  # file → what read its rows (python, duckdb)

    def scopes(self) -> dict[tuple[str, str], tuple[date, date]]:
        """(fact source, account) → the charge days it covers: the window each scope's facts replace."""
        spans: dict[tuple[str, str], tuple[date, date]] = {}
        for fact in self.facts:
            key = (fact.source, fact.provider_account)
            first, last = spans.get(key, (fact.charge_date, fact.charge_date))
            spans[key] = (min(first, fact.charge_date), max(last, fact.charge_date))
        return spans


@exact_sums()
def read_focus(
    paths: Iterable[Path], options: FocusOptions, progress: Callable[[int, str], None] | None = None
) -> FocusBatch:
    """Parse, check and aggregate FOCUS files (one export, possibly in several parts)."""
    batch = FocusBatch()
    aggregate = FocusAggregate()
    accepted = 0
    for path in paths:
        size, sha = fingerprint(readable(path))
        reader = FileReader(path, options, batch, aggregate, progress)
        rows = reader.run()
        batch.readers[str(path)] = "python"
        batch.files.append(FileLineage(str(path), size, sha, rows))
        batch.rows_read += rows
        accepted += reader.accepted
    return book_batch(batch, aggregate, accepted, options)


def book_batch(
    batch: FocusBatch, aggregate: FocusAggregate, accepted: int, options: FocusOptions
) -> FocusBatch:
    """Step 2 for an import whose rows are summed: tally the accepted rows, book the buckets, check that
    every accepted amount is stored once."""
    # accepted amounts are the buckets' exact sums of BilledCost: the same numbers, summed once
    amounts = aggregate.amounts_by_currency()
    batch.tally.add_many(Disposition.ACCEPTED, accepted, amounts)
    with paused_gc():  # tens of thousands of keys and facts, no cycles: a collection midway only costs
        books = book_buckets(
            aggregate.buckets(),
            aggregate.dim_names,
            entity=options.entity,
            timezone=options.timezone,
            source=SOURCE,
        )
        check_stored(amounts, books)
    batch.facts, batch.lots, batch.invoices = books.facts, books.lots, books.invoices
    return batch


def readable(path: Path) -> Path:
    """The path, or a FocusFileError saying why it is not a file the import can read."""
    fix = "give the path of an export file (.csv, .csv.gz or .parquet)"
    if path.is_dir():
        raise FocusFileError(
            Problem(str(path), "", "", "is a directory, not a file", f"{fix}, e.g. {path}/*.csv.gz")
        )
    if not path.exists():
        raise FocusFileError(Problem(str(path), "", "", "no such file", f"check the path; {fix}"))
    if path.stat().st_size == 0:
        raise FocusFileError(
            Problem(
                str(path),
                "",
                "",
                "the file is empty (0 bytes)",
                "export the data again; an export has a header row",
            )
        )
    return path


class Columns:
    """Where each column the import reads sits in the header (names matched case-insensitively)."""

    def __init__(self, header: list[str], path: Path, options: FocusOptions) -> None:
        self.width = len(header)
        self.path = path
        self._refuse_repeated(header)
        self.index = {name.lower(): i for i, name in enumerate(header)}
        self.start = self._need("ChargePeriodStart")
        self.category = self._need("ChargeCategory")
        self.cost = self._need("BilledCost")
        self.effective = self._find("EffectiveCost")
        self.currency = self._need("BillingCurrency", options.currency, "--currency")
        self.account = self._need("BillingAccountId", options.account, "--account")
        self.provider = self._find("ProviderName", "ServiceProviderName")
        if self.provider is None and not options.provider:
            self._missing("ProviderName", "--provider")
        self.service = self._find("ServiceCategory")
        if self.service is None and options.services is not None:
            self._missing("ServiceCategory", "--all-services (import every row, whatever its service)")
        self.end = self._find("ChargePeriodEnd")
        self.charge_class = self._find("ChargeClass")
        self.billing_period = self._find("BillingPeriodStart")
        self.tags = self._find("Tags")
        self.quantity = self._find("ConsumedQuantity")
        self.invoice = self._find("InvoiceId")
        self.row_id = self._row_id(options.row_id)
        self.row_id_name = header[self.row_id] if self.row_id is not None else ""
        found = [self._find(*names) for names in DIMENSION_COLUMNS.values()]
        self.dim_names = tuple(
            name for name, i in zip(DIMENSION_COLUMNS, found, strict=True) if i is not None
        )
        # The "static" columns: those that repeat across the rows of one bucket. They are read together and
        # checked once per distinct combination, so a million hourly rows cost a few thousand checks.
        static = {
            "service": self.service,
            "category": self.category,
            "currency": self.currency,
            "account": self.account,
            "provider": self.provider,
            "charge_class": self.charge_class,
            "billing_period": self.billing_period,
            "tags": self.tags,
            "invoice": self.invoice,
            "commitment": self._find("CommitmentDiscountId"),
            "frequency": self._find("ChargeFrequency"),
            "sku_price": self._find("SkuPriceId", "SkuId"),
            "pricing_currency": self._find("PricingCurrency"),
            **{f"dim:{name}": i for name, i in zip(DIMENSION_COLUMNS, found, strict=True) if i is not None},
        }
        present = {name: i for name, i in static.items() if i is not None}
        self.static_names = tuple(present)
        self.static_index = tuple(present.values())  # where each static column sits in a row
        self.static_headers = {name: header[i] for name, i in present.items()}  # for messages
        getter = itemgetter(*present.values())
        self.static = getter if len(present) > 1 else (lambda row: (getter(row),))  # always a tuple

    def _refuse_repeated(self, header: list[str]) -> None:
        """A column named twice: which one holds the value? (csv readers silently keep the last.)"""
        first: dict[str, int] = {}
        for number, name in enumerate(header, start=1):
            if name.lower() in first:
                raise FocusFileError(
                    Problem(
                        str(self.path),
                        "row 1 (header)",
                        name,
                        f"the header names {name} twice (columns {first[name.lower()]} and {number}); the "
                        "import cannot tell which one holds the value",
                        "remove or rename one of the two columns and import the file again",
                    )
                )
            first[name.lower()] = number

    def _row_id(self, named: str | None) -> int | None:
        if named is None:
            return self._find(*ROW_ID_COLUMNS)
        found = self._find(named)
        if found is None:
            raise FocusFileError(
                Problem(
                    str(self.path),
                    "row 1 (header)",
                    named,
                    "--row-id names a column the file does not have",
                    "give the column that holds each row's line id, or leave --row-id out",
                )
            )
        return found

    def _find(self, *names: str) -> int | None:
        for name in names:
            if name.lower() in self.index:
                return self.index[name.lower()]
        return None

    def _need(self, name: str, default: str | None = None, option: str = "") -> int | None:
        found = self._find(name)
        if found is None and default is None:
            self._missing(name, option)
        return found

    def _missing(self, name: str, option: str) -> None:
        fix = f"export with the {name} column (FOCUS requires it)"
        raise FocusFileError(
            Problem(
                str(self.path),
                "row 1 (header)",
                name,
                "missing column: the import cannot book rows without it (a renamed column counts as missing)",
                f"{fix}, or give {option}" if option else fix,
            )
        )


class FileReader:
    """Checks one file's rows, quarantining bad ones, and sums good ones into the aggregate's buckets."""

    def __init__(
        self, path, options: FocusOptions, batch: FocusBatch, aggregate: FocusAggregate, progress
    ) -> None:
        self.path, self.options, self.batch, self.aggregate, self.progress = (
            path,
            options,
            batch,
            aggregate,
            progress,
        )
        self.file = str(path)
        self.services = None if options.services is None else frozenset(options.services)
        self.times: dict[str, tuple[datetime, date] | None] = {}
        self.parts: dict[str, StaticPart | Refusal] = {}  # joined raw static values → their checked part
        self.spans: dict[tuple[str, str], tuple | Refusal] = {}  # (start, end) text → its checked span
        self.accepted = 0

    def open(self) -> RowStream:
        """Open the file and read its header: a FocusFileError when the import cannot read it at all."""
        try:
            stream = open_rows(self.path)
        except UnicodeDecodeError as exc:
            raise FocusFileError(
                Problem(
                    self.file,
                    "row 1 (header)",
                    "",
                    f"is not UTF-8 text ({exc.reason} at byte {exc.start})",
                    FIX_UTF8,
                )
            ) from None
        except (OSError, EOFError, csv.Error, ValueError) as exc:
            raise FocusFileError(
                Problem(
                    self.file,
                    "",
                    "",
                    f"cannot be read as CSV (optionally gzip-compressed) or Parquet: {exc}",
                    "check that this is a FOCUS export file (.csv, .csv.gz or .parquet)",
                )
            ) from None
        if not stream.header:
            raise FocusFileError(
                Problem(
                    self.file,
                    "row 1 (header)",
                    "",
                    "the file is empty: it has no header row",
                    "export the data again",
                )
            )
        self.begin(stream.header)
        return stream

    def begin(self, header: list[str]) -> None:
        """Find the columns the import reads in the header (the same in every file of one import)."""
        self.col = Columns(header, self.path, self.options)
        if self.aggregate.dim_names and self.aggregate.dim_names != self.col.dim_names:
            raise FocusFileError(
                Problem(
                    self.file,
                    "row 1 (header)",
                    "",
                    "its columns differ from the other files of this import",
                    "import the parts of one export together, and different exports separately",
                )
            )
        self.aggregate.dim_names = self.col.dim_names

    def run(self) -> int:
        stream = self.open()
        count = 0
        try:
            count = self.take(enumerate(stream.rows, start=2))
        except _Damaged as damaged:
            count = damaged.count
            if damaged.encoding:
                raise FocusFileError(
                    Problem(
                        self.file, f"row {count + 2}", "", f"is not UTF-8 text ({damaged.reason})", FIX_UTF8
                    )
                ) from None
            raise FocusFileError(
                Problem(
                    self.file,
                    f"row {count + 2}",
                    "",
                    f"the file is damaged or truncated after row {count + 1} ({damaged.reason}); what follows cannot be read",
                    "download the export again; nothing from this file was stored",
                )
            ) from None
        if stream.physical_lines is not None and stream.physical_lines() != count + 1:
            self._refuse_swallowed_lines(stream.physical_lines(), count)
        return count

    def _refuse_swallowed_lines(self, lines: int, rows: int) -> None:
        """More physical lines than rows: a value ran across line ends (a stray quote), so the rows after
        it were read as part of it and their amounts never counted. Refuse, naming where it starts."""
        found = first_multiline_row(self.path)
        where, detail = "", ""
        if found is not None:
            row, first_line, last_line = found
            where = f"row {row}"
            detail = f"; row {row} starts on line {first_line} and runs to line {last_line}"
        raise FocusFileError(
            Problem(
                self.file,
                where,
                "",
                f"the file has {lines - 1} data lines but reads as {rows} rows: a quote opened in a value is "
                f"closed lines later (or never), so the lines between would vanish into one value{detail}",
                "remove the stray quote (or the line break inside the quoted value) and import the file again; "
                "nothing from this file was stored",
            )
        )

    def take(self, numbered: Iterable[tuple[int, list[str] | UnreadableRow]]) -> int:
        """The hot loop over (row number, row) pairs: one pass, locals only, the per-row work kept to what
        varies per row. Returns how many rows it read."""
        c, width = self.col, self.col.width
        static, parts, spans, join = c.static, self.parts, self.spans, SEPARATOR.join
        seen: dict[
            object, int
        ] = {}  # a row's identity (line id, else the whole row) → the first row it was on
        remember = seen.setdefault
        o = self.options
        check_repeats = checks_repeats(c.row_id is not None, o.accept_duplicates, o.unique_line_ids)
        i_start, i_end, i_cost, i_effective, i_quantity, i_row_id = (
            c.start,
            c.end,
            c.cost,
            c.effective,
            c.quantity,
            c.row_id,
        )
        # the columns every row needs: a file without them was refused before its rows are read
        assert i_start is not None
        assert i_cost is not None
        sums, progress, count, accepted = self.aggregate.sums, self.progress, 0, 0
        try:
            for row_no, row in numbered:
                count += 1
                if type(row) is not list:
                    reason = cast(UnreadableRow, row).reason
                    self._quarantine(row_no, "", f"the line cannot be read as CSV ({reason})", [])
                    continue
                if len(row) != width:
                    self._quarantine(
                        row_no,
                        "",
                        f"has {len(row)} fields but the header has {width} (a truncated or misquoted line)",
                        row,
                    )
                    continue
                key = join(static(row))  # one string hashes faster than a tuple of twenty
                part = parts.get(key)
                if part is None:
                    part = parts[key] = self._check_static(static(row), row_no)
                if type(part) is Refusal:
                    self._quarantine(row_no, part.column, part.reason, row)
                    continue
                if part.skip:
                    amount, currency = self._amount_of(row)
                    self.batch.tally.add(Disposition.SKIPPED, amount, currency)
                    continue
                if check_repeats:
                    if i_row_id is None:  # the common case, inline: the whole row is its identity
                        earlier = remember(hash(tuple(row)), row_no)
                        if earlier != row_no:
                            self._quarantine(row_no, "", _exact_repeat(earlier), row)
                            continue
                    else:
                        repeat = self._repeat(remember, row, row_no, i_row_id)
                        if repeat is not None:
                            self._quarantine(row_no, repeat.column, repeat.reason, row)
                            continue
                span_key = (row[i_start], row[i_end] if i_end is not None else "")
                span = spans.get(span_key)
                if span is None:
                    span = spans[span_key] = self._check_span(*span_key)
                if type(span) is Refusal:
                    self._quarantine(row_no, span.column, span.reason, row)
                    continue
                text = row[i_cost]
                try:
                    amount = parse_amount(text)
                    if "+" in text:
                        raise MoneyError(f"{text!r} has a + sign, which FOCUS numbers may not carry")
                except MoneyError as exc:
                    self._quarantine(row_no, "BilledCost", str(exc), row)
                    continue
                effective = amount
                if i_effective is None or row[i_effective] == text:
                    pass  # no column, or the same text as BilledCost (most rows): nothing more to read
                elif row[i_effective] not in NULLS:
                    read = _cost(row[i_effective])
                    if isinstance(read, str):
                        self._quarantine(row_no, "EffectiveCost", read, row)
                        continue
                    effective = read
                elif part.commitment or part.virtual:
                    reason = "is empty, but the row names what paid for it: its cost cannot be known"
                    self._quarantine(row_no, "EffectiveCost", reason, row)
                    continue
                quantity = None
                if i_quantity is not None and row[i_quantity] not in NULLS:
                    quantity = parse_quantity(row[i_quantity])
                    if quantity is None:
                        self._quarantine(
                            row_no, "ConsumedQuantity", f"{row[i_quantity]!r} is not {QUANTITY_READ}", row
                        )
                        continue
                accepted += 1
                # a purchase keeps its exact charge period (a lot's term); other charges their UTC day,
                # or their period when it is longer than a day (spread over its days in step 2)
                when = span[3] if part.category is not PURCHASE else span[4]
                bucket = sums.get((part, when))
                if bucket is None:
                    sums[(part, when)] = [
                        amount,
                        amount if amount < 0 else ZERO,
                        effective,
                        ZERO if quantity is None else quantity,
                        0 if quantity is None else 1,
                        1,
                    ]
                else:
                    bucket[0] += amount
                    if amount < 0:
                        bucket[1] += amount
                    bucket[2] += effective
                    if quantity is not None:
                        bucket[3] += quantity
                        bucket[4] += 1
                    bucket[5] += 1
                if progress and count % PROGRESS_EVERY == 0:
                    progress(count, f"FOCUS {self.path.name}")
        except UnicodeDecodeError as exc:
            raise _Damaged(count, f"{exc.reason} at byte {exc.start} of a block", encoding=True) from None
        except (OSError, EOFError, zlib.error) as exc:
            raise _Damaged(count, str(exc)) from None
        self.accepted += accepted
        return count

    def _repeat(self, remember, row: list[str], row_no: int, i_row_id: int) -> Refusal | None:
        """A row an earlier row already gave: the same line id, or (an empty id, unless duplicates are
        accepted) the very same values."""
        line_id = row[i_row_id].strip()
        if line_id and self.options.unique_line_ids:
            return None
        if line_id:
            earlier = remember(("id", line_id), (row_no, hash(tuple(row))))
            if earlier[0] == row_no:
                return None
            column = self.col.row_id_name
            same = "with the same values" if earlier[1] == hash(tuple(row)) else "with other values"
            return Refusal(
                column,
                f"line id {line_id!r} was already given by row {earlier[0]} {same} (a duplicated line)",
            )
        if self.options.accept_duplicates:
            return None
        earlier = remember(hash(tuple(row)), row_no)
        return None if earlier == row_no else Refusal("", _exact_repeat(earlier))

    # ------------------------------------------------------------------------------ the static columns

    def _check_span(self, start_text: str, end_text: str) -> tuple | Refusal:
        """A row's charge period, checked once per distinct (start, end) pair: (start, UTC day, end, the
        bucket of a charge — its day, or (start, end) when longer than a day —, the bucket of a purchase)."""
        start = self._time(start_text)
        if start is None:
            return Refusal("ChargePeriodStart", _bad_time(start_text))
        if self.col.end is None:
            return (start[0], start[1], None, start[1], (start[0], None))
        end = self._time(end_text)
        if end is None:
            return Refusal("ChargePeriodEnd", _bad_time(end_text))
        if end[0] <= start[0]:
            return Refusal("ChargePeriodEnd", f"{end_text!r} is not after ChargePeriodStart")
        charge = start[1] if end[0] - start[0] <= DAY else (start[0], end[0])
        return (start[0], start[1], end[0], charge, (start[0], end[0]))

    def _check_static(self, values: tuple, row_no: int) -> StaticPart | Refusal:
        """Check the columns that repeat across a bucket's rows, once per distinct combination."""
        raw = dict(zip(self.col.static_names, values, strict=True))
        o = self.options
        for name, value in raw.items():
            if SEPARATOR in value:
                return Refusal(self.col.static_headers[name], "holds a NUL character")
        if self.services is not None and raw["service"].strip() not in self.services:
            return SKIPPED  # another service: left out, whatever else its row holds
        category = CATEGORIES.get(raw["category"].strip().lower())
        if category is None:
            return Refusal(
                "ChargeCategory", f"{raw['category']!r} is not Usage, Purchase, Credit, Tax or Adjustment"
            )
        given = self._given_or_column(raw, "currency", "BillingCurrency", o.currency, "--currency")
        if type(given) is Refusal:
            return given
        currency = _currency(given)
        if currency is None:
            return Refusal("BillingCurrency", f"{given!r} is not an ISO 4217 currency code")
        account = self._given_or_column(raw, "account", "BillingAccountId", o.account, "--account")
        if type(account) is Refusal:
            return account
        if account in NULLS:
            return Refusal("BillingAccountId", "is empty (FOCUS requires a billing account)")
        provider = self._provider(raw.get("provider", ""))
        mixed = self._one_currency_per_account(provider, account, currency, row_no)
        if mixed is not None:
            return mixed
        charge_class = _null(raw.get("charge_class", ""))
        if charge_class is not None and charge_class.lower() != "correction":
            return Refusal("ChargeClass", f"{raw['charge_class']!r} is neither empty nor Correction")
        period = None
        if "billing_period" in raw:
            moment = self._time(raw["billing_period"])
            if moment is None:
                return Refusal("BillingPeriodStart", _bad_time(raw["billing_period"]))
            period = moment[0].strftime("%Y-%m")
        tags = _parse_tags(raw["tags"]) if "tags" in raw else ()
        if tags is None:
            return Refusal("Tags", f"{raw['tags'][:80]!r} is not a JSON object of flat values")
        frequency = _null(raw.get("frequency", ""))
        if frequency is not None:
            frequency = FREQUENCIES.get(frequency.lower())
            if frequency is None:
                return Refusal(
                    "ChargeFrequency", f"{raw['frequency']!r} is not One-Time, Recurring or Usage-Based"
                )
        status = _null(raw.get("dim:commitment_status", ""))
        if status is not None and status.lower() not in STATUSES:
            return Refusal("CommitmentDiscountStatus", f"{status!r} is neither Used nor Unused")
        pricing = _null(raw.get("pricing_currency", ""))
        return StaticPart(
            category=category,
            currency=currency,
            account=account,
            provider=provider,
            period=period,
            correction=charge_class is not None,
            tags=tags,
            invoice=_null(raw.get("invoice", "")),
            dims=tuple(_null(raw[f"dim:{name}"]) for name in self.col.dim_names),
            commitment=_null(raw.get("commitment", "")),
            frequency=frequency,
            sku_price=_null(raw.get("sku_price", "")),
            virtual=pricing if pricing is not None and _currency(pricing) is None else None,
        )

    def _given_or_column(
        self, raw: dict, name: str, column: str, given: str | None, option: str
    ) -> str | Refusal:
        """A value the command line may give: the column's value, which must agree with the option when
        both are there; the option's where the column is missing or empty."""
        value = raw[name].strip() if name in raw else ""
        if value in NULLS:
            return given or ""
        if given is None:
            return value
        same = value.upper() == given.strip().upper() if name == "currency" else value == given.strip()
        if not same:
            return Refusal(
                column,
                f"{value!r} differs from {option} {given}: the row is not what the command says it imports",
            )
        return value

    def _one_currency_per_account(
        self, provider: str, account: str, currency: str, row_no: int
    ) -> Refusal | None:
        """A billing account is billed in one currency (FOCUS BillingCurrency): a row in another one would
        split its invoice silently."""
        known = self.aggregate.account_currency.setdefault(
            (provider, account), (currency, f"{self.file} row {row_no}")
        )
        if known[0] == currency:
            return None
        return Refusal(
            "BillingCurrency",
            f"billing account {account} is billed in {known[0]} ({known[1]}), but this row says {currency}: "
            "an account has one billing currency",
        )

    # ---------------------------------------------------------------------------------------- helpers

    def _quarantine(self, row_no: int, column: str, reason: str, row: list[str]) -> None:
        amount, currency = self._amount_of(row) if len(row) == self.col.width else (None, None)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(row)
        problem = Problem(self.file, f"row {row_no}", column, reason, FIX_ROW)
        self.batch.quarantined.append(QuarantinedRow(problem, buffer.getvalue(), amount, currency, row_no))
        self.batch.tally.add(Disposition.QUARANTINED, amount, currency)

    def _amount_of(self, row: list[str]) -> tuple[Decimal | None, str | None]:
        """A row's amount and currency when both can be read (for the tally), else (None, None)."""
        c = self.col
        assert c.cost is not None  # a file without BilledCost was refused before its rows are read
        try:
            amount = parse_amount(row[c.cost])
        except MoneyError:
            return None, None
        currency = self.currency_of(row[c.currency] if c.currency is not None else "")
        return (amount, currency) if currency else (None, None)

    def currency_of(self, text: str) -> str | None:
        """The currency a row's BillingCurrency text (or --currency) names, for the tally; None if none."""
        return _currency(text if text.strip() not in NULLS else self.options.currency or "")

    def _time(self, text: str) -> tuple[datetime, date] | None:
        """A FOCUS date-time (cached: an hourly export repeats each one thousands of times) and its UTC day."""
        if text in self.times:
            return self.times[text]
        value = text.strip()
        if value.endswith(" UTC"):
            value = value[:-4] + "Z"
        try:
            moment = datetime.fromisoformat(value) if value[:4].isdigit() and value[4:5] == "-" else None
        except ValueError:
            moment = None
        if moment is not None:
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        self.times[text] = (moment, moment.date()) if moment is not None else None
        return self.times[text]

    def _provider(self, raw: str) -> str:
        if self.options.provider:
            return self.options.provider
        name = raw.strip().lower()
        return PROVIDER_ALIASES.get(name, name.replace(" ", "-") or "focus")


@final  # so that `type(x) is Refusal` (the hot loop's fast test) narrows for the type checker
@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a row is quarantined: the column at fault and the reason (cached for values that repeat)."""

    column: str
    reason: str


class _Damaged(Exception):
    def __init__(self, count: int, reason: str, encoding: bool = False) -> None:
        super().__init__(reason)
        self.count, self.reason, self.encoding = count, reason, encoding


def _exact_repeat(earlier: int) -> str:
    return (
        f"repeats row {earlier} exactly (a duplicated line); if the export really holds identical "
        "charges, import it with --accept-duplicates"
    )


def _cost(text: str) -> Decimal | str:
    """A FOCUS cost value, or the reason it is not one."""
    try:
        amount = parse_amount(text)
    except MoneyError as exc:
        return str(exc)
    return f"{text!r} has a + sign, which FOCUS numbers may not carry" if "+" in text else amount


def _currency(text: str) -> str | None:
    try:
        return currency_code(text)
    except MoneyError:
        return None


def _null(value: str) -> str | None:
    value = value.strip()
    return None if value in NULLS else value


def _bad_time(text: str) -> str:
    return f"{text!r} is not an ISO 8601 UTC date-time such as 2025-05-01T00:00:00Z"


TAG_NUMBER_DIGITS = 30  # a tag's number within 10^±30 is written whole (no exponent)


def _parse_tags(text: str) -> tuple | None:
    """FOCUS KeyValueFormat: a JSON object whose values are strings, numbers, booleans or null."""
    if text.strip() in NULLS:
        return ()
    try:
        value = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or any(isinstance(v, dict | list) for v in value.values()):
        return None
    return tuple(sorted((str(k), _tag_text(v)) for k, v in value.items()))


def _tag_text(value: object) -> str | None:
    """A tag's value as a dimension. A number is its value, not its spelling: 1.50, 1.5 and 15E-1 are one
    tag "1.5", and 1000.0 and 1E+3 are "1000" — a warehouse's JSON type keeps no spelling (BigQuery,
    Athena, Snowflake and DuckDB print a number as they stored it), so both readers of one export agree."""
    if isinstance(value, Decimal):
        if abs(value.adjusted()) > TAG_NUMBER_DIGITS:  # 1E+400 stays short (whole, it is 401 digits, and
            return str(value)  # 1E+100000000 would fill the memory); an engine may print it otherwise
        return format(value.normalize(), "f")
    return dimension_text(value)
