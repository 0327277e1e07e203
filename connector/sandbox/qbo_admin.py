"""The sandbox's control surface over HTTP, under ``/_sandbox/``: no auth, no faults, no limits, not logged.

Every route maps onto a ``QuickBooksSandbox`` method, so a demo or a test in another process can do what a
person in the QBO UI would do. Bodies and answers are JSON; amounts may be numbers or decimal strings.

Routes (method, path under /_sandbox/, body -> effect):

- ``GET health``: realm id, client id, base URL, counts.
- ``POST book-close-date`` ``{"date": "YYYY-MM-DD" | null}``.
- ``GET preferences``; ``POST preferences`` ``{"name": "MultiCurrencyEnabled", "value": true}``.
- ``POST exchange-rates`` ``{"currency": "USD", "date": "YYYY-MM-DD", "rate"}`` -> the company's rate of
  that currency in its home currency for the day (what a person enters in QBO's Currency Center).
- ``POST accounts`` ``{"name", "account_type", "acct_num"?, "account_sub_type"?, "active"?}`` -> the account.
- ``GET accounts/<id>``: one account, balances included.
- ``POST accounts|classes|departments|vendors/<id>/active`` ``{"active": bool}``.
- ``GET journal-entries``: every stored journal entry.
- ``POST journal-entries/delete-by-hand`` ``{"doc_number"}``.
- ``POST journal-entries/edit-by-hand`` ``{"doc_number", "lines"?, "txn_date"?, "private_note"?,
  "new_doc_number"?}``.
- ``GET bills``; ``POST bills`` ``{"vendor_id", "lines": [{"account_id", "amount"}], "txn_date"?,
  "doc_number"?, "private_note"?}``.
- ``POST tokens`` ``{"realm_id"?}`` -> a fresh token pair; ``POST tokens/revoke-all``;
  ``POST tokens/expire-access``.
- ``GET requests`` (the request log); ``DELETE requests`` (clear it).
- ``GET faults``: what each plan injected and has pending. ``POST faults`` ``{"target": "api"|"token",
  "kind", "times"?, "delay_seconds"?, "status"?}`` or ``{"target", "rate", "kinds"?, "seed"?}``.
  ``DELETE faults`` clears both plans (``?target=`` for one).
- ``POST rate-limits/reset``: forget the per-minute windows.
- ``GET clock``; ``POST clock/advance`` ``{"seconds"}`` (ManualClock only).

Errors: 404 ``{"error"}`` for an unknown route or object, 400 for a bad body, QBO's Fault envelope when the
company refuses a change (e.g. a bill against an inactive account). The routes every ledger sandbox shares
(tokens, requests, faults, rate limits, clock) come from ``connector.sandbox.admin``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connector.sandbox.admin import AdminRoute, common_routes, dispatch, required, returning, route
from connector.sandbox.qbo_errors import QboFault, qbo_time

if TYPE_CHECKING:
    from connector.sandbox.quickbooks import QuickBooksSandbox

__all__ = ["handle_admin"]

_ACTIVE_SETTERS = {
    "accounts": "set_account_active",
    "classes": "set_class_active",
    "departments": "set_department_active",
    "vendors": "set_vendor_active",
}


def handle_admin(
    sandbox: QuickBooksSandbox, method: str, action: str, raw_body: bytes, args: Mapping[str, str]
) -> tuple[int, Any]:
    """(status, JSON-ready payload) for one admin request."""
    refusal = (QboFault, lambda fault: (fault.status, fault.envelope()))
    return dispatch(sandbox, _ROUTES, method, action, raw_body, args, refusal)


def _health(sandbox: QuickBooksSandbox, _m: re.Match[str], _b: dict[str, Any], _a: Mapping[str, str]) -> Any:
    return {
        "realm_id": sandbox.realm_id,
        "client_id": sandbox.client_id,
        "base_url": sandbox.base_url,
        "discovery_url": sandbox.discovery_url,
        "journal_entries": len(sandbox.journal_entries()),
        "requests_logged": sandbox.request_count,
    }


def _book_close_date(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    if "date" not in body:
        raise ValueError('give {"date": "YYYY-MM-DD"} or {"date": null}')
    sandbox.set_book_close_date(body["date"])
    return sandbox.preferences()["AccountingInfoPrefs"]


def _set_preference(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    sandbox.set_preference(required(body, "name"), body.get("value"))
    return sandbox.preferences()


def _set_exchange_rate(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    return sandbox.set_exchange_rate(
        str(required(body, "currency")), str(required(body, "date")), _amount(required(body, "rate"))
    )


def _add_account(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    return sandbox.add_account(
        required(body, "name"),
        required(body, "account_type"),
        acct_num=body.get("acct_num"),
        account_sub_type=body.get("account_sub_type"),
        active=bool(body.get("active", True)),
    )


def _set_active(sandbox: QuickBooksSandbox, match: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    setter = getattr(sandbox, _ACTIVE_SETTERS[match["table"]])
    active = required(body, "active")
    if not isinstance(active, bool):
        raise ValueError('"active" must be true or false')
    return setter(match["id"], active)


def _delete_by_hand(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    return sandbox.delete_journal_by_hand(required(body, "doc_number"))


def _edit_by_hand(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    return sandbox.edit_journal_by_hand(
        required(body, "doc_number"),
        lines=body.get("lines"),
        txn_date=body.get("txn_date"),
        private_note=body.get("private_note"),
        new_doc_number=body.get("new_doc_number"),
    )


def _add_bill(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    lines = [_bill_line(line) for line in required(body, "lines")]
    return sandbox.add_bill(
        str(required(body, "vendor_id")),
        lines,
        txn_date=body.get("txn_date"),
        doc_number=body.get("doc_number"),
        private_note=body.get("private_note"),
    )


def _bill_line(line: Any) -> tuple[str, Decimal | str]:
    if isinstance(line, Mapping):
        return str(required(line, "account_id")), _amount(required(line, "amount"))
    if isinstance(line, list) and len(line) == 2:
        return str(line[0]), _amount(line[1])
    raise ValueError('a bill line is {"account_id", "amount"} or [account_id, amount]')


def _amount(value: Any) -> Decimal | str:
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, Decimal | str):
        return value
    raise ValueError(f"amount {value!r} must be a number or a decimal string")


def _issue_tokens(sandbox: QuickBooksSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    return sandbox.issue_tokens(body.get("realm_id"))


_ROUTES: list[AdminRoute] = [
    route("GET", r"health", _health),
    route("POST", r"book-close-date", _book_close_date),
    route("GET", r"preferences", returning(lambda sandbox: sandbox.preferences())),
    route("POST", r"preferences", _set_preference),
    route("POST", r"exchange-rates", _set_exchange_rate),
    route("POST", r"accounts", _add_account),
    route("GET", r"accounts/(?P<id>[^/]+)", lambda sandbox, match, _b, _a: sandbox.account(match["id"])),
    route("POST", r"(?P<table>accounts|classes|departments|vendors)/(?P<id>[^/]+)/active", _set_active),
    route("GET", r"journal-entries", returning(lambda sandbox: sandbox.journal_entries())),
    route("POST", r"journal-entries/delete-by-hand", _delete_by_hand),
    route("POST", r"journal-entries/edit-by-hand", _edit_by_hand),
    route("GET", r"bills", returning(lambda sandbox: sandbox.bills())),
    route("POST", r"bills", _add_bill),
    route("POST", r"tokens", _issue_tokens),
    *common_routes(qbo_time),
]
