"""The Accounting API resources of the Xero sandbox (``/api.xro/2.0/…``), on one ``XeroOrganisation``.

Only what a ledger connector needs, shaped as ``xero_accounting.yaml`` says:

- ``GET Organisation``, ``GET Accounts[/{id}]``, ``GET TrackingCategories[?includeArchived=true]``;
- ``GET ManualJournals`` with ``where``, ``order``, ``page`` (100 a page, or ``pageSize`` ≤ 1000) and the
  ``If-Modified-Since`` header; ``GET ManualJournals/{id}``;
- ``PUT ManualJournals`` (create), ``POST ManualJournals`` (update an element that carries its
  ManualJournalID, create the others), ``POST ManualJournals/{id}``; all with ``summarizeErrors``:
  ``false`` answers 200 with every element, each with ``StatusAttributeString`` OK or ERROR and its
  ``ValidationErrors``; ``true`` or absent answers 400 (ValidationException) when any element is invalid,
  **yet the valid elements are created all the same and their IDs are not returned** (erps.md §5.3);
- ``GET Invoices[/{id}]`` (bills are ``Type=="ACCPAY"``), with ``where``, ``order``, ``page``.

Authentication, tenants, limits, faults and Idempotency-Key replay are the sandbox's (``xero.py``) business.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

from connector.sandbox.common import loads_exact
from connector.sandbox.xero_org import LINE_AMOUNT_TYPES, XeroOrganisation, ms_datetime
from connector.sandbox.xero_where import QueryError, compile_where, ms_to_datetime, sort_rows

__all__ = ["ApiResult", "XeroApi", "validation_error"]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
PROVIDER_NAME = "tokenbooks Xero sandbox"
_FIELDS = {
    "ManualJournal": {
        "ManualJournalID",
        "Narration",
        "Date",
        "Status",
        "LineAmountTypes",
        "Url",
        "ShowOnCashBasisReports",
        "HasAttachments",
        "UpdatedDateUTC",
        "JournalLines",
    },
    "Invoice": {
        "InvoiceID",
        "Type",
        "InvoiceNumber",
        "Reference",
        "Contact",
        "Date",
        "DueDate",
        "Status",
        "LineAmountTypes",
        "SubTotal",
        "TotalTax",
        "Total",
        "AmountDue",
        "AmountPaid",
        "CurrencyCode",
        "UpdatedDateUTC",
    },
    "Account": {"AccountID", "Code", "Name", "Type", "Status", "Class", "SystemAccount", "TaxType"},
    "TrackingCategory": {"TrackingCategoryID", "Name", "Status"},
}


@dataclass(frozen=True)
class ApiResult:
    status: int
    body: Any
    mutated: bool = False


def validation_error(message: str, elements: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Xero's 400 envelope (schema ``Error``): ``ErrorNumber`` 10, ``ValidationException``."""
    body: dict[str, Any] = {"ErrorNumber": 10, "Type": "ValidationException", "Message": message}
    if elements is not None:
        body["Elements"] = elements
    return body


def _error(number: int, kind: str, message: str) -> ApiResult:
    return ApiResult(400, {"ErrorNumber": number, "Type": kind, "Message": message})


def _not_found(what: str) -> ApiResult:
    return ApiResult(404, {"Title": "NotFound", "Status": 404, "Detail": f"{what} could not be found"})


class XeroApi:
    """Routes one Accounting API call to the organisation; the caller holds the sandbox lock."""

    def __init__(self, organisation: XeroOrganisation, now: Callable[[], datetime]) -> None:
        self.org = organisation
        self._now = now

    def handle(
        self, method: str, resource: str, params: dict[str, str], raw_body: bytes, headers: dict[str, str]
    ) -> ApiResult:
        parts = [p for p in resource.strip("/").split("/") if p]
        name = parts[0].lower() if parts else ""
        item = parts[1] if len(parts) > 1 else None
        try:
            if method == "GET":
                return self._read(name, item, params, headers)
            if name == "manualjournals" and method in ("PUT", "POST"):
                return self._write_journals(method, item, params, raw_body)
        except QueryError as error:
            return _error(16, "QueryParseException", str(error))
        return _not_found(f"/{resource}")

    # --- Reads -------------------------------------------------------------------------------------------

    def _read(
        self, name: str, item: str | None, params: dict[str, str], headers: dict[str, str]
    ) -> ApiResult:
        if name == "organisation":
            return self._envelope("Organisations", [self.org.organisation_view()])
        if name == "accounts":
            rows = self.org.accounts_view()
            if item:
                rows = [r for r in rows if r["AccountID"] == item.lower()]
                return self._envelope("Accounts", rows) if rows else _not_found(f"Account {item}")
            return self._envelope("Accounts", self._filtered(rows, "Account", params))
        if name == "trackingcategories":
            archived = params.get("includeArchived", "").lower() == "true"
            rows = self._filtered(self.org.tracking_view(archived), "TrackingCategory", params)
            return self._envelope("TrackingCategories", rows)
        if name == "manualjournals":
            if item:
                record = self.org.journal(item)
                if record is None:
                    return _not_found(f"ManualJournal {item}")
                return self._envelope("ManualJournals", [self.org.journal_view(record)])
            rows = self._modified_since(self.org.journals_view(), headers.get("If-Modified-Since"))
            return self._paged("ManualJournals", self._filtered(rows, "ManualJournal", params), params)
        if name == "invoices":
            if item:
                record = self.org.invoice(item)
                if record is None:
                    return _not_found(f"Invoice {item}")
                return self._envelope("Invoices", [self.org.invoice_view(record)])
            rows = self._modified_since(self.org.invoices_view(), headers.get("If-Modified-Since"))
            return self._paged("Invoices", self._filtered(rows, "Invoice", params), params)
        return _not_found(f"/{name}")

    def _filtered(
        self, rows: list[dict[str, Any]], type_name: str, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        fields = _FIELDS[type_name]
        if params.get("where"):
            predicate = compile_where(params["where"], type_name, fields)
            rows = [row for row in rows if predicate(row)]
        sort_rows(rows, params.get("order"), type_name, fields)
        return rows

    def _paged(self, key: str, rows: list[dict[str, Any]], params: dict[str, str]) -> ApiResult:
        if "page" not in params:
            return self._envelope(key, rows)
        try:
            page = max(1, int(params["page"]))
            size = min(MAX_PAGE_SIZE, max(1, int(params.get("pageSize") or DEFAULT_PAGE_SIZE)))
        except ValueError:
            return _error(16, "QueryParseException", "page and pageSize must be whole numbers")
        chunk = rows[(page - 1) * size : page * size]
        pagination = {
            "page": page,
            "pageSize": size,
            "pageCount": (len(rows) + size - 1) // size,
            "itemCount": len(rows),
        }
        return self._envelope(key, chunk, pagination=pagination)

    @staticmethod
    def _modified_since(rows: list[dict[str, Any]], header: str | None) -> list[dict[str, Any]]:
        if not header:
            return rows
        since = _header_time(header)
        return [r for r in rows if (ms_to_datetime(r["UpdatedDateUTC"]) or since) > since]

    def _envelope(self, key: str, rows: list[dict[str, Any]], **extra: Any) -> ApiResult:
        body = {
            "Id": str(uuid.uuid4()),
            "Status": "OK",
            "ProviderName": PROVIDER_NAME,
            "DateTimeUTC": ms_datetime(self._now()),
        }
        return ApiResult(200, body | extra | {key: rows})

    # --- Writes ------------------------------------------------------------------------------------------

    def _write_journals(
        self, method: str, item: str | None, params: dict[str, str], raw_body: bytes
    ) -> ApiResult:
        summarize = _summarize(params.get("summarizeErrors"))
        if summarize is None:
            return ApiResult(400, validation_error("summarizeErrors must be true or false"))
        try:
            document = loads_exact(raw_body) if raw_body.strip() else None
        except ValueError as error:
            return _error(14, "PostDataInvalidException", f"The request body is not valid JSON: {error}")
        elements = _elements(document)
        if elements is None:
            return _error(
                14, "PostDataInvalidException", 'Expected {"ManualJournals": [ … ]} or one manual journal'
            )
        unreadable = _unreadable(elements)
        if unreadable:  # Xero (.NET) cannot even deserialise the body: nothing is looked at, nothing created
            return _error(14, "PostDataInvalidException", unreadable)
        outcomes = [self._write_one(method, item, element) for element in elements]
        mutated = any(record is not None for record, _ in outcomes)
        if summarize and any(errors for _, errors in outcomes):
            # The documented trap: valid journals are kept, but nobody is told their IDs.
            failed = [
                _with_errors(element, errors) if errors else element
                for element, (_, errors) in zip(elements, outcomes, strict=True)
            ]
            return ApiResult(400, validation_error("A validation exception occurred", failed), mutated)
        answers = [
            self.org.journal_view(record) | {"StatusAttributeString": "OK"}
            if record is not None
            else _with_errors(element, errors) | {"StatusAttributeString": "ERROR"}
            for element, (record, errors) in zip(elements, outcomes, strict=True)
        ]
        return ApiResult(200, self._envelope("ManualJournals", answers).body, mutated)

    def _write_one(
        self, method: str, item: str | None, element: Any
    ) -> tuple[dict[str, Any] | None, list[str]]:
        journal_id = item or (element.get("ManualJournalID") if isinstance(element, dict) else None)
        if method == "POST" and journal_id:
            return self.org.update_journal(str(journal_id), element)
        if journal_id:
            return None, ["ManualJournalID cannot be given when creating a manual journal (PUT)."]
        return self.org.create_journal(element)


def _summarize(value: str | None) -> bool | None:
    """Xero parses the flag like .NET: True/true/False/false; absent means errors are summarised."""
    if value is None:
        return True
    return {"true": True, "false": False}.get(value.strip().lower())


def _elements(document: Any) -> list[Any] | None:
    if isinstance(document, dict) and isinstance(document.get("ManualJournals"), list):
        return document["ManualJournals"]
    if isinstance(document, dict) and "Narration" in document:
        return [document]
    return None


_ENUMS = {
    "Status": ("DRAFT", "POSTED", "DELETED", "VOIDED", "ARCHIVED"),
    "LineAmountTypes": LINE_AMOUNT_TYPES,
}


def _unreadable(elements: list[Any]) -> str | None:
    """What makes a body impossible to deserialise into ManualJournals (wrong types, unknown enum values)."""
    for element in elements:
        if not isinstance(element, dict):
            return "Each manual journal must be a JSON object"
        for name, allowed in _ENUMS.items():
            if element.get(name) is not None and element[name] not in allowed:
                return f"Error converting value \"{element[name]}\" to type '{name}'"
        lines = element.get("JournalLines")
        if lines is None:
            continue
        if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
            return "JournalLines must be a list of journal lines"
        for line in lines:
            amount = line.get("LineAmount")
            if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int | Decimal)):
                return f"Error converting value {json.dumps(str(amount))} to type 'Decimal'"
    return None


def _with_errors(element: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    """The refused element as Xero echoes it, with its ValidationErrors (Narration is always present)."""
    return {"Narration": ""} | element | {"ValidationErrors": [{"Message": message} for message in errors]}


def _header_time(text: str) -> datetime:
    """If-Modified-Since as an HTTP date or ISO 8601 (xero-python sends the latter); naive means UTC."""
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
