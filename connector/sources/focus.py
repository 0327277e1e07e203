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
import zlib
from collections.abc import Callable, Iterable, Iterator
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
from connector.domain.money import MoneyError, currency_code, parse_amount, parse_quantity
from connector.sources.base import dimension_text
from connector.sources.focus_aggregate import PURCHASE, FocusAggregate, StaticPart
from connector.sources.focus_files import FileLineage, fingerprint, open_rows

AI_SERVICES = ("AI and Machine Learning",)
SOURCE = "focus"
PROVIDER_ALIASES = {"amazon web services": "aws", "aws": "aws", "microsoft": "azure", "google cloud": "gcp"}
CATEGORIES = {c.value: c for c in ChargeCategory}
NULLS = frozenset(("", "null", "NULL", "Null"))
PROGRESS_EVERY = 50_000
MISSING = object()
# Joins a row's static values into one cache key. A value holding a NUL is quarantined (`_check_static`),
# so two different rows never share a key.
SEPARATOR = "\x00"
SKIPPED = StaticPart(ChargeCategory.USAGE, "USD", "", "", None, False, (), None, None, (), skip=True)
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
    accepted = 0
    for path in paths:
        size, sha = fingerprint(path)
        reader = _FileReader(path, options, batch, aggregate, progress)
        rows = reader.run()
        batch.files.append(FileLineage(str(path), size, sha, rows))
        batch.rows_read += rows
        accepted += reader.accepted
    # accepted amounts are the buckets' and purchases' exact sums: the same numbers, summed once
    batch.tally.add_many(Disposition.ACCEPTED, accepted, aggregate.amounts_by_currency())
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
            "lot_hint": self.lot_hint,
            **{f"dim:{name}": i for name, i in zip(DIMENSION_COLUMNS, found, strict=True) if i is not None},
        }
        present = {name: i for name, i in static.items() if i is not None}
        self.static_names = tuple(present)
        self.static_headers = {name: header[i] for name, i in present.items()}  # for messages
        getter = itemgetter(*present.values())
        self.static = getter if len(present) > 1 else (lambda row: (getter(row),))  # always a tuple

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
        self.spans: dict[tuple[str, str], tuple | Refusal] = {}  # (start, end) text → (start, UTC day, end)
        self.accepted = 0

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
            count = self._rows(rows)
        except _Damaged as damaged:
            count = damaged.count
            raise FocusFileError(
                Problem(
                    self.file,
                    f"row {count + 2}",
                    "",
                    f"the file is damaged or truncated after row {count + 1} ({damaged.reason}); what follows cannot be read",
                    "download the export again; nothing from this file was stored",
                )
            ) from None
        return count

    def _rows(self, rows: Iterator) -> int:
        """The hot loop: one pass, locals only, the per-row work kept to what varies per row."""
        c, width = self.col, self.col.width
        static, parts, spans, join = c.static, self.parts, self.spans, SEPARATOR.join
        remember = {}.setdefault  # hash of a whole row → the first row it was seen on
        i_start, i_end, i_cost, i_quantity = c.start, c.end, c.cost, c.quantity
        buckets, progress, count, accepted = self.aggregate.buckets, self.progress, 0, 0
        try:
            for count, row in enumerate(rows, start=1):
                row_no = count + 1
                if type(row) is not list:
                    self._quarantine(row_no, "", f"the line cannot be read as CSV ({row.reason})", [])
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
                    part = parts[key] = self._check_static(static(row))
                if type(part) is Refusal:
                    self._quarantine(row_no, part.column, part.reason, row)
                    continue
                if part.skip:
                    amount, currency = self._amount_of(row)
                    self.batch.tally.add(Disposition.SKIPPED, amount, currency)
                    continue
                earlier = remember(hash(tuple(row)), row_no)
                if earlier != row_no:
                    self._quarantine(row_no, "", f"repeats row {earlier} exactly (a duplicated line)", row)
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
                quantity = None
                if i_quantity is not None and row[i_quantity] not in NULLS:
                    quantity = parse_quantity(row[i_quantity])
                    if quantity is None:
                        self._quarantine(
                            row_no, "ConsumedQuantity", f"{row[i_quantity]!r} is not a number", row
                        )
                        continue
                accepted += 1
                if part.category is PURCHASE:
                    self.aggregate.purchase(part, span[0], span[2], amount)
                    continue
                bucket_key = (part, span[1])
                bucket = buckets.get(bucket_key)
                if bucket is None:
                    buckets[bucket_key] = [amount, quantity, quantity is not None]
                else:
                    bucket[0] += amount
                    if bucket[2] and quantity is not None:
                        bucket[1] += quantity
                    else:
                        bucket[1], bucket[2] = None, False
                if progress and count % PROGRESS_EVERY == 0:
                    progress(count, f"FOCUS {self.path.name}")
        except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
            raise _Damaged(count, str(exc)) from None
        self.accepted = accepted
        return count

    # ------------------------------------------------------------------------------ the static columns

    def _check_span(self, start_text: str, end_text: str) -> tuple | Refusal:
        """A row's charge period, checked once per distinct (start, end) pair."""
        start = self._time(start_text)
        if start is None:
            return Refusal("ChargePeriodStart", _bad_time(start_text))
        if self.col.end is None:
            return (start[0], start[1], None)
        end = self._time(end_text)
        if end is None:
            return Refusal("ChargePeriodEnd", _bad_time(end_text))
        if end[0] <= start[0]:
            return Refusal("ChargePeriodEnd", f"{end_text!r} is not after ChargePeriodStart")
        return (start[0], start[1], end[0])

    def _check_static(self, values: tuple) -> StaticPart | Refusal:
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
        currency = _currency(raw.get("currency", o.currency or ""))
        if currency is None:
            return Refusal("BillingCurrency", f"{raw.get('currency')!r} is not an ISO 4217 currency code")
        account = raw["account"].strip() if "account" in raw else o.account or ""
        if account in NULLS:
            return Refusal("BillingAccountId", "is empty (FOCUS requires a billing account)")
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
        return StaticPart(
            category=category,
            currency=currency,
            account=account,
            provider=self._provider(raw.get("provider", "")),
            period=period,
            correction=charge_class is not None,
            tags=tags,
            invoice=_null(raw.get("invoice", "")),
            lot_hint=_null(raw.get("lot_hint", "")),
            dims=tuple(_null(raw[f"dim:{name}"]) for name in self.col.dim_names),
        )

    # ---------------------------------------------------------------------------------------- helpers

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
        currency = _currency(row[c.currency] if c.currency is not None else self.options.currency or "")
        return (amount, currency) if currency else (None, None)

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


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a row is quarantined: the column at fault and the reason (cached for values that repeat)."""

    column: str
    reason: str


class _Damaged(Exception):
    def __init__(self, count: int, reason: str) -> None:
        super().__init__(reason)
        self.count, self.reason = count, reason


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
    return tuple(sorted((str(k), dimension_text(v)) for k, v in value.items()))
