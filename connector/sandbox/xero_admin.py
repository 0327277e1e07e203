"""The Xero sandbox's control surface over HTTP, under ``/_sandbox/``: no auth, no faults, no limits, not logged.

Every route maps onto a ``XeroSandbox`` method, so a demo or a test in another process can do what a person in
the Xero UI would do. Bodies and answers are JSON; amounts may be numbers or decimal strings.

Routes (method, path under /_sandbox/, body -> effect):

- ``GET health``: tenant id, client id, base URL, counts, remaining rate limits.
- ``GET organisation``; ``POST lock-dates`` ``{"period": "YYYY-MM-DD"|null, "end_of_year": …|null}``.
- ``POST accounts`` ``{"code", "name", "type", "status"?, "system_account"?}`` -> the account;
  ``POST accounts/<code>/status`` ``{"status": "ACTIVE"|"ARCHIVED"}``.
- ``POST tracking/<category>/status`` or ``tracking/<category>/<option>/status`` ``{"status"}``.
- ``GET manual-journals``; ``POST manual-journals/delete-by-hand`` ``{"key"}``;
  ``POST manual-journals/edit-by-hand`` ``{"key", "changes": {"JournalLines"?, "Date"?, "Narration"?}}``.
- ``GET bills``; ``POST bills`` ``{"contact", "lines": [{"account_code", "amount", "description"?}],
  "date", "number"?, "status"?, "currency"?}``.
- ``POST tokens`` ``{"tenant_id"?, "scope"?}`` -> a fresh token pair; ``POST tokens/disconnect``.
- ``POST rate-limits/consume`` ``{"calls"}``: another app spends this tenant's minute and day budget.
- shared with every ledger sandbox (``connector.sandbox.admin``): ``POST tokens/revoke-all``,
  ``POST tokens/expire-access``, ``GET|DELETE requests``, ``GET|POST|DELETE faults`` (targets ``api``,
  ``write`` and ``token``),
  ``POST rate-limits/reset``, ``GET clock``, ``POST clock/advance`` ``{"seconds"}``.

Errors: 404 ``{"error"}`` for an unknown route or object, 400 for a bad body, Xero's ValidationException
envelope when the organisation refuses a change (e.g. a duplicate account code).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from connector.sandbox.admin import AdminRoute, common_routes, dispatch, required, returning, route
from connector.sandbox.xero_api import validation_error
from connector.sandbox.xero_org import XeroRefusal, ms_datetime

if TYPE_CHECKING:
    from connector.sandbox.xero import XeroSandbox

__all__ = ["handle_admin"]


def handle_admin(
    sandbox: XeroSandbox, method: str, action: str, raw_body: bytes, args: Mapping[str, str]
) -> tuple[int, Any]:
    """(status, JSON-ready payload) for one admin request."""
    refusal = (
        XeroRefusal,
        lambda error: (400, validation_error("A validation exception occurred", _elements(error))),
    )
    return dispatch(sandbox, _ROUTES, method, action, raw_body, args, refusal)


def _elements(error: XeroRefusal) -> list[dict[str, Any]]:
    return [{"ValidationErrors": [{"Message": message} for message in error.messages]}]


def _health(sandbox: XeroSandbox, *_: Any) -> Any:
    return {
        "tenant_id": sandbox.tenant_id,
        "client_id": sandbox.client_id,
        "base_url": sandbox.base_url,
        "api_url": sandbox.api_url,
        "manual_journals": len(sandbox.manual_journals()),
        "requests_logged": sandbox.request_count,
        "remaining": sandbox.remaining(),
    }


def _lock_dates(sandbox: XeroSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    if "period" not in body and "end_of_year" not in body:
        raise ValueError('give {"period": "YYYY-MM-DD" | null, "end_of_year": "YYYY-MM-DD" | null}')
    return sandbox.set_lock_dates(body.get("period"), body.get("end_of_year"))


def _add_account(sandbox: XeroSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    return sandbox.add_account(
        str(required(body, "code")),
        required(body, "name"),
        required(body, "type"),
        status=body.get("status", "ACTIVE"),
        system_account=body.get("system_account", ""),
    )


def _account_status(sandbox: XeroSandbox, match: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    return sandbox.set_account_status(unquote(match["code"]), required(body, "status"))


def _tracking_status(sandbox: XeroSandbox, match: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    option = match["option"]
    return sandbox.set_tracking_status(
        unquote(match["category"]), unquote(option) if option else None, required(body, "status")
    )


def _delete_by_hand(sandbox: XeroSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    return sandbox.delete_journal_by_hand(required(body, "key"))


def _edit_by_hand(sandbox: XeroSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    changes = required(body, "changes")
    if not isinstance(changes, dict):
        raise ValueError('"changes" must be an object of ManualJournal fields')
    return sandbox.edit_journal_by_hand(required(body, "key"), **changes)


def _add_bill(sandbox: XeroSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    lines = []
    for line in required(body, "lines"):
        if not isinstance(line, Mapping):
            raise ValueError('a bill line is {"account_code", "amount", "description"?}')
        lines.append(
            (str(required(line, "account_code")), required(line, "amount"), line.get("description", ""))
        )
    return sandbox.add_bill(
        required(body, "contact"),
        lines,
        bill_date=required(body, "date"),
        number=body.get("number", ""),
        status=body.get("status", "AUTHORISED"),
        currency=body.get("currency"),
    )


def _issue_tokens(sandbox: XeroSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    return sandbox.issue_tokens(body.get("tenant_id"), body.get("scope", ""))


def _consume(sandbox: XeroSandbox, _m: re.Match[str], body: dict[str, Any], _a: Any) -> Any:
    sandbox.consume_calls(int(required(body, "calls")))
    return sandbox.remaining()


def _disconnect(sandbox: XeroSandbox, *_: Any) -> Any:
    sandbox.disconnect_tenant()
    return {"ok": True}


_ROUTES: list[AdminRoute] = [
    route("GET", r"health", _health),
    route("GET", r"organisation", returning(lambda sandbox: sandbox.organisation())),
    route("POST", r"lock-dates", _lock_dates),
    route("POST", r"accounts", _add_account),
    route("POST", r"accounts/(?P<code>[^/]+)/status", _account_status),
    route("POST", r"tracking/(?P<category>[^/]+)(?:/(?P<option>[^/]+))?/status", _tracking_status),
    route("GET", r"manual-journals", returning(lambda sandbox: sandbox.manual_journals())),
    route("POST", r"manual-journals/delete-by-hand", _delete_by_hand),
    route("POST", r"manual-journals/edit-by-hand", _edit_by_hand),
    route("GET", r"bills", returning(lambda sandbox: sandbox.bills())),
    route("POST", r"bills", _add_bill),
    route("POST", r"tokens", _issue_tokens),
    route("POST", r"tokens/disconnect", _disconnect),
    route("POST", r"rate-limits/consume", _consume),
    *common_routes(ms_datetime),
]
