"""FOCUS 1.0–1.2 exports (AWS Bedrock, Azure OpenAI, Google Vertex AI, any FOCUS provider) into facts.

Rows are streamed (see `focus_files`), checked one by one and aggregated into daily buckets — one fact
per UTC day × billing account × billing period × charge category × sub account × service × SKU meter ×
region × resource × tags … — so an hourly export of millions of rows becomes a few thousand facts.

What each row becomes (docs/focus.md):
- ChargeCategory Usage / Credit / Tax / Adjustment → facts of that charge category (the planner books
  usage; the others are stored for the policies that book them);
- Purchase → a credit lot (prepaid, an asset), not an expense;
- ChargeClass Correction → a fact of its own in the *corrected* period (its charge day), tagged with the
  billing period that carries it, so it adds to the original bucket instead of replacing it;
- InvoiceId + BilledCost → invoice totals (the part of each invoice this import covers).

Rows of services outside the filter (default: ServiceCategory "AI and Machine Learning") are skipped and
counted. A bad row is quarantined with its row, column and reason; the rest go on. A header without a
column the import cannot do without refuses the file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from operator import itemgetter
from pathlib import Path

from connector.domain.credits import CreditLot
from connector.domain.errors import Problem
from connector.domain.facts import (
    ChargeCategory,
    Fact,
)
from connector.domain.imports import Disposition, QuarantinedRow, Tally
from connector.domain.invoices import Invoice
from connector.domain.money import MoneyError, currency_code, parse_amount
from connector.sources.focus_aggregate import FocusAggregate, FocusLine
from connector.sources.focus_files import FileLineage, fingerprint, open_rows

AI_SERVICES = ("AI and Machine Learning",)
SOURCE = "focus"
PROVIDER_ALIASES = {"amazon web services": "aws", "aws": "aws", "microsoft": "azure", "google cloud": "gcp"}
CATEGORIES = {c.value: c for c in ChargeCategory}
NULLS = ("", "null", "NULL", "Null")
PROGRESS_EVERY = 50_000
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
}
FIX_ROW = (
    "correct the row in the export (or ask the provider for a corrected export) and import the file again"
)


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
    account: str | None = None  # when the export has no BillingAccountId column
    currency: str | None = None  # when the export has no BillingCurrency column


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

    def scopes(self) -> dict[tuple[str, str], tuple[date, date]]:
        """(fact source, account) → the charge days it covers: the window each scope's facts replace."""
        spans: dict[tuple[str, str], tuple[date, date]] = {}
        for fact in self.facts:
            key = (fact.source, fact.provider_account)
            first, last = spans.get(key, (fact.charge_date, fact.charge_date))
            spans[key] = (min(first, fact.charge_date), max(last, fact.charge_date))
        return spans


def read_focus(
    paths: Iterable[Path], options: FocusOptions, progress: Callable[[int, str], None] | None = None
) -> FocusBatch:
    """Parse, check and aggregate FOCUS files (one export, possibly in several parts)."""
    batch = FocusBatch()
    aggregate = FocusAggregate(options.entity, options.timezone, SOURCE)
    for path in paths:
        size, sha = fingerprint(path)
        reader = _FileReader(path, options, batch, aggregate, progress)
        rows = reader.run()
        batch.files.append(FileLineage(str(path), size, sha, rows))
        batch.rows_read += rows
    batch.facts, batch.lots, batch.invoices = (
        aggregate.facts(),
        aggregate.lots(),
        aggregate.invoices(),
    )
    return batch


class _Columns:
    """Where each column the import reads sits in the header (names matched case-insensitively)."""

    def __init__(self, header: list[str], path: Path, options: FocusOptions) -> None:
        self.width = len(header)
        self.index = {name.lower(): i for i, name in enumerate(header)}
        self.path = path
        self.start = self._need("ChargePeriodStart")
        self.category = self._need("ChargeCategory")
        self.cost = self._need("BilledCost")
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
        self.lot_hint = self._find("CommitmentDiscountId", "SkuPriceId", "SkuId")
        found = [self._find(*names) for names in DIMENSION_COLUMNS.values()]
        indexes = [i for i in found if i is not None]
        self.dim_names = tuple(
            name for name, i in zip(DIMENSION_COLUMNS, found, strict=True) if i is not None
        )
        # itemgetter of one index returns the value itself, not a 1-tuple
        self.dims = (
            itemgetter(*indexes)
            if len(indexes) > 1
            else (lambda row: (row[indexes[0]],))
            if indexes
            else None
        )

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


class _FileReader:
    """Checks one file's rows, quarantining bad ones, and feeds good ones to the aggregate."""

    def __init__(self, path, options: FocusOptions, batch: FocusBatch, aggregate, progress) -> None:
        self.path, self.options, self.batch, self.aggregate, self.progress = (
            path,
            options,
            batch,
            aggregate,
            progress,
        )
        self.file = str(path)
        self.services = None if options.services is None else frozenset(options.services)
        self.seen: dict[int, int] = {}  # hash of a whole row → its row number, to find exact repeats
        self.times: dict[str, datetime | None] = {}
        self.currencies: dict[str, str | None] = {}
        self.tag_cache: dict[str, tuple | None] = {}
        self.periods: dict[str, str | None] = {}

    def run(self) -> int:
        try:
            header, rows = open_rows(self.path)
        except (OSError, EOFError, UnicodeDecodeError, csv.Error, ValueError) as exc:
            raise FocusFileError(
                Problem(self.file, "", "", f"cannot read the file: {exc}", "check the path and format")
            ) from None
        self.col = _Columns(header, self.path, self.options)
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
        count = 0
        try:
            for count, row in enumerate(rows, start=1):
                self._row(count + 1, row)
                if self.progress and count % PROGRESS_EVERY == 0:
                    self.progress(count, f"FOCUS {self.path.name}")
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise FocusFileError(
                Problem(
                    self.file,
                    f"row {count + 2}",
                    "",
                    f"the file is damaged or truncated after row {count + 1} ({exc}); what follows cannot be read",
                    "download the export again; nothing from this file was stored",
                )
            ) from None
        return count

    # -------------------------------------------------------------------------------------- one row

    def _row(self, row_no: int, row) -> None:
        c = self.col
        if type(row) is not list:
            return self._quarantine(row_no, "", f"the line cannot be read as CSV ({row.reason})", [])
        if len(row) != c.width:
            reason = f"has {len(row)} fields but the header has {c.width} (a truncated or misquoted line)"
            return self._quarantine(row_no, "", reason, row)
        if self.services is not None and row[c.service].strip() not in self.services:
            amount, currency = self._amount_of(row)
            self.batch.tally.add(Disposition.SKIPPED, amount, currency)
            return None
        fingerprint_ = hash(tuple(row))
        earlier = self.seen.get(fingerprint_)
        if earlier is not None:
            return self._quarantine(row_no, "", f"repeats row {earlier} exactly (a duplicated line)", row)
        self.seen[fingerprint_] = row_no
        line = self._line(row_no, row)
        if line is None:
            return None
        self.aggregate.add(line)
        self.batch.tally.add(Disposition.ACCEPTED, line.amount, line.currency)
        return None

    def _line(self, row_no: int, row: list[str]) -> FocusLine | None:
        c, o = self.col, self.options
        category = CATEGORIES.get(row[c.category].strip().lower())
        if category is None:
            return self._bad(
                row_no,
                "ChargeCategory",
                f"{row[c.category]!r} is not Usage, Purchase, Credit, Tax or Adjustment",
                row,
            )
        start = self._time(row[c.start])
        if start is None:
            return self._bad(row_no, "ChargePeriodStart", _bad_time(row[c.start]), row)
        end = None
        if c.end is not None:
            end = self._time(row[c.end])
            if end is None:
                return self._bad(row_no, "ChargePeriodEnd", _bad_time(row[c.end]), row)
            if end <= start:
                return self._bad(
                    row_no, "ChargePeriodEnd", f"{row[c.end]!r} is not after ChargePeriodStart", row
                )
        text = row[c.cost]
        try:
            amount = parse_amount(text)
            if "+" in text:
                raise MoneyError(f"{text!r} has a + sign, which FOCUS numbers may not carry")
        except MoneyError as exc:
            return self._bad(row_no, "BilledCost", str(exc), row)
        currency = self._currency(row[c.currency] if c.currency is not None else o.currency or "")
        if currency is None:
            return self._bad(
                row_no, "BillingCurrency", f"{row[c.currency]!r} is not an ISO 4217 currency code", row
            )
        account = row[c.account].strip() if c.account is not None else o.account or ""
        if account in NULLS:
            return self._bad(row_no, "BillingAccountId", "is empty (FOCUS requires a billing account)", row)
        correction = False
        if c.charge_class is not None and row[c.charge_class].strip() not in NULLS:
            if row[c.charge_class].strip().lower() != "correction":
                return self._bad(
                    row_no, "ChargeClass", f"{row[c.charge_class]!r} is neither empty nor Correction", row
                )
            correction = True
        period = (
            self._period(row[c.billing_period]) if c.billing_period is not None else start.strftime("%Y-%m")
        )
        if period is None:
            return self._bad(row_no, "BillingPeriodStart", _bad_time(row[c.billing_period]), row)
        tags = self._tags(row[c.tags]) if c.tags is not None else ()
        if tags is None:
            return self._bad(row_no, "Tags", f"{row[c.tags][:80]!r} is not a JSON object of flat values", row)
        quantity = None
        if c.quantity is not None and row[c.quantity].strip() not in NULLS:
            try:
                quantity = parse_amount(row[c.quantity])
            except MoneyError as exc:
                return self._bad(row_no, "ConsumedQuantity", str(exc), row)
        return FocusLine(
            category,
            start,
            end,
            amount,
            currency,
            account,
            self._provider(row),
            period,
            correction,
            tuple(_null(v) for v in c.dims(row)) if c.dims else (),
            tags,
            quantity,
            _null(row[c.invoice]) if c.invoice is not None else None,
            _null(row[c.lot_hint]) if c.lot_hint is not None else None,
        )

    # ---------------------------------------------------------------------------------------- helpers

    def _bad(self, row_no: int, column: str, reason: str, row: list[str]) -> None:
        self._quarantine(row_no, column, reason, row)

    def _quarantine(self, row_no: int, column: str, reason: str, row: list[str]) -> None:
        amount, currency = self._amount_of(row) if len(row) == self.col.width else (None, None)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(row)
        problem = Problem(self.file, f"row {row_no}", column, reason, FIX_ROW)
        self.batch.quarantined.append(QuarantinedRow(problem, buffer.getvalue(), amount, currency))
        self.batch.tally.add(Disposition.QUARANTINED, amount, currency)

    def _amount_of(self, row: list[str]) -> tuple[Decimal | None, str | None]:
        """A row's amount and currency when both can be read (for the tally), else (None, None)."""
        c = self.col
        try:
            amount = parse_amount(row[c.cost])
        except MoneyError:
            return None, None
        currency = self._currency(row[c.currency] if c.currency is not None else self.options.currency or "")
        return (amount, currency) if currency else (None, None)

    def _time(self, text: str) -> datetime | None:
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
        self.times[text] = moment
        return moment

    def _period(self, text: str) -> str | None:
        if text not in self.periods:
            moment = self._time(text)
            self.periods[text] = moment.strftime("%Y-%m") if moment else None
        return self.periods[text]

    def _currency(self, text: str) -> str | None:
        if text not in self.currencies:
            try:
                self.currencies[text] = currency_code(text)
            except MoneyError:
                self.currencies[text] = None
        return self.currencies[text]

    def _tags(self, text: str) -> tuple | None:
        if text not in self.tag_cache:
            self.tag_cache[text] = _parse_tags(text)
        return self.tag_cache[text]

    def _provider(self, row: list[str]) -> str:
        if self.options.provider:
            return self.options.provider
        name = row[self.col.provider].strip().lower()
        return PROVIDER_ALIASES.get(name, name.replace(" ", "-") or "focus")


def _null(value: str) -> str | None:
    value = value.strip()
    return None if value in NULLS else value


def _bad_time(text: str) -> str:
    return f"{text!r} is not an ISO 8601 UTC date-time such as 2025-05-01T00:00:00Z"


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
    return tuple(sorted((str(k), _tag_value(v)) for k, v in value.items()))


def _tag_value(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
