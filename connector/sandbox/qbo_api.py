"""The ``/v3/company/<realm>/…`` resources: what each one does to the company state and what it answers.

This layer knows nothing about HTTP plumbing, authentication, limits, faults or ``requestid`` replay (the
sandbox's WSGI layer does those); it takes the resource path, query parameters and raw body of an already
admitted request and returns a status and a JSON-ready body (without ``time``, which the edge adds).

Resources:

- ``POST journalentry`` create, full/sparse update (body has ``Id`` + ``SyncToken``), ``?operation=delete``;
  ``GET journalentry/<id>``;
- ``POST bill`` create, ``GET bill/<id>``;
- ``GET account|class|department|vendor/<id>``, ``GET companyinfo/<id>``, ``GET preferences``;
- ``POST query`` (SQL as the body) and ``GET query?query=…``;
- ``POST batch`` with up to 30 ``BatchItemRequest`` items (create/update/delete of JournalEntry or Bill,
  or a ``Query``).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connector.sandbox.qbo_errors import (
    QboFault,
    invalid_enumeration,
    invalid_property,
    query_parse_error,
    required_missing,
    unsupported_property,
)
from connector.sandbox.qbo_query import parse_query, run_query
from connector.sandbox.qbo_state import ENTITY_TABLES, NAME_LIST_ENTITIES, QUERYABLE_FIELDS, CompanyState

__all__ = [
    "BATCH_MAX_ITEMS",
    "BATCH_REQUEST_ID_MAX",
    "BID_MAX_WITH_REQUEST_ID",
    "ApiResult",
    "QboApi",
    "batch_weight",
    "parse_json_body",
]

BATCH_MAX_ITEMS = 30
BATCH_REQUEST_ID_MAX = 36
BID_MAX_WITH_REQUEST_ID = 10
_ALLOW_DUPLICATES = "allowduplicatedocnum"
# Path segment -> entity name, for the entities that can be read by Id.
_READABLE = {name.lower(): name for name in ENTITY_TABLES}


@dataclass(frozen=True)
class ApiResult:
    status: int
    body: dict[str, Any]
    mutated: bool = False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number QBO accepts")


def parse_json_body(raw: bytes) -> Any:
    """The request JSON with every non-integer number as ``Decimal``; 2010 if it is not JSON."""
    try:
        return json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise invalid_property(f"Error parsing the request body as JSON: {error}") from None


def batch_weight(raw: bytes) -> int:
    """How many calls a batch body counts as against the per-minute limit: one per item (at least 1)."""
    try:
        items = json.loads(raw.decode("utf-8")).get("BatchItemRequest")
    except (UnicodeDecodeError, ValueError, AttributeError):
        return 1
    return max(1, len(items)) if isinstance(items, list) else 1


def _unsupported(method: str, resource: str) -> QboFault:
    return QboFault(
        500, "Unsupported Operation", f"Operation {method} /{resource} is not supported by the sandbox"
    )


def _include_options(params: Mapping[str, str]) -> set[str]:
    return {option.strip().lower() for option in params.get("include", "").split(",") if option.strip()}


class QboApi:
    """Dispatches admitted ``/v3`` requests to the company state."""

    def __init__(self, company: CompanyState) -> None:
        self.company = company
        # Scripted refusals of the next JournalEntry creates (single or batch items), e.g. 5010 or 6000.
        self.write_faults: deque[QboFault] = deque()

    def handle(self, method: str, resource: str, params: Mapping[str, str], raw_body: bytes) -> ApiResult:
        try:
            return self._route(method, resource.strip("/"), params, raw_body)
        except QboFault as fault:
            return ApiResult(fault.status, fault.envelope())

    def _route(self, method: str, resource: str, params: Mapping[str, str], raw_body: bytes) -> ApiResult:
        head, _, tail = resource.lower().partition("/")
        if head == "query" and not tail:
            text = params.get("query", "") if method == "GET" else raw_body.decode("utf-8", "replace")
            return ApiResult(200, {"QueryResponse": self.run_query(text)})
        if method == "POST" and not tail and head == "journalentry":
            return self._post_journal_entry(params, parse_json_body(raw_body))
        if method == "POST" and not tail and head == "bill":
            return ApiResult(200, {"Bill": self.company.create_bill(parse_json_body(raw_body))}, mutated=True)
        if method == "POST" and not tail and head == "batch":
            return self._batch(params, parse_json_body(raw_body))
        if method == "GET" and head == "preferences" and not tail:
            return ApiResult(200, {"Preferences": self.company.preferences()})
        if method == "GET" and head == "companyinfo" and tail:
            if tail != self.company.realm_id and tail != self.company.company_info()["Id"]:
                raise QboFault(610, "Object Not Found", f"Object Not Found : CompanyInfo Id={tail}")
            return ApiResult(200, {"CompanyInfo": self.company.company_info()})
        if method == "GET" and head in _READABLE and tail and "/" not in tail:
            entity = _READABLE[head]
            return ApiResult(200, {entity: self.company.get(entity, tail)})
        raise _unsupported(method, resource)

    # --- JournalEntry -------------------------------------------------------------------------------------

    def _post_journal_entry(self, params: Mapping[str, str], body: Any) -> ApiResult:
        operation = params.get("operation", "")
        allow_duplicates = _ALLOW_DUPLICATES in _include_options(params)
        if operation == "delete":
            return self._write("JournalEntry", "delete", body, allow_duplicates)
        if operation not in ("", "create", "update"):
            raise _unsupported(f"POST?operation={operation}", "journalentry")
        # A body with a positive Id is an update; any other Id on a create is refused (2010).
        has_id = isinstance(body, Mapping) and str(body.get("Id") or "").isdigit() and int(body["Id"]) > 0
        return self._write("JournalEntry", "update" if has_id else "create", body, allow_duplicates)

    def _write(
        self,
        entity: str,
        operation: str,
        body: Any,
        allow_duplicates: bool,
        visible_ids: Collection[str] | None = None,
    ) -> ApiResult:
        company = self.company
        if entity == "Bill":
            if operation != "create":
                raise _unsupported(operation, "bill")
            return ApiResult(200, {"Bill": company.create_bill(body)}, mutated=True)
        options = {"allow_duplicate_doc_number": allow_duplicates, "visible_ids": visible_ids}
        if operation == "create" and self.write_faults:
            raise self.write_faults.popleft()
        if operation == "create":
            row = company.create_journal_entry(body, **options)
        elif operation == "update":
            row = company.update_journal_entry(body, **options)
        elif operation == "delete":
            row = company.delete_journal_entry(body)
        else:
            raise invalid_enumeration(operation, "operation")
        return ApiResult(200, {entity: row}, mutated=True)

    # --- Query --------------------------------------------------------------------------------------------

    def run_query(self, text: str) -> dict[str, Any]:
        if not text.strip():
            raise query_parse_error("The query is empty")
        query = parse_query(text, QUERYABLE_FIELDS)
        return run_query(
            query,
            self.company.rows(query.entity),
            queryable=QUERYABLE_FIELDS[query.entity],
            active_only_by_default=query.entity in NAME_LIST_ENTITIES,
        )

    # --- Batch --------------------------------------------------------------------------------------------

    def _batch(self, params: Mapping[str, str], body: Any) -> ApiResult:
        items = body.get("BatchItemRequest") if isinstance(body, Mapping) else None
        if not isinstance(items, list) or not items:
            raise required_missing("BatchItemRequest")
        if len(items) > BATCH_MAX_ITEMS:
            raise invalid_property(
                f"Batch has {len(items)} BatchItemRequest items; the maximum is {BATCH_MAX_ITEMS}",
                "BatchItemRequest",
            )
        request_id = params.get("requestid")
        if request_id is not None:
            _check_batch_request_id(request_id, items)
        # Items run one after another but do not see each other (erps.md §1.6): the duplicate-DocNumber
        # check looks only at the entries that existed before the batch.
        visible = frozenset(self.company.data["journal_entries"])
        batch_allows_duplicates = _ALLOW_DUPLICATES in _include_options(params)
        answers = [self._batch_item(item, visible, batch_allows_duplicates) for item in items]
        mutated = any(answer.mutated for answer in answers)
        return ApiResult(200, {"BatchItemResponse": [answer.body for answer in answers]}, mutated=mutated)

    def _batch_item(self, item: Any, visible: frozenset[str], batch_allows_duplicates: bool) -> ApiResult:
        bid = item.get("bId") if isinstance(item, Mapping) else None
        try:
            if not isinstance(item, Mapping):
                raise invalid_property("A BatchItemRequest must be an object", "BatchItemRequest")
            if "Query" in item:
                return ApiResult(200, {"bId": bid, "QueryResponse": self.run_query(str(item["Query"]))})
            entity = _batch_entity(item)
            allow = batch_allows_duplicates or _ALLOW_DUPLICATES in str(item.get("optionsData", "")).lower()
            result = self._write(entity, str(item.get("operation", "")), item[entity], allow, visible)
            return ApiResult(200, {"bId": bid} | result.body, mutated=result.mutated)
        except QboFault as fault:
            return ApiResult(200, {"bId": bid, "Fault": fault.fault()})


def _batch_entity(item: Mapping[str, Any]) -> str:
    named = [key for key in item if key not in ("bId", "operation", "optionsData")]
    if len(named) != 1:
        raise required_missing("JournalEntry", "BatchItemRequest")
    if named[0] not in ("JournalEntry", "Bill"):
        raise unsupported_property(named[0], "BatchItemRequest")
    if item.get("operation") in (None, ""):
        raise required_missing("operation", "BatchItemRequest")
    return named[0]


def _check_batch_request_id(request_id: str, items: list[Any]) -> None:
    """With a requestid a batch's id is at most 36 chars and each bId at most 10 (erps.md §1.5)."""
    if len(request_id) > BATCH_REQUEST_ID_MAX:
        raise invalid_property(
            f"requestid on a batch may be at most {BATCH_REQUEST_ID_MAX} characters, got {len(request_id)}",
            "requestid",
        )
    for item in items:
        bid = str(item.get("bId", "")) if isinstance(item, Mapping) else ""
        if len(bid) > BID_MAX_WITH_REQUEST_ID:
            raise invalid_property(
                f"bId {bid!r} is longer than {BID_MAX_WITH_REQUEST_ID} characters, "
                "which is not allowed when the batch has a requestid",
                "bId",
            )
